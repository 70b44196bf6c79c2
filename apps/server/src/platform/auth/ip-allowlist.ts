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
