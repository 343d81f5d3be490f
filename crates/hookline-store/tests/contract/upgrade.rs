//! Upgrade in place: a database written by the release before deliveries
//! existed (its migrations only, rows as it wrote them) opens with this
//! store and keeps working — history listed as before, queued and held
//! events delivered, a retry continuing on its schedule, links unchanged.
//!
//! The old database is built here by running the migrations that release
//! shipped (SQLite 0001–0006, PostgreSQL 0001–0005) from this repository's
//! own files, then inserting rows with the columns that schema had.

use crate::fixtures::*;
use crate::queue::claim_ids;
use anyhow::Context;
use hookline_core::event::{DeliveryStatus, EventStatus, NextStep};
use hookline_core::model::Registration;
use hookline_core::time::Millis;
use hookline_store::postgres::testing::{self, TestDatabase};
use hookline_store::rules::primary_delivery_id;
use hookline_store::{ConnectOptions, DynStore, EventFilter, Lease, SqliteOptions, SqliteStore};
use sqlx::migrate::Migrator;
use sqlx::Connection as _;
use std::sync::Arc;

/// The last migration of the release before deliveries, per backend.
const SQLITE_OLD: i64 = 6;
const POSTGRES_OLD: i64 = 5;

async fn old_migrator(dir: &str, up_to: i64) -> anyhow::Result<Migrator> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut m = Migrator::new(path).await?;
    let old: Vec<_> = m
        .migrations
        .iter()
        .filter(|x| x.version <= up_to)
        .cloned()
        .collect();
    anyhow::ensure!(
        old.len() as i64 == up_to,
        "expected migrations 1..={up_to} in {dir}"
    );
    m.migrations = old.into();
    Ok(m)
}

/// Brings the database `conn` is on to the previous release's schema (the
/// migrations in `dir` up to `up_to`), writes `sql` (its rows) and closes.
async fn write_old<C>(mut conn: C, dir: &str, up_to: i64, sql: &str) -> anyhow::Result<()>
where
    C: sqlx::Connection + sqlx::migrate::Migrate,
    for<'c> &'c mut C:
        sqlx::Acquire<'c, Connection = &'c mut C> + sqlx::Executor<'c, Database = C::Database>,
{
    old_migrator(dir, up_to).await?.run(&mut conn).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// One old-schema row set: what the test expects of each event afterwards.
struct Old {
    reg: Registration,
    held_reg: Registration,
    received: String,
    waiting: String,
    waiting_due: Millis,
    leased: String,
    held: String,
    delivered: String,
    failed: String,
    rejected: String,
}

/// The statements that write `Old`'s rows into the old schema; `blob`
/// renders a body literal for the backend.
fn old_rows(now: Millis, blob: fn(&str) -> String) -> (Old, String) {
    let reg = registration("main", None);
    let mut held_reg = registration("later", None);
    held_reg.receiver = None;
    let id = || hookline_core::ids::new_id("evt");
    let old = Old {
        received: id(),
        waiting: id(),
        waiting_due: Millis(now.0 + 1_500),
        leased: id(),
        held: id(),
        delivered: id(),
        failed: id(),
        rejected: id(),
        reg,
        held_reg,
    };
    let mut sql = String::new();
    for r in [&old.reg, &old.held_reg] {
        let doc = serde_json::to_string(r).expect("doc").replace('\'', "''");
        sql += &format!(
            "INSERT INTO registrations (id, product_id, access_tag, webhook_id, event, env, \
               link_id, created_at, updated_at, doc) \
             VALUES ('{}', '{}', '{}', '{}', '', '{}', '{}', {}, {}, '{doc}');\n",
            r.id,
            r.product_id,
            r.access_tag.as_str(),
            r.webhook_id,
            r.env.as_str(),
            r.link_id.as_str(),
            r.created_at.0,
            r.updated_at.0
        );
    }
    // (id, registration, status, attempts, next_attempt_at,
    //  (lease_owner, lease_until), delivered_at, (last_status, last_error));
    // retry_base is 0 throughout.
    type Row<'a> = (
        &'a str,
        &'a Registration,
        &'a str,
        i64,
        Option<i64>,
        Option<(&'a str, i64)>,
        Option<i64>,
        Option<(i64, Option<&'a str>)>,
    );
    let t = now.0 - 60_000;
    let reg = &old.reg;
    let rows: Vec<Row> = vec![
        (&old.received, reg, "received", 0, Some(t), None, None, None),
        (
            &old.waiting,
            reg,
            "delivering",
            1,
            Some(old.waiting_due.0),
            None,
            None,
            Some((503, Some("receiver answered 503"))),
        ),
        // Claimed by a node that died: its lease ran out long ago.
        (
            &old.leased,
            reg,
            "delivering",
            0,
            Some(t),
            Some(("dead-node", t + 1)),
            None,
            None,
        ),
        (&old.held, &old.held_reg, "held", 0, None, None, None, None),
        (
            &old.delivered,
            reg,
            "delivered",
            1,
            None,
            None,
            Some(t + 50),
            Some((200, None)),
        ),
        (
            &old.failed,
            reg,
            "failed",
            5,
            None,
            None,
            None,
            Some((500, Some("gave up"))),
        ),
        (&old.rejected, reg, "rejected", 0, None, None, None, None),
    ];
    let opt = |v: Option<i64>| v.map_or("NULL".to_owned(), |v| v.to_string());
    let text = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
    for (i, (id, r, status, attempts, next, lease, delivered, outcome)) in rows.iter().enumerate() {
        let (owner, until) = lease.unzip();
        let (last, err) = outcome.unzip();
        sql += &format!(
            "INSERT INTO events (id, registration_id, product_tag, access_tag, webhook_tag, env, \
               event_type, status, received_at, updated_at, attempts, retry_base, \
               next_attempt_at, lease_owner, lease_until, delivered_at, last_response_status, \
               last_error, provider_event_id, verification) \
             VALUES ('{id}', '{}', '{}', '{}', '{}', '{}', 'payment.succeeded', '{status}', \
               {}, {}, {attempts}, 0, {}, {}, {}, {}, {}, {}, NULL, NULL);\n",
            r.id,
            r.product_tag.as_str(),
            r.access_tag.as_str(),
            r.webhook_tag.as_str(),
            r.env.as_str(),
            t + i as i64,
            t + i as i64,
            opt(*next),
            text(owner),
            opt(until),
            opt(*delivered),
            opt(last),
            text(err.flatten()),
        );
        sql += &format!(
            "INSERT INTO event_payloads (event_id, method, query, headers, body) \
             VALUES ('{id}', 'POST', NULL, '[[\"content-type\",\"application/json\"]]', {});\n",
            blob(&format!("{{\"n\":{i}}}"))
        );
    }
    sql += &format!(
        "INSERT INTO attempts (id, event_id, number, started_at, duration_ms, request_url, \
           response_status, response_excerpt, error) \
         VALUES ('att_old1', '{}', 1, {}, 50, 'https://receiver.example/hook', 200, 'ok', NULL);\n",
        old.delivered,
        t + 1
    );
    (old, sql)
}

/// What must hold of `store`, opened on the upgraded database.
async fn check(store: &DynStore, old: &Old, now: Millis) -> anyhow::Result<()> {
    // History listed as before, statuses and figures unchanged.
    let listed = store.list_events(&EventFilter::default()).await?;
    assert_eq!(listed.len(), 7);
    let status = |id: &str| {
        listed
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.status)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    assert_eq!(status(&old.received), EventStatus::Received);
    assert_eq!(status(&old.waiting), EventStatus::Delivering);
    assert_eq!(status(&old.held), EventStatus::Held);
    assert_eq!(status(&old.delivered), EventStatus::Delivered);
    assert_eq!(status(&old.failed), EventStatus::Failed);
    assert_eq!(status(&old.rejected), EventStatus::Rejected);
    let (delivered, _) = store
        .get_event(&old.delivered)
        .await?
        .context("delivered")?;
    assert_eq!(
        (delivered.attempts, delivered.last_response_status),
        (1, Some(200))
    );
    let attempts = store.list_attempts(&old.delivered).await?;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].delivery_id, primary_delivery_id(&old.delivered));

    // Every event but the rejected one has one delivery, to its
    // registration's receiver.
    assert!(store.list_deliveries(&old.rejected).await?.is_empty());
    let d = store.list_deliveries(&old.failed).await?;
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].status, d[0].attempts, d[0].destination_id.clone()),
        (DeliveryStatus::Failed, 5, old.reg.primary_destination_id())
    );
    let w = &store.list_deliveries(&old.waiting).await?[0];
    assert_eq!(
        (w.status, w.next_attempt_at),
        (DeliveryStatus::Pending, Some(old.waiting_due))
    );

    // Links unchanged.
    let by_link = store
        .get_registration_by_link(old.reg.link_id.as_str())
        .await?
        .context("registration by link")?;
    assert_eq!(by_link.id, old.reg.id);

    // The queue: what was due goes out (the dead node's claim too, its
    // lease long over); the retry waits for its time.
    let mut due = claim_ids(store.as_ref(), "new", now, Millis(now.0 + 30_000), 10).await?;
    due.sort();
    let mut want = vec![old.received.clone(), old.leased.clone()];
    want.sort();
    assert_eq!(due, want);
    let claimed = store
        .claim_due(
            Lease::new(
                "new",
                Millis(old.waiting_due.0),
                Millis(old.waiting_due.0 + 30_000),
            ),
            10,
        )
        .await?;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event.id, old.waiting);
    assert_eq!(
        (claimed[0].delivery.attempts, claimed[0].delivery.retry_base),
        (1, 0)
    );
    let mut a = attempt(&old.waiting, 2, old.waiting_due, 200);
    a.delivery_id = claimed[0].delivery.id.clone();
    store
        .complete(&[completion("new", a, NextStep::Delivered)])
        .await?;
    let (waiting, _) = store.get_event(&old.waiting).await?.context("waiting")?;
    assert_eq!(
        (waiting.status, waiting.attempts),
        (EventStatus::Delivered, 2)
    );

    // Held events go out once their registration gets a receiver.
    let mut with_receiver = old.held_reg.clone();
    with_receiver.receiver = Some(receiver("https://receiver.example/later"));
    store.save_registrations(&[with_receiver]).await?;
    let (held, _) = store.get_event(&old.held).await?.context("held")?;
    assert_eq!(held.status, EventStatus::Received);
    let later = Millis(Millis::now().0 + 1_000);
    let claimed = store
        .claim_due(Lease::new("new", later, Millis(later.0 + 30_000)), 10)
        .await?;
    assert!(
        claimed.iter().any(|c| c.event.id == old.held),
        "held event queued"
    );
    Ok(())
}

#[tokio::test]
async fn sqlite_database_of_the_previous_release_upgrades_in_place() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("hookline.db");
    let now = Millis::now();
    let (old, sql) = old_rows(now, |s| format!("CAST('{s}' AS BLOB)"));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let conn = sqlx::SqliteConnection::connect(&url).await?;
    write_old(conn, "sqlite", SQLITE_OLD, &sql).await?;
    let store: DynStore = Arc::new(
        SqliteStore::open(path.to_str().context("utf-8")?, &SqliteOptions::default()).await?,
    );
    check(&store, &old, now).await
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn postgres_database_of_the_previous_release_upgrades_in_place() -> anyhow::Result<()> {
    let server = testing::server_url("upgrade");
    let db = TestDatabase::create(&server).await?;
    let now = Millis::now();
    let (old, sql) = old_rows(now, |s| format!("convert_to('{s}', 'UTF8')"));
    let conn = sqlx::PgConnection::connect(db.url()).await?;
    write_old(conn, "postgres", POSTGRES_OLD, &sql).await?;
    let store = hookline_store::connect(db.url(), &ConnectOptions::default()).await?;
    check(&store, &old, now).await?;
    drop(store);
    drop(db);
    Ok(())
}
