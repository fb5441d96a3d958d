-- marts.account_directory: one row per WeCom account, so that reports and notebooks can
-- show an account's name and tenant instead of its id (the other marts carry ids only).
--   account_id, tenant_id, tenant_code, tenant_name, account_name
--   account_label  how reports and notebooks show the account: its name and the end of its
--                  id (names are unique per tenant only; an id's start is its creation
--                  time, shared by accounts made together), e.g. "客服01 · 3f2a9c"
--   status       the account's status as of the extraction (not a daily figure; see
--                account_health_daily.status_at_day_end for history)
--   created_at   when the account was created (UTC)
-- No contact data (phone, email): reports never need it and it is encrypted at the source.
SELECT
    a.id AS account_id,
    a.tenant_id,
    t.tenant_code,
    t.tenant_name,
    a.account_name,
    a.account_name || ' · ' || right(a.id, 6) AS account_label,
    a.status,
    a.created_at
FROM wework_accounts AS a
LEFT JOIN tenants AS t ON t.id = a.tenant_id
