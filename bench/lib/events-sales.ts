import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../../apps/server/src/platform/db/index.ts';
import type { LoadRequest } from './load.ts';

/**
 * Sale events for `POST /api/v1/events`, each one unique: a new customer and a new order id per
 * request, for one of the given partners in turn. Amounts are whole euros, so a percentage
 * commission of them is exact and can be checked in SQL.
 */
export class SaleEvents {
  /** Requests built so far; with autocannon's `amount`, every one of them is sent and answered. */
  built = 0;
  /** Sets this run's ids apart from any earlier run's on the same database. */
  private readonly tag = randomBytes(4).toString('hex');

  constructor(
    private readonly key: string,
    private readonly partnerIds: readonly string[],
  ) {}

  /** The body of the next sale. */
  next(): string {
    const n = this.built++;
    return JSON.stringify({
      type: 'sale',
      partnerId: this.partnerIds[n % this.partnerIds.length],
      customer: { externalId: `cust-${this.tag}-${n}` },
      amount: `${10 + (n % 490)}.00`,
      currency: 'EUR',
      externalId: `order-${this.tag}-${n}`,
    });
  }

  /** One autocannon request whose body is rebuilt, with the next sale, before every send. */
  request(): LoadRequest {
    return {
      method: 'POST',
      path: '/api/v1/events',
      headers: { 'x-api-key': this.key, 'content-type': 'application/json' },
      setupRequest: (request) => ({ ...request, body: this.next() }),
    };
  }
}

/** What a load of sales left in the database, for comparison with the number of 201 answers. */
export interface SaleRows {
  events: number;
  customers: number;
  transactions: number;
  commissions: number;
  /** Transactions with no sale commission: each sale here is a first sale of an attributed customer. */
  uncommissioned: number;
  /** Commissions that are not `basisPoints` of their transaction's amount. */
  wrongAmount: number;
}

export async function countSaleRows(db: Db, tenantId: string, basisPoints: number): Promise<SaleRows> {
  const { rows } = await sql<SaleRows>`
    select
      (select count(*)::int from events where tenant_id = ${tenantId} and type = 'sale') as events,
      (select count(*)::int from customers where tenant_id = ${tenantId}) as customers,
      (select count(*)::int from transactions where tenant_id = ${tenantId}) as transactions,
      (select count(*)::int from commissions where tenant_id = ${tenantId} and kind = 'sale') as commissions,
      (select count(*)::int from transactions t
        where t.tenant_id = ${tenantId}
          and not exists (select 1 from commissions c where c.transaction_id = t.id and c.kind = 'sale')
      ) as uncommissioned,
      (select count(*)::int from commissions c join transactions t on t.id = c.transaction_id
        where c.tenant_id = ${tenantId} and c.amount_minor * 10000 <> t.amount_minor * ${basisPoints}
      ) as wrong_amount
  `.execute(db);
  return rows[0]!;
}
