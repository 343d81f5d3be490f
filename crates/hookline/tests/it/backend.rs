//! Which database the in-process apps of these tests use.
//!
//! By default each app keeps an SQLite file in its data dir. With
//! `HOOKLINE_TEST_BACKEND=postgres` each app gets a fresh database on the
//! server `HOOKLINE_TEST_POSTGRES_URL` names instead, so the whole suite
//! runs on PostgreSQL too.
//!
//! The database belongs to the data dir, not to the `TestApp`: a test that
//! stops an app and starts another on the same data dir (a restart) finds
//! its data again. A database is dropped once its data dir is gone (checked
//! whenever an app starts); those still alive when the test process exits
//! are dropped by the next run (see `hookline_store::postgres::testing`).

use hookline_store::postgres::testing::{self, TestDatabase};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The variable that picks the backend: `sqlite` (default) or `postgres`.
pub const BACKEND_VAR: &str = "HOOKLINE_TEST_BACKEND";

/// Test databases by the data dir they belong to.
static DATABASES: Mutex<Vec<(PathBuf, TestDatabase)>> = Mutex::new(Vec::new());

/// True when the tests run on PostgreSQL.
pub fn postgres() -> bool {
    match std::env::var(BACKEND_VAR).as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("{BACKEND_VAR}={other}: expected `sqlite` or `postgres`"),
    }
}

/// The database URL for an app with this data dir: `None` for the default
/// (SQLite in the data dir), or a PostgreSQL database of its own.
pub async fn database_url_for(data_dir: &Path) -> Option<String> {
    if !postgres() {
        return None;
    }
    let Some(server) = testing::server_url("integration") else {
        panic!(
            "{BACKEND_VAR}=postgres needs {} to name a PostgreSQL server",
            testing::URL_VAR
        );
    };
    drop_orphans();
    if let Some(url) = lock()
        .iter()
        .find(|(dir, _)| dir == data_dir)
        .map(|(_, db)| db.url().to_owned())
    {
        return Some(url);
    }
    let db = TestDatabase::create(&server)
        .await
        .expect("create a test database");
    let url = db.url().to_owned();
    lock().push((data_dir.to_path_buf(), db));
    Some(url)
}

/// Drops the databases whose data dir was deleted (its test is over).
fn drop_orphans() {
    let orphans: Vec<TestDatabase> = {
        let mut dbs = lock();
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *dbs)
            .into_iter()
            .partition(|(dir, _)| !dir.exists());
        *dbs = kept;
        gone.into_iter().map(|(_, db)| db).collect()
    };
    drop(orphans); // Outside the lock: dropping waits for the server.
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(PathBuf, TestDatabase)>> {
    // A test that panicked while holding it left the list intact.
    DATABASES.lock().unwrap_or_else(|e| e.into_inner())
}
