-- On Citus, every account with tokens: each shard lists its accounts and
-- the coordinator merges the lists (accounts.sql's skip scan is a
-- recursive query, which Citus does not run on distributed tables).
SELECT DISTINCT account_id FROM tokens ORDER BY account_id
