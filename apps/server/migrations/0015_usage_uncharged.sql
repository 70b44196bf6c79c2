-- A key's quota is restored from the usage tables at start (and when a process falls back to its
-- own counters during a Redis outage). It must count only the requests that took from the key's
-- limits, and the tables could tell apart only those refused with 429: requests refused before the
-- limits (403 ip_not_allowed, 403 tenant_suspended) are metered for the key as well, and a restart
-- charged them to its quota. `uncharged` counts every metered request that took nothing from the
-- key's limits: the 429s and those refusals. Rows written before this migration hold no such
-- refusals apart, so their 429s are all they can count.
alter table usage_minute add column uncharged bigint not null default 0;
alter table usage_hour add column uncharged bigint not null default 0;
alter table usage_day add column uncharged bigint not null default 0;
update usage_minute set uncharged = rate_limited where rate_limited > 0;
update usage_hour set uncharged = rate_limited where rate_limited > 0;
update usage_day set uncharged = rate_limited where rate_limited > 0;
