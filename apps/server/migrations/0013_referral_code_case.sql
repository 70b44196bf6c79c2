-- Referral codes are typed by people, from a link, a podcast or a coupon, in whatever case: like
-- email addresses they are now unique and found whatever their letter case, and each keeps the
-- case it was given. A tenant whose partners hold codes that differ only in case must first give
-- one of them another code; the migration says which, and changes nothing until then.
do $$
declare
  clash record;
begin
  select tenant_id, min(referral_code) as code into clash
  from partners
  group by tenant_id, lower(referral_code)
  having count(*) > 1
  limit 1;
  if found then
    raise exception 'tenant % has partners whose referral codes differ only in letter case (%): give one of them another code with PATCH /partners/{id}, then start again',
      clash.tenant_id, clash.code;
  end if;
end $$;
drop index partners_referral_code_uq;
create unique index partners_referral_code_uq on partners (tenant_id, lower(referral_code));
