//! Registrations on PostgreSQL: the statements of
//! [`crate::sql::config`] on the pool. Held events released by a save
//! are announced to the other nodes through `NOTIFY`, after the commit.

crate::sql::config::registration_store!(super::PgStore);
