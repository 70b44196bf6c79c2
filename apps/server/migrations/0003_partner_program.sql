create table partner_groups (
  id text primary key,
  tenant_id text not null references tenants (id),
  key text not null,
  name text not null,
  holdback_days integer not null default 30,
  attribution_window_days integer not null default 30,
  -- {"type":"percentage","basisPoints":2000} or {"type":"fixed","amounts":{"EUR":1000}} (minor units)
  sale_commission jsonb,
  -- {"amounts":{"EUR":500}} (minor units)
  lead_commission jsonb,
  recurring boolean not null default false,
  recurring_months integer,
  is_default boolean not null default false,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index partner_groups_key_uq on partner_groups (tenant_id, key);
create unique index partner_groups_default_uq on partner_groups (tenant_id) where is_default;
create index partner_groups_tenant_idx on partner_groups (tenant_id, id desc);

alter table partners
  add column activated_at timestamptz,
  add column revoked_at timestamptz,
  add column invite_token_hash text,
  add column invite_expires_at timestamptz;
create unique index partners_invite_token_uq on partners (invite_token_hash) where invite_token_hash is not null;

create table customers (
  id text primary key,
  tenant_id text not null references tenants (id),
  external_id text not null,
  email text,
  name text,
  partner_id text references partners (id),
  attributed_at timestamptz,
  lifetime boolean not null default false,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index customers_external_uq on customers (tenant_id, external_id);
create index customers_tenant_idx on customers (tenant_id, id desc);
create index customers_partner_idx on customers (tenant_id, partner_id, id desc);

create table clicks (
  id text primary key,
  tenant_id text not null references tenants (id),
  partner_id text not null references partners (id),
  event_id text not null,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now()
);
create index clicks_partner_idx on clicks (tenant_id, partner_id);

create table events (
  id text primary key,
  tenant_id text not null references tenants (id),
  type text not null check (type in ('click', 'lead', 'sale', 'refund')),
  external_id text,
  partner_id text references partners (id),
  customer_id text references customers (id),
  click_id text,
  transaction_id text,
  amount_minor bigint,
  currency text,
  sale_external_id text,
  occurred_at timestamptz not null,
  metadata jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create unique index events_external_uq on events (tenant_id, type, external_id) where external_id is not null;
create index events_tenant_idx on events (tenant_id, id desc);
create index events_type_idx on events (tenant_id, type, id desc);

create table transactions (
  id text primary key,
  tenant_id text not null references tenants (id),
  customer_id text references customers (id),
  partner_id text references partners (id),
  event_id text not null,
  external_id text,
  amount_minor bigint not null,
  refunded_minor bigint not null default 0,
  currency text not null,
  status text not null check (status in ('pending', 'approved', 'rejected', 'refunded', 'partially_refunded')),
  status_reason text,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index transactions_external_uq on transactions (tenant_id, external_id) where external_id is not null;
create index transactions_tenant_idx on transactions (tenant_id, id desc);
create index transactions_status_idx on transactions (tenant_id, status, id desc);
create index transactions_partner_idx on transactions (tenant_id, partner_id, id desc);
create index transactions_customer_idx on transactions (tenant_id, customer_id, id desc);
create index transactions_occurred_idx on transactions (tenant_id, occurred_at);

create table payouts (
  id text primary key,
  tenant_id text not null references tenants (id),
  partner_id text not null references partners (id),
  currency text not null,
  period text not null,
  amount_minor bigint not null,
  commission_count integer not null,
  status text not null check (status in ('pending', 'paid', 'canceled')),
  reference text,
  paid_at timestamptz,
  canceled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create unique index payouts_period_uq on payouts (tenant_id, partner_id, currency, period) where status <> 'canceled';
create index payouts_tenant_idx on payouts (tenant_id, id desc);
create index payouts_partner_idx on payouts (tenant_id, partner_id, id desc);

create table commissions (
  id text primary key,
  tenant_id text not null references tenants (id),
  partner_id text not null references partners (id),
  transaction_id text references transactions (id),
  customer_id text references customers (id),
  event_id text,
  payout_id text references payouts (id),
  reverses_commission_id text references commissions (id),
  kind text not null check (kind in ('sale', 'lead', 'clawback', 'manual')),
  amount_minor bigint not null,
  reversed_minor bigint not null default 0,
  currency text not null,
  status text not null check (status in ('pending', 'approved', 'rejected', 'reversed', 'paid')),
  status_reason text,
  -- The group rule this commission was computed with, frozen at creation.
  rule jsonb not null,
  occurred_at timestamptz not null,
  available_at timestamptz not null,
  approved_at timestamptz,
  paid_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index commissions_tenant_idx on commissions (tenant_id, id desc);
create index commissions_partner_idx on commissions (tenant_id, partner_id, id desc);
create index commissions_transaction_idx on commissions (transaction_id);
create index commissions_event_idx on commissions (event_id);
create index commissions_payout_idx on commissions (payout_id);
create index commissions_due_idx on commissions (available_at) where status = 'pending';
create index commissions_payable_idx on commissions (tenant_id, partner_id, currency) where status = 'approved' and payout_id is null;
