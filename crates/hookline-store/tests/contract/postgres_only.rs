//! PostgreSQL's own mechanics: several nodes on one database. Nodes are
//! played by several stores in one process, each with its own pool, as
//! separate processes would have.

use crate::fixtures::*;
use crate::pg_store;
use hookline_store::postgres::testing::{self, TestDatabase};
use hookline_store::{connect, ConnectOptions, DynStore, Lease, Store, StoreError};
use std::collections::HashSet;
use std::time::Duration;

/// Two "nodes" on one fresh database (dropped with the last value).
async fn two_nodes() -> (DynStore, DynStore, TestDatabase) {
    let (a, db) = pg_store().await;
    let b = connect(db.url(), &ConnectOptions::default())
        .await
        .expect("second node connects");
    (a, b, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn nodes_starting_together_migrate_once() -> anyhow::Result<()> {
    let server = testing::server_url("storage contract");
    let db = TestDatabase::create(&server).await?;
    // Four nodes on a fresh database at the same moment: the migrator's
    // advisory lock lets one apply the schema while the others wait.
    let opened = join_all((0..4).map(|_| {
        let url = db.url().to_owned();
        async move { connect(&url, &ConnectOptions::default()).await }
    }))
    .await;
    let stores = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
    let reg = saved_registration(&*stores[0], "main").await;
    for s in &stores {
        assert_eq!(s.get_registration(&reg.id).await?, Some(reg.clone()));
    }
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut sqlx_conn(db.url()).await?)
        .await?;
    let files =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))?.count();
    assert_eq!(
        usize::try_from(applied)?,
        files,
        "each migration applied once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn concurrent_claims_never_share_an_event() -> anyhow::Result<()> {
    let (a, b, _db) = two_nodes().await;
    let reg = saved_registration(&*a, "main").await;
    let events: Vec<_> = (0..300).map(|i| queued(&reg, at(i))).collect();
    for chunk in events.chunks(100) {
        a.insert_events(&with_payloads(chunk)).await?;
    }

    // Four workers on two nodes claim small batches as fast as they can.
    let claimers = [(&a, "A1"), (&a, "A2"), (&b, "B1"), (&b, "B2")].map(|(store, owner)| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_due(Lease::new(owner, at(1_000), at(600_000)), 7)
                    .await?;
                if got.is_empty() {
                    return anyhow::Ok(mine);
                }
                mine.extend(got.into_iter().map(|c| c.event.id));
            }
        })
    });
    let mut all = Vec::new();
    let mut per_claimer = Vec::new();
    for c in claimers {
        let mine = c.await??;
        per_claimer.push(mine.len());
        all.extend(mine);
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an event was claimed twice");
    assert_eq!(all.len(), events.len(), "every due event claimed once");
    assert!(
        per_claimer.iter().filter(|n| **n > 0).count() >= 2,
        "claims were not concurrent: {per_claimer:?}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn another_node_takes_over_expired_leases_and_is_fenced() -> anyhow::Result<()> {
    let (a, b, _db) = two_nodes().await;
    let reg = saved_registration(&*a, "main").await;
    let e = queued(&reg, at(0));
    a.insert_events(&with_payloads(std::slice::from_ref(&e)))
        .await?;

    let claimed = a.claim_due(Lease::new("A", at(0), at(1_000)), 5).await?;
    assert_eq!(claimed.len(), 1);
    // Node A "dies". B sees nothing until the lease runs out.
    assert!(b
        .claim_due(Lease::new("B", at(1_000), at(9_000)), 5)
        .await?
        .is_empty());
    let taken = b
        .claim_due(Lease::new("B", at(1_001), at(9_000)), 5)
        .await?;
    assert_eq!(taken.len(), 1);
    // A's late result is recorded but does not move the event.
    a.complete(&[completion(
        "A",
        attempt(&e.id, 1, at(10), 200),
        hookline_core::event::NextStep::Delivered,
    )])
    .await?;
    let (stored, _) = b.get_event(&e.id).await?.expect("event");
    assert_eq!(stored.status, hookline_core::event::EventStatus::Delivering);
    assert_eq!(b.list_attempts(&e.id).await?.len(), 1);
    Ok(())
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn other_nodes_hear_about_new_work() -> anyhow::Result<()> {
    let (a, b, _db) = two_nodes().await;
    let mut heard = b.work_notifications().expect("PostgreSQL notifies");
    // The listener signals once when it starts listening.
    tokio::time::timeout(Duration::from_secs(10), heard.changed()).await??;
    heard.borrow_and_update();

    let reg = saved_registration(&*a, "main").await;
    // Not due (held): nothing to claim, no notification.
    let mut held_reg = registration("held", None);
    held_reg.receiver = None;
    a.save_registrations(std::slice::from_ref(&held_reg))
        .await?;
    a.insert_events(&with_payloads(&[event(
        &held_reg,
        hookline_core::event::EventStatus::Held,
        at(0),
    )]))
    .await?;
    // B's own writes are not echoed to B.
    b.insert_events(&with_payloads(&[queued(&reg, at(0))]))
        .await?;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), heard.changed())
            .await
            .is_err(),
        "notified without work from another node"
    );

    // Work queued by A reaches B.
    a.insert_events(&with_payloads(&[queued(&reg, at(1))]))
        .await?;
    tokio::time::timeout(Duration::from_secs(5), heard.changed()).await??;
    heard.borrow_and_update();

    // So do held events released by a new receiver, and a replay.
    held_reg.receiver = Some(receiver("https://receiver.example/hook"));
    a.save_registrations(std::slice::from_ref(&held_reg))
        .await?;
    tokio::time::timeout(Duration::from_secs(5), heard.changed()).await??;
    heard.borrow_and_update();
    let done = event(&reg, hookline_core::event::EventStatus::Delivered, at(2));
    a.insert_events(&with_payloads(std::slice::from_ref(&done)))
        .await?;
    a.requeue_event(&done.id, at(3)).await?;
    tokio::time::timeout(Duration::from_secs(5), heard.changed()).await??;
    Ok(())
}

#[tokio::test]
async fn bad_postgres_urls_are_refused_without_echo() -> anyhow::Result<()> {
    for url in [
        "postgres://u:hunter2@[::1/h",
        "postgresql://u:hunter2@h:notaport/db",
    ] {
        match connect(url, &ConnectOptions::default()).await.map(|_| ()) {
            Err(StoreError::BadUrl(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
            other => panic!("{url}: expected BadUrl, got {other:?}"),
        }
    }
    Ok(())
}

async fn sqlx_conn(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    use sqlx::Connection;
    Ok(sqlx::PgConnection::connect(url).await?)
}

/// Runs the futures as tasks, all at once; their outputs in order.
async fn join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

/// Two copies of one provider event offered to two nodes at the same moment
/// are stored once: the other node's answer names the stored one. Batches
/// holding the same keys in opposite orders neither deadlock nor both store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn a_redelivery_racing_on_two_nodes_is_stored_once() -> anyhow::Result<()> {
    let (a, b, db) = two_nodes().await;
    let reg = saved_registration(&*a, "main").await;
    let copy = |t: i64, pid: &str| {
        let mut e = queued(&reg, at(t));
        e.provider_event_id = Some(pid.to_owned());
        e
    };
    for round in 0..50_i64 {
        let pid = format!("pe_{round}");
        let (on_a, on_b) = (copy(1_000 + round, &pid), copy(1_000 + round, &pid));
        let (sa, sb) = (a.clone(), b.clone());
        let (ba, bb) = (
            with_payloads(std::slice::from_ref(&on_a)),
            with_payloads(std::slice::from_ref(&on_b)),
        );
        let ta = tokio::spawn(async move { sa.insert_new_events(ba, at(0)).await });
        let tb = tokio::spawn(async move { sb.insert_new_events(bb, at(0)).await });
        let (ra, rb) = (ta.await??, tb.await??);
        match (ra.as_slice(), rb.as_slice()) {
            ([None], [Some(original)]) => assert_eq!(original, &on_a.id),
            ([Some(original)], [None]) => assert_eq!(original, &on_b.id),
            other => panic!("round {round}: both or neither stored: {other:?}"),
        }
    }

    // Twenty keys per batch, one node in each order.
    let keys: Vec<String> = (0..20).map(|i| format!("pe_batch_{i}")).collect();
    let forward: Vec<_> = keys.iter().map(|k| copy(5_000, k)).collect();
    let backward: Vec<_> = keys.iter().rev().map(|k| copy(5_000, k)).collect();
    let (sa, sb) = (a.clone(), b.clone());
    let (ba, bb) = (with_payloads(&forward), with_payloads(&backward));
    let ta = tokio::spawn(async move { sa.insert_new_events(ba, at(0)).await });
    let tb = tokio::spawn(async move { sb.insert_new_events(bb, at(0)).await });
    let (ra, rb) = (ta.await??, tb.await??);
    let stored = ra.iter().chain(&rb).filter(|a| a.is_none()).count();
    assert_eq!(stored, keys.len(), "each key stored by exactly one node");

    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM events WHERE provider_event_id IS NOT NULL \
         GROUP BY provider_event_id ORDER BY COUNT(*) DESC LIMIT 1",
    )
    .fetch_one(&mut sqlx_conn(db.url()).await?)
    .await?;
    assert_eq!(n, 1, "a provider event id stored twice");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
async fn the_offset_to_a_server_on_this_machine_is_near_zero() -> anyhow::Result<()> {
    let server = testing::server_url("storage contract");
    let db = TestDatabase::create(&server).await?;
    let store = hookline_store::PgStore::open(db.url(), &Default::default()).await?;
    // Same machine, same clock: the measured offset is within the sample's
    // error (± half its round trip) plus rounding, and the adopted offset
    // (measured again at open, kept through jitter) stays near it too.
    let sample = store.measure_clock().await?;
    let bound = i64::try_from(sample.round_trip.as_millis() / 2)? + 2;
    assert!(
        sample.offset_ms().abs() <= bound,
        "offset {} ms, round trip {:?}",
        sample.offset_ms(),
        sample.round_trip
    );
    let synced = store
        .sync_clock()
        .await?
        .expect("PostgreSQL is the time authority");
    assert!(synced.offset_ms.abs() <= 5, "{synced:?}");
    assert!(synced.round_trip < Duration::from_secs(1), "{synced:?}");
    assert!(hookline_core::time::clock_offset_ms().abs() <= 5);
    store.close().await;
    Ok(())
}
