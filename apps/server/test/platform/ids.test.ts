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

  it('sorts in the order the ids were made, within one millisecond too, and never repeats', async () => {
    const ids = Array.from({ length: 20_000 }, () => newId('req'));
    await new Promise((resolve) => setTimeout(resolve, 2));
    ids.push(newId('req'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('starts each millisecond from fresh random bits', () => {
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const ms = Date.now();
      while (Date.now() === ms) {
        // Waits for the next millisecond: its first id draws new random bits.
      }
      ids.push(newId('evt').slice(4));
    }
    // Characters 14–25 carry random bits only: before them come the time, the version and (in
    // character 13) the two fixed variant bits. 200 draws of 32 values leave few unseen.
    for (let position = 14; position < 26; position++) {
      expect(new Set(ids.map((id) => id[position])).size).toBeGreaterThan(20);
    }
  });
});
