import { describe, expect, it } from 'vitest';
import { SerialFlush } from '../../src/platform/serial-flush.ts';

/** A flush whose runs end when the test says so, counting how many began. */
function heldFlush() {
  const releases: (() => void)[] = [];
  let started = 0;
  const flush = new SerialFlush(() => {
    started += 1;
    return new Promise<void>((resolve) => releases.push(resolve));
  });
  return {
    flush,
    started: () => started,
    endRun: async () => {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe('SerialFlush', () => {
  it('runs one at a time, and every call made meanwhile shares one next run', async () => {
    const { flush, started, endRun } = heldFlush();
    const first = flush.run();
    const waiting = Array.from({ length: 10 }, () => flush.run());
    expect(started()).toBe(1);
    expect(new Set(waiting).size).toBe(1);

    await endRun();
    await first;
    expect(started()).toBe(2);
    await endRun();
    await Promise.all(waiting);
    expect(started()).toBe(2);
  });

  it('runs again after a run that failed', async () => {
    let runs = 0;
    const flush = new SerialFlush(async () => {
      runs += 1;
      if (runs === 1) throw new Error('database away');
    });
    const failed = flush.run();
    const next = flush.run();
    await expect(failed).rejects.toThrow('database away');
    await next;
    expect(runs).toBe(2);
    await flush.run();
    expect(runs).toBe(3);
  });
});
