-- Monitoring: charts and health read attempts by time, registration health
-- is recorded so that a change is noticed (and notified) once, and bulk
-- replays keep their progress so that they resume after a restart.

-- Charts and health checks read the attempts of a time window.
CREATE INDEX attempts_started_at ON attempts (started_at);

-- The last health judgement per registration. `healthy` is broken out so
-- that a change of state can be detected in the same transaction that
-- records it; `doc` keeps the whole judgement (reasons, figures) as JSON.
CREATE TABLE registration_health (
    registration_id TEXT    NOT NULL PRIMARY KEY,
    healthy         INTEGER NOT NULL,
    since           INTEGER NOT NULL,
    checked_at      INTEGER NOT NULL,
    doc             TEXT    NOT NULL
) STRICT;

-- Bulk replays. `cursor` is the id of the last event handled (events are
-- replayed in id order, oldest first); `owner`/`lease_until` name the node
-- working on a job, as for events, so a job left by a dead node is taken
-- over once its lease expires.
CREATE TABLE replay_jobs (
    id          TEXT    NOT NULL PRIMARY KEY,
    status      TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'cancelled')),
    filter      TEXT    NOT NULL,
    rate        INTEGER NOT NULL,
    total       INTEGER NOT NULL,
    replayed    INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    cursor      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER,
    owner       TEXT,
    lease_until INTEGER
) STRICT;

CREATE INDEX replay_jobs_running ON replay_jobs (updated_at) WHERE status = 'running';
