//! Whether this node can write to its database, as `/healthz` reports it.
//!
//! The state is the outcome of the last ingest write (a group commit): one
//! failing with [`StoreError::Unavailable`] (disk full, I/O error, database
//! out of reach) marks the node unwritable, and the next one that succeeds
//! marks it writable again. Other failures (a bug, a corrupt row) say nothing
//! about the storage and leave the state as it is.
//!
//! A node that answers `/healthz` 503 may be taken out of rotation and so
//! receive no ingest to prove it recovered; so while it is unwritable,
//! `/healthz` itself makes a small probe write ([`Store::probe_write`]) at
//! most once per [`PROBE_EVERY`], and a successful one marks it writable.
//! Delivery results are not counted here: the worker retries them until they
//! are written (or their lease expires and the event is delivered again).

use hookline_core::time::Millis;
use hookline_store::{Store, StoreError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Least time between two probe writes made by `/healthz`.
pub const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Shared by the group-commit writer (which records) and `/healthz`.
#[derive(Debug, Default)]
pub struct WriteHealth {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Set while unwritable: since when, and the last error.
    failing: Option<(Millis, String)>,
    /// When `/healthz` last probed.
    probed_at: Option<Instant>,
}

impl WriteHealth {
    /// Records the outcome of a write: `Ok` and `Unavailable` move the
    /// state, other errors do not.
    pub fn record<T>(&self, outcome: &Result<T, StoreError>) {
        match outcome {
            Ok(_) => self.writable(),
            Err(e) if e.is_unavailable() => self.unwritable(&e.to_string()),
            Err(_) => {}
        }
    }

    fn writable(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((since, _)) = state.failing.take() {
            let down_ms = Millis::now().0.saturating_sub(since.0);
            tracing::info!(down_ms, "storage is writable again");
        }
    }

    fn unwritable(&self, reason: &str) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.failing.is_none() {
            tracing::error!(
                error = reason,
                "storage cannot be written; answering ingest 503 until a write succeeds"
            );
        }
        let since = state.failing.as_ref().map_or_else(Millis::now, |f| f.0);
        state.failing = Some((since, reason.to_owned()));
    }

    /// `Some(error)` while the node cannot write.
    pub fn failing(&self) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.failing.as_ref().map(|(_, e)| e.clone())
    }

    /// The state `/healthz` reports: while unwritable, first probes (at most
    /// once per [`PROBE_EVERY`]) whether a write goes through now.
    pub async fn check(&self, store: &dyn Store) -> Option<String> {
        let probe = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let due = state.failing.is_some()
                && state.probed_at.is_none_or(|at| at.elapsed() >= PROBE_EVERY);
            if due {
                state.probed_at = Some(Instant::now());
            }
            due
        };
        if probe {
            self.record(&store.probe_write().await);
        }
        self.failing()
    }
}
