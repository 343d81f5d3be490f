-- Facts the store keeps about its own data.
CREATE TABLE meta (
    key   TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- '1' while every stored event id is a canonical `evt_<ULID>` whose time is
-- within a few seconds of its `received_at` (as ingest mints them). Listing
-- then narrows a time window to an id range, which the id-ordered indexes
-- seek directly. The first event that breaks the rule sets it to '0' for
-- good, and time windows fall back to a plain filter. A database that
-- already holds events starts at '0': nobody checked them.
INSERT INTO meta (key, value)
SELECT 'event_ids_track_time',
       CASE WHEN EXISTS (SELECT 1 FROM events) THEN '0' ELSE '1' END;
