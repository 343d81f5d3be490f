//! Configuration rows on PostgreSQL: the statements of
//! [`crate::sql::config`] on the pool.

use super::PgStore;
use crate::sql::Backend;
use crate::{DocCipher, Result};
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

impl Backend for PgStore {
    type Db = Postgres;
    type Writer<'a>
        = PoolConnection<Postgres>
    where
        Self: 'a;

    fn reads(&self) -> &PgPool {
        &self.pool
    }
    async fn writer(&self) -> Result<Self::Writer<'_>> {
        Ok(self.pool.acquire().await?)
    }
    async fn written<T: Send>(&self, result: Result<T>) -> Result<T> {
        result
    }
    fn work_queued(&self) {
        self.notifier.work_committed();
    }
    fn cipher(&self) -> Option<&DocCipher> {
        self.cipher.as_ref()
    }
}

crate::sql::config::config_store!(PgStore);
