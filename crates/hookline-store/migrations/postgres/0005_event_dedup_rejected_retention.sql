-- Provider redeliveries, settled across nodes. Each (registration, provider
-- event id) has one row naming the latest event stored with it. Storing an
-- event with a provider event id upserts its row in the same statement
-- (`postgres/events.rs`): a new key inserts, a key whose row is older than
-- the dedup window moves to the new event, and a key inside the window is a
-- redelivery, which is left out and answered with the row's event. Two nodes
-- upserting one key at once are serialised by the primary key: the second
-- waits for the first to commit, then finds its row inside the window.
--
-- The foreign key is deferred so that one transaction may name an event it
-- inserts after the row; deleting an event (retention) deletes its row.
CREATE TABLE event_dedup (
    registration_id   TEXT   NOT NULL,
    provider_event_id TEXT   NOT NULL,
    event_id          TEXT COLLATE "C" NOT NULL
        REFERENCES events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    received_at       BIGINT NOT NULL,
    PRIMARY KEY (registration_id, provider_event_id)
);

-- The cascade from `events` finds rows by event.
CREATE INDEX event_dedup_event_id ON event_dedup (event_id);

INSERT INTO event_dedup (registration_id, provider_event_id, event_id, received_at)
SELECT DISTINCT ON (registration_id, provider_event_id)
       registration_id, provider_event_id, id, received_at
FROM events
WHERE provider_event_id IS NOT NULL
ORDER BY registration_id, provider_event_id, received_at DESC, id DESC;

-- Rejected calls (failed signature checks) have their own, shorter
-- retention (`Store::delete_rejected_events`), by receive time: only they
-- are indexed, so each sweep batch seeks straight to the oldest.
CREATE INDEX events_rejected ON events (received_at)
    WHERE status = 'rejected';
