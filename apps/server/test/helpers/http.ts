import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestServer } from './server.ts';
import { ADMIN_KEY } from './server.ts';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  key?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send `body` as this raw string (or these bytes) instead of JSON. */
  raw?: string | Uint8Array;
}

/** Calls the server over real HTTP and parses the JSON answer. */
export async function call<T = any>(
  server: TestServer,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers['x-api-key'] = options.key;
  let body: string | Uint8Array | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

/** A problem document as DESIGN §Errors shapes it, with the request id it was answered under. */
export function expectProblem(response: ApiResponse, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  const requestId = response.headers.get('x-request-id');
  expect(requestId).toMatch(/^req_[0-9a-z]{26}$/);
  expect(response.body).toMatchObject({
    type: `https://partnerline.dev/problems/${code}`,
    title: expect.any(String),
    status,
    code,
    detail: expect.any(String),
    requestId,
  });
  expect(response.body.title.length).toBeGreaterThan(0);
  expect(response.body.detail.length).toBeGreaterThan(0);
}

export function uniqueSlug(prefix = 't'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface TestTenant {
  id: string;
  slug: string;
  /** A key with the `admin` scope for this tenant. */
  key: string;
  keyId: string;
}

/** Creates a tenant through the admin API and an `admin`-scoped key for it. */
export async function createTenant(server: TestServer, slug = uniqueSlug()): Promise<TestTenant> {
  const tenant = await call(server, 'POST', '/api/admin/tenants', {
    key: ADMIN_KEY,
    body: { slug, name: `Tenant ${slug}` },
  });
  if (tenant.status !== 201) throw new Error(`tenant create failed: ${JSON.stringify(tenant.body)}`);
  const key = await createKey(server, ADMIN_KEY, { name: 'test admin', scopes: ['admin'] }, slug);
  return { id: tenant.body.data.id, slug, key: key.key, keyId: key.id };
}

/** Creates a key with the given caller; `slug` routes the call through /api/t/{slug}/v1. */
export async function createKey(
  server: TestServer,
  callerKey: string,
  body: {
    name: string;
    scopes: string[];
    environment?: 'live' | 'test';
    rateLimit?: { limit: number; windowSeconds: number };
  },
  slug?: string,
): Promise<{ id: string; key: string }> {
  const base = slug ? `/api/t/${slug}/v1` : '/api/v1';
  const response = await call(server, 'POST', `${base}/api-keys`, { key: callerKey, body });
  if (response.status !== 201) throw new Error(`key create failed: ${JSON.stringify(response.body)}`);
  return { id: response.body.data.id, key: response.body.data.key };
}

/**
 * Every form in which the usage and request-log `route` filters name `/api/v1/partners/{id}`;
 * TENANT stands for the caller's slug.
 */
export const PARTNER_ROUTE_FORMS = [
  '/api/v1/partners/{id}',
  '/api/t/{slug}/v1/partners/{id}',
  '/api/t/TENANT/v1/partners/{id}',
  '/api/t/:tenantSlug/v1/partners/:id',
  '/partners/{id}',
  '/partners/:id',
  '/api/v1/partners/:id',
];
