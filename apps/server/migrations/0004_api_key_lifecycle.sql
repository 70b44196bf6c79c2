alter table api_keys
  add column allowed_ips text[],
  add column rate_limit jsonb,
  add column deactivated_at timestamptz,
  add column replaced_by text references api_keys (id),
  add column request_count bigint not null default 0,
  add column version integer not null default 1;

create index api_keys_expiry_idx on api_keys (expires_at) where expires_at is not null and revoked_at is null;

-- The audit log's row triggers do not fire on TRUNCATE; this statement trigger refuses it too.
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_append_only();
