import type { Services } from '../services.ts';
import type { WebhookQueueDepth } from '../webhooks/queue-stats.ts';
import { writeFamily } from './exposition.ts';

/** The whole /metrics page of this process, read from the services at scrape time. */
/** `webhookQueue` is undefined when the database could not say: its family is then left out. */
export function renderMetrics(services: Services, webhookQueue: WebhookQueueDepth | undefined): string {
  const out: string[] = [];
  const { requestRecorder: recorder, rateLimits, database } = services;
  recorder.http.write(out);
  writeFamily(
    out,
    {
      name: 'partnerline_rate_limit_store_failures_total',
      help: 'Calls to the shared rate-limit store (Redis) that failed or went unanswered; while it is down, requests are limited in process (or refused) and it is tried once a second',
      type: 'counter',
    },
    [{ value: rateLimits.failures }],
  );
  writeFamily(
    out,
    {
      name: 'partnerline_usage_flush_pending',
      help: 'Usage aggregates in memory waiting for the next flush',
      type: 'gauge',
    },
    [{ value: recorder.usage.pendingCount }],
  );
  writeFamily(
    out,
    {
      name: 'partnerline_usage_dropped_total',
      help: 'Requests left out of usage because the buffer was full while the database failed',
      type: 'counter',
    },
    [{ value: recorder.usage.dropped }],
  );
  writeFamily(
    out,
    {
      name: 'partnerline_request_log_pending',
      help: 'Request-log rows waiting to be written',
      type: 'gauge',
    },
    [{ value: recorder.requestLogs.pendingCount }],
  );
  writeFamily(
    out,
    {
      name: 'partnerline_request_log_dropped_total',
      help: 'Request-log rows dropped because the buffer was full or the database refused them',
      type: 'counter',
    },
    [{ value: recorder.requestLogs.dropped }],
  );
  const pool = database.poolStats?.();
  if (pool) {
    const gauge = (name: string, help: string, value: number) =>
      writeFamily(out, { name: `partnerline_db_pool_${name}`, help, type: 'gauge' }, [{ value }]);
    gauge('max', 'Largest number of PostgreSQL connections the pool opens', pool.max);
    gauge('total', 'PostgreSQL connections open in the pool', pool.total);
    gauge('idle', 'PostgreSQL connections open and idle', pool.idle);
    gauge('waiting', 'Queries waiting for a free connection', pool.waiting);
  }
  if (webhookQueue)
    writeFamily(
      out,
      {
        name: 'partnerline_webhook_queue_depth',
        help: 'Webhook work waiting: outbox events not yet fanned out, messages due now, messages waiting for a retry',
        type: 'gauge',
      },
      [
        { labels: { queue: 'outbox' }, value: webhookQueue.outbox },
        { labels: { queue: 'due' }, value: webhookQueue.due },
        { labels: { queue: 'scheduled' }, value: webhookQueue.scheduled },
      ],
    );
  const dispatcher = services.webhookDispatcher.stats;
  writeFamily(
    out,
    {
      name: 'partnerline_webhook_in_flight',
      help: 'Webhook attempts this process is sending now',
      type: 'gauge',
    },
    [{ value: dispatcher.inFlight }],
  );
  writeFamily(
    out,
    {
      name: 'partnerline_webhook_attempts_total',
      help: 'Webhook attempts this process made, by result',
      type: 'counter',
    },
    [
      { labels: { result: 'delivered' }, value: dispatcher.delivered },
      { labels: { result: 'failed' }, value: dispatcher.failed },
    ],
  );
  recorder.process.write(out);
  out.push('');
  return out.join('\n');
}
