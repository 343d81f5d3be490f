//! Group commit: concurrent ingest requests share one transaction (and so
//! one fsync) instead of paying one each. Each request waits for the commit
//! that holds its event; whatever arrives while a commit is running forms
//! the next batch.

use crate::error::{Error, Result};
use hookline_core::event::{Event, Payload};
use hookline_store::DynStore;
use tokio::sync::{mpsc, oneshot};

struct Job {
    event: Event,
    payload: Payload,
    done: oneshot::Sender<Result<(), String>>,
}

/// The handle requests write through; cloning shares the one writer task.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task. It ends once every `Writer` is dropped and
    /// the queue is drained, so shutdown loses nothing already accepted.
    pub fn spawn(store: DynStore, batch_max: usize) -> (Writer, tokio::task::JoinHandle<()>) {
        // Bounded so that a stalled database pushes back on ingest instead
        // of growing memory without limit.
        let (tx, rx) = mpsc::channel(batch_max * 4);
        let handle = tokio::spawn(run(store, rx, batch_max));
        (Writer { tx }, handle)
    }

    /// Returns once the event is durably committed.
    pub async fn write(&self, event: Event, payload: Payload) -> Result<()> {
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
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Internal(format!("storing the event failed: {e}"))),
            Err(_) => Err(Error::Internal("ingest writer dropped the event".into())),
        }
    }
}

async fn run(store: DynStore, mut rx: mpsc::Receiver<Job>, batch_max: usize) {
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
        let result = store.insert_events(&items).await.map_err(|e| {
            tracing::error!(error = %e, batch = items.len(), "group commit failed");
            e.to_string()
        });
        items.clear();
        for w in waiters.drain(..) {
            // A dropped receiver means the client went away; the event is
            // stored all the same.
            let _ = w.send(result.clone());
        }
    }
}
