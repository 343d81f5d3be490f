-- The secret key check: one row holding a known constant sealed with the
-- key the first node started with (never the key itself). Every start opens
-- it, so a node whose key differs refuses to start instead of failing on
-- every secret it reads (see `sealed.rs`).
CREATE TABLE key_check (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
