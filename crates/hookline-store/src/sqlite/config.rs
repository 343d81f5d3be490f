//! Configuration rows on SQLite: the statements of [`crate::sql::config`],
//! written on the one writer (replaced after a storage failure, see
//! [`SqliteStore::written`]) and read from the reader pool.

use super::SqliteStore;
use crate::sql::Backend;
use crate::{DocCipher, Result};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::MappedMutexGuard;

impl Backend for SqliteStore {
    type Db = Sqlite;
    type Writer<'a>
        = MappedMutexGuard<'a, SqliteConnection>
    where
        Self: 'a;

    fn reads(&self) -> &SqlitePool {
        &self.reader
    }
    async fn writer(&self) -> Result<Self::Writer<'_>> {
        self.write().await
    }
    async fn written<T: Send>(&self, result: Result<T>) -> Result<T> {
        SqliteStore::written(self, result).await
    }
    // The one process's delivery loop wakes on its own.
    fn work_queued(&self) {}
    fn cipher(&self) -> Option<&DocCipher> {
        self.cipher.as_ref()
    }
}

crate::sql::config::config_store!(SqliteStore);
