create table tenants (
  id text primary key,
  slug text not null unique,
  name text not null,
  plan text not null default 'default',
  status text not null default 'active' check (status in ('active', 'suspended')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table api_keys (
  id text primary key,
  tenant_id text not null references tenants (id),
  name text not null,
  description text,
  scopes text[] not null,
  environment text not null check (environment in ('live', 'test')),
  start text not null,
  key_hash text not null unique,
  metadata jsonb not null default '{}',
  created_by text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_used_at timestamptz,
  last_used_ip text,
  expires_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_tenant_idx on api_keys (tenant_id, id desc);

create table partners (
  id text primary key,
  tenant_id text not null references tenants (id),
  email text not null,
  name text,
  status text not null check (status in ('invited', 'active', 'revoked')),
  group_key text,
  referral_code text not null,
  metadata jsonb not null default '{}',
  version integer not null default 1,
  invited_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index partners_email_uq on partners (tenant_id, lower(email));
create unique index partners_referral_code_uq on partners (tenant_id, referral_code);
create index partners_tenant_idx on partners (tenant_id, id desc);
create index partners_status_idx on partners (tenant_id, status, id desc);
create index partners_group_idx on partners (tenant_id, group_key, id desc);
