-- GET /request-logs?keyId= and ?route= find their rows through postings instead of two indexes on
-- every row.
--
-- request_logs_key_idx and request_logs_route_idx cost each written row two B-tree inserts, most
-- of the row's cost: with traffic spread over 400 keys and 5 routes a row took PostgreSQL about
-- 8 µs to write with them, and 4.6 µs without them but with its share of the postings. A posting
-- lists the ids of one tenant's rows of one key (or one route) that one flush wrote, so a flush
-- writes one posting per key and per route it saw, whatever the number of rows. `bucket` is an
-- id's first 11 characters (`req_` and the first 33 bits of its millisecond time, about 33 s); a
-- posting's ids all share it, so the postings of a key read in descending bucket order, each
-- bucket's ids sorted, are the key's rows newest first. `day` is the UTC day of the rows'
-- created_at (the partition of request_logs they are in); postings are partitioned by it the same
-- way, and retention drops both tables' days together.
create table request_log_postings (
  tenant_id text not null,
  -- 'key' (value is a key id) or 'route' (value is a route template)
  field text not null,
  value text not null,
  bucket text not null,
  day timestamptz not null,
  -- the first of ids, so that a flush retried after a lost answer writes the same posting again,
  -- a no-op
  first_id text not null,
  -- comma-separated, in the order the rows were written; readers split and sort them
  ids text not null,
  primary key (tenant_id, field, value, bucket, first_id, day)
) partition by range (day);
-- Stored as it is, out of line when long: compressing a long list cost more than writing its rows.
alter table request_log_postings alter column ids set storage external;

-- A partition of postings for each day request_logs has one, then the postings of the stored rows.
do $$
declare
  part record;
begin
  for part in
    select c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound
    from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'request_logs'::regclass and c.relname ~ '^request_logs_\d{8}$'
  loop
    execute format(
      'create table %I partition of request_log_postings %s',
      replace(part.name, 'request_logs_', 'request_log_postings_'),
      part.bound
    );
  end loop;
end
$$;

insert into request_log_postings (tenant_id, field, value, bucket, day, first_id, ids)
select l.tenant_id, f.field, f.value, left(l.id, 11), date_trunc('day', l.created_at, 'UTC'),
  min(l.id), string_agg(l.id, ',' order by l.id)
from request_logs l cross join lateral (values ('key', l.key_id), ('route', l.route)) as f (field, value)
where f.value is not null
group by l.tenant_id, f.field, f.value, left(l.id, 11), date_trunc('day', l.created_at, 'UTC');

drop index request_logs_key_idx;
drop index request_logs_route_idx;
