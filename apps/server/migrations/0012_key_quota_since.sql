-- When a key's quota began counting in its current period setting: set when a quota is given to a
-- key or its period changes (day to month or back), kept when only its limit changes, null without
-- a quota. A quota counts the requests of the current day or month from this moment on; null (keys
-- whose quota predates this column) counts from the start of the period.
alter table api_keys add column quota_since timestamptz;
