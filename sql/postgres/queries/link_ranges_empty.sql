-- Whether the tables hold nothing yet where one staged partition's links
-- and customers go ($1 partition, $2 source id): tokens, per account,
-- between the lowest and highest token value of its links; customers, per
-- account, between the lowest and highest customer id of its customers.
-- Where nothing is, every link makes a new token and every customer is new:
-- merge_links_new.sql and merge_customers_new.sql insert them without a
-- probe each (a migration into a new database). Asked after the
-- partition's events are merged, in the same transaction, so tokens they
-- created count.
WITH l AS (
    SELECT account_id, min(token_value) AS lo, max(token_value) AS hi
    FROM tokenevents_internal.import_stage_links
    WHERE partition = $1 AND source_id = $2
    GROUP BY account_id
), c AS (
    SELECT account_id, min(customer_id) AS lo, max(customer_id) AS hi
    FROM tokenevents_internal.import_stage_customers
    WHERE partition = $1 AND source_id = $2
    GROUP BY account_id
)
SELECT NOT EXISTS (
           SELECT 1 FROM l
           WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.account_id = l.account_id AND t.token_value BETWEEN l.lo AND l.hi)
       ) AS links_new,
       NOT EXISTS (
           SELECT 1 FROM c
           WHERE EXISTS (SELECT 1 FROM customers s WHERE s.account_id = c.account_id AND s.customer_id BETWEEN c.lo AND c.hi)
       ) AS customers_new
