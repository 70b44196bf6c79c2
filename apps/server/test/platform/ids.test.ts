import { TypeID } from 'typeid-js';
import { describe, expect, it } from 'vitest';
import { ID_PREFIXES, isId, newId } from '../../src/platform/ids.ts';

describe('newId', () => {
  it('makes TypeIDs that typeid-js reads as UUIDv7 of the current millisecond', () => {
    for (const prefix of Object.values(ID_PREFIXES)) {
      const before = Date.now();
      const id = newId(prefix);
      const after = Date.now();
      expect(isId(prefix, id)).toBe(true);
      const uuid = TypeID.fromString(id).toUUID().replaceAll('-', '');
      expect(TypeID.fromString(id).getType()).toBe(prefix);
      expect(uuid[12]).toBe('7');
      expect('89ab').toContain(uuid[16]);
      const ms = Number.parseInt(uuid.slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
  });

  it('never repeats, and ids made in a later millisecond sort after earlier ones', async () => {
    const first = Array.from({ length: 20_000 }, () => newId('req'));
    expect(new Set(first).size).toBe(first.length);
    await new Promise((resolve) => setTimeout(resolve, 2));
    const later = newId('req');
    for (const id of first) expect(id < later).toBe(true);
  });

  it('spreads the random bits: every suffix character position takes many values', () => {
    const ids = Array.from({ length: 2_000 }, () => newId('evt').slice(4));
    // Characters 14–25 carry random bits only: before them come the time, the version and (in
    // character 13) the two fixed variant bits.
    for (let position = 14; position < 26; position++) {
      expect(new Set(ids.map((id) => id[position])).size).toBe(32);
    }
  });
});
