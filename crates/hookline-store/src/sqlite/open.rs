//! Opening a SQLite store: where the file is, the lock that makes this
//! process its only user, the two pools and their PRAGMAs, and migrations.

use super::{queue, SqliteOptions, SqliteStore};
use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::ConnectOptions;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Versioned schema files, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The database file named by a plain path or a `sqlite:` URL:
/// `sqlite://relative/path.db`, `sqlite:///abs/path.db`, `sqlite:path.db`.
/// Query parameters (`?mode=rwc`, …) are dropped: the store always creates
/// the file and sets its own options.
pub fn database_path(path_or_url: &str) -> Result<PathBuf> {
    let without_query = path_or_url
        .split_once('?')
        .map_or(path_or_url, |(path, _)| path);
    let lower = without_query.to_ascii_lowercase();
    let path = if lower.starts_with("sqlite://") {
        &without_query["sqlite://".len()..]
    } else if lower.starts_with("sqlite:") {
        &without_query["sqlite:".len()..]
    } else if let Some((scheme, _)) = without_query.split_once("://") {
        return Err(StoreError::BadUrl(format!(
            "`{scheme}://…` is not a SQLite database URL"
        )));
    } else {
        without_query
    };
    if path.is_empty() {
        return Err(StoreError::BadUrl(format!(
            "`{path_or_url}` names no database file"
        )));
    }
    if path.starts_with(":memory:") {
        // Two pools over an in-memory database would be two databases.
        return Err(StoreError::BadUrl(
            "in-memory SQLite databases are not supported; name a file".into(),
        ));
    }
    Ok(PathBuf::from(path))
}

pub(super) async fn open(path_or_url: &str, opts: &SqliteOptions) -> Result<SqliteStore> {
    let path = database_path(path_or_url)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    // Lock before touching the database, so a second process never gets as
    // far as releasing the first one's leases.
    let lock = lock(&path)?;

    let base = SqliteConnectOptions::new()
        .filename(&path)
        .busy_timeout(opts.busy_timeout)
        .foreign_keys(true);
    let writer_options = base
        .clone()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // An acknowledged ingest must survive power loss: fsync the WAL
        // on every commit.
        .synchronous(SqliteSynchronous::Full);
    let mut writer = writer_options.connect().await?;
    if opts.migrate {
        MIGRATOR.run_direct(&mut writer).await?;
    }
    // Readers are opened after the writer has put the file in WAL mode (a
    // persistent setting), so they need not set it themselves.
    let reader = SqlitePoolOptions::new()
        .max_connections(opts.readers.max(1))
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(base.pragma("query_only", "ON"))
        .await?;

    // A missing row (schema not migrated by us) means "don't rely on ids".
    let ids_track_time: Option<(String,)> =
        sqlx::query_as("SELECT value FROM meta WHERE key = 'event_ids_track_time'")
            .fetch_optional(&mut writer)
            .await?;
    let ids_track_time = ids_track_time.is_some_and(|(v,)| v == "1");

    let store = SqliteStore {
        writer: Arc::new(Mutex::new(Some(writer))),
        writer_options,
        reader,
        path,
        ids_track_time: Arc::new(AtomicBool::new(ids_track_time)),
        cipher: None,
        _lock: Arc::new(lock),
    };
    // This process owns the file, so any lease in it belongs to a process
    // that is gone: free them all rather than wait for them to expire.
    let released = queue::release_leases(&store, None).await?;
    tracing::info!(
        path = %store.path.display(),
        released_leases = released,
        "opened SQLite store"
    );
    Ok(store)
}

/// Takes the exclusive advisory lock on `<db>.lock` and writes our pid into
/// it, so the error a second process gets can say who holds it.
fn lock(db: &Path) -> Result<File> {
    let mut name = db.file_name().unwrap_or(db.as_os_str()).to_os_string();
    name.push(".lock");
    let lock_path = db.with_file_name(name);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // Only for the message: a lock file we cannot read still means
            // "locked".
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" by pid {holder}")
            };
            Err(StoreError::Locked(format!(
                "{} is held{who}",
                lock_path.display()
            )))
        }
        Err(TryLockError::Error(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_name_the_file() {
        let p = |s: &str| database_path(s).unwrap();
        assert_eq!(p("sqlite://data/h.db"), PathBuf::from("data/h.db"));
        assert_eq!(p("sqlite:///var/lib/h.db"), PathBuf::from("/var/lib/h.db"));
        assert_eq!(p("sqlite:h.db"), PathBuf::from("h.db"));
        assert_eq!(p("SQLite:h.db?mode=rwc"), PathBuf::from("h.db"));
        assert_eq!(
            p("sqlite://data/h.db?mode=rwc&cache=shared"),
            PathBuf::from("data/h.db")
        );
        assert_eq!(
            p("./hookline-data/h.db"),
            PathBuf::from("./hookline-data/h.db")
        );
    }

    #[test]
    fn other_urls_are_refused() {
        for bad in [
            "postgres://u:p@h/db",
            "sqlite:",
            "sqlite://",
            "sqlite::memory:",
            "",
        ] {
            assert!(
                matches!(database_path(bad), Err(StoreError::BadUrl(_))),
                "{bad:?} should be refused"
            );
        }
        let Err(StoreError::BadUrl(msg)) = database_path("postgres://u:secret@h/db") else {
            panic!("expected BadUrl");
        };
        assert!(!msg.contains("secret"), "{msg}");
    }
}
