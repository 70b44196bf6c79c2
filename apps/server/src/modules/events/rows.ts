import type { Insertable } from 'kysely';
import type { DomainContext } from '../../platform/context.ts';
import type { EventsTable } from '../../platform/db/index.ts';
import type { EventInput } from './processing.ts';

/** An event's columns as the API shows them. */
export const EVENT_COLUMNS = [
  'id',
  'type',
  'externalId',
  'partnerId',
  'customerId',
  'clickId',
  'transactionId',
  'amountMinor',
  'currency',
  'saleExternalId',
  'occurredAt',
  'metadata',
  'createdAt',
] as const;

/** A new event's row as received: what it points at is filled in by its processing. */
export function newEventRow(
  ctx: Pick<DomainContext, 'tenantId' | 'now'>,
  id: string,
  input: EventInput,
  occurredAt: Date,
): Insertable<EventsTable> {
  return {
    id,
    tenantId: ctx.tenantId,
    type: input.type,
    externalId: input.externalId ?? null,
    partnerId: null,
    customerId: null,
    clickId: null,
    transactionId: null,
    amountMinor: null,
    currency: input.currency ?? null,
    saleExternalId: input.saleExternalId ?? null,
    occurredAt,
    metadata: JSON.stringify(input.metadata ?? {}),
    createdAt: ctx.now,
  };
}
