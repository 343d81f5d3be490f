-- The event log and the delivery queue apart. An event is what a provider
-- sent; each destination that should get it has a delivery with its own
-- status, attempts, schedule and lease, and the queue claims deliveries.
-- Today a registration has one destination, its receiver, whose id is the
-- registration's id under the `dst_` prefix.
--
-- The event keeps a summary of its deliveries (status, attempt count, next
-- attempt, last outcome), written in the same transaction as they are, so
-- that listing and filtering events reads no other table. Leases live on
-- deliveries only.
CREATE TABLE deliveries (
    id                   TEXT    NOT NULL PRIMARY KEY,
    event_id             TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    registration_id      TEXT    NOT NULL,
    destination_id       TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN
                             ('pending', 'delivering', 'delivered', 'failed', 'held',
                              'filtered', 'paused')),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    retry_base           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER,
    lease_owner          TEXT,
    lease_until          INTEGER,
    delivered_at         INTEGER,
    last_response_status INTEGER,
    last_error           TEXT
) STRICT;

-- Every delivery of the events stored so far: one per event that was not
-- rejected, in the state the event was in. An event `delivering` without a
-- lease after a failed attempt was waiting for a retry: its delivery is
-- `pending`.
INSERT INTO deliveries (id, event_id, registration_id, destination_id, status, created_at,
                        updated_at, attempts, retry_base, next_attempt_at, lease_owner,
                        lease_until, delivered_at, last_response_status, last_error)
SELECT CASE WHEN id LIKE 'evt\_%' ESCAPE '\' THEN 'dlv_' || substr(id, 5) ELSE 'dlv_' || id END,
       id,
       registration_id,
       CASE WHEN registration_id LIKE 'reg\_%' ESCAPE '\'
            THEN 'dst_' || substr(registration_id, 5) ELSE 'dst_' || registration_id END,
       CASE status
            WHEN 'received' THEN 'pending'
            WHEN 'delivering' THEN CASE WHEN lease_owner IS NULL AND attempts > retry_base
                                        THEN 'pending' ELSE 'delivering' END
            ELSE status END,
       received_at, updated_at, attempts, retry_base, next_attempt_at, lease_owner, lease_until,
       delivered_at, last_response_status, last_error
FROM events
WHERE status <> 'rejected';

-- Claiming: only queued deliveries are indexed, so the index stays as small
-- as the queue however many are kept.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, lease_until)
    WHERE next_attempt_at IS NOT NULL;
-- Releasing leases (at start, or of one worker) without a table scan.
CREATE INDEX deliveries_leased ON deliveries (lease_owner)
    WHERE lease_owner IS NOT NULL;
-- Queuing a registration's held deliveries when it gets a receiver.
CREATE INDEX deliveries_held ON deliveries (registration_id)
    WHERE status = 'held';
-- An event's deliveries (detail, summary, cascade).
CREATE INDEX deliveries_event_id ON deliveries (event_id);

-- Attempts belong to a delivery.
ALTER TABLE attempts ADD COLUMN delivery_id TEXT NOT NULL DEFAULT '';
UPDATE attempts SET delivery_id =
    CASE WHEN event_id LIKE 'evt\_%' ESCAPE '\' THEN 'dlv_' || substr(event_id, 5)
         ELSE 'dlv_' || event_id END;

-- The queue moved: the events' lease columns and queue indexes go.
DROP INDEX events_due;
DROP INDEX events_leased;
DROP INDEX events_held;
ALTER TABLE events DROP COLUMN lease_owner;
ALTER TABLE events DROP COLUMN lease_until;
