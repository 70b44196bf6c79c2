import { setTimeout as sleep } from 'node:timers/promises';

/** Whether a promise has settled by now (after one turn of the event loop). */
export async function settled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  return (await Promise.race([promise, sleep(0).then(() => pending)])) !== pending;
}
