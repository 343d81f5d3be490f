//! Bulk replay jobs on PostgreSQL: the statements of
//! [`crate::sql::background`] on the pool. Several nodes claim jobs as they
//! claim events, passing over one another's rows (`SKIP LOCKED`).

crate::sql::background::replay_job_store!(super::PgStore);
