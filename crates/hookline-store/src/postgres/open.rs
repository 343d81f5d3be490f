//! Opening a PostgreSQL store: URL and connection options, the pool, and
//! migrations that several nodes may run at the same moment.

use super::{notify::Notifier, PgOptions, PgStore};
use crate::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;

/// Versioned schema files, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connection options for a `postgres://` / `postgresql://` URL. The URL
/// itself is never echoed in an error: it may hold a password.
pub(super) fn connect_options(url: &str) -> Result<PgConnectOptions> {
    let scheme_ok = url.split_once("://").is_some_and(|(scheme, _)| {
        matches!(
            scheme.to_ascii_lowercase().as_str(),
            "postgres" | "postgresql"
        )
    });
    if !scheme_ok {
        return Err(StoreError::BadUrl(
            "a PostgreSQL URL starts with postgres:// or postgresql://".into(),
        ));
    }
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl(format!("not a valid PostgreSQL URL: {e}")))?;
    Ok(opts
        .application_name("hookline")
        // Ingest acknowledges on commit: a commit must be on disk, whatever
        // the server's or the role's default says.
        .options([
            ("synchronous_commit", "on"),
            // sqlx prepares every statement once per connection, and after
            // five runs PostgreSQL may keep a generic plan for good. One made
            // while `events` was small joins it by a sequential scan, and is
            // kept while the table grows until an ANALYZE invalidates it
            // (never, with autovacuum off): a claim then reads every event.
            // Planning each run costs far less than that risk.
            ("plan_cache_mode", "force_custom_plan"),
        ]))
}

pub(super) async fn open(url: &str, opts: &PgOptions) -> Result<PgStore> {
    let connect = connect_options(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
        .connect_with(connect.clone())
        .await?;
    if opts.migrate {
        // The migrator holds `pg_advisory_lock` (keyed on the database name)
        // on one connection while it checks and applies migrations: a node
        // starting alongside waits, then finds them applied. A lock left by
        // a failed run is dropped with its connection, so close the pool.
        if let Err(e) = MIGRATOR.run(&pool).await {
            pool.close().await;
            return Err(e.into());
        }
    }
    let store = PgStore {
        notifier: Arc::new(Notifier::new(pool.clone(), connect)),
        pool,
        cipher: None,
    };
    // Before anything is stamped: from here on this process's time is the
    // server's (see `clock`).
    if let Err(e) = super::clock::sync(&store).await {
        store.pool.close().await;
        return Err(e);
    }
    tracing::info!(
        host = store.pool.connect_options().get_host(),
        database = store.pool.connect_options().get_database().unwrap_or(""),
        "opened PostgreSQL store"
    );
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_echoing_them() {
        assert!(connect_options("postgres://u:p@localhost:5432/h").is_ok());
        assert!(connect_options("PostgreSQL://localhost/h?sslmode=disable").is_ok());
        for bad in [
            "sqlite://h.db",
            "postgres:/nope",
            "postgres://u:hunter2@[::1/h",
        ] {
            match connect_options(bad) {
                Err(StoreError::BadUrl(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
                other => panic!("{bad}: expected BadUrl, got {:?}", other.map(|_| ())),
            }
        }
    }
}
