import { BlockList, isIP, SocketAddress } from 'node:net';
import type { FieldError } from '../errors.ts';

export const MAX_ALLOWED_IPS = 100;

/** `::ffff:203.0.113.7` (an IPv4 client on a dual-stack socket) is `203.0.113.7`. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

interface AllowListEntry {
  address: string;
  prefix: number | undefined;
  family: 4 | 6;
}

/** Why an entry is not accepted, as its field error's code and the end of its message. */
interface Refusal {
  code: 'invalid_format' | 'out_of_range';
  reason: string;
}

const DIGITS = /^\d+$/;

/**
 * An allow-list entry as a client must write it, or why it is not one: an IPv4 address in dotted
 * decimal (no leading zeros) or an IPv6 address without a zone index, optionally followed by `/`
 * and a prefix length in decimal digits without a leading zero, at most 32 for IPv4 and 128 for
 * IPv6; nothing around it.
 */
function parseEntry(entry: string): AllowListEntry | Refusal {
  const invalid = (reason: string): Refusal => ({ code: 'invalid_format', reason });
  if (entry.trim() !== entry) return invalid('has white space around it');
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return invalid('is not an IP address or CIDR block');
  const zone = address.indexOf('%');
  if (zone !== -1) return invalid(`has a zone index (${address.slice(zone)}), which names no client address`);
  if (slash === -1) return { address, prefix: undefined, family };
  const prefixText = entry.slice(slash + 1);
  if (!DIGITS.test(prefixText)) return invalid('is not an IP address or CIDR block');
  const prefix = Number(prefixText);
  if (prefixText.length > 1 && prefixText.startsWith('0')) {
    return invalid(`has a prefix length with a leading zero: write /${prefix}`);
  }
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) {
    return {
      code: 'out_of_range',
      reason: `has a prefix length over ${bits}, the most an IPv${family} block has`,
    };
  }
  return { address, prefix, family };
}

const isRefusal = (parsed: AllowListEntry | Refusal): parsed is Refusal => 'reason' in parsed;

/**
 * A stored entry. Lists stored before entries were checked strictly may hold white space around
 * an entry, a zone index or a prefix length with leading zeros: they keep meaning what they did.
 */
function storedEntry(entry: string): AllowListEntry | undefined {
  const parsed = parseEntry(
    entry
      .trim()
      .replace(/%[^/]*/, '')
      .replace(/\/0+(?=\d)/, '/'),
  );
  return isRefusal(parsed) ? undefined : parsed;
}

/** An entry as it is stored: IPv6 in lower case and compressed, as Node writes addresses. */
function canonicalEntry({ address, prefix, family }: AllowListEntry): string {
  const text = family === 6 ? new SocketAddress({ address, family: 'ipv6' }).address : address;
  return prefix === undefined ? text : `${text}/${prefix}`;
}

/**
 * An allow-list a client sent, in the form it is stored in (see `canonicalEntry`; an entry that
 * comes twice is kept once), or a field error for each entry that is not accepted (see
 * `parseEntry`).
 */
export function canonicalAllowList(
  entries: readonly string[],
  field = 'allowedIps',
): { entries: string[]; errors: FieldError[] } {
  const canonical = new Set<string>();
  const errors: FieldError[] = [];
  entries.forEach((entry, index) => {
    const parsed = parseEntry(entry);
    if (isRefusal(parsed)) {
      errors.push({
        field: `${field}.${index}`,
        code: parsed.code,
        message: `${JSON.stringify(entry)} ${parsed.reason}`,
      });
    } else {
      canonical.add(canonicalEntry(parsed));
    }
  });
  return { entries: [...canonical], errors };
}

/** The numeric value of an address `isIP` accepted, IPv6 with an embedded IPv4 tail included. */
function addressValue(address: string, family: 4 | 6): bigint {
  if (family === 4)
    return address.split('.').reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
  let text = address.split('%')[0] ?? '';
  const tail = text.slice(text.lastIndexOf(':') + 1);
  if (tail.includes('.')) {
    const v4 = addressValue(tail, 4);
    text = `${text.slice(0, -tail.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const before = groups(head);
  const after = groups(rest);
  const all =
    rest === undefined ? before : [...before, ...Array(8 - before.length - after.length).fill('0'), ...after];
  return all.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

/** The first and last address an allow-list entry (an address or a CIDR block) admits. */
function entryRange(entry: string): { family: 4 | 6; first: bigint; last: bigint } | undefined {
  const parsed = storedEntry(entry);
  if (!parsed) return undefined;
  const bits = parsed.family === 4 ? 32 : 128;
  const hostBits = BigInt(bits - (parsed.prefix ?? bits));
  const first = (addressValue(parsed.address, parsed.family) >> hostBits) << hostBits;
  return { family: parsed.family, first, last: first | ((1n << hostBits) - 1n) };
}

/** Whether every address `entry` admits is admitted by one entry of `list`. */
export function withinAllowList(entry: string, list: readonly string[]): boolean {
  const inner = entryRange(entry);
  if (!inner) return false;
  return list.some((candidate) => {
    const outer = entryRange(candidate);
    return (
      outer !== undefined &&
      outer.family === inner.family &&
      outer.first <= inner.first &&
      inner.last <= outer.last
    );
  });
}

/** A matcher for an allow-list of addresses and CIDR blocks, IPv4 and IPv6. */
export function compileAllowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = storedEntry(entry);
    if (!parsed) continue;
    const type = parsed.family === 4 ? 'ipv4' : 'ipv6';
    if (parsed.prefix === undefined) list.addAddress(parsed.address, type);
    else list.addSubnet(parsed.address, parsed.prefix, type);
  }
  return list;
}

export function ipAllowed(list: BlockList, ip: string): boolean {
  const address = normalizeIp(ip);
  const family = isIP(address);
  if (family === 0) return false;
  return list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}
