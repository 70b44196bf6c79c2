import { Type } from '@sinclair/typebox';
import { ApiError } from './errors.ts';
import { matching } from './http/pattern-rule.ts';

/** Active ISO 4217 codes whose minor unit is not 2 decimals. */
const EXPONENTS: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

/** Every active ISO 4217 currency code (funds and precious metals excluded). */
const CODES = `AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP
LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW
ZWG`.split(/\s+/);

const KNOWN = new Set(CODES);
/** Every amount, given or summed into one payout, stays below this many minor units: exact as a number. */
export const MAX_AMOUNT_MINOR = 10n ** 15n;

export const CurrencySchema = Type.String({
  ...matching('^[A-Z]{3}$', 'must be an ISO 4217 code of three capital letters, such as EUR'),
  description: 'ISO 4217 currency code',
  examples: ['EUR'],
});

export const AmountSchema = Type.String({
  ...matching(
    '^-?\\d{1,15}(\\.\\d{1,4})?$',
    'must be a decimal number written as a string, such as "12.00": an optional -, 1-15 digits, then at most 4 decimals after a point',
  ),
  description:
    "Decimal string with at most the currency's own number of decimals (EUR 12.00, JPY 1200, BHD 1.250)",
  examples: ['12.00'],
});

export function currencyExponent(currency: string): number {
  return EXPONENTS[currency] ?? 2;
}

export function assertCurrency(currency: string, field = 'currency'): void {
  if (!KNOWN.has(currency)) {
    throw new ApiError('validation_error', `${currency} is not an ISO 4217 currency code`, {
      errors: [{ field, code: 'invalid_value', message: `${field} must be an ISO 4217 code such as EUR` }],
    });
  }
}

function invalidAmount(field: string, message: string): ApiError {
  return new ApiError('validation_error', message, { errors: [{ field, code: 'invalid_value', message }] });
}

/**
 * Parses a decimal amount into integer minor units of its currency. More decimals than the currency
 * has is an error, never a rounding; `positive` refuses zero and negatives.
 */
export function toMinor(
  amount: string,
  currency: string,
  options: { field?: string; currencyField?: string; positive?: boolean } = {},
): number {
  const field = options.field ?? 'amount';
  assertCurrency(currency, options.currencyField);
  const exponent = currencyExponent(currency);
  const match = /^(-?)(\d{1,15})(?:\.(\d+))?$/.exec(amount);
  if (!match) throw invalidAmount(field, `${field} must be a decimal string such as "12.00"`);
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > exponent) {
    throw invalidAmount(field, `${field} has more than the ${exponent} decimals ${currency} allows`);
  }
  const minor = BigInt(`${whole}${fraction.padEnd(exponent, '0')}`) * (sign ? -1n : 1n);
  if (minor >= MAX_AMOUNT_MINOR || minor <= -MAX_AMOUNT_MINOR)
    throw invalidAmount(field, `${field} is too large`);
  if (options.positive && minor <= 0n) throw invalidAmount(field, `${field} must be greater than zero`);
  return Number(minor);
}

/**
 * Formats integer minor units as the currency's decimal string: 1200 EUR → "12.00", 1200 JPY →
 * "1200". A bigint for sums that may pass 2^53.
 */
export function fromMinor(minor: number | bigint, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = minor < 0;
  const digits = (negative ? -minor : minor).toString().padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? `.${digits.slice(-exponent)}` : '';
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** value × numerator / denominator in integers, rounded half to even. */
export function mulDivHalfEven(value: number, numerator: number, denominator: number): number {
  const product = BigInt(value) * BigInt(numerator);
  const d = BigInt(denominator);
  let quotient = product / d;
  const remainder = product % d;
  const twice = (remainder < 0n ? -remainder : remainder) * 2n;
  const absD = d < 0n ? -d : d;
  if (twice > absD || (twice === absD && quotient % 2n !== 0n)) {
    quotient += product < 0n !== d < 0n ? -1n : 1n;
  }
  return Number(quotient);
}

/** A percentage in basis points of an amount in minor units, rounded half to even. */
export function basisPointsOf(minor: number, basisPoints: number): number {
  return mulDivHalfEven(minor, basisPoints, 10_000);
}
