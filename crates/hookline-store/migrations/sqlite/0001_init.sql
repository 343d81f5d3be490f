-- Hookline's SQLite schema, version 1.
--
-- Configuration rows (api keys, apps, webhooks, products, connections,
-- registrations) keep the domain struct whole as JSON in `doc`; only the
-- columns that identify a row or must stay unique are broken out.
--
-- Events are broken out column by column because they are filtered, sorted
-- and updated in place by the delivery queue. Payloads live in their own table
-- so that listing never reads request bodies.
--
-- Timestamps are milliseconds since the Unix epoch (INTEGER). Tables are
-- STRICT so a value bound with the wrong type fails instead of being coerced.

CREATE TABLE api_keys (
    id         TEXT    NOT NULL PRIMARY KEY,
    hash       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;

CREATE TABLE apps (
    id         TEXT    NOT NULL PRIMARY KEY,
    tag        TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;

-- Deleting an app deletes its webhooks (the trait promises it).
CREATE TABLE webhooks (
    id         TEXT    NOT NULL PRIMARY KEY,
    app_id     TEXT    NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    tag        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL,
    UNIQUE (app_id, tag)
) STRICT;

CREATE TABLE products (
    id         TEXT    NOT NULL PRIMARY KEY,
    tag        TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL
) STRICT;

-- A connection means nothing without its product, so it goes with it. It
-- does not reference apps: the API refuses to delete a connected app
-- (`count_connections_for_app`), and the store must not fail that delete
-- behind its back.
CREATE TABLE connections (
    id         TEXT    NOT NULL PRIMARY KEY,
    product_id TEXT    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    app_id     TEXT    NOT NULL,
    access_tag TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL,
    UNIQUE (product_id, access_tag)
) STRICT;

CREATE INDEX connections_app_id ON connections (app_id);

-- One link per registration key, ever. `event` is '' when the registration
-- covers every event of the webhook: NULLs are distinct under UNIQUE, so a
-- NULL would let the same key be inserted twice. The UNIQUE index also serves
-- `list_registrations` (product_id, access_tag prefix).
CREATE TABLE registrations (
    id         TEXT    NOT NULL PRIMARY KEY,
    product_id TEXT    NOT NULL,
    access_tag TEXT    NOT NULL,
    webhook_id TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    env        TEXT    NOT NULL,
    link_id    TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc        TEXT    NOT NULL,
    UNIQUE (product_id, access_tag, webhook_id, event, env)
) STRICT;

-- `id` is `evt_<ULID>`, so the primary key orders events by arrival and serves
-- the default listing (newest first) and its `before_id` cursor.
-- An event is queued iff `next_attempt_at IS NOT NULL`; it is leased while
-- `lease_until` is in the future.
CREATE TABLE events (
    id                   TEXT    NOT NULL PRIMARY KEY,
    registration_id      TEXT    NOT NULL,
    product_tag          TEXT    NOT NULL,
    access_tag           TEXT    NOT NULL,
    webhook_tag          TEXT    NOT NULL,
    env                  TEXT    NOT NULL,
    event_type           TEXT,
    status               TEXT    NOT NULL CHECK (status IN
                             ('received', 'delivering', 'delivered', 'failed', 'rejected', 'held')),
    received_at          INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    retry_base           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER,
    lease_owner          TEXT,
    lease_until          INTEGER,
    delivered_at         INTEGER,
    last_response_status INTEGER,
    last_error           TEXT,
    provider_event_id    TEXT,
    verification         TEXT
) STRICT;

-- Listing: by status or by registration, newest first, seekable by id.
CREATE INDEX events_status_id ON events (status, id);
CREATE INDEX events_registration_id ON events (registration_id, id);
CREATE INDEX events_received_at ON events (received_at);

-- Claiming: only queued events are indexed, so the index stays as small as the
-- queue however many events are kept. `lease_until` is in the index so that
-- skipping leased events never reads the table.
CREATE INDEX events_due ON events (next_attempt_at, lease_until)
    WHERE next_attempt_at IS NOT NULL;

-- Releasing leases (at start, or of one worker) without a table scan.
CREATE INDEX events_leased ON events (lease_owner)
    WHERE lease_owner IS NOT NULL;

-- Queuing a registration's held events when it gets a receiver.
CREATE INDEX events_held ON events (registration_id)
    WHERE status = 'held';

-- Dropping provider redeliveries.
CREATE INDEX events_dedup ON events (registration_id, provider_event_id, received_at)
    WHERE provider_event_id IS NOT NULL;

-- The request as received; `body` holds the exact bytes.
CREATE TABLE event_payloads (
    event_id TEXT NOT NULL PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    method   TEXT NOT NULL,
    query    TEXT,
    headers  TEXT NOT NULL,
    body     BLOB NOT NULL
) STRICT;

CREATE TABLE attempts (
    id               TEXT    NOT NULL PRIMARY KEY,
    event_id         TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    request_url      TEXT    NOT NULL,
    response_status  INTEGER,
    response_excerpt TEXT,
    error            TEXT
) STRICT;

CREATE INDEX attempts_event_id ON attempts (event_id, number);
