//! The storage contract: every test is written once against `&dyn Store` and
//! instantiated for each backend by [`backend_tests!`], so a new backend is
//! one line: `backend_tests!(postgres, crate::make_pg_store);` (with an
//! `#[ignore = …]` before the name when it needs a server).
//!
//! Each test gets a fresh, empty database. Tests that are about one backend's
//! own mechanics (SQLite's process lock, PostgreSQL's concurrent nodes) live
//! in their own modules.
//!
//! The PostgreSQL suite is `#[ignore]`d (`testing::IGNORE_REASON`): it runs
//! with `-- --include-ignored` and `HOOKLINE_TEST_POSTGRES_URL` naming a
//! server (`postgres://postgres@127.0.0.1:5432/postgres`); each test then
//! gets a database of its own, dropped afterwards.

mod config;
mod events;
mod fixtures;
mod monitor;
mod postgres_only;
mod queue;
mod registrations;
mod retention;
mod sealed;
mod sqlite_only;
mod summary;
mod upgrade;

use hookline_store::postgres::testing::{self, TestDatabase};
use hookline_store::{DynStore, SqliteOptions, SqliteStore};
use std::sync::Arc;

/// A fresh store for one test, and whatever must outlive it (its temp dir,
/// its database). Fields drop in order: the store before its database.
pub struct TestStore {
    pub store: DynStore,
    _keep: Box<dyn std::any::Any>,
}

pub async fn make_sqlite_store() -> Option<TestStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookline.db");
    let store = SqliteStore::open(
        path.to_str().expect("utf-8 path"),
        &SqliteOptions::default(),
    )
    .await
    .expect("open SQLite store");
    Some(TestStore {
        store: Arc::new(store),
        _keep: Box::new(dir),
    })
}

/// A store in a new database of the `HOOKLINE_TEST_POSTGRES_URL` server.
pub async fn make_pg_store() -> Option<TestStore> {
    let (store, db) = pg_store().await;
    Some(TestStore {
        store,
        _keep: Box::new(db),
    })
}

/// A migrated store in a new test database, and the database's guard.
pub async fn pg_store() -> (DynStore, TestDatabase) {
    let server = testing::server_url("storage contract");
    let db = TestDatabase::create(&server)
        .await
        .expect("create a test database");
    let opts = hookline_store::ConnectOptions {
        max_connections: 4,
        ..Default::default()
    };
    let store = hookline_store::connect(db.url(), &opts)
        .await
        .expect("open PostgreSQL store");
    (store, db)
}

/// Instantiates the whole suite for one backend: `$make` is an async fn
/// returning a fresh [`TestStore`]; an attribute before the backend's name
/// (`#[ignore = …]`) goes on each of its tests.
macro_rules! backend_tests {
    ($backend:ident, $make:path) => {
        // `cfg(all())` is always true: no attribute in effect.
        backend_tests!(#[cfg(all())] $backend, $make);
    };
    (#[$attr:meta] $backend:ident, $make:path) => {
        mod $backend {
            backend_tests!(@suite [$attr] $make;
                config {
                    api_keys_insert_find_and_conflict,
                    apps_crud_and_conflict,
                    webhooks_crud_conflict_and_cascade,
                    products_crud_and_conflict,
                    connections_crud_conflict_and_cascade,
                }
                registrations {
                    upsert_keeps_id_and_link,
                    key_and_link_conflicts_roll_back_the_batch,
                    list_by_product_and_access_tag,
                    held_events_are_queued_when_a_receiver_arrives,
                }
                events {
                    insert_batch_and_get_exact_bytes,
                    insert_batch_is_atomic,
                    find_duplicate_window,
                    insert_new_leaves_out_redeliveries,
                    batches_past_one_statement_are_stored_whole,
                    list_filters,
                    list_time_window_with_ids_minted_at_receipt,
                    list_pagination_has_no_gaps_or_duplicates,
                    list_limit_is_defaulted_and_capped,
                }
                queue {
                    claim_leases_exclusively_until_expiry,
                    claim_respects_limit_and_due_order,
                    complete_is_fenced_by_lease_owner,
                    retry_is_claimable_only_when_due,
                    failed_and_held_leave_the_queue,
                    release_leases_by_owner_and_all,
                    requeue_rules,
                    next_due_tracks_the_earliest_queued,
                    claim_fails_events_without_registration,
                }
                monitor {
                    events_after_a_cursor_in_id_order,
                    queue_stats_count_queued_and_held,
                    traffic_counts_per_bucket_with_latencies,
                    registration_loads_and_health_changes,
                    replay_jobs_are_leased_fenced_and_cancelled,
                }
                retention {
                    expired_events_are_deleted_in_batches,
                    rejected_events_have_their_own_retention,
                }
            );
        }
    };
    (@suite [$attr:meta] $make:path; $($module:ident { $($test:ident),* $(,)? })*) => {
        $(
            mod $module {
                $(
                    #[tokio::test]
                    #[$attr]
                    async fn $test() -> anyhow::Result<()> {
                        let Some(t) = $make().await else { return Ok(()) };
                        crate::$module::$test(&*t.store).await
                    }
                )*
            }
        )*
    };
}

backend_tests!(sqlite, crate::make_sqlite_store);
backend_tests!(
    #[ignore = "needs PostgreSQL: set HOOKLINE_TEST_POSTGRES_URL and pass --include-ignored"]
    postgres,
    crate::make_pg_store
);
