import { createHook } from 'node:async_hooks';

/** One entry of `process.nextTick`'s queue, held for the life of the process (see below). */
let heldTickObject: object | undefined;

/**
 * Keeps `process.nextTick` on V8's fast path for the life of the process.
 *
 * Node.js builds each queue entry of `process.nextTick` as an object literal with computed (symbol)
 * keys. V8 remembers the hidden class such a literal had, weakly, and when a full garbage collection
 * runs while no entry is alive, that class is collected. The next call then finds the remembered
 * class gone, and V8 marks the literal megamorphic for good: from then on every `nextTick` (the
 * stream and socket code calls it several times per request) defines its four properties through
 * V8's runtime instead of compiled code. Whether a process gets there depends on when its
 * collections happen, so it struck some server processes and not others, at 20,000 to 60,000
 * instructions per request (docs/benchmarks.md, "instructions"). Holding one entry keeps its class,
 * and with it the class every new entry gets, alive.
 *
 * The entry is taken from an async hook that is enabled for exactly one `nextTick` call here and
 * disabled again, so no hook runs afterwards. Idempotent; returns the entry it holds, if any.
 */
export function holdTickObjectShape(): object | undefined {
  if (heldTickObject) return heldTickObject;
  const hook = createHook({
    init(_asyncId, type, _triggerAsyncId, resource) {
      if (type === 'TickObject') heldTickObject ??= resource;
    },
  });
  hook.enable();
  try {
    process.nextTick(() => {});
  } finally {
    hook.disable();
  }
  return heldTickObject;
}
