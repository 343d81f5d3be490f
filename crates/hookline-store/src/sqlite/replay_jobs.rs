//! Bulk replay jobs on SQLite: the statements of [`crate::sql::background`],
//! written on the one writer and read from the reader pool.

crate::sql::background::replay_job_store!(super::SqliteStore);
