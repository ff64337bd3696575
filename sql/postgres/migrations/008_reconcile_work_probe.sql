-- An incremental reconcile decides most of its tokens from their stored
-- status and the events written since the previous reconcile alone
-- (reconcile_decide_work.sql). reconcile_candidates.sql notes per token
-- what that needs of the new events, read once in the order they were
-- written: the newest in effect at the run's --as-of (new_event,
-- new_status, new_created_at, new_expires_at), the first not yet in effect
-- (new_next_at) and the keys of them all (new_events, new_created). probe
-- marks the tokens that must instead be decided from all their events and
-- their customer, because their token row, their customer or the passing
-- of time changed. Work rows live only during a run; true keeps any left
-- over on the safe side.
ALTER TABLE tokenevents_internal.reconcile_work
    ADD COLUMN probe boolean NOT NULL DEFAULT true,
    ADD COLUMN new_event text COLLATE "C",
    ADD COLUMN new_status text COLLATE "C",
    ADD COLUMN new_created_at timestamptz,
    ADD COLUMN new_expires_at timestamptz,
    ADD COLUMN new_next_at timestamptz,
    ADD COLUMN new_events text[] COLLATE "C",
    ADD COLUMN new_created timestamptz[];
