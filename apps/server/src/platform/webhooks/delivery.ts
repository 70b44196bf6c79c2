import { randomInt } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { sql } from 'kysely';
import type { WebhookSettings } from '../config.ts';
import type { Db, WebhookAttemptTrigger, WebhookMessageStatus } from '../db/index.ts';
import { newId } from '../ids.ts';
import { disableEndpoints } from './endpoints.ts';
import { signedHeaders, signingSecrets } from './signing.ts';
import { type DeliveryResult, sendWebhook } from './transport.ts';

/** A message claimed for one attempt, with what sending it needs from its endpoint. */
export interface ClaimedMessage {
  id: string;
  tenantId: string;
  endpointId: string;
  eventType: string;
  body: string;
  attempts: number;
  retryIndex: number;
  trigger: WebhookAttemptTrigger;
  leaseToken: string;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  /** No retry after this attempt: a resend, or a test of a disabled endpoint. */
  final: boolean;
}

export interface Outcome {
  message: ClaimedMessage;
  result: DeliveryResult;
  attemptId: string;
  at: Date;
  status: WebhookMessageStatus;
  retryIndex: number;
  nextAttemptAt: Date | null;
}

/** Retry-After is honoured up to this long; a later one is capped. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/** ±10 % of the delay, so a receiver that failed many messages at once is not hit by all at once. */
function withJitter(delayMs: number): number {
  const spread = Math.floor(delayMs / 10);
  return spread > 0 ? delayMs - spread + randomInt(2 * spread + 1) : delayMs;
}

/**
 * Sends one attempt of a claimed message, signed with every secret that signs now. A host name
 * refused for what it resolves to is logged with the address, or with why it did not resolve,
 * which the attempt's error leaves out.
 */
export async function attemptDelivery(
  message: ClaimedMessage,
  settings: WebhookSettings,
  now: Date,
  log: Pick<FastifyBaseLogger, 'warn'>,
): Promise<DeliveryResult> {
  // The signature timestamp is wall-clock time: receivers check it against their own clocks.
  const sentAt = new Date();
  const result = await sendWebhook({
    url: message.url,
    headers: signedHeaders(message.id, message.body, signingSecrets(message, now), sentAt),
    body: message.body,
    timeoutMs: settings.timeoutMs,
    allowPrivateTargets: settings.allowPrivateTargets,
    allowHttp: settings.allowHttp,
  });
  if (result.refusedTarget) {
    const { hostname, address, category } = result.refusedTarget;
    log.warn(
      {
        tenantId: message.tenantId,
        endpointId: message.endpointId,
        messageId: message.id,
        hostname,
        address,
        category,
      },
      'webhook delivery refused: the endpoint host does not resolve to a public address',
    );
  }
  return result;
}

/**
 * What an attempt leads to: delivered on a 2xx; otherwise the next retry of the schedule (never
 * earlier than a 429/503's Retry-After asks), or failed when the schedule is spent, the attempt was
 * a one-off resend, or the endpoint answered 410 Gone.
 */
export function decideOutcome(
  message: ClaimedMessage,
  result: DeliveryResult,
  settings: WebhookSettings,
  at: Date,
): Outcome {
  const base = { message, result, attemptId: newId('att'), at };
  if (result.delivered) {
    return { ...base, status: 'delivered', retryIndex: message.retryIndex, nextAttemptAt: null };
  }
  const scheduled = settings.retrySchedule[message.retryIndex];
  if (message.final || result.status === 410 || scheduled === undefined) {
    return { ...base, status: 'failed', retryIndex: message.retryIndex, nextAttemptAt: null };
  }
  let delay = withJitter(scheduled);
  if (result.retryAfterMs !== null)
    delay = Math.max(delay, Math.min(result.retryAfterMs, MAX_RETRY_AFTER_MS));
  return {
    ...base,
    status: 'pending',
    retryIndex: message.retryIndex + 1,
    nextAttemptAt: new Date(at.getTime() + delay),
  };
}

/**
 * Records a batch of finished attempts in one statement: the attempts, the messages' new state
 * (only where this worker still holds the lease) and each endpoint's failure streak. Then disables
 * endpoints that answered 410 or have failed for the whole disable window.
 */
export async function writeOutcomes(db: Db, outcomes: Outcome[], settings: WebhookSettings, now: Date) {
  if (outcomes.length === 0) return;
  const succeeded = new Set(outcomes.filter((o) => o.result.delivered).map((o) => o.message.endpointId));
  const failedOnly = [
    ...new Set(outcomes.filter((o) => !o.result.delivered).map((o) => o.message.endpointId)),
  ].filter((id) => !succeeded.has(id));
  const attempts = outcomes.map(
    (o) =>
      sql`(${o.attemptId}::text, ${o.message.tenantId}::text, ${o.message.id}::text, ${o.message.endpointId}::text, ${o.message.attempts + 1}::int, ${o.message.trigger}::text, ${o.result.delivered ? 'delivered' : 'failed'}::text, ${o.result.status}::int, ${o.result.responseBody}::text, ${o.result.durationMs}::int, ${o.result.error}::text, ${o.at}::timestamptz)`,
  );
  const messages = outcomes.map(
    (o) =>
      sql`(${o.message.id}::text, ${o.message.leaseToken}::text, ${o.status}::text, ${o.retryIndex}::int, ${o.nextAttemptAt}::timestamptz, ${o.status === 'delivered' ? o.at : null}::timestamptz, ${o.at}::timestamptz)`,
  );
  await sql`
    with attempts as (
      insert into webhook_attempts (id, tenant_id, message_id, endpoint_id, attempt, trigger, status,
        response_status, response_body, duration_ms, error, created_at)
      select v.* from (values ${sql.join(attempts)}) as v (id, tenant_id, message_id, endpoint_id, attempt,
        trigger, status, response_status, response_body, duration_ms, error, created_at)
      where exists (select 1 from webhook_messages m where m.id = v.message_id)
    ),
    messages as (
      -- A message failed meanwhile (its endpoint was disabled, which clears the lease) still counts
      -- the attempt, and is delivered if the attempt was; it is not scheduled again.
      update webhook_messages m set
        status = case when m.lease_token is null and v.status <> 'delivered' then m.status else v.status end,
        attempts = m.attempts + 1,
        retry_index = case when m.lease_token is null then m.retry_index else v.retry_index end,
        next_attempt_at = case when m.lease_token is null then m.next_attempt_at else v.next_attempt_at end,
        delivered_at = coalesce(v.delivered_at, m.delivered_at), last_attempt_at = v.at,
        locked_until = null, lease_token = null, next_trigger = 'scheduled', updated_at = v.at
      from (values ${sql.join(messages)}) as v (id, lease_token, status, retry_index, next_attempt_at,
        delivered_at, at)
      where m.id = v.id
        and (m.lease_token = v.lease_token or (m.lease_token is null and m.status = 'failed'))
    ),
    recovered as (
      update webhook_endpoints set failing_since = null, version = version + 1, updated_at = ${now}
      where id = any(${[...succeeded]}::text[]) and failing_since is not null
    )
    update webhook_endpoints set failing_since = ${now}, version = version + 1, updated_at = ${now}
    where id = any(${failedOnly}::text[]) and failing_since is null
  `.execute(db);
  const gone = [...new Set(outcomes.filter((o) => o.result.status === 410).map((o) => o.message.endpointId))];
  await disableEndpoints(db, gone, 'gone', now);
  if (failedOnly.length > 0) {
    await disableEndpoints(db, failedOnly, 'failing', now, new Date(now.getTime() - settings.disableAfterMs));
  }
}
