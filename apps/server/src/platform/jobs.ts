import type { FastifyBaseLogger } from 'fastify';

export interface Job {
  name: string;
  intervalMs: number;
  /**
   * Runs once more as the process starts, before it serves: a job that runs hourly would otherwise
   * never run in processes restarted more often than that.
   */
  atStart?: boolean;
  run(): Promise<unknown>;
}

/**
 * Runs background jobs on timers in this process. Each job must be safe when several processes run
 * it at once (single atomic statements or row locks); a run never overlaps its own previous run.
 */
export class JobRunner {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly log: FastifyBaseLogger) {}

  /** Starts the job's timer, after its first run when it runs at start (which never throws). */
  async start(job: Job): Promise<void> {
    if (job.atStart) await this.runOnce(job);
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      const run = this.runOnce(job).finally(() => {
        busy = false;
        this.running.delete(run);
      });
      this.running.add(run);
    }, job.intervalMs);
    timer.unref();
    this.timers.push(timer);
  }

  private runOnce(job: Job): Promise<unknown> {
    return job
      .run()
      .catch((error: unknown) => this.log.error({ err: error, job: job.name }, 'background job failed'));
  }

  /** Stops the timers and waits for runs in progress. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
    await Promise.allSettled([...this.running]);
  }
}
