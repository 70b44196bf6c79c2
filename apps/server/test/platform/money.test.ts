import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/platform/errors.ts';
import {
  assertCurrency,
  basisPointsOf,
  currencyExponent,
  fromMinor,
  mulDivHalfEven,
  toMinor,
} from '../../src/platform/money.ts';

/** The ApiError `run` throws, or a failure when it throws none. */
function thrown(run: () => unknown): ApiError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return error as ApiError;
  }
  throw new Error('expected an ApiError');
}

describe('currencyExponent', () => {
  it.each([
    ['EUR', 2],
    ['USD', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['BHD', 3],
    ['KWD', 3],
    ['CLF', 4],
  ])('%s has %i decimals', (currency, exponent) => {
    expect(currencyExponent(currency)).toBe(exponent);
  });
});

describe('toMinor and fromMinor', () => {
  it.each([
    ['12.00', 'EUR', 1200, '12.00'],
    ['12', 'EUR', 1200, '12.00'],
    ['12.5', 'EUR', 1250, '12.50'],
    ['0.01', 'EUR', 1, '0.01'],
    ['0', 'EUR', 0, '0.00'],
    ['-5', 'EUR', -500, '-5.00'],
    ['-0.05', 'EUR', -5, '-0.05'],
    ['007.10', 'EUR', 710, '7.10'],
    ['1200', 'JPY', 1200, '1200'],
    ['-1200', 'JPY', -1200, '-1200'],
    ['0', 'JPY', 0, '0'],
    ['1.250', 'BHD', 1250, '1.250'],
    ['1.25', 'BHD', 1250, '1.250'],
    ['0.001', 'BHD', 1, '0.001'],
    ['1.2345', 'CLF', 12345, '1.2345'],
    ['0.0001', 'CLF', 1, '0.0001'],
    ['999999999999.99', 'EUR', 99999999999999, '999999999999.99'],
  ])('%s %s is %i minor units, shown as %s', (amount, currency, minor, shown) => {
    expect(toMinor(amount, currency)).toBe(minor);
    expect(fromMinor(minor, currency)).toBe(shown);
    expect(toMinor(fromMinor(minor, currency), currency)).toBe(minor);
  });

  it('round-trips every minor amount of a range for each exponent', () => {
    for (const currency of ['EUR', 'JPY', 'BHD', 'CLF']) {
      for (const minor of [0, 1, 9, 10, 99, 100, 101, 999, 1000, 1001, 123456789, -1, -100, -12345]) {
        expect(toMinor(fromMinor(minor, currency), currency)).toBe(minor);
      }
    }
  });

  it.each([
    ['1.001', 'EUR'],
    ['1.5', 'JPY'],
    ['1.0', 'JPY'],
    ['1.2345', 'BHD'],
    ['1.23456', 'CLF'],
  ])('refuses %s %s: more decimals than the currency has, never rounded', (amount, currency) => {
    const error = thrown(() => toMinor(amount, currency));
    expect(error.code).toBe('validation_error');
    expect(error.errors).toEqual([expect.objectContaining({ field: 'amount', code: 'invalid_value' })]);
  });

  it.each(['12,00', '1e3', '+1', '1.', '.5', '', ' 1', 'abc', '1.2.3', '1000000000000000'])(
    'refuses the malformed amount %j',
    (amount) => {
      expect(thrown(() => toMinor(amount, 'EUR')).code).toBe('validation_error');
    },
  );

  it('refuses amounts of 10^15 minor units and more', () => {
    expect(thrown(() => toMinor('10000000000000.00', 'EUR')).message).toMatch(/too large/);
    expect(thrown(() => toMinor('-100000000000.0000', 'CLF')).message).toMatch(/too large/);
    expect(toMinor('9999999999999.99', 'EUR')).toBe(999_999_999_999_999);
  });

  it('with positive, refuses zero and negatives', () => {
    for (const amount of ['0', '0.00', '-0.01', '-5']) {
      expect(thrown(() => toMinor(amount, 'EUR', { positive: true })).message).toMatch(/greater than zero/);
    }
    expect(toMinor('0.01', 'EUR', { positive: true })).toBe(1);
  });

  it('names the field it was given', () => {
    const error = thrown(() => toMinor('1.001', 'EUR', { field: 'saleCommission.amounts.0.amount' }));
    expect(error.errors?.[0]?.field).toBe('saleCommission.amounts.0.amount');
  });

  it.each(['XXX', 'eur', 'EURO', ''])('refuses the unknown currency %j', (currency) => {
    const error = thrown(() => toMinor('1.00', currency));
    expect(error.errors?.[0]?.field).toBe('currency');
    expect(() => assertCurrency(currency)).toThrow(ApiError);
  });
});

describe('mulDivHalfEven', () => {
  it.each([
    // value × numerator / denominator = exact → rounded
    [5, 1, 2, 2], // 2.5 → 2
    [7, 1, 2, 4], // 3.5 → 4
    [1, 1, 2, 0], // 0.5 → 0
    [3, 1, 2, 2], // 1.5 → 2
    [-5, 1, 2, -2], // -2.5 → -2
    [-7, 1, 2, -4], // -3.5 → -4
    [-1, 1, 2, 0], // -0.5 → 0
    [5, -1, 2, -2], // negative numerator
    [5, 1, -2, -2], // negative denominator
    [-5, 1, -2, 2], // both negative
    [1, 1, 3, 0], // 0.33 → 0
    [2, 1, 3, 1], // 0.67 → 1
    [-2, 1, 3, -1], // -0.67 → -1
    [10, 3, 4, 8], // 7.5 → 8
    [10, 5, 4, 12], // 12.5 → 12
    [0, 7, 3, 0],
    [250, 6, 1000, 2], // 1.5 → 2: a refund of 0.06 of 10.00 against a 2.50 commission
    [250, 2, 1000, 0], // 0.5 → 0
  ])('%i × %i / %i = %i', (value, numerator, denominator, expected) => {
    expect(mulDivHalfEven(value, numerator, denominator)).toBe(expected);
  });

  it('stays exact where the product exceeds 2^53', () => {
    // 9e14 × 9999 = 8.9991e18, far past Number.MAX_SAFE_INTEGER.
    expect(mulDivHalfEven(900_000_000_000_000, 9_999, 10_000)).toBe(899_910_000_000_000);
    expect(mulDivHalfEven(999_999_999_999_999, 5_000, 10_000)).toBe(500_000_000_000_000); // …499.5 → …500
    expect(mulDivHalfEven(999_999_999_999_997, 5_000, 10_000)).toBe(499_999_999_999_998); // …498.5 → …498
  });
});

describe('basisPointsOf', () => {
  it.each([
    [10_000, 2_000, 2_000], // 20 % of 100.00 = 20.00
    [12_000, 2_000, 2_400], // 20 % of 120.00 = 24.00
    [1_005, 1_000, 100], // 10 % of 10.05 = 1.005 → 1.00
    [1_015, 1_000, 102], // 10 % of 10.15 = 1.015 → 1.02
    [1_025, 1_000, 102], // 10 % of 10.25 = 1.025 → 1.02
    [1_005, 3_333, 335], // 33.33 % of 10.05 = 3.349665 → 3.35
    [1, 5_000, 0], // 0.5 → 0
    [3, 5_000, 2], // 1.5 → 2
    [15_000, 1, 2], // 0.01 % of 150.00 = 1.5 minor → 2
    [25_000, 1, 2], // 2.5 → 2
    [-1_005, 1_000, -100],
    [-1_015, 1_000, -102],
    [999, 10_000, 999], // 100 %
  ])('%i minor units × %i bp = %i', (minor, basisPoints, expected) => {
    expect(basisPointsOf(minor, basisPoints)).toBe(expected);
  });
});
