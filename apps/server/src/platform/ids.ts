import { randomFillSync } from 'node:crypto';

/** Type prefixes of every public id; an id is `<prefix>_<26 base32 chars of a UUIDv7>`. */
export const ID_PREFIXES = {
  tenant: 'ten',
  apiKey: 'key',
  partner: 'prt',
  partnerGroup: 'grp',
  customer: 'cus',
  event: 'evt',
  click: 'clk',
  transaction: 'txn',
  commission: 'com',
  payout: 'po',
  webhookEndpoint: 'whe',
  webhookMessage: 'msg',
  webhookAttempt: 'att',
  request: 'req',
  auditEvent: 'aud',
} as const;

export type IdPrefix = (typeof ID_PREFIXES)[keyof typeof ID_PREFIXES];

const SUFFIX = '[0-7][0-9a-hjkmnp-tv-z]{25}';

/** TypeID's base32 alphabet (Crockford's, lower case). */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';
/** Random bytes drawn from the OS in blocks, 10 per id, so an id costs no system call of its own. */
const POOL = Buffer.alloc(10 * 256);
let poolOffset = POOL.length;
/** The last id's bytes: the next id in the same millisecond counts up from them. */
const bytes = new Uint8Array(16);
let lastMs = -1;

/**
 * A new time-sortable id: a TypeID whose suffix is a UUIDv7 (48-bit millisecond time, version and
 * variant bits, 74 random bits) in base32. Ids sort by creation time as plain strings, also within
 * a millisecond of one process: there the next id is the last one plus one in its random bits
 * (RFC 9562, method 2). Built here rather than by typeid-js, which allocates per id: request ids
 * are made on every request.
 */
export function newId(prefix: IdPrefix): string {
  const ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    writeTime(ms);
    writeRandom();
  } else if (!increment()) {
    // 2^74 ids in one millisecond cannot happen; a clock set back can: keep counting forward.
    lastMs += 1;
    writeTime(lastMs);
    writeRandom();
  }
  return `${prefix}_${base32(bytes)}`;
}

function writeTime(ms: number): void {
  const high = Math.floor(ms / 2 ** 16);
  bytes[0] = high >>> 24;
  bytes[1] = (high >>> 16) & 0xff;
  bytes[2] = (high >>> 8) & 0xff;
  bytes[3] = high & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
}

function writeRandom(): void {
  if (poolOffset === POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  for (let i = 6; i < 16; i++) bytes[i] = POOL[poolOffset++] as number;
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f);
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f);
}

/** Adds one to the 74 random bits (around the version and variant bits); false on overflow. */
function increment(): boolean {
  for (let i = 15; i >= 6; i--) {
    if (i === 8) {
      const low = (bytes[8] as number) & 0x3f;
      if (low < 0x3f) {
        bytes[8] = 0x80 | (low + 1);
        return true;
      }
      bytes[8] = 0x80;
    } else if (i === 6) {
      const low = (bytes[6] as number) & 0x0f;
      if (low < 0x0f) {
        bytes[6] = 0x70 | (low + 1);
        return true;
      }
      return false;
    } else {
      if ((bytes[i] as number) < 0xff) {
        bytes[i] = (bytes[i] as number) + 1;
        return true;
      }
      bytes[i] = 0;
    }
  }
  return false;
}

/** 128 bits as 26 base32 characters, the first holding the top 3 bits (the TypeID encoding). */
function base32(b: Uint8Array): string {
  // Five groups of 25/26 bits, each small enough for exact integer arithmetic.
  let out = ALPHABET[(b[0] as number) >>> 5] as string;
  let acc = (b[0] as number) & 0x1f;
  let bits = 5;
  for (let i = 1; i < 16; i++) {
    acc = (acc << 8) | (b[i] as number);
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(acc >>> bits) & 0x1f];
    }
    acc &= (1 << bits) - 1;
  }
  return out;
}

/** The JSON-schema pattern that ids of this type match. */
export function idPattern(prefix: IdPrefix): string {
  return `^${prefix}_${SUFFIX}$`;
}

const patterns = new Map<string, RegExp>();

export function isId(prefix: IdPrefix, value: string): boolean {
  let pattern = patterns.get(prefix);
  if (!pattern) {
    pattern = new RegExp(idPattern(prefix));
    patterns.set(prefix, pattern);
  }
  return pattern.test(value);
}
