import type { LeadRule, SaleRule } from '../../platform/db/schema.ts';
import { ApiError, validationError } from '../../platform/errors.ts';
import { basisPointsOf, fromMinor, toMinor } from '../../platform/money.ts';

export interface MoneyInput {
  amount: string;
  currency: string;
}

export type SaleRuleInput =
  | { type: 'percentage'; basisPoints: number }
  | { type: 'fixed'; amounts: MoneyInput[] };

function amountsToMinor(amounts: MoneyInput[], field: string): Record<string, number> {
  const out: Record<string, number> = {};
  amounts.forEach((money, index) => {
    if (out[money.currency] !== undefined) {
      throw new ApiError('validation_error', `${field} lists ${money.currency} twice`, {
        errors: [
          {
            field: `${field}.${index}.currency`,
            code: 'duplicate',
            message: `${money.currency} is listed twice`,
          },
        ],
      });
    }
    out[money.currency] = toMinor(money.amount, money.currency, {
      field: `${field}.${index}.amount`,
      currencyField: `${field}.${index}.currency`,
      positive: true,
    });
  });
  return out;
}

export function saleRuleFromInput(input: SaleRuleInput | null): SaleRule | null {
  if (input === null) return null;
  if (input.type === 'percentage') return { type: 'percentage', basisPoints: input.basisPoints };
  return { type: 'fixed', amounts: amountsToMinor(input.amounts, 'saleCommission.amounts') };
}

export function leadRuleFromInput(input: { amounts: MoneyInput[] } | null): LeadRule | null {
  return input === null ? null : { amounts: amountsToMinor(input.amounts, 'leadCommission.amounts') };
}

function amountsToWire(amounts: Record<string, number>): MoneyInput[] {
  return Object.entries(amounts).map(([currency, minor]) => ({
    amount: fromMinor(minor, currency),
    currency,
  }));
}

export function saleRuleToWire(rule: SaleRule | null): SaleRuleInput | null {
  if (rule === null) return null;
  return rule.type === 'percentage' ? rule : { type: 'fixed', amounts: amountsToWire(rule.amounts) };
}

export function leadRuleToWire(rule: LeadRule | null): { amounts: MoneyInput[] } | null {
  return rule === null ? null : { amounts: amountsToWire(rule.amounts) };
}

/** The commission a sale earns under a rule, in minor units; undefined when the rule has nothing for it. */
export function saleCommissionMinor(
  rule: SaleRule | null,
  amountMinor: number,
  currency: string,
): number | undefined {
  if (rule === null) return undefined;
  if (rule.type === 'percentage') return basisPointsOf(amountMinor, rule.basisPoints);
  return rule.amounts[currency];
}

/**
 * A lead's fixed commission: in the requested currency, else the rule's only currency. A rule
 * with several currencies needs the lead to name one: no order among them says which is meant.
 */
export function leadCommission(
  rule: LeadRule | null,
  currency: string | undefined,
): { amountMinor: number; currency: string } | undefined {
  if (rule === null) return undefined;
  const currencies = Object.keys(rule.amounts);
  if (currency === undefined && currencies.length > 1) {
    const listed = currencies.sort().join(', ');
    throw validationError([
      {
        field: 'currency',
        code: 'required',
        message: `currency is required: the partner's lead commission is paid in ${listed}`,
      },
    ]);
  }
  if (currency !== undefined && rule.amounts[currency] === undefined) {
    // Attributing the customer without its lead commission would lose that commission for good.
    const listed = currencies.sort().join(', ');
    throw validationError([
      {
        field: 'currency',
        code: 'invalid_value',
        message: `currency must be one the partner's lead commission is paid in: ${listed}`,
      },
    ]);
  }
  const chosen = currency ?? currencies[0];
  const amountMinor = chosen === undefined ? undefined : rule.amounts[chosen];
  return chosen === undefined || amountMinor === undefined ? undefined : { amountMinor, currency: chosen };
}
