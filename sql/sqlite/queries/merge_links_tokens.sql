-- Creates the linked tokens that do not exist yet, with the importer's
-- ids; they have no events. ?1 now.
INSERT INTO tokens (account_id, token_type, token_value, id, customer_id, linked_at, created_at)
SELECT account_id, token_type, token_value, token_id, customer_id, updated_at, ?1
FROM temp.link_last l
WHERE NOT EXISTS (SELECT 1 FROM tokens t
                  WHERE t.account_id = l.account_id AND t.token_value = l.token_value AND t.token_type = l.token_type)
ORDER BY account_id, token_value, token_type
