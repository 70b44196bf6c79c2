import { isIP } from 'node:net';

/**
 * Which addresses a webhook may connect to. A tenant's URL must never reach the operator's own
 * network: loopback, private ranges, link-local (where cloud metadata lives), CGNAT, multicast and
 * every other non-public range are refused, for IPv4 and IPv6 alike, including IPv6 forms that
 * carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4).
 */

type Range = [base: number, bits: number, label: string];

const IPV4_RANGES: Range[] = [
  [ipv4('0.0.0.0'), 8, 'unspecified ("this network")'],
  [ipv4('10.0.0.0'), 8, 'private'],
  [ipv4('100.64.0.0'), 10, 'shared CGNAT'],
  [ipv4('127.0.0.0'), 8, 'loopback'],
  [ipv4('169.254.0.0'), 16, 'link-local (cloud metadata)'],
  [ipv4('172.16.0.0'), 12, 'private'],
  [ipv4('192.0.0.0'), 24, 'IETF protocol assignment'],
  [ipv4('192.0.2.0'), 24, 'documentation'],
  [ipv4('192.88.99.0'), 24, '6to4 relay anycast'],
  [ipv4('192.168.0.0'), 16, 'private'],
  [ipv4('198.18.0.0'), 15, 'benchmarking'],
  [ipv4('198.51.100.0'), 24, 'documentation'],
  [ipv4('203.0.113.0'), 24, 'documentation'],
  [ipv4('224.0.0.0'), 4, 'multicast'],
  [ipv4('240.0.0.0'), 4, 'reserved'],
  // Public addresses that cloud providers answer metadata requests on.
  [ipv4('168.63.129.16'), 32, 'cloud metadata (Azure)'],
];

function ipv4(text: string): number {
  const parts = text.split('.').map(Number);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

function inRange(value: number, base: number, bits: number): boolean {
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
  return (value & mask) >>> 0 === (base & mask) >>> 0;
}

function classifyIpv4(address: string): string | undefined {
  const value = ipv4(address);
  if (value === 0xffffffff) return 'broadcast';
  return IPV4_RANGES.find(([base, bits]) => inRange(value, base, bits))?.[2];
}

/** The 16 bytes of an IPv6 address (zone id dropped), or undefined if it is not one. */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  if (isIP(text) !== 6) return undefined;
  // A dotted IPv4 tail (::ffff:127.0.0.1) becomes two hex groups (::ffff:7f00:1).
  text = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) => {
    const hex = (x: string, y: string) => ((Number(x) << 8) | Number(y)).toString(16);
    return `${hex(a, b)}:${hex(c, d)}`;
  });
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const [left = '', right] = text.split('::');
  const l = groups(left);
  const words =
    right === undefined
      ? l
      : [...l, ...new Array(8 - l.length - groups(right).length).fill(0), ...groups(right)];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

function startsWith(bytes: number[], prefix: number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit++) {
    const i = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if (((bytes[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false;
  }
  return true;
}

const embeddedV4 = (bytes: number[], at: number) => bytes.slice(at, at + 4).join('.');

function classifyIpv6(address: string): string | undefined {
  const b = ipv6Bytes(address);
  if (!b) return 'unparseable';
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 16)) return 'unspecified';
  if (zero(0, 15) && b[15] === 1) return 'loopback';
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible),
  // 64:ff9b::a.b.c.d (NAT64): judged as IPv4.
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return classifyIpv4(embeddedV4(b, 12));
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return classifyIpv4(embeddedV4(b, 12));
  if (zero(0, 12)) return classifyIpv4(embeddedV4(b, 12));
  if (startsWith(b, [0, 0x64, 0xff, 0x9b], 32) && zero(4, 12)) return classifyIpv4(embeddedV4(b, 12));
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 1], 48)) return 'NAT64 local-use';
  if (startsWith(b, [0x20, 0x02], 16)) return classifyIpv4(embeddedV4(b, 2));
  if (startsWith(b, [0x01, 0x00], 64) && zero(2, 8)) return 'discard-only';
  if (startsWith(b, [0x20, 0x01, 0x0d, 0xb8], 32)) return 'documentation';
  // 2001::/23, Teredo (2001::/32) included: addresses of IETF protocols, not of hosts on the internet.
  if (startsWith(b, [0x20, 0x01, 0x00], 23)) return 'reserved (IETF protocol assignment)';
  if (startsWith(b, [0xfc], 7)) return 'private (unique local)';
  if (startsWith(b, [0xfe, 0x80], 10)) return 'link-local';
  if (startsWith(b, [0xfe, 0xc0], 10)) return 'site-local';
  if (b[0] === 0xff) return 'multicast';
  return undefined;
}

/** Why a webhook may not connect to this IP address, or undefined for a public one. */
export function refusedAddressReason(address: string): string | undefined {
  const family = isIP(address.replace(/%.*$/, ''));
  if (family === 4) return classifyIpv4(address);
  if (family === 6) return classifyIpv6(address);
  return 'not an IP address';
}

/** The host of a URL as an IP literal (brackets removed), or undefined for a name. */
export function literalAddress(hostname: string): string | undefined {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return isIP(bare) ? bare : undefined;
}

/** Names that always mean this machine, whatever DNS says. */
export function isLocalName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}
