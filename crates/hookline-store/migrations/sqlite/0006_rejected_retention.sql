-- Rejected calls (failed signature checks) have their own, shorter
-- retention (`Store::delete_rejected_events`), by receive time: only they
-- are indexed, so each sweep batch seeks straight to the oldest, however
-- many other events are kept beside them.
CREATE INDEX events_rejected ON events (received_at)
    WHERE status = 'rejected';
