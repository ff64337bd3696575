-- On Citus, every account with tokens: accounts.sql's skip scan of the
-- tokens key (one index probe per account), run on each shard by
-- run_command_on_shards (a recursive query does not run on a distributed
-- table), each shard answering with a JSON array, merged here. A shard
-- that fails answers with its error text, which is not JSON: the cast
-- fails the statement rather than leave that shard's accounts out.
SELECT DISTINCT a.account_id
FROM run_command_on_shards('tokens',
        $cmd$WITH RECURSIVE a AS (
                 (SELECT account_id FROM %1$s ORDER BY account_id LIMIT 1)
                 UNION ALL
                 SELECT (SELECT t.account_id FROM %1$s t WHERE t.account_id > a.account_id ORDER BY t.account_id LIMIT 1)
                 FROM a WHERE a.account_id IS NOT NULL
             )
             SELECT coalesce(json_agg(account_id), '[]') FROM a WHERE account_id IS NOT NULL$cmd$) r,
     json_array_elements_text(r.result::json) AS a (account_id)
ORDER BY a.account_id
