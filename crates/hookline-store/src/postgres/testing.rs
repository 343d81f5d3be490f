//! Throwaway PostgreSQL databases for test suites (this crate's contract
//! tests and the server's integration tests).
//!
//! One environment variable, [`URL_VAR`], names a server and a database to
//! connect to for administration, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`. Each test then creates a
//! database of its own and drops it when its [`TestDatabase`] is dropped,
//! also when the test panics. Databases left behind by a test process that
//! was killed are dropped by the next run on the same machine.
//!
//! The PostgreSQL tests are marked [`IGNORE_REASON`] (`#[ignore = …]`), so a
//! plain `cargo test` reports them as ignored, with the reason, rather than
//! as passed; `cargo test -- --include-ignored` runs them (`scripts/test`
//! does when the variable is set, and CI always sets it). A PostgreSQL test
//! that runs without the variable fails, saying what to set.

use crate::{Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::io::Write;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable that points the tests at a PostgreSQL server.
pub const URL_VAR: &str = "HOOKLINE_TEST_POSTGRES_URL";

/// Prefix of every test database name.
const PREFIX: &str = "hookline_test_";

/// The reason every PostgreSQL test is `#[ignore]`d with (spelled out at
/// each test, since attributes take a literal).
pub const IGNORE_REASON: &str =
    "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored";

/// The administration URL from [`URL_VAR`].
///
/// # Panics
/// When the variable is unset: a PostgreSQL test is run only when asked for
/// (`--include-ignored`), and then it must not pass without a server.
pub fn server_url(suite: &str) -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{suite} tests on PostgreSQL need {URL_VAR}, e.g. \
             {URL_VAR}=postgres://postgres@127.0.0.1:5432/postgres \
             (without it, run without --include-ignored: they are reported as ignored)"
        ),
    }
}

/// A freshly created, empty database, dropped (with `FORCE`, so open
/// connections do not stop it) when this value is dropped.
pub struct TestDatabase {
    admin: PgConnectOptions,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database with a unique name on the server `admin_url`
    /// points at, after dropping those that dead test processes of this
    /// machine left behind.
    pub async fn create(admin_url: &str) -> Result<TestDatabase> {
        let admin = PgConnectOptions::from_str(admin_url)
            .map_err(|e| StoreError::BadUrl(format!("{URL_VAR}: {e}")))?;
        let mut conn = admin.connect().await?;
        drop_abandoned(&mut conn).await;

        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{PREFIX}{}_{}_{}_{}",
            host_tag(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let url = with_database(admin_url, &name)?;
        Ok(TestDatabase { admin, name, url })
    }

    /// The URL of the new database (credentials as in the admin URL).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime (a test's) or outside any: a thread
        // with a runtime of its own works in both.
        let admin = self.admin.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut conn = admin.connect().await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "could not drop test database {}: {dropped:?}; the next test run drops it",
                self.name
            );
        }
    }
}

/// `admin_url` with its database replaced by `name`.
fn with_database(admin_url: &str, name: &str) -> Result<String> {
    let mut url =
        url::Url::parse(admin_url).map_err(|e| StoreError::BadUrl(format!("{URL_VAR}: {e}")))?;
    url.set_path(&format!("/{name}"));
    // A `dbname` parameter would win over the path.
    let query: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "dbname")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if query.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(query);
    }
    Ok(url.to_string())
}

/// A short tag for this machine, so that a run only drops the abandoned
/// databases of its own machine's processes (another machine may share the
/// server).
fn host_tag() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    // FNV-1a: stable across runs and Rust versions, unlike `DefaultHasher`.
    let hash = host.trim().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:06x}", hash & 0xff_ffff)
}

/// Drops this machine's test databases whose process is gone (killed
/// before its guards ran). Best effort: errors are ignored.
async fn drop_abandoned(conn: &mut PgConnection) {
    if !std::path::Path::new("/proc/self").exists() {
        return; // Cannot tell live processes from dead ones here.
    }
    let mine = format!("{PREFIX}{}_", host_tag());
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
    )
    .bind(&mine)
    .fetch_all(&mut *conn)
    .await
    else {
        return;
    };
    for name in names {
        let pid = name[mine.len()..].split('_').next().unwrap_or("");
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable&dbname=x", "t2").unwrap(),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://h", "t3").unwrap(),
            "postgresql://h/t3"
        );
    }
}
