import { BlockList, isIP } from 'node:net';
import type { FieldError } from '../errors.ts';

export const MAX_ALLOWED_IPS = 100;

/** `::ffff:203.0.113.7` (an IPv4 client on a dual-stack socket) is `203.0.113.7`. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

function parseEntry(
  entry: string,
): { address: string; prefix: number | undefined; family: 4 | 6 } | undefined {
  const [address = '', prefixText, extra] = entry.trim().split('/');
  const family = isIP(address);
  if ((family !== 4 && family !== 6) || extra !== undefined) return undefined;
  if (prefixText === undefined) return { address, prefix: undefined, family };
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= (family === 4 ? 32 : 128) ? { address, prefix, family } : undefined;
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
  const parsed = parseEntry(entry);
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

/** Field errors for entries that are neither an IP address nor a CIDR block. */
export function allowedIpErrors(entries: readonly string[], field = 'allowedIps'): FieldError[] {
  return entries.flatMap((entry, index) =>
    parseEntry(entry)
      ? []
      : [
          {
            field: `${field}.${index}`,
            code: 'invalid_format',
            message: `${entry} is not an IP address or CIDR block`,
          },
        ],
  );
}

/** A matcher for an allow-list of addresses and CIDR blocks, IPv4 and IPv6. */
export function compileAllowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const parsed = parseEntry(entry);
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
