-- On Citus, what run $1 decided for account $2's range [$3, $4): tokens
-- examined per transition (previous status, status; equal when
-- unchanged), counted per shard and summed.
SELECT previous_status, status, count(*) AS n
FROM tokenevents_internal.reconcile_decided
WHERE run_id = $1 AND account_id = $2 AND token_value >= $3 AND token_value < $4
GROUP BY previous_status, status
