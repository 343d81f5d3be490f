-- Hookline's PostgreSQL schema, version 1: the same tables as SQLite's
-- 0001_init.sql, in PostgreSQL types.
--
-- Configuration rows (api keys, apps, webhooks, products, connections,
-- registrations) keep the domain struct whole as JSON in `doc`; only the
-- columns that identify a row or must stay unique are broken out. `doc` is
-- TEXT, not JSONB: nothing ever queries inside it, TEXT gives back exactly
-- the bytes written (JSONB rewrites them and refuses `\u0000`), and it skips
-- JSONB's parse on every write.
--
-- Events are broken out column by column because they are filtered, sorted
-- and updated in place by the delivery queue, which several nodes share.
-- Payloads live in their own table so that listing never reads request
-- bodies.
--
-- Timestamps are milliseconds since the Unix epoch (BIGINT), written by the
-- nodes' clocks, as on SQLite: nodes sharing a database need synchronised
-- clocks (NTP), since leases expire by them.

CREATE TABLE api_keys (
    id         TEXT   NOT NULL PRIMARY KEY,
    hash       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    doc        TEXT   NOT NULL,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
);

CREATE TABLE apps (
    id         TEXT   NOT NULL PRIMARY KEY,
    tag        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT   NOT NULL,
    CONSTRAINT apps_tag_key UNIQUE (tag)
);

-- Deleting an app deletes its webhooks (the trait promises it).
CREATE TABLE webhooks (
    id         TEXT   NOT NULL PRIMARY KEY,
    app_id     TEXT   NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    tag        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT   NOT NULL,
    CONSTRAINT webhooks_app_id_tag_key UNIQUE (app_id, tag)
);

CREATE TABLE products (
    id         TEXT   NOT NULL PRIMARY KEY,
    tag        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT   NOT NULL,
    CONSTRAINT products_tag_key UNIQUE (tag)
);

-- A connection goes with its product. It does not reference apps: the API
-- refuses to delete a connected app (`count_connections_for_app`), and the
-- store must not fail that delete behind its back.
CREATE TABLE connections (
    id         TEXT   NOT NULL PRIMARY KEY,
    product_id TEXT   NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    app_id     TEXT   NOT NULL,
    access_tag TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT   NOT NULL,
    CONSTRAINT connections_product_id_access_tag_key UNIQUE (product_id, access_tag)
);

CREATE INDEX connections_app_id ON connections (app_id);

-- One link per registration key, ever. `event` is '' when the registration
-- covers every event of the webhook (NULLs never collide under UNIQUE). The
-- constraint names matter: a conflict on `registrations_link_id_key` is
-- reported as a link conflict, any other as a key conflict.
CREATE TABLE registrations (
    id         TEXT   NOT NULL PRIMARY KEY,
    product_id TEXT   NOT NULL,
    access_tag TEXT   NOT NULL,
    webhook_id TEXT   NOT NULL,
    event      TEXT   NOT NULL,
    env        TEXT   NOT NULL,
    link_id    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    doc        TEXT   NOT NULL,
    CONSTRAINT registrations_link_id_key UNIQUE (link_id),
    CONSTRAINT registrations_key UNIQUE (product_id, access_tag, webhook_id, event, env)
);

-- `id` is `evt_<ULID>`, so the primary key orders events by arrival and
-- serves the default listing (newest first) and its `before_id` cursor. Ids
-- are compared byte-wise (COLLATE "C"), as SQLite does, whatever the
-- database's collation: cursors and ULID order depend on it.
-- An event is queued iff `next_attempt_at IS NOT NULL`; it is leased while
-- `lease_until >= now`.
CREATE TABLE events (
    id                   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    registration_id      TEXT    NOT NULL,
    product_tag          TEXT    NOT NULL,
    access_tag           TEXT    NOT NULL,
    webhook_tag          TEXT    NOT NULL,
    env                  TEXT    NOT NULL,
    event_type           TEXT,
    status               TEXT    NOT NULL CHECK (status IN
                             ('received', 'delivering', 'delivered', 'failed', 'rejected', 'held')),
    received_at          BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    attempts             BIGINT  NOT NULL DEFAULT 0,
    retry_base           BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at      BIGINT,
    lease_owner          TEXT,
    lease_until          BIGINT,
    delivered_at         BIGINT,
    last_response_status BIGINT,
    last_error           TEXT,
    provider_event_id    TEXT,
    verification         TEXT
);

-- Listing: by status or by registration, newest first, seekable by id.
CREATE INDEX events_status_id ON events (status, id);
CREATE INDEX events_registration_id ON events (registration_id, id);
CREATE INDEX events_received_at ON events (received_at);

-- Claiming: only queued events are indexed, so the index stays as small as
-- the queue however many events are kept.
CREATE INDEX events_due ON events (next_attempt_at, lease_until)
    WHERE next_attempt_at IS NOT NULL;

-- Releasing the leases of one node (graceful shutdown) without a scan.
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
    event_id TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    method   TEXT  NOT NULL,
    query    TEXT,
    headers  TEXT  NOT NULL,
    body     BYTEA NOT NULL
);

CREATE TABLE attempts (
    id               TEXT   NOT NULL PRIMARY KEY,
    event_id         TEXT COLLATE "C" NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    number           BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    request_url      TEXT   NOT NULL,
    response_status  BIGINT,
    response_excerpt TEXT,
    error            TEXT
);

CREATE INDEX attempts_event_id ON attempts (event_id, number);
