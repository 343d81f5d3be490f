//! The storage contract: every test is written once against `&dyn Store` and
//! instantiated for each backend by [`backend_tests!`], so a new backend is
//! one line: `backend_tests!(postgres, crate::make_pg_store);`.
//!
//! Each test gets a fresh, empty database. Tests that are about one backend's
//! own mechanics (SQLite's process lock) live in their own modules.

mod config;
mod events;
mod fixtures;
mod queue;
mod registrations;
mod sqlite_only;

use hookline_store::{DynStore, SqliteOptions, SqliteStore};
use std::sync::Arc;

/// A fresh store for one test, and whatever must outlive it (its temp dir).
pub struct TestStore {
    pub store: DynStore,
    _dir: tempfile::TempDir,
}

pub async fn make_sqlite_store() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("hookline.db");
    let store = SqliteStore::open(path.to_str().expect("utf-8 path"), &SqliteOptions::default())
        .await
        .expect("open SQLite store");
    TestStore {
        store: Arc::new(store),
        _dir: dir,
    }
}

/// Instantiates the whole suite for one backend: `$make` is an async fn
/// returning a fresh [`TestStore`].
macro_rules! backend_tests {
    ($backend:ident, $make:path) => {
        mod $backend {
            backend_tests!(@suite $make;
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
                    list_filters,
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
            );
        }
    };
    (@suite $make:path; $($module:ident { $($test:ident),* $(,)? })*) => {
        $(
            mod $module {
                $(
                    #[tokio::test]
                    async fn $test() -> anyhow::Result<()> {
                        let t = $make().await;
                        crate::$module::$test(&*t.store).await
                    }
                )*
            }
        )*
    };
}

backend_tests!(sqlite, crate::make_sqlite_store);
