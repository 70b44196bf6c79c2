import { typeidUnboxed } from 'typeid-js';

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
  request: 'req',
  auditEvent: 'aud',
} as const;

export type IdPrefix = (typeof ID_PREFIXES)[keyof typeof ID_PREFIXES];

const SUFFIX = '[0-7][0-9a-hjkmnp-tv-z]{25}';

/** A new time-sortable id; ids of one type sort by creation time as plain strings. */
export function newId(prefix: IdPrefix): string {
  return typeidUnboxed(prefix);
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
