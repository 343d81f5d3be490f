//! Registrations on SQLite: the statements of [`crate::sql::config`],
//! the save in one transaction on the writer, reads from the reader pool.

crate::sql::config::registration_store!(super::SqliteStore);
