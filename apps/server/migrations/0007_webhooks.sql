-- Outgoing webhooks: endpoints, the transactional outbox, one message per endpoint and event, and
-- every delivery attempt.

-- Secrets are stored in full (they are shown again by GET …/secret) and never logged or audited.
-- After a rotation the previous secret keeps signing beside the new one until
-- previous_secret_expires_at. failing_since is the first failed attempt since the last success.
create table webhook_endpoints (
  id text primary key,
  tenant_id text not null references tenants (id),
  url text not null,
  description text,
  event_types text[] not null,
  enabled boolean not null default true,
  disabled_reason text check (disabled_reason in ('manual', 'gone', 'failing')),
  disabled_at timestamptz,
  metadata jsonb not null default '{}',
  secret text not null,
  previous_secret text,
  previous_secret_expires_at timestamptz,
  failing_since timestamptz,
  version integer not null default 1,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index webhook_endpoints_tenant_idx on webhook_endpoints (tenant_id, id desc);

-- Domain events, written in the transaction of the change they describe. The dispatcher fans each
-- row out into webhook_messages and deletes it, so this table only holds what is not yet fanned out.
-- payload is the `data` JSON exactly as the API renders the resource (text: key order is kept).
create table webhook_outbox (
  id bigserial primary key,
  tenant_id text not null,
  event_type text not null,
  payload text not null,
  created_at timestamptz not null
);

-- One event for one endpoint; id is the `webhook-id` header, stable across retries. body is the
-- exact JSON sent on every attempt. retry_index is how far along the retry schedule the message is.
-- A claimed message carries a lease (locked_until, lease_token): another worker takes it over only
-- after the lease has expired.
create table webhook_messages (
  id text primary key,
  tenant_id text not null,
  endpoint_id text not null references webhook_endpoints (id) on delete cascade,
  event_type text not null,
  body text not null,
  status text not null check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  retry_index integer not null default 0,
  -- What the next attempt is: a scheduled one, or a one-off resend (retry, recover).
  next_trigger text not null default 'scheduled' check (next_trigger in ('scheduled', 'manual', 'test')),
  next_attempt_at timestamptz,
  locked_until timestamptz,
  lease_token text,
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index webhook_messages_due_idx on webhook_messages (next_attempt_at) where status = 'pending';
create index webhook_messages_leased_idx on webhook_messages (endpoint_id, locked_until)
  where locked_until is not null;
create index webhook_messages_endpoint_idx on webhook_messages (tenant_id, endpoint_id, id desc);

create table webhook_attempts (
  id text primary key,
  tenant_id text not null,
  message_id text not null references webhook_messages (id) on delete cascade,
  endpoint_id text not null,
  attempt integer not null,
  trigger text not null check (trigger in ('scheduled', 'manual', 'test')),
  status text not null check (status in ('delivered', 'failed')),
  response_status integer,
  response_body text,
  duration_ms integer not null,
  error text,
  created_at timestamptz not null
);
create index webhook_attempts_message_idx on webhook_attempts (tenant_id, message_id, id desc);

-- api_key.expiring is sent once per expiry date: a new expiresAt clears the mark.
alter table api_keys add column expiry_warned_at timestamptz;
create index api_keys_expiry_warning_idx on api_keys (expires_at)
  where expiry_warned_at is null and revoked_at is null and expires_at is not null;
