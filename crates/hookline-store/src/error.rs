//! The storage error type.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (tag taken, registration key exists, …).
    #[error("{entity} already exists: {key}")]
    Conflict { entity: &'static str, key: String },
    #[error("the database is locked by another Hookline process ({0}); stop it or point HOOKLINE_DATABASE_URL elsewhere")]
    Locked(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    /// The secret key cannot open what the database holds (see
    /// [`crate::SealedStore::verify_key`]); says which stored value.
    #[error("this node's secret key is not the one the database's secrets are sealed with: it cannot open {0}")]
    WrongSecretKey(String),
    #[error("database URL is not valid: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Turns a database's unique-constraint violation into
/// [`StoreError::Conflict`], in one place for every backend and call site.
pub(crate) trait OrConflict<T> {
    /// `key` names what collided; it is given the database's description of
    /// the broken constraint (SQLite's message, PostgreSQL's constraint name)
    /// so that a table with several unique rules can say which one it was.
    fn or_conflict(
        self,
        entity: &'static str,
        key: impl FnOnce(&str) -> String,
    ) -> Result<T, StoreError>;
}

impl<T> OrConflict<T> for Result<T, sqlx::Error> {
    fn or_conflict(
        self,
        entity: &'static str,
        key: impl FnOnce(&str) -> String,
    ) -> Result<T, StoreError> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
                entity,
                key: key(db.constraint().unwrap_or_else(|| db.message())),
            },
            _ => StoreError::Database(e),
        })
    }
}
