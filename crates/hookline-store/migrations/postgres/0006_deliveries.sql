-- The event log and the delivery queue apart (see the SQLite migration of
-- the same name for the model). The event keeps a summary of its
-- deliveries, written in the same transaction as they are; leases live on
-- deliveries only.
CREATE TABLE deliveries (
    id                   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    event_id             TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    registration_id      TEXT    NOT NULL,
    destination_id       TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN
                             ('pending', 'delivering', 'delivered', 'failed', 'held',
                              'filtered', 'paused')),
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    attempts             BIGINT  NOT NULL DEFAULT 0,
    retry_base           BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at      BIGINT,
    lease_owner          TEXT,
    lease_until          BIGINT,
    delivered_at         BIGINT,
    last_response_status BIGINT,
    last_error           TEXT
);

INSERT INTO deliveries (id, event_id, registration_id, destination_id, status, created_at,
                        updated_at, attempts, retry_base, next_attempt_at, lease_owner,
                        lease_until, delivered_at, last_response_status, last_error)
SELECT CASE WHEN id LIKE 'evt\_%' THEN 'dlv_' || substr(id, 5) ELSE 'dlv_' || id END,
       id,
       registration_id,
       CASE WHEN registration_id LIKE 'reg\_%'
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

CREATE INDEX deliveries_due ON deliveries (next_attempt_at, lease_until)
    WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_leased ON deliveries (lease_owner)
    WHERE lease_owner IS NOT NULL;
CREATE INDEX deliveries_held ON deliveries (registration_id)
    WHERE status = 'held';
CREATE INDEX deliveries_event_id ON deliveries (event_id);

ALTER TABLE attempts ADD COLUMN delivery_id TEXT NOT NULL DEFAULT '';
UPDATE attempts SET delivery_id =
    CASE WHEN event_id LIKE 'evt\_%' THEN 'dlv_' || substr(event_id, 5)
         ELSE 'dlv_' || event_id END;

DROP INDEX events_due;
DROP INDEX events_leased;
DROP INDEX events_held;
ALTER TABLE events DROP COLUMN lease_owner;
ALTER TABLE events DROP COLUMN lease_until;
