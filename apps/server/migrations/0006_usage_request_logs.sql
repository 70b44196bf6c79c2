-- Usage metering and the request log.

-- Latency histograms are bigint[] of counts per bucket; the bucket bounds are fixed in
-- src/platform/usage/histogram.ts and must never change (a new layout needs a new column).
-- Arrays of different lengths add up to the longer one.
create function usage_histogram_add(a bigint[], b bigint[]) returns bigint[]
language sql immutable parallel safe as $$
  select coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) order by i), '{}'::bigint[])
  from unnest(a, b) with ordinality as u (x, y, i)
$$;

create aggregate usage_histogram_sum(bigint[]) (
  sfunc = usage_histogram_add,
  stype = bigint[],
  initcond = '{}'
);

-- Requests per tenant, key, route template, method, status class and UTC minute. Every flush adds
-- to the minute row and to its hour and day roll-ups. key_id '' is the platform admin key.
-- Minutes are kept 7 days, hours 90 days, days for good (the usage retention job).
create table usage_minute (
  tenant_id text not null,
  bucket timestamptz not null,
  key_id text not null,
  route text not null,
  method text not null,
  status_class text not null check (status_class in ('1xx', '2xx', '3xx', '4xx', '5xx')),
  requests bigint not null,
  rate_limited bigint not null,
  latency bigint[] not null,
  primary key (tenant_id, bucket, key_id, route, method, status_class)
);
create index usage_minute_key_idx on usage_minute (tenant_id, key_id, bucket);

create table usage_hour (like usage_minute including all);
create table usage_day (like usage_minute including all);

-- One row per request of a live key (test keys when REQUEST_LOG_TEST_KEYS=true) or of the admin
-- key; id is the request id. Partitioned by UTC day: the partition job creates each day's table
-- ahead of time and retention drops whole days. Partitions are named request_logs_YYYYMMDD.
create table request_logs (
  id text not null,
  tenant_id text not null,
  created_at timestamptz not null,
  key_id text,
  method text not null,
  path text not null,
  route text,
  status smallint not null,
  latency_ms double precision not null,
  ip text,
  user_agent text,
  response_bytes integer,
  error_code text,
  primary key (tenant_id, id, created_at)
) partition by range (created_at);
create index request_logs_key_idx on request_logs (tenant_id, key_id, id desc);
create index request_logs_status_idx on request_logs (tenant_id, status, id desc);
create index request_logs_route_idx on request_logs (tenant_id, route, id desc);
