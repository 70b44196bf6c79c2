-- The admin API keeps the write guarantees of the tenant API.
--
-- Tenants get a version, for ETag and If-Match on GET and PATCH /api/admin/tenants/{id}.
alter table tenants add column version integer not null default 1;
-- Idempotency keys of the admin API's POSTs belong to no tenant: their scope is `admin`, which is
-- never a tenant id (those start with `ten_`), so the column no longer references tenants.
alter table idempotency_keys drop constraint if exists idempotency_keys_tenant_id_fkey;
