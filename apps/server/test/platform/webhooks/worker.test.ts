import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, type RunningProcess, startProcess } from '../../helpers/child-process.ts';
import { onPostgres } from '../../helpers/database.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { eventually, verify, WebhookReceiver } from '../../helpers/webhook-receiver.ts';
import { type Program, startProgram } from '../../modules/events/program.ts';

// `partnerline worker` processes share the API's database: PostgreSQL only.
describe.skipIf(!onPostgres)('partnerline worker', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  let program: Program;
  const workers: RunningProcess[] = [];

  async function startWorker(): Promise<RunningProcess> {
    const worker = startProcess(
      ['bin/partnerline.js', 'worker'],
      childEnv({
        DATABASE_URL: server.databaseUrl as string,
        WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
        WEBHOOK_POLL_INTERVAL_MS: '50',
        WEBHOOK_TIMEOUT: '1s',
        WEBHOOK_LEASE: '2s',
        WEBHOOK_ENDPOINT_CONCURRENCY: '4',
        LOG_LEVEL: 'warn',
      }),
    );
    workers.push(worker);
    await worker.waitForOutput(/dispatching webhooks/);
    return worker;
  }

  beforeAll(async () => {
    receiver = await new WebhookReceiver().start();
    server = await startServer({ env: { WEBHOOK_DISPATCH: 'off', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' } });
    program = await startProgram(server);
  });

  afterAll(async () => {
    for (const worker of workers) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.finished));
    await server?.close();
    await receiver?.close();
  });

  async function endpointAt(path: string) {
    const response = await program.post('/webhook-endpoints', {
      url: `${receiver.url}${path}`,
      eventTypes: ['partner.created'],
    });
    expect(response.status).toBe(201);
    return response.body.data as { id: string; secret: string };
  }

  it('two workers on one database never send the same attempt twice', async () => {
    const endpoint = await endpointAt('/pair');
    const [a, b] = await Promise.all([startWorker(), startWorker()]);
    receiver.respond(() => ({ status: 200 }));
    const total = 120;
    for (let i = 0; i < total; i += 10) {
      await Promise.all(Array.from({ length: 10 }, () => program.partner()));
    }
    await receiver.waitFor(() => new Set(receiver.at('/pair').map((r) => r.id)).size === total, 30_000);
    const delivered = await eventually(async () => {
      const rows = await server.services.db
        .selectFrom('webhookMessages')
        .select(['id', 'attempts', 'status'])
        .where('endpointId', '=', endpoint.id)
        .execute();
      return rows.length === total && rows.every((r) => r.status === 'delivered') ? rows : undefined;
    });
    expect(delivered.every((r) => r.attempts === 1)).toBe(true);
    const attempts = await server.services.db
      .selectFrom('webhookAttempts')
      .select('id')
      .where('endpointId', '=', endpoint.id)
      .execute();
    expect(attempts).toHaveLength(total);
    const received = receiver.at('/pair');
    expect(received).toHaveLength(total);
    for (const delivery of received) verify(endpoint.secret, delivery);
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    expect((await a.finished).code).toBe(0);
    expect((await b.finished).code).toBe(0);
  });

  it('a worker killed with SIGKILL mid-delivery: another delivers the message after the lease', async () => {
    const endpoint = await endpointAt('/kill');
    receiver.respond((r) =>
      r.path === '/kill' && receiver.at('/kill').length === 1 ? 'hang' : { status: 200 },
    );
    const doomed = await startWorker();
    const partner = await program.partner();
    await receiver.waitFor(() => receiver.at('/kill').length === 1);
    doomed.child.kill('SIGKILL');
    expect((await doomed.finished).signal).toBe('SIGKILL');
    await startWorker();
    await receiver.waitFor(() => receiver.at('/kill').length === 2);
    const [first, second] = receiver.at('/kill');
    expect(second?.id).toBe(first?.id);
    expect(second?.body).toBe(first?.body);
    expect(verify(endpoint.secret, second as never)).toMatchObject({ data: { id: partner.id } });
    await eventually(async () => {
      const page = await program.get(`/webhook-endpoints/${endpoint.id}/messages?status=delivered`);
      return page.body.data.length === 1 ? true : undefined;
    });
  });
});
