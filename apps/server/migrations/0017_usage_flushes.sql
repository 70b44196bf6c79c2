-- A usage flush adds its counts to the usage tables, so writing one twice counts its requests
-- twice. A flush whose COMMIT reached PostgreSQL but whose answer was lost (the connection broke
-- at that moment) cannot tell whether it was stored; it writes its id here in the same
-- transaction, and before it writes the same counts again the next flush looks the id up. A row
-- is needed only until then; usage retention deletes those older than a day.
create table usage_flushes (
  id text primary key,
  written_at timestamptz not null
);
