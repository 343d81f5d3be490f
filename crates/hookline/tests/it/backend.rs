//! Which database the in-process apps of these tests use.
//!
//! By default each app keeps an SQLite file in its data dir. With
//! `HOOKLINE_TEST_BACKEND=postgres` each app gets a fresh database on the
//! server `HOOKLINE_TEST_POSTGRES_URL` names instead, so the whole suite
//! runs on PostgreSQL too.
//!
//! The database belongs to the data dir, not to the `TestApp`: a test that
//! stops an app and starts another on the same data dir (a restart) finds
//! its data again. Each [`crate::helpers::DataDir`] holding the data dir,
//! that of the app that made the database and that of any app started on it
//! later, holds the database too; when the last of them is dropped (the test
//! is over, passed or panicked) the database is dropped. Nothing keeps one
//! in a `static`, which the process would never drop at exit.

use hookline_store::postgres::testing::{self, TestDatabase};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

/// The variable that picks the backend: `sqlite` (default) or `postgres`.
pub const BACKEND_VAR: &str = "HOOKLINE_TEST_BACKEND";

/// The databases of live data dirs, by data dir, to find one again on a
/// restart. Weak: the data dirs own them.
static DATABASES: Mutex<Vec<(PathBuf, Weak<TestDatabase>)>> = Mutex::new(Vec::new());

/// True when the tests run on PostgreSQL.
pub fn postgres() -> bool {
    match std::env::var(BACKEND_VAR).as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("{BACKEND_VAR}={other}: expected `sqlite` or `postgres`"),
    }
}

/// The database for an app with this data dir: `None` for the default
/// (SQLite in the data dir), or a PostgreSQL database of its own, which
/// lives as long as the returned handle or another one for the same dir.
pub async fn database_for(data_dir: &Path) -> Option<Arc<TestDatabase>> {
    if !postgres() {
        return None;
    }
    let server = testing::server_url(&format!("integration ({BACKEND_VAR}=postgres)"));
    {
        let mut dbs = lock();
        dbs.retain(|(_, db)| db.strong_count() > 0);
        if let Some(db) = dbs
            .iter()
            .find(|(dir, _)| dir == data_dir)
            .and_then(|(_, db)| db.upgrade())
        {
            return Some(db);
        }
    }
    let db = Arc::new(
        TestDatabase::create(&server)
            .await
            .expect("create a test database"),
    );
    lock().push((data_dir.to_path_buf(), Arc::downgrade(&db)));
    Some(db)
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Weak<TestDatabase>)>> {
    // A test that panicked while holding it left the list intact.
    DATABASES.lock().unwrap_or_else(|e| e.into_inner())
}
