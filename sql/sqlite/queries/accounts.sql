-- Every account with tokens, by a skip scan of the tokens key.
WITH RECURSIVE a (account_id) AS (
    SELECT min(account_id) FROM tokens
    UNION ALL
    SELECT (SELECT min(t.account_id) FROM tokens t WHERE t.account_id > a.account_id)
    FROM a WHERE a.account_id IS NOT NULL
)
SELECT account_id FROM a WHERE account_id IS NOT NULL
