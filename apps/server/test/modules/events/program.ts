import { expect } from 'vitest';
import { type ApiResponse, call, createTenant, type TestTenant } from '../../helpers/http.ts';
import type { TestServer } from '../../helpers/server.ts';

export const DAY_MS = 86_400_000;

/** The approval job's interval in these tests: fast enough to poll for. */
export const FAST_APPROVAL = { COMMISSION_APPROVAL_INTERVAL_MS: '100' };

/** A tenant's API under /api/v1 with one key, for tests that drive a partner program over HTTP. */
export interface Program {
  tenant: TestTenant;
  get(path: string, key?: string): Promise<ApiResponse>;
  post(path: string, body?: unknown, key?: string): Promise<ApiResponse>;
  patch(path: string, body: unknown, key?: string): Promise<ApiResponse>;
  /** POST /events. */
  event(body: Record<string, unknown>, key?: string): Promise<ApiResponse>;
  /** POST /partners with a unique email; returns the partner. */
  partner(body?: Record<string, unknown>): Promise<{ id: string; referralCode: string }>;
  /** PATCH /partner-groups/default with the given rules; fails the test on anything but 200. */
  rules(body: Record<string, unknown>): Promise<void>;
}

let partnerCounter = 0;

/** A fresh tenant whose default group carries `rules` (when given). */
export async function startProgram(server: TestServer, rules?: Record<string, unknown>): Promise<Program> {
  const tenant = await createTenant(server);
  const base = '/api/v1';
  const program: Program = {
    tenant,
    get: (path, key = tenant.key) => call(server, 'GET', `${base}${path}`, { key }),
    post: (path, body = {}, key = tenant.key) => call(server, 'POST', `${base}${path}`, { key, body }),
    patch: (path, body, key = tenant.key) => call(server, 'PATCH', `${base}${path}`, { key, body }),
    event: (body, key) => program.post('/events', body, key),
    partner: async (body = {}) => {
      partnerCounter += 1;
      const response = await program.post('/partners', {
        email: `partner-${partnerCounter}-${tenant.slug}@example.com`,
        ...body,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body.data;
    },
    rules: async (body) => {
      const response = await program.patch('/partner-groups/default', body);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
    },
  };
  if (rules) await program.rules(rules);
  return program;
}

/** Expects a 201 (or `status`) and returns the response's `data`. */
export function created(response: ApiResponse, status = 201): any {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  return response.body.data;
}

/** Expects a 400 validation_error whose errors name `field`. */
export function expectFieldError(response: ApiResponse, field: string): void {
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(response.body.code).toBe('validation_error');
  expect(response.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

/** Polls `read` until `done` holds, for at most `timeoutMs`; returns the last value read. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pays a partner's approved commissions in one currency through a payout; returns the paid payout. */
export async function payCommissions(program: Program, partnerId: string, currency: string): Promise<any> {
  const payout = created(await program.post('/payouts', { partnerId, currency }));
  return created(await program.post(`/payouts/${payout.id}/mark-paid`, { reference: 'SEPA-0001' }), 200);
}

/** Every row of a list endpoint (at most 100), for counting what a test left behind. */
export async function listAll(program: Program, path: string): Promise<any[]> {
  const separator = path.includes('?') ? '&' : '?';
  const response = await program.get(`${path}${separator}limit=100`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data;
}
