import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 30; // 30 base62 characters ≈ 178 bits of randomness
const CHECKSUM_LENGTH = 6;

export type KeyEnvironment = 'live' | 'test';

export interface ParsedKey {
  environment: KeyEnvironment;
  /** The key id's TypeID suffix: public, shown in lists and logs. */
  idSuffix: string;
}

function base62(bytes: Uint8Array, length: number): string {
  let out = '';
  for (const byte of bytes) {
    // 248 = 4 × 62: rejecting the top values keeps every character equally likely.
    if (byte < 248) out += BASE62[byte % 62];
    if (out.length === length) return out;
  }
  return out + base62(randomBytes(length), length - out.length);
}

/** CRC32 of the key body, as six base62 characters: catches typos and lets scanners spot real keys. */
function checksum(body: string): string {
  let crc = 0xffffffff;
  for (let i = 0; i < body.length; i++) {
    crc ^= body.charCodeAt(i);
    for (let bit = 0; bit < 8; bit++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  let value = (crc ^ 0xffffffff) >>> 0;
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** `<prefix>_<env>_<idSuffix>`: the non-secret beginning of a key, safe to list and log. */
export function keyStart(prefix: string, environment: KeyEnvironment, idSuffix: string): string {
  return `${prefix}_${environment}_${idSuffix}`;
}

/** A new plaintext key; it is returned to the caller once and only its hash is stored. */
export function generateKey(prefix: string, environment: KeyEnvironment, idSuffix: string): string {
  const body = `${keyStart(prefix, environment, idSuffix)}_${base62(randomBytes(48), SECRET_LENGTH)}`;
  return body + checksum(body);
}

/** No key we issue is longer; anything longer is refused before it is hashed or matched. */
export const MAX_KEY_LENGTH = 128;

const KEY_SHAPE = /^([a-z][a-z0-9]{1,11})_(live|test)_([0-7][0-9a-hjkmnp-tv-z]{25})_([0-9A-Za-z]{36})$/;

/** Parses a presented key; undefined when its shape, prefix or checksum is wrong. No I/O. */
export function parseKey(key: string, prefix: string): ParsedKey | undefined {
  if (key.length > MAX_KEY_LENGTH) return undefined;
  const match = KEY_SHAPE.exec(key);
  if (!match || match[1] !== prefix) return undefined;
  const body = key.slice(0, -CHECKSUM_LENGTH);
  if (checksum(body) !== key.slice(-CHECKSUM_LENGTH)) return undefined;
  return { environment: match[2] as KeyEnvironment, idSuffix: match[3] as string };
}

/** SHA-256 of the whole key. Keys carry ≥ 128 random bits, so a fast hash is the right one. */
export function hashKey(key: string): string {
  return hash('sha256', key, 'hex');
}

const sha256 = (text: string) => hash('sha256', text, 'buffer');

/**
 * Whether two strings are equal, in time that tells nothing of either, not even its length: their
 * SHA-256 digests are compared.
 */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}
