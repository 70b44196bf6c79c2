import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { holdTickObjectShape } from '../../src/platform/tick-queue.ts';

describe('holding a process.nextTick queue entry', () => {
  it('holds one entry of the queue, the same one on every call', () => {
    const entry = holdTickObjectShape();
    expect(entry).toBeDefined();
    // Node.js's entry: its async ids under two symbol keys, then the callback and its arguments.
    expect(Object.getOwnPropertySymbols(entry)).toHaveLength(2);
    expect(Object.keys(entry as object)).toEqual(['callback', 'args']);
    expect(typeof (entry as { callback: unknown }).callback).toBe('function');
    expect(holdTickObjectShape()).toBe(entry);
  });

  it('leaves process.nextTick and async context working as before', async () => {
    holdTickObjectShape();
    const storage = new AsyncLocalStorage<string>();
    const seen = await new Promise<[string, string | undefined]>((resolve) => {
      storage.run('request-1', () => {
        process.nextTick((value: string) => resolve([value, storage.getStore()]), 'argument');
      });
    });
    expect(seen).toEqual(['argument', 'request-1']);
  });
});
