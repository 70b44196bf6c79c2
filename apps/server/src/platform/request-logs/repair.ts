import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { ensureRequestLogPartitions, listRequestLogPartitions } from './partitions.ts';
import { BUCKET_LENGTH } from './table.ts';

/**
 * Files the request-log lines that no posting lists under their key or route, from `from` on: lines
 * a process older than migration 0016 wrote after it ran (it writes rows but no postings), which the
 * `keyId` and `route` filters would otherwise never find. Lines a posting already lists are left as
 * they are, so it can run at any time, while servers write, as often as needed.
 */
export async function fileUnpostedRequestLogs(
  db: Db,
  from: Date,
): Promise<{ postings: number; byKey: number; byRoute: number }> {
  // Old processes create request-log partitions only: their days get postings partitions first.
  const days = (await listRequestLogPartitions(db)).filter((day) => day + 86_400_000 > from.getTime());
  await ensureRequestLogPartitions(
    db,
    days.map((day) => new Date(day)),
  );
  const { rows } = await sql<{ field: 'key' | 'route'; postings: number; lines: number }>`
    with added as (
      insert into request_log_postings (tenant_id, field, value, bucket, day, first_id, ids)
      select l.tenant_id, f.field, f.value, left(l.id, ${sql.lit(BUCKET_LENGTH)}), date_trunc('day', l.created_at, 'UTC'),
        min(l.id), string_agg(l.id, ',' order by l.id)
      from request_logs l
      cross join lateral (values ('key', l.key_id), ('route', l.route)) as f (field, value)
      where l.created_at >= ${from} and f.value is not null
        and not exists (
          select 1 from request_log_postings p
          where p.tenant_id = l.tenant_id and p.field = f.field and p.value = f.value
            and p.bucket = left(l.id, ${sql.lit(BUCKET_LENGTH)}) and p.day = date_trunc('day', l.created_at, 'UTC')
            and position(',' || l.id || ',' in ',' || p.ids || ',') > 0
        )
      group by 1, 2, 3, 4, 5
      on conflict do nothing
      returning field, ids
    )
    select field, count(*)::int as postings,
      coalesce(sum(length(ids) - length(replace(ids, ',', '')) + 1), 0)::int as lines
    from added group by field
  `.execute(db);
  const of = (field: 'key' | 'route') => rows.find((row) => row.field === field);
  return {
    postings: rows.reduce((sum, row) => sum + row.postings, 0),
    byKey: of('key')?.lines ?? 0,
    byRoute: of('route')?.lines ?? 0,
  };
}
