import { lookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isLocalName, literalAddress, refusedAddressReason } from './address-policy.ts';

/** How much of a response is kept with the attempt. */
export const RESPONSE_EXCERPT_BYTES = 4096;
/** Past this much response body the connection is dropped rather than read to the end. */
const MAX_DRAIN_BYTES = 256 * 1024;

export interface DeliveryRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivateTargets: boolean;
  /** Whether plain http:// endpoints may be sent to (WEBHOOK_ALLOW_HTTP), checked at every attempt. */
  allowHttp: boolean;
}

export interface DeliveryResult {
  delivered: boolean;
  /** The HTTP status, or null when no response came (refused, DNS, connection, timeout). */
  status: number | null;
  durationMs: number;
  /** The first 4 KiB of the response body. */
  responseBody: string | null;
  /** Why the attempt failed, in words; null when delivered. */
  error: string | null;
  /** From Retry-After on a 429 or 503, in ms. */
  retryAfterMs: number | null;
  /** Set when the host name resolved to addresses webhooks may not reach: for the server log only. */
  refusedTarget?: RefusedTarget;
}

/**
 * Where a host name led when it was refused. The tenant's attempt only says that it does not
 * resolve to a public address, alike for a name that resolves to a non-public address and for one
 * that does not resolve at all: either detail would let anyone who can set a webhook URL map the
 * operator's internal network and its names.
 */
export interface RefusedTarget {
  hostname: string;
  /** The first address the name resolved to; null when it did not resolve. */
  address: string | null;
  /** What kind of address it is (loopback, private, link-local …), or why the name did not resolve. */
  category: string;
}

// Keep-alive: a receiver's connection is reused across deliveries. Sockets were opened to an address
// vetted when they were opened, so reuse never reaches an address that was not vetted. An idle one
// is closed after 15 s (sooner when the receiver's Keep-Alive says so): a receiver that never
// closes its end would otherwise hold a socket and a file descriptor for good, per endpoint host.
// (An attempt in progress is bounded by its own timer, not by this.)
const IDLE_SOCKET_MS = 15_000;
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256, timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256, timeout: IDLE_SOCKET_MS }),
};

class Refused extends Error {
  constructor(
    message: string,
    readonly target?: RefusedTarget,
  ) {
    super(message);
  }
}

const POLICY = 'webhooks may only reach public addresses (WEBHOOK_ALLOW_PRIVATE_TARGETS)';

/** The address to connect to: the host resolved now and vetted, or Refused with the reason. */
async function vettedAddress(url: URL, allowPrivate: boolean): Promise<{ address: string; family: number }> {
  const { hostname } = url;
  const literal = literalAddress(hostname);
  if (literal) {
    const category = allowPrivate ? undefined : refusedAddressReason(literal);
    // An address in the URL is the tenant's own input, told back as it is.
    if (category) throw new Refused(`refused: ${hostname} is a ${category} address; ${POLICY}`);
    return { address: literal, family: literal.includes(':') ? 6 : 4 };
  }
  if (isLocalName(hostname) && !allowPrivate) {
    throw new Refused(`refused: ${hostname} is this machine (loopback)`);
  }
  let candidates: { address: string; family: number }[];
  try {
    candidates = await lookup(hostname, { all: true, verbatim: true });
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'failed';
    if (allowPrivate) throw new Refused(`dns: ${hostname} did not resolve (${code})`);
    throw hidden(hostname, null, `did not resolve (${code})`);
  }
  const first = candidates[0];
  if (!first) {
    if (allowPrivate) throw new Refused(`dns: ${hostname} has no addresses`);
    throw hidden(hostname, null, 'has no addresses');
  }
  if (allowPrivate) return first;
  const allowed = candidates.find((c) => refusedAddressReason(c.address) === undefined);
  if (allowed) return allowed;
  throw hidden(hostname, first.address, refusedAddressReason(first.address) ?? 'non-public');
}

/** A name refused with one message whatever it led to; what it led to goes to the server log. */
function hidden(hostname: string, address: string | null, category: string): Refused {
  return new Refused(`refused: ${hostname} does not resolve to a public address; ${POLICY}`, {
    hostname,
    address,
    category,
  });
}

/** Retry-After as delay-seconds or an HTTP date, in ms; undefined when absent or unusable. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function excerpt(chunks: Buffer[]): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(Buffer.concat(chunks));
  // PostgreSQL text cannot hold NUL.
  return text.replaceAll('\u0000', '');
}

/**
 * The `user:password` of a URL for Basic auth, percent-decoded; undefined without a user name, null
 * when either part is not valid percent-encoded UTF-8.
 */
export function urlCredentials(url: URL): string | undefined | null {
  if (!url.username) return undefined;
  try {
    return `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  } catch {
    return null;
  }
}

/**
 * POSTs one webhook. The host is resolved here, at delivery time, and the connection goes to the
 * vetted address only (the name is kept for Host and TLS); the timeout covers the name lookup too.
 * Redirects are not followed; only a 2xx counts as delivered. Never throws: every failure comes
 * back as a result with its reason.
 */
export async function sendWebhook(request: DeliveryRequest): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const failed = (error: string, status: number | null = null, responseBody: string | null = null) => ({
    delivered: false,
    status,
    durationMs: elapsed(),
    responseBody,
    error,
    retryAfterMs: null,
  });
  try {
    return await send(request, elapsed, failed);
  } catch (error) {
    // A fault of this code, not of the receiver: still an attempt with a reason, so the message
    // moves along its schedule instead of being claimed again and again.
    return failed(`internal: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function send(
  request: DeliveryRequest,
  elapsed: () => number,
  failed: (error: string, status?: number | null, responseBody?: string | null) => DeliveryResult,
): Promise<DeliveryResult> {
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return failed('invalid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return failed('unsupported URL scheme');
  // An endpoint set while plain http was allowed is not sent to once it no longer is.
  if (url.protocol === 'http:' && !request.allowHttp) {
    return failed('refused: plain http:// endpoints are not allowed on this server (WEBHOOK_ALLOW_HTTP)');
  }
  const credentials = urlCredentials(url);
  if (credentials === null)
    return failed('invalid URL: its user name or password is not valid percent-encoding');
  let target: { address: string; family: number };
  let lookupTimer: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<never>((_, reject) => {
      lookupTimer = setTimeout(
        () => reject(new Refused(`timeout: ${url.hostname} not resolved within ${request.timeoutMs} ms`)),
        request.timeoutMs,
      );
    });
    target = await Promise.race([vettedAddress(url, request.allowPrivateTargets), timedOut]);
  } catch (error) {
    if (error instanceof Refused) {
      return error.target ? { ...failed(error.message), refusedTarget: error.target } : failed(error.message);
    }
    throw error;
  } finally {
    clearTimeout(lookupTimer);
  }
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (e: null, list: { address: string; family: number }[]) => void)(null, [target]);
    } else callback(null, target.address, target.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<DeliveryResult>((resolve) => {
    let settled = false;
    /** Set once the status line is in: the attempt is judged by it, however long the body takes. */
    let answered: (() => void) | undefined;
    const finish = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const req = client.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup: pinned,
        ...(credentials === undefined ? {} : { auth: credentials }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (kept < RESPONSE_EXCERPT_BYTES) {
            const part = chunk.subarray(0, RESPONSE_EXCERPT_BYTES - kept);
            chunks.push(part);
            kept += part.length;
          }
          if (total > MAX_DRAIN_BYTES) res.destroy();
        });
        const done = () => {
          const status = res.statusCode ?? 0;
          const body = excerpt(chunks);
          if (status >= 200 && status < 300) {
            finish({
              delivered: true,
              status,
              durationMs: elapsed(),
              responseBody: body,
              error: null,
              retryAfterMs: null,
            });
            return;
          }
          const location = res.headers.location;
          const error =
            status >= 300 && status < 400
              ? `HTTP ${status}: redirects are not followed${location ? ` (to ${location.slice(0, 200)})` : ''}`
              : `HTTP ${status}`;
          const retryAfter = status === 429 || status === 503 ? res.headers['retry-after'] : undefined;
          finish({
            ...failed(error, status, body),
            retryAfterMs: parseRetryAfter(retryAfter, Date.now()),
          });
        };
        answered = done;
        res.on('end', done);
        res.on('close', done);
        res.on('error', done);
      },
    );
    const timer = setTimeout(
      () => {
        // A receiver that answered in time but sends its body slowly: its status counts, with the
        // part of the body read so far.
        if (answered) answered();
        else finish(failed(`timeout: no response within ${request.timeoutMs} ms`));
        req.destroy();
      },
      Math.max(0, request.timeoutMs - elapsed()),
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      finish(failed(`connection: ${error.code ?? error.message} (${target.address})`));
    });
    req.end(request.body);
  });
}
