-- Every account with tokens, by a skip scan of the tokens key: one index
-- probe per account instead of a scan of every token.
WITH RECURSIVE a AS (
    (SELECT account_id FROM tokens ORDER BY account_id LIMIT 1)
    UNION ALL
    SELECT (SELECT t.account_id FROM tokens t WHERE t.account_id > a.account_id ORDER BY t.account_id LIMIT 1)
    FROM a WHERE a.account_id IS NOT NULL
)
SELECT account_id FROM a WHERE account_id IS NOT NULL
