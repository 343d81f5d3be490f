//! An event's summary with several deliveries: the SQL that rewrites it (the
//! same text on both backends) agrees with `rules::summary_status`, and
//! sums attempts, takes the earliest next attempt and the last outcome of
//! the delivery that changed last.
//!
//! Nothing in the store makes a second delivery yet (fan-out does), so the
//! test writes them with plain SQL beside the one ingest made, leases them
//! all to one owner, and lets `release_leases` (which summarizes what it
//! released) rewrite the summary.

use crate::fixtures::*;
use hookline_core::time::Millis;
use hookline_store::postgres::testing::{self, TestDatabase};
use hookline_store::rules::{primary_delivery_id, summary_status};
use hookline_store::{DynStore, SqliteOptions, SqliteStore};
use sqlx::Connection as _;
use std::sync::Arc;

/// One delivery: status, attempts, retry_base, next attempt (ms after the
/// base time), last error. Each case's deliveries change in list order, so
/// the last one is the latest.
type D = (&'static str, i64, i64, Option<i64>, Option<&'static str>);

const CASES: &[&[D]] = &[
    &[
        ("delivered", 1, 0, None, None),
        ("failed", 8, 0, None, Some("gave up")),
    ],
    &[
        ("delivered", 1, 0, None, None),
        ("pending", 0, 0, Some(5), None),
    ],
    &[
        ("failed", 8, 0, None, Some("gave up")),
        ("pending", 2, 0, Some(9), Some("503")),
    ],
    &[
        ("pending", 0, 0, Some(7), None),
        ("pending", 3, 1, Some(4), Some("timeout")),
    ],
    &[("delivered", 1, 0, None, None), ("held", 0, 0, None, None)],
    &[
        ("paused", 0, 0, None, None),
        ("delivered", 2, 0, None, Some("retried")),
    ],
    &[
        ("delivered", 1, 0, None, None),
        ("delivered", 3, 0, None, None),
    ],
    &[
        ("filtered", 0, 0, None, None),
        ("failed", 8, 0, None, Some("gave up")),
        ("delivered", 1, 0, None, None),
    ],
    // Leased when released: queued again as it was, its attempt not counted.
    &[
        ("delivered", 1, 0, None, None),
        ("delivering", 1, 0, Some(3), Some("503")),
    ],
];

/// Writes each case's deliveries for one event of its own, leased to
/// `summary`; returns the event ids and the SQL script that writes them.
async fn write_cases(store: &DynStore, base: Millis) -> (Vec<String>, String) {
    let reg = saved_registration(&**store, "summary").await;
    let events: Vec<_> = CASES.iter().map(|_| queued(&reg, base)).collect();
    store
        .insert_events(&with_payloads(&events))
        .await
        .expect("insert events");
    let mut sql = String::new();
    for (event, case) in events.iter().zip(CASES) {
        for (n, (status, attempts, retry_base, next, error)) in case.iter().enumerate() {
            let next = next.map_or("NULL".to_owned(), |ms| (base.0 + ms).to_string());
            let error = error.map_or("NULL".to_owned(), |e| format!("'{e}'"));
            let updated = base.0 + 100 + n as i64;
            let primary = primary_delivery_id(&event.id);
            let set = format!(
                "status = '{status}', attempts = {attempts}, retry_base = {retry_base}, \
                 next_attempt_at = {next}, last_error = {error}, updated_at = {updated}, \
                 lease_owner = 'summary', lease_until = {}",
                base.0 + 60_000
            );
            if n == 0 {
                sql += &format!("UPDATE deliveries SET {set} WHERE id = '{primary}';\n");
            } else {
                sql += &format!(
                    "INSERT INTO deliveries (id, event_id, registration_id, destination_id, \
                       status, created_at, updated_at) \
                     VALUES ('{primary}_{n}', '{}', '{}', 'dst_other{n}', 'pending', {}, {});\n\
                     UPDATE deliveries SET {set} WHERE id = '{primary}_{n}';\n",
                    event.id, reg.id, base.0, base.0
                );
            }
        }
    }
    (events.into_iter().map(|e| e.id).collect(), sql)
}

async fn check(store: &DynStore, ids: &[String]) {
    let released = store
        .release_leases(Some("summary"))
        .await
        .expect("release");
    let deliveries: usize = CASES.iter().map(|c| c.len()).sum();
    assert_eq!(released, deliveries as u64, "every delivery was leased");
    for (id, case) in ids.iter().zip(CASES) {
        let (event, _) = store.get_event(id).await.expect("get").expect("event");
        let deliveries = store.list_deliveries(id).await.expect("deliveries");
        assert_eq!(deliveries.len(), case.len(), "{case:?}");
        assert_eq!(
            Some(event.status),
            summary_status(&deliveries),
            "status of {case:?}"
        );
        let attempts: u32 = deliveries.iter().map(|d| d.attempts).sum();
        assert_eq!(event.attempts, attempts, "attempts of {case:?}");
        let next = deliveries.iter().filter_map(|d| d.next_attempt_at).min();
        assert_eq!(event.next_attempt_at, next, "next attempt of {case:?}");
        let latest = deliveries
            .iter()
            .max_by_key(|d| (d.updated_at, d.id.clone()))
            .expect("one");
        assert_eq!(
            event.last_error, latest.last_error,
            "last error of {case:?}"
        );
        assert_eq!(
            event.updated_at, latest.updated_at,
            "updated_at of {case:?}"
        );
    }
}

#[tokio::test]
async fn sqlite_summary_of_several_deliveries_follows_the_rule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookline.db");
    let store: DynStore = Arc::new(
        SqliteStore::open(path.to_str().expect("utf-8"), &SqliteOptions::default())
            .await
            .expect("open"),
    );
    let (ids, sql) = write_cases(&store, Millis::now()).await;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("connect");
    sqlx::raw_sql(&sql).execute(&mut conn).await.expect("write");
    conn.close().await.expect("close");
    check(&store, &ids).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn postgres_summary_of_several_deliveries_follows_the_rule() {
    let db = TestDatabase::create(&testing::server_url("summary"))
        .await
        .expect("database");
    let store = hookline_store::connect(db.url(), &Default::default())
        .await
        .expect("open");
    let (ids, sql) = write_cases(&store, Millis::now()).await;
    let mut conn = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    sqlx::raw_sql(&sql).execute(&mut conn).await.expect("write");
    conn.close().await.expect("close");
    check(&store, &ids).await;
    drop(store);
}
