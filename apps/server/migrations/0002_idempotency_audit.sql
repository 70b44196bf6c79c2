-- Replays of POST requests sent with an Idempotency-Key, kept 24 hours.
create table idempotency_keys (
  tenant_id text not null references tenants (id),
  key text not null,
  request_hash text not null,
  status text not null check (status in ('in_flight', 'done')),
  locked_until timestamptz not null,
  response_status integer,
  response_body text,
  response_headers jsonb,
  created_at timestamptz not null default now(),
  primary key (tenant_id, key)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);

-- Who changed what: append-only, enforced by the trigger below.
create table audit_log (
  id text primary key,
  tenant_id text references tenants (id),
  action text not null,
  actor_type text not null,
  actor_id text,
  resource_type text not null,
  resource_id text not null,
  ip text,
  user_agent text,
  request_id text,
  changes jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index audit_log_tenant_idx on audit_log (tenant_id, id desc);
create index audit_log_resource_idx on audit_log (tenant_id, resource_type, resource_id, id desc);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only';
end
$$;
create trigger audit_log_no_update before update or delete on audit_log
  for each row execute function audit_log_append_only();
