import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotencyCleanupJob, requestFingerprint } from '../../src/platform/idempotency.ts';
import { call, createKey, createTenant, type TestTenant } from '../helpers/http.ts';
import { startServer, TestClock, type TestServer } from '../helpers/server.ts';

const clock = new TestClock(new Date('2026-05-01T12:00:00.000Z'));
let server: TestServer;
let tenant: TestTenant;
let other: TestTenant;

beforeAll(async () => {
  server = await startServer({ clock });
  tenant = await createTenant(server);
  other = await createTenant(server);
});
afterAll(() => server.close());

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/** A POST (or other method) with an Idempotency-Key, keeping the body text for byte comparisons. */
async function send(
  path: string,
  options: { idempotencyKey?: string; body?: unknown; key?: string; method?: string } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { 'x-api-key': options.key ?? tenant.key };
  if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${server.url}/api/v1${path}`, {
    method: options.method ?? 'POST',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    text,
    body: text ? JSON.parse(text) : undefined,
  };
}

let counter = 0;
const fresh = (prefix: string) => `${prefix}-${++counter}-${Date.now().toString(36)}`;
const email = () => `${fresh('p')}@example.com`;

const storedRow = (tenantId: string, key: string) =>
  server.services.db
    .selectFrom('idempotencyKeys')
    .selectAll()
    .where('tenantId', '=', tenantId)
    .where('key', '=', key)
    .executeTakeFirst();

const partnersWithEmail = async (tenantId: string, address: string) =>
  (
    await server.services.db
      .selectFrom('partners')
      .select('id')
      .where('tenantId', '=', tenantId)
      .where('email', '=', address)
      .execute()
  ).length;

describe('replaying the first response', () => {
  it('POST /partners: same status, byte-identical body, headers, idempotent-replayed, one row', async () => {
    const key = fresh('k');
    const body = { email: email(), name: 'Ada' };
    const first = await send('/partners', { idempotencyKey: key, body });
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await send('/partners', { idempotencyKey: key, body });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(again.headers.get('x-request-id')).not.toBe(first.headers.get('x-request-id'));
    expect(await partnersWithEmail(tenant.id, body.email)).toBe(1);
    const third = await send('/partners', { idempotencyKey: key, body });
    expect(third.body.data.id).toBe(first.body.data.id);
  });

  it('fingerprints a request the way this test assumes', async () => {
    const key = fresh('k');
    const body = { email: email(), status: 'active' };
    expect((await send('/partners', { idempotencyKey: key, body })).status).toBe(201);
    expect((await storedRow(tenant.id, key))?.requestHash).toBe(
      requestFingerprint(tenant.keyId, 'POST', '/api/v1/partners', body),
    );
  });

  it('the same body with its keys in another order is the same request', async () => {
    const key = fresh('k');
    const address = email();
    const first = await send('/partners', { idempotencyKey: key, body: { email: address, name: 'Ada' } });
    const again = await send('/partners', { idempotencyKey: key, body: { name: 'Ada', email: address } });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data.id).toBe(first.body.data.id);
  });

  it('/api/v1 and /api/t/{slug}/v1 spell the same endpoint', async () => {
    const key = fresh('k');
    const body = { email: email() };
    const first = await send('/partners', { idempotencyKey: key, body });
    const viaSlug = await fetch(`${server.url}/api/t/${tenant.slug}/v1/partners`, {
      method: 'POST',
      headers: { 'x-api-key': tenant.key, 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
    });
    expect(viaSlug.status).toBe(201);
    expect(viaSlug.headers.get('idempotent-replayed')).toBe('true');
    expect(((await viaSlug.json()) as { data: { id: string } }).data.id).toBe(first.body.data.id);
  });

  it('POST /events: the replay returns the same event and records nothing twice', async () => {
    const key = fresh('k');
    const body = { type: 'sale', customer: { externalId: fresh('c') }, amount: '12.00', currency: 'EUR' };
    const first = await send('/events', { idempotencyKey: key, body });
    expect(first.status).toBe(201);
    const again = await send('/events', { idempotencyKey: key, body });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    const transactions = await call(
      server,
      'GET',
      `/api/v1/transactions?customerId=${first.body.data.customerId}`,
      {
        key: tenant.key,
      },
    );
    expect(transactions.body.data).toHaveLength(1);
    // Without the key the same body is a second sale.
    expect((await send('/events', { body })).status).toBe(201);
  });

  it('POST /transactions/{id}/reject: the replay does not run the action again', async () => {
    const sale = await send('/events', {
      body: { type: 'sale', customer: { externalId: fresh('c') }, amount: '5.00', currency: 'EUR' },
    });
    const path = `/transactions/${sale.body.data.transactionId}/reject`;
    const key = fresh('k');
    const first = await send(path, { idempotencyKey: key, body: { reason: 'fraud' } });
    expect(first.status).toBe(200);
    const again = await send(path, { idempotencyKey: key, body: { reason: 'fraud' } });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    // A new key runs it again, and a rejected transaction cannot be rejected twice.
    const anew = await send(path, { idempotencyKey: fresh('k'), body: { reason: 'fraud' } });
    expect(anew.status).toBe(409);
    expect(anew.body.code).toBe('invalid_state');
  });

  it('an action POST without a body replays too', async () => {
    const sale = await send('/events', {
      body: { type: 'sale', customer: { externalId: fresh('c') }, amount: '5.00', currency: 'EUR' },
    });
    const path = `/transactions/${sale.body.data.transactionId}/approve`;
    const key = fresh('k');
    const first = await send(path, { idempotencyKey: key });
    const again = await send(path, { idempotencyKey: key });
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    // No body and `{}` are the same request.
    const explicit = await send(path, { idempotencyKey: key, body: {} });
    expect(explicit.headers.get('idempotent-replayed')).toBe('true');
  });

  it('POST /api-keys: the replay is the same key record, but the plaintext key is never stored', async () => {
    const key = fresh('k');
    const body = { name: 'retried key', scopes: ['partners:read'] };
    const first = await send('/api-keys', { idempotencyKey: key, body });
    expect(first.status).toBe(201);
    const plaintext: string = first.body.data.key;
    expect(plaintext).toMatch(/^plk_live_/);
    const secret = plaintext.split('_').at(-1) as string;

    const again = await send('/api-keys', { idempotencyKey: key, body });
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('cache-control')).toBe('no-store');
    const { key: _omitted, ...record } = first.body.data;
    expect(again.body.data).toEqual(record);
    expect(again.text).not.toContain(secret);

    const rows = await server.services.db.selectFrom('idempotencyKeys').selectAll().execute();
    const everything = JSON.stringify(rows);
    expect(everything).not.toContain(plaintext);
    expect(everything).not.toContain(secret);
    const keys = await server.services.db
      .selectFrom('apiKeys')
      .select('id')
      .where('tenantId', '=', tenant.id)
      .where('name', '=', 'retried key')
      .execute();
    expect(keys.map((k) => k.id)).toEqual([first.body.data.id]);
    // The key shown once still works.
    expect((await call(server, 'GET', '/api/v1/me', { key: plaintext })).status).toBe(200);
  });

  it('POST /partners/{id}/invite: the replay omits the invite link, whose token is never stored', async () => {
    const partner = await send('/partners', { body: { email: email() } });
    const key = fresh('k');
    const path = `/partners/${partner.body.data.id}/invite`;
    const first = await send(path, { idempotencyKey: key, body: {} });
    expect(first.status).toBe(200);
    const url: string = first.body.invite.url;
    const token = url.split('/').at(-1) as string;
    const again = await send(path, { idempotencyKey: key, body: {} });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data).toEqual(first.body.data);
    expect(again.body.invite).toBeUndefined();
    const rows = JSON.stringify(await server.services.db.selectFrom('idempotencyKeys').selectAll().execute());
    expect(rows).not.toContain(token);
  });
});

describe('refusing a reused or busy key', () => {
  it('the same key with another body: 422 idempotency_key_reused, nothing created', async () => {
    const key = fresh('k');
    const firstEmail = email();
    expect((await send('/partners', { idempotencyKey: key, body: { email: firstEmail } })).status).toBe(201);
    const otherEmail = email();
    const reused = await send('/partners', { idempotencyKey: key, body: { email: otherEmail } });
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(reused.body).toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    expect(await partnersWithEmail(tenant.id, otherEmail)).toBe(0);
    // The stored answer is still the first one.
    const replay = await send('/partners', { idempotencyKey: key, body: { email: firstEmail } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
  });

  it('the same key and body on another endpoint: 422', async () => {
    const key = fresh('k');
    const body = { externalId: fresh('c') };
    expect((await send('/customers', { idempotencyKey: key, body })).status).toBe(201);
    const elsewhere = await send('/partner-groups', { idempotencyKey: key, body: { key: 'x', name: 'x' } });
    expect(elsewhere.status).toBe(422);
  });

  it('the same key on another tenant is independent', async () => {
    const key = fresh('shared');
    const body = { email: email() };
    const mine = await send('/partners', { idempotencyKey: key, body });
    const theirs = await send('/partners', { idempotencyKey: key, body, key: other.key });
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(theirs.body.data.id).not.toBe(mine.body.data.id);
    // A retry on the other tenant replays that tenant's own answer.
    const theirsAgain = await send('/partners', { idempotencyKey: key, body, key: other.key });
    expect(theirsAgain.body.data.id).toBe(theirs.body.data.id);
  });

  it("another key of the tenant never gets the first key's answer: 422, whatever its scopes", async () => {
    const key = fresh('minted');
    const body = { name: 'admin twin', scopes: ['admin'] };
    const minted = await send('/api-keys', { idempotencyKey: key, body });
    expect(minted.status).toBe(201);
    const managerKey = await createKey(server, tenant.key, {
      name: 'manager',
      scopes: ['api_keys:write', 'api_keys:read'],
    });
    // Without the header it may not mint an admin key; with the first key's header it may not either.
    expect((await send('/api-keys', { body, key: managerKey.key })).body.code).toBe('insufficient_scope');
    const replay = await send('/api-keys', { idempotencyKey: key, body, key: managerKey.key });
    expect(replay.status).toBe(422);
    expect(replay.body.code).toBe('idempotency_key_reused');
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
    // The first key still gets its own answer back.
    const again = await send('/api-keys', { idempotencyKey: key, body });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.data.id).toBe(minted.body.data.id);
  });

  it('an answer stored by the earlier fingerprint (without the caller) still replays to the same request', async () => {
    const key = fresh('legacy');
    // As validated, with its default (see 'fingerprints a request the way this test assumes').
    const body = { email: email(), status: 'active' };
    const legacyHash = createHash('sha256')
      .update(`POST /api/v1/partners\n${JSON.stringify({ email: body.email, status: body.status })}`)
      .digest('hex');
    const stored = JSON.stringify({ data: { id: 'prt_01jd8x3v4w5y6z7a8b9c0d1e2f' } });
    await server.services.db
      .insertInto('idempotencyKeys')
      .values({
        tenantId: tenant.id,
        key,
        requestHash: legacyHash,
        status: 'done',
        lockedUntil: clock.now(),
        createdAt: clock.now(),
        responseStatus: 201,
        responseBody: stored,
        responseHeaders: JSON.stringify({ 'content-type': 'application/json; charset=utf-8' }),
      })
      .execute();
    const replay = await send('/partners', { idempotencyKey: key, body });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.text).toBe(stored);
    expect((await send('/partners', { idempotencyKey: key, body: { email: email() } })).status).toBe(422);
  });

  it('a key whose first request is still in flight: 409 idempotency_key_in_flight with Retry-After', async () => {
    const key = fresh('busy');
    const body = { email: email(), status: 'active' };
    const now = clock.now();
    await server.services.db
      .insertInto('idempotencyKeys')
      .values({
        tenantId: tenant.id,
        key,
        requestHash: requestFingerprint(tenant.keyId, 'POST', '/api/v1/partners', body),
        status: 'in_flight',
        lockedUntil: new Date(now.getTime() + 60_000),
        createdAt: now,
      })
      .execute();
    const busy = await send('/partners', { idempotencyKey: key, body });
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(busy.body).toMatchObject({ status: 409, code: 'idempotency_key_in_flight' });
    expect(await partnersWithEmail(tenant.id, body.email)).toBe(0);
    // Another body under the busy key is a reuse, not a wait.
    const reused = await send('/partners', { idempotencyKey: key, body: { email: email() } });
    expect(reused.status).toBe(422);

    // A claim whose lock ran out (its request crashed) is taken over by the same request.
    await server.services.db
      .updateTable('idempotencyKeys')
      .set({ lockedUntil: new Date(now.getTime() - 1) })
      .where('tenantId', '=', tenant.id)
      .where('key', '=', key)
      .execute();
    const taken = await send('/partners', { idempotencyKey: key, body });
    expect(taken.status).toBe(201);
    expect(taken.headers.get('idempotent-replayed')).toBeNull();
    expect((await storedRow(tenant.id, key))?.status).toBe('done');
  });

  it('concurrent identical requests create one row: one 201, the rest replays or 409', async () => {
    const key = fresh('race');
    const body = { email: email() };
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => send('/partners', { idempotencyKey: key, body })),
    );
    const created = answers.filter((a) => a.status === 201 && a.headers.get('idempotent-replayed') === null);
    expect(created).toHaveLength(1);
    for (const answer of answers) {
      if (answer.status === 201) expect(answer.text).toBe(created[0]?.text);
      else expect(answer.body).toMatchObject({ status: 409, code: 'idempotency_key_in_flight' });
    }
    expect(await partnersWithEmail(tenant.id, body.email)).toBe(1);
  });
});

describe('which answers are kept', () => {
  it('a 400 from the handler is kept and replayed (the request reached the endpoint)', async () => {
    const key = fresh('k');
    const body = {
      key: fresh('g'),
      name: 'Too precise',
      saleCommission: { type: 'fixed', amounts: [{ amount: '1.001', currency: 'EUR' }] },
    };
    const first = await send('/partner-groups', { idempotencyKey: key, body });
    expect(first.status).toBe(400);
    const again = await send('/partner-groups', { idempotencyKey: key, body });
    expect(again.status).toBe(400);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.text).toBe(first.text);
    expect(again.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const fixed = {
      ...body,
      saleCommission: { type: 'fixed', amounts: [{ amount: '1.00', currency: 'EUR' }] },
    };
    expect((await send('/partner-groups', { idempotencyKey: key, body: fixed })).status).toBe(422);
  });

  it('a 409 conflict is kept and replayed', async () => {
    const body = { key: fresh('g'), name: 'Taken' };
    expect((await send('/partner-groups', { body })).status).toBe(201);
    const key = fresh('k');
    const first = await send('/partner-groups', { idempotencyKey: key, body });
    expect(first.body.code).toBe('group_key_taken');
    const again = await send('/partner-groups', { idempotencyKey: key, body });
    expect(again.status).toBe(409);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
  });

  it('a 409 that asks to retry later is not kept: the retry with the same key runs again', async () => {
    const saleId = fresh('sale');
    const key = fresh('k');
    const refund = { type: 'refund', saleExternalId: saleId, externalId: fresh('refund') };
    const early = await send('/events', { idempotencyKey: key, body: refund });
    expect(early.status).toBe(409);
    expect(early.body.code).toBe('sale_not_found');
    expect(await storedRow(tenant.id, key)).toBeUndefined();
    const sale = {
      type: 'sale',
      externalId: saleId,
      customer: { externalId: fresh('c') },
      amount: '5.00',
      currency: 'EUR',
    };
    expect((await send('/events', { body: sale })).status).toBe(201);
    const retried = await send('/events', { idempotencyKey: key, body: refund });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const replayed = await send('/events', { idempotencyKey: key, body: refund });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    expect(replayed.text).toBe(retried.text);
  });

  it('a request refused by schema validation is not kept: the corrected body may use the key', async () => {
    const key = fresh('k');
    const invalid = await send('/partners', { idempotencyKey: key, body: { email: 'not-an-email' } });
    expect(invalid.status).toBe(400);
    expect(await storedRow(tenant.id, key)).toBeUndefined();
    const corrected = await send('/partners', { idempotencyKey: key, body: { email: email() } });
    expect(corrected.status).toBe(201);
    expect(corrected.headers.get('idempotent-replayed')).toBeNull();
  });

  it('a 5xx is not kept: the key is released for a retry', async () => {
    const db = server.services.db;
    await sql`create function fail_on_explode() returns trigger language plpgsql as $$
      begin
        if new.external_id = 'explode' then raise exception 'simulated outage'; end if;
        return new;
      end $$`.execute(db);
    await sql`create trigger customers_explode before insert on customers
      for each row execute function fail_on_explode()`.execute(db);
    const key = fresh('k');
    const body = { externalId: 'explode' };
    try {
      const failed = await send('/customers', { idempotencyKey: key, body });
      expect(failed.status).toBe(500);
      expect(failed.body.code).toBe('internal_error');
      expect(failed.text).not.toContain('simulated outage');
      expect(await storedRow(tenant.id, key)).toBeUndefined();
    } finally {
      await sql`drop trigger customers_explode on customers`.execute(db);
      await sql`drop function fail_on_explode()`.execute(db);
    }
    const retried = await send('/customers', { idempotencyKey: key, body });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
  });

  it('GET and PATCH ignore the header and store nothing', async () => {
    const created = await send('/partners', { body: { email: email() } });
    const key = fresh('k');
    const get = await send(`/partners/${created.body.data.id}`, { method: 'GET', idempotencyKey: key });
    expect(get.status).toBe(200);
    const patch = await send(`/partners/${created.body.data.id}`, {
      method: 'PATCH',
      idempotencyKey: key,
      body: { name: 'Patched' },
    });
    expect(patch.status).toBe(200);
    expect(patch.headers.get('idempotent-replayed')).toBeNull();
    expect(await storedRow(tenant.id, key)).toBeUndefined();
  });
});

describe('key format', () => {
  it.each([
    ['empty', ''],
    ['only spaces (trimmed to empty)', '   '],
    ['over 255 characters', 'k'.repeat(256)],
    ['with a space inside', 'my key'],
    ['non-ASCII (Latin-1)', 'clé-1'],
    ['non-ASCII (UTF-8 bytes)', Buffer.from('ключ', 'utf8').toString('latin1')],
  ])('refuses a key that is %s: 400 naming Idempotency-Key, nothing created', async (_, value) => {
    const body = { email: email() };
    const response = await send('/partners', { idempotencyKey: value, body });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_error');
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual(['Idempotency-Key']);
    expect(await partnersWithEmail(tenant.id, body.email)).toBe(0);
  });

  it('accepts 255 visible ASCII characters', async () => {
    const key = `${fresh('k')}-`.padEnd(255, '~');
    expect((await send('/partners', { idempotencyKey: key, body: { email: email() } })).status).toBe(201);
  });
});

describe('24 hour retention', () => {
  it('a stored answer binds its key for 24 hours, then the key is free again', async () => {
    const key = fresh('k');
    const first = await send('/partners', { idempotencyKey: key, body: { email: email() } });
    expect(first.status).toBe(201);
    clock.advance(23 * 3_600_000);
    expect((await send('/partners', { idempotencyKey: key, body: { email: email() } })).status).toBe(422);
    clock.advance(2 * 3_600_000);
    const later = await send('/partners', { idempotencyKey: key, body: { email: email() } });
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotent-replayed')).toBeNull();
    expect(later.body.data.id).not.toBe(first.body.data.id);
  });

  it('the cleanup job deletes answers older than 24 hours and keeps newer ones', async () => {
    const oldKey = fresh('old');
    expect((await send('/partners', { idempotencyKey: oldKey, body: { email: email() } })).status).toBe(201);
    clock.advance(12 * 3_600_000);
    const newKey = fresh('new');
    expect((await send('/partners', { idempotencyKey: newKey, body: { email: email() } })).status).toBe(201);
    clock.advance(13 * 3_600_000);
    await idempotencyCleanupJob(server.services.db, clock).run();
    expect(await storedRow(tenant.id, oldKey)).toBeUndefined();
    expect(await storedRow(tenant.id, newKey)).toBeDefined();
  });
});
