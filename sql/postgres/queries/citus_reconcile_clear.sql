-- On Citus, last of a range's statements: drops run $1's decisions for
-- account $2's range [$3, $4), now recorded and stored.
DELETE FROM tokenevents_internal.reconcile_decided
WHERE run_id = $1 AND account_id = $2 AND token_value >= $3 AND token_value < $4
