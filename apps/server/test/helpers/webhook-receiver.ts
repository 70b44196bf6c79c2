import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  /** The request path: tests give each endpoint a path of its own. */
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  headers: IncomingMessage['headers'];
  body: string;
  payload: { type: string; timestamp: string; data: Record<string, any> };
}

export type Reply =
  | {
      status: number;
      body?: string;
      headers?: Record<string, string>;
      /** Answers only after this long. */
      delayMs?: number;
      /** Sends the status and `body`, then keeps the response open (a body that never ends). */
      hold?: boolean;
    }
  | 'hang';

/**
 * A real HTTP receiver on loopback, as a tenant would run one: it records every request and
 * answers as the test says (200 by default, or `hang` to never answer).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private server: Server | undefined;
  private reply: (request: ReceivedWebhook, count: number) => Reply = () => ({ status: 200, body: 'ok' });
  private readonly hanging = new Set<ServerResponse>();
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let payload: ReceivedWebhook['payload'];
        try {
          payload = JSON.parse(body);
        } catch {
          payload = { type: 'unparseable', timestamp: '', data: {} };
        }
        const received: ReceivedWebhook = {
          path: req.url ?? '',
          id: String(req.headers['webhook-id']),
          timestamp: String(req.headers['webhook-timestamp']),
          signature: String(req.headers['webhook-signature']),
          headers: req.headers,
          body,
          payload,
        };
        this.received.push(received);
        const reply = this.reply(received, this.received.length);
        if (reply === 'hang') {
          this.hanging.add(res);
          return;
        }
        const answer = () => {
          res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers });
          if (!reply.hold) {
            res.end(reply.body ?? '');
            return;
          }
          res.write(reply.body ?? '');
          this.hanging.add(res);
        };
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return this;
  }

  respond(reply: (request: ReceivedWebhook, count: number) => Reply): void {
    this.reply = reply;
  }

  /** Deliveries to one path, in arrival order. */
  at(path: string): ReceivedWebhook[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Waits until `predicate` holds for what arrived, polling; fails after the deadline. */
  async waitFor(predicate: (received: ReceivedWebhook[]) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.received)) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out; received: ${JSON.stringify(this.received.map((r) => [r.id, r.payload.type]))}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

/** Verifies a delivery with the standardwebhooks package alone, as a receiver does; returns the payload. */
export function verify(secret: string, webhook: ReceivedWebhook): unknown {
  return new Webhook(secret).verify(webhook.body, {
    'webhook-id': webhook.id,
    'webhook-timestamp': webhook.timestamp,
    'webhook-signature': webhook.signature,
  });
}

/** Polls `fn` until it returns a value that is not undefined; fails after the deadline. */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every domain event type of the catalog, in its order (`webhook.test` comes last, after these). */
export const DOMAIN_EVENT_TYPES = [
  'partner.created',
  'partner.updated',
  'partner.invited',
  'partner.revoked',
  'customer.created',
  'customer.updated',
  'transaction.created',
  'transaction.approved',
  'transaction.rejected',
  'transaction.refunded',
  'commission.created',
  'commission.approved',
  'commission.reversed',
  'commission.paid',
  'payout.created',
  'payout.paid',
  'api_key.created',
  'api_key.revoked',
  'api_key.expiring',
];
