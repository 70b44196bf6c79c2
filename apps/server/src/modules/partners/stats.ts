import type { DomainContext } from '../../platform/context.ts';
import type { CommissionStatus } from '../../platform/db/index.ts';
import { fromMinor } from '../../platform/money.ts';
import { commissionTotals } from '../commissions/service.ts';
import { countCustomers } from '../customers/service.ts';
import { countClicks, countLeads } from '../events/stats.ts';
import { transactionTotals } from '../transactions/service.ts';
import { getPartnerOrThrow } from './service.ts';

/** Sums in minor units as bigint: they can pass 2^53, past which a number is not exact. */
interface CurrencyTotals {
  sales: number;
  grossMinor: bigint;
  refundedMinor: bigint;
  commissions: Record<CommissionStatus, bigint>;
  reversedMinor: bigint;
}

function emptyTotals(): CurrencyTotals {
  return {
    sales: 0,
    grossMinor: 0n,
    refundedMinor: 0n,
    commissions: { pending: 0n, approved: 0n, paid: 0n, reversed: 0n, rejected: 0n },
    reversedMinor: 0n,
  };
}

/**
 * What a partner has brought and earned: clicks, leads and attributed customers, and per currency
 * the sales (rejected ones left out), revenue before and after refunds and the commission sums by
 * status. `reversed` is what refunds took off commissions before payment (a refund after payment
 * is a negative clawback in its own status); `total` is what is earned and not cancelled:
 * pending + approved + paid.
 */
export async function partnerStats(ctx: Pick<DomainContext, 'db' | 'tenantId'>, id: string) {
  const partner = await getPartnerOrThrow(ctx, id);
  const [clicks, leads, customers, sales, commissions] = await Promise.all([
    countClicks(ctx, partner.id),
    countLeads(ctx, partner.id),
    countCustomers(ctx, partner.id),
    transactionTotals(ctx, partner.id),
    commissionTotals(ctx, partner.id),
  ]);
  const byCurrency = new Map<string, CurrencyTotals>();
  const totalsOf = (currency: string) => {
    let totals = byCurrency.get(currency);
    if (!totals) {
      totals = emptyTotals();
      byCurrency.set(currency, totals);
    }
    return totals;
  };
  for (const row of sales) {
    const totals = totalsOf(row.currency);
    totals.sales = row.sales;
    totals.grossMinor = BigInt(row.grossMinor);
    totals.refundedMinor = BigInt(row.refundedMinor);
  }
  for (const row of commissions) {
    const totals = totalsOf(row.currency);
    totals.commissions[row.status] += BigInt(row.totalMinor);
    totals.reversedMinor += BigInt(row.reversedMinor);
  }
  const currencies = [...byCurrency.keys()].sort().map((currency) => {
    const totals = byCurrency.get(currency) ?? emptyTotals();
    const money = (minor: bigint) => fromMinor(minor, currency);
    const { pending, approved, paid, rejected } = totals.commissions;
    return {
      currency,
      sales: totals.sales,
      revenue: money(totals.grossMinor),
      refunded: money(totals.refundedMinor),
      netRevenue: money(totals.grossMinor - totals.refundedMinor),
      commissions: {
        pending: money(pending),
        approved: money(approved),
        paid: money(paid),
        reversed: money(totals.reversedMinor),
        rejected: money(rejected),
        total: money(pending + approved + paid),
      },
    };
  });
  return { partnerId: partner.id, clicks, leads, customers, currencies };
}
