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
    /// [`crate::DocCipher::verify_key`]); says which stored value.
    #[error("this node's secret key is not the one the database's secrets are sealed with: it cannot open {0}")]
    WrongSecretKey(String),
    #[error("database URL is not valid: {0}")]
    BadUrl(String),
    /// The database cannot take writes or cannot be reached right now: the
    /// disk is full (SQLite's `SQLITE_FULL`, an I/O error, PostgreSQL's
    /// SQLSTATE class 53 such as `53100 disk_full`), or the connection is
    /// down (PostgreSQL class 08, an administrator shutdown, a pool timeout).
    /// Nothing was written; the same call may succeed later. The API answers
    /// it 503 with `Retry-After`.
    #[error("storage unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// True for [`StoreError::Unavailable`]: a condition of the storage, not
    /// of the request, that may clear by itself.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Every sqlx error enters through here, so the "storage full or down"
/// judgement is made once, for both backends and every call site.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// Whether `e` says the storage is full, failing, or out of reach (rather
/// than that the statement or its data was wrong).
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        // The connection broke, or none could be had.
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite reports extended result codes; the primary code is
                // the low byte. SQLITE_IOERR (10), SQLITE_FULL (13),
                // SQLITE_CANTOPEN (14).
                code.parse::<i32>()
                    .is_ok_and(|c| matches!(c & 0xff, 10 | 13 | 14))
            } else {
                postgres_unavailable(&code)
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs meaning the server cannot take the write now:
/// class 08 (connection exception), class 53 (insufficient resources:
/// `53100 disk_full`, `53200 out_of_memory`, `53300 too_many_connections`),
/// `57P01`–`57P03` (shutting down, crash recovery, cannot connect now) and
/// `58030 io_error`.
fn postgres_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || sqlstate.starts_with("53")
        || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "58030")
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
            _ => StoreError::from(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_sqlstates_of_a_full_disk_or_a_lost_server_are_unavailable() {
        for code in [
            "53100", "53200", "08006", "08001", "57P01", "57P03", "58030",
        ] {
            assert!(postgres_unavailable(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "40001", "57014"] {
            assert!(!postgres_unavailable(code), "{code}");
        }
    }

    #[test]
    fn broken_connections_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(StoreError::from(sqlx::Error::Io(io)).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
    }
}
