//! Group commit: concurrent ingest requests share one transaction (and so
//! one fsync) instead of paying one each. Each request waits for the commit
//! that holds its event; whatever arrives while a commit is running forms
//! the next batch.
//!
//! The batch also settles provider redeliveries: it is stored with
//! [`Store::insert_new_events`](hookline_store::Store::insert_new_events),
//! which leaves out events whose provider event id was already received
//! within the dedup window. One task writes every batch in turn, so on this
//! node a redelivery can never be checked while its original is still
//! being written.

use super::write_health::WriteHealth;
use crate::error::{Error, Result};
use hookline_core::event::{Event, Payload};
use hookline_core::time::Millis;
use hookline_store::DynStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

struct Job {
    event: Event,
    payload: Payload,
    done: oneshot::Sender<Result<Written, Failed>>,
}

/// Why a batch was not stored (the store's error is not `Clone`, and every
/// waiter of the batch gets one).
#[derive(Debug, Clone)]
enum Failed {
    /// [`hookline_store::StoreError::Unavailable`]: answered 503.
    Unavailable(String),
    Other(String),
}

/// What became of an event handed to [`Writer::write`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Durably stored.
    Stored,
    /// A redelivery of this stored event: left out.
    Duplicate(String),
}

/// The handle requests write through; cloning shares the one writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// The task that writes the batches, made by [`Writer::new`] and started
/// by [`crate::startup`] with [`WriterTask::run`].
pub struct WriterTask {
    store: DynStore,
    rx: mpsc::Receiver<Job>,
    batch_max: usize,
    dedup_window: Duration,
    health: Arc<WriteHealth>,
}

impl WriterTask {
    /// Writes batches until every [`Writer`] is dropped and the queue is
    /// drained, so shutdown loses nothing already accepted.
    pub async fn run(self) {
        run(
            self.store,
            self.rx,
            self.batch_max,
            self.dedup_window,
            self.health,
        )
        .await
    }
}

impl Writer {
    /// The handle requests write through, and the task that writes (not
    /// started: the caller runs [`WriterTask::run`]). Events whose provider
    /// event id was received within `dedup_window` before are left out
    /// (`Duration::ZERO`: none are). Each batch's outcome is recorded in
    /// `health`.
    pub fn new(
        store: DynStore,
        batch_max: usize,
        dedup_window: Duration,
        health: Arc<WriteHealth>,
    ) -> (Writer, WriterTask) {
        // Bounded so that a stalled database pushes back on ingest instead
        // of growing memory without limit.
        let (tx, rx) = mpsc::channel(batch_max * 4);
        let task = WriterTask {
            store,
            rx,
            batch_max,
            dedup_window,
            health,
        };
        (Writer { tx }, task)
    }

    /// Returns once the event is durably committed, or found to be a
    /// redelivery.
    pub async fn write(&self, event: Event, payload: Payload) -> Result<Written> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job {
                event,
                payload,
                done,
            })
            .await
            .map_err(|_| Error::Internal("ingest writer has stopped".into()))?;
        match wait.await {
            Ok(Ok(written)) => Ok(written),
            Ok(Err(Failed::Unavailable(e))) => Err(Error::Unavailable(e)),
            Ok(Err(Failed::Other(e))) => {
                Err(Error::Internal(format!("storing the event failed: {e}")))
            }
            Err(_) => Err(Error::Internal("ingest writer dropped the event".into())),
        }
    }
}

async fn run(
    store: DynStore,
    mut rx: mpsc::Receiver<Job>,
    batch_max: usize,
    dedup_window: Duration,
    health: Arc<WriteHealth>,
) {
    let mut items = Vec::with_capacity(batch_max);
    let mut waiters = Vec::with_capacity(batch_max);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(job) = next {
            items.push((job.event, job.payload));
            waiters.push(job.done);
            next = if items.len() < batch_max {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        let batch = std::mem::replace(&mut items, Vec::with_capacity(batch_max));
        let stored = if dedup_window.is_zero() {
            let n = batch.len();
            store.insert_events(&batch).await.map(|()| vec![None; n])
        } else {
            let window = i64::try_from(dedup_window.as_millis()).unwrap_or(i64::MAX);
            let since = Millis(Millis::now().0.saturating_sub(window));
            store.insert_new_events(batch, since).await
        };
        health.record(&stored);
        match stored {
            Ok(originals) => {
                for (w, original) in waiters.drain(..).zip(originals) {
                    let written = original.map_or(Written::Stored, Written::Duplicate);
                    // A dropped receiver means the client went away; the
                    // event is stored all the same.
                    let _ = w.send(Ok(written));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, batch = waiters.len(), "group commit failed");
                // Nothing of the batch was stored (one transaction) and no
                // waiter has been answered: each gets the error, so nothing
                // is acknowledged that is not durable.
                let e = if e.is_unavailable() {
                    Failed::Unavailable(e.to_string())
                } else {
                    Failed::Other(e.to_string())
                };
                for w in waiters.drain(..) {
                    let _ = w.send(Err(e.clone()));
                }
            }
        }
    }
}
