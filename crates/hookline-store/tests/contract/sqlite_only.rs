//! SQLite's own mechanics: the file it creates, the process lock, releasing
//! a dead process's leases at open, and URL dispatch in `connect` (the
//! `postgres://` side is in `postgres_only`).

use crate::fixtures::*;
use hookline_store::{
    connect, ConnectOptions, Lease, QueueStore, RegistrationStore, SqliteOptions, SqliteStore,
    Store, StoreError,
};

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[tokio::test]
async fn open_creates_parent_dirs_file_and_lock() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("a/b/hookline.db");
    let store = SqliteStore::open(path_str(&db), &SqliteOptions::default()).await?;
    store.ping().await?;
    assert!(db.is_file());
    assert_eq!(store.path(), db.as_path());
    let lock = std::fs::read_to_string(dir.path().join("a/b/hookline.db.lock"))?;
    assert_eq!(lock.trim(), std::process::id().to_string());
    Ok(())
}

#[tokio::test]
async fn second_open_of_the_same_file_is_locked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("hookline.db");
    let first = SqliteStore::open(path_str(&db), &SqliteOptions::default()).await?;

    let url = format!("sqlite://{}", path_str(&db));
    match SqliteStore::open(&url, &SqliteOptions::default()).await {
        Err(StoreError::Locked(msg)) => {
            assert!(msg.contains("hookline.db.lock"), "{msg}");
            assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        }
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    assert!(matches!(
        connect(&url, &ConnectOptions::default()).await.map(|_| ()),
        Err(StoreError::Locked(_))
    ));
    // The first store is unharmed.
    first.ping().await?;
    Ok(())
}

#[tokio::test]
async fn reopen_after_drop_releases_dead_leases() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("hookline.db");
    let url = format!("sqlite:{}", path_str(&db));

    let reg = registration("main", None);
    let e = queued(&reg, at(0));
    {
        let store = connect(&url, &ConnectOptions::default()).await?;
        store.save_registrations(std::slice::from_ref(&reg)).await?;
        store
            .insert_events(&with_payloads(std::slice::from_ref(&e)))
            .await?;
        let claimed = store
            .claim_due(Lease::new("dead-worker", at(0), at(3_600_000)), 10)
            .await?;
        assert_eq!(claimed.len(), 1);
        // Dropped without `close`, as a crash would leave it.
    }

    let store = SqliteStore::open(&url, &SqliteOptions::default()).await?;
    let claimed = store
        .claim_due(Lease::new("new-worker", at(1), at(60_000)), 10)
        .await?;
    assert_eq!(
        claimed.into_iter().map(|c| c.event.id).collect::<Vec<_>>(),
        vec![e.id.clone()]
    );
    store.close().await;
    drop(store);

    // Data survives a clean close too.
    let store = SqliteStore::open(&url, &SqliteOptions::default()).await?;
    assert_eq!(store.get_registration(&reg.id).await?, Some(reg));
    Ok(())
}

#[tokio::test]
async fn connect_dispatches_on_the_url_scheme() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let abs = format!("sqlite://{}", path_str(&dir.path().join("abs.db")));
    assert!(abs.starts_with("sqlite:///"));
    connect(&format!("{abs}?mode=rwc"), &ConnectOptions::default())
        .await?
        .ping()
        .await?;
    assert!(dir.path().join("abs.db").is_file());

    for url in ["mysql://root:hunter2@db/h", "hookline.db", ""] {
        match connect(url, &ConnectOptions::default()).await.map(|_| ()) {
            Err(StoreError::BadUrl(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
            other => panic!("{url:?}: expected BadUrl, got {other:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn sqlite_is_no_time_authority() -> anyhow::Result<()> {
    // One process owns the file: its own clock is the time, nothing to sync.
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", path_str(&dir.path().join("t.db")));
    let store = SqliteStore::open(&url, &SqliteOptions::default()).await?;
    assert_eq!(store.sync_clock().await?, None);
    Ok(())
}
