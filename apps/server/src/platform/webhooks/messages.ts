import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Selectable } from 'kysely';
import type { WebhookSettings } from '../config.ts';
import type { DomainContext } from '../context.ts';
import { withinDates } from '../dates.ts';
import type { WebhookAttemptsTable, WebhookMessageStatus, WebhookMessagesTable } from '../db/index.ts';
import { rowById } from '../db/precompiled.ts';
import { selectScoped, updateScoped } from '../db/tenant-scope.ts';
import { ApiError, notFound } from '../errors.ts';
import { newId } from '../ids.ts';
import { type PageRequest, paginate } from '../pagination.ts';
import type { Clock } from '../services.ts';
import { attemptDelivery, decideOutcome, writeOutcomes } from './delivery.ts';
import { assertEndpointEnabled, getEndpointOrThrow } from './endpoints.ts';
import { serializeEventData } from './event-types.ts';
import { outboxWrites } from './outbox.ts';
import { messageBody } from './signing.ts';

type Ctx = Pick<DomainContext, 'db' | 'tenantId' | 'now'>;

const MESSAGE_COLUMNS = [
  'id',
  'endpointId',
  'eventType',
  'body',
  'status',
  'attempts',
  'nextAttemptAt',
  'lastAttemptAt',
  'deliveredAt',
  'createdAt',
] as const;

type MessageRow = Pick<Selectable<WebhookMessagesTable>, (typeof MESSAGE_COLUMNS)[number]>;

/** A message as the API shows it: the body it sends, parsed, as `payload`. */
export function messageView(row: MessageRow) {
  const { body, ...rest } = row;
  return { ...rest, payload: JSON.parse(body) as { type: string; timestamp: string; data: object } };
}

const ATTEMPT_COLUMNS = [
  'id',
  'messageId',
  'endpointId',
  'attempt',
  'trigger',
  'status',
  'responseStatus',
  'responseBody',
  'durationMs',
  'error',
  'createdAt',
] as const;

export type AttemptView = Pick<Selectable<WebhookAttemptsTable>, (typeof ATTEMPT_COLUMNS)[number]>;

export interface MessageFilters extends PageRequest {
  status?: WebhookMessageStatus | undefined;
  eventType?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export async function listEndpointMessages(ctx: Ctx, endpointId: string, filters: MessageFilters) {
  await getEndpointOrThrow(ctx, endpointId);
  let query = selectScoped(ctx, 'webhookMessages')
    .select(MESSAGE_COLUMNS)
    .where('endpointId', '=', endpointId);
  if (filters.status) query = query.where('status', '=', filters.status);
  if (filters.eventType) query = query.where('eventType', '=', filters.eventType);
  query = withinDates(query, 'created_at', { from: filters.from, to: filters.to });
  const page = await paginate(query, filters, { idColumn: 'id', idPrefix: 'msg' });
  return { data: page.data.map(messageView), pagination: page.pagination };
}

export async function getMessageOrThrow(ctx: Pick<DomainContext, 'db' | 'tenantId'>, id: string) {
  const row = await messageById(ctx, id);
  if (!row) throw notFound('webhook message', id);
  return row;
}

const messageById = rowById('msg', (scope, id) =>
  selectScoped(scope, 'webhookMessages').select(MESSAGE_COLUMNS).where('id', '=', id),
);

export interface AttemptFilters extends PageRequest {
  status?: 'delivered' | 'failed' | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export async function listMessageAttempts(ctx: Ctx, messageId: string, filters: AttemptFilters) {
  await getMessageOrThrow(ctx, messageId);
  let query = selectScoped(ctx, 'webhookAttempts').select(ATTEMPT_COLUMNS).where('messageId', '=', messageId);
  if (filters.status) query = query.where('status', '=', filters.status);
  query = withinDates(query, 'created_at', { from: filters.from, to: filters.to });
  return paginate(query, filters, { idColumn: 'id', idPrefix: 'att' });
}

/**
 * Sends a message again now. A pending one just has its next attempt moved to now; a delivered or
 * failed one gets one more attempt, outside the retry schedule.
 */
export async function retryMessage(ctx: Ctx, id: string) {
  const message = await getMessageOrThrow(ctx, id);
  const endpoint = await getEndpointOrThrow(ctx, message.endpointId);
  assertEndpointEnabled(endpoint, 'resend messages');
  const resent = message.status !== 'pending';
  const row = await updateScoped(ctx, 'webhookMessages')
    .set({
      status: 'pending',
      nextAttemptAt: ctx.now,
      ...(resent ? { nextTrigger: 'manual' as const } : {}),
      updatedAt: ctx.now,
    })
    .where('id', '=', id)
    .returning(MESSAGE_COLUMNS)
    .executeTakeFirstOrThrow();
  outboxWrites.emit('written');
  return row;
}

/** Resends every failed message of an endpoint created since `since`, each once. */
export async function recoverEndpoint(ctx: Ctx, endpointId: string, since: Date): Promise<number> {
  const endpoint = await getEndpointOrThrow(ctx, endpointId);
  assertEndpointEnabled(endpoint, 'recover messages');
  if (since > ctx.now) {
    throw new ApiError('validation_error', 'since must not be in the future', {
      errors: [{ field: 'since', code: 'out_of_range', message: 'since must not be in the future' }],
    });
  }
  const rows = await updateScoped(ctx, 'webhookMessages')
    .set({ status: 'pending', nextAttemptAt: ctx.now, nextTrigger: 'manual', updatedAt: ctx.now })
    .where('endpointId', '=', endpointId)
    .where('status', '=', 'failed')
    .where('createdAt', '>=', since)
    .returning('id')
    .execute();
  if (rows.length > 0) outboxWrites.emit('written');
  return rows.length;
}

/**
 * Sends `webhook.test` to the endpoint at once — enabled or not — and returns the attempt. A failed
 * test of an enabled endpoint is retried like any message; of a disabled one, it is not. As with
 * the dispatcher's attempts, the attempt is dated, and its retry scheduled, from when it ended.
 */
export async function sendTestMessage(
  ctx: Ctx,
  endpointId: string,
  options: { settings: WebhookSettings; clock: Clock; log: Pick<FastifyBaseLogger, 'warn'> },
) {
  const { settings, clock, log } = options;
  const endpoint = await getEndpointOrThrow(ctx, endpointId);
  const id = newId('msg');
  const leaseToken = randomUUID();
  const data = serializeEventData('webhook.test', {
    endpointId,
    message: 'This is a test message from Partnerline',
  });
  const body = messageBody('webhook.test', ctx.now, data);
  await ctx.db
    .insertInto('webhookMessages')
    .values({
      id,
      tenantId: ctx.tenantId,
      endpointId,
      eventType: 'webhook.test',
      body,
      status: 'pending',
      nextAttemptAt: ctx.now,
      lockedUntil: new Date(ctx.now.getTime() + settings.leaseMs),
      leaseToken,
      createdAt: ctx.now,
      updatedAt: ctx.now,
    })
    .execute();
  const message = {
    id,
    tenantId: ctx.tenantId,
    endpointId,
    eventType: 'webhook.test',
    body,
    attempts: 0,
    retryIndex: 0,
    trigger: 'test' as const,
    leaseToken,
    url: endpoint.url,
    secret: endpoint.secret,
    previousSecret: endpoint.previousSecret,
    previousSecretExpiresAt: endpoint.previousSecretExpiresAt,
    final: !endpoint.enabled,
  };
  const result = await attemptDelivery(message, settings, clock.now(), log);
  const outcome = decideOutcome(message, result, settings, clock.now());
  await writeOutcomes(ctx.db, [outcome], settings, outcome.at);
  const attempt: AttemptView = {
    id: outcome.attemptId,
    messageId: id,
    endpointId,
    attempt: 1,
    trigger: 'test',
    status: result.delivered ? 'delivered' : 'failed',
    responseStatus: result.status,
    responseBody: result.responseBody,
    durationMs: result.durationMs,
    error: result.error,
    createdAt: outcome.at,
  };
  return attempt;
}
