-- Retention: the sweeper deletes delivered and failed events last updated
-- before a cutoff, a small batch at a time. Only those events are indexed,
-- so each batch seeks straight to the oldest of them, however many queued,
-- held or rejected events are kept beside them.
CREATE INDEX events_expirable ON events (updated_at)
    WHERE status IN ('delivered', 'failed');
