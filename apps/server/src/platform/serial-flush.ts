/**
 * Runs a flush one at a time. A call while one runs queues a single next run, which every call
 * made meanwhile shares: it starts when the running one ends and covers all they asked for. A
 * timer that asks every second while each run takes 10 s to fail (a database that does not
 * answer) thus leaves one run waiting, not one per tick, and a graceful stop waits for two runs at
 * most instead of every tick of the outage.
 */
export class SerialFlush {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly write: () => Promise<void>) {}

  /** Resolves once a run that began after this call has ended. */
  run(): Promise<void> {
    if (this.next) return this.next;
    if (this.running) {
      const again = () => {
        this.next = undefined;
        return this.run();
      };
      this.next = this.running.then(again, again);
      return this.next;
    }
    const running = this.write().finally(() => {
      if (this.running === running) this.running = undefined;
    });
    this.running = running;
    return running;
  }
}
