-- A key's optional budget of requests per calendar day or month (UTC): {"limit": n, "period": "day" | "month"}.
alter table api_keys add column quota jsonb;
