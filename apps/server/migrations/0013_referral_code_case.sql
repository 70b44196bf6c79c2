-- Referral codes are typed by people, from a link, a podcast or a coupon, in whatever case: like
-- email addresses they are now unique and found whatever their letter case, and each keeps the
-- case it was given. A tenant whose partners hold codes that differ only in case must first give
-- one of them another code; the migration says which tenant and partners, and how to change a
-- code while the new version does not start (with the version running now, whose API still takes
-- the codes as they are, or in SQL), and changes nothing until then.
do $$
declare
  clash record;
begin
  select t.slug, p.tenant_id, string_agg(p.id || ' (' || p.referral_code || ')', ', ' order by p.id) as partners,
    count(*) over () as groups
  into clash
  from partners p join tenants t on t.id = p.tenant_id
  group by t.slug, p.tenant_id, lower(p.referral_code)
  having count(*) > 1
  order by t.slug, min(p.referral_code)
  limit 1;
  if found then
    raise exception 'tenant % (%) has partners whose referral codes differ only in letter case: %; give all but one of them another code, with PATCH /partners/{id} on the version running now or in SQL (update partners set referral_code = ''NEWCODE'' where id = ''prt_...''), then start again',
      clash.slug, clash.tenant_id,
      clash.partners || case when clash.groups > 1
        then format(' (and %s more such groups of codes)', clash.groups - 1) else '' end;
  end if;
end $$;
drop index partners_referral_code_uq;
create unique index partners_referral_code_uq on partners (tenant_id, lower(referral_code));
