//! Fills a database with many small stored events for the query scenario,
//! through `hookline_store`'s own `insert_events` (the statements ingest
//! uses), in large batches, before the gateway starts.
//!
//! Events are spread evenly over `span` ending at `now`; each id is a ULID
//! of its `received_at`, as ingest makes them, so id order is time order.
//! Statuses are drawn with fixed odds (see [`STATUS_ODDS`]); none is left
//! queued, so the gateway's worker has nothing to do with them.

use anyhow::{Context, Result};
use hookline_core::event::{Event, EventStatus, Payload};
use hookline_core::time::Millis;
use hookline_store::{DynStore, SqliteOptions, SqliteStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Odds per 1,000 events.
pub const STATUS_ODDS: [(EventStatus, u32); 4] = [
    (EventStatus::Delivered, 950),
    (EventStatus::Failed, 20),
    (EventStatus::Rejected, 20),
    (EventStatus::Held, 10),
];

fn status_for(roll: u32) -> EventStatus {
    let mut acc = 0;
    for (status, odds) in STATUS_ODDS {
        acc += odds;
        if roll < acc {
            return status;
        }
    }
    EventStatus::Delivered
}

/// What was filled; kept next to a SQLite file so a later run can reuse it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Filled {
    pub events: u64,
    /// The newest event's `received_at`: query times are relative to it.
    pub now_ms: i64,
    pub span_ms: i64,
}

pub const MARKER: &str = "bench-fill.json";

/// A filled SQLite data dir that can be reused as is, if any.
pub fn reusable(dir: &Path, events: u64) -> Option<Filled> {
    let text = std::fs::read_to_string(dir.join(MARKER)).ok()?;
    let filled: Filled = serde_json::from_str(&text).ok()?;
    (filled.events == events && dir.join("hookline.db").exists()).then_some(filled)
}

/// The `i`th of `count` events spread over `span` ending at `now`.
pub fn event(i: u64, count: u64, now_ms: i64, span_ms: i64, rng: &mut StdRng) -> (Event, Payload) {
    let offset = if count <= 1 {
        0
    } else {
        (i128::from(span_ms) * i128::from(i) / i128::from(count - 1)) as i64
    };
    let received = now_ms - span_ms + offset;
    let status = status_for(rng.gen_range(0..1000));
    let ulid = ulid::Ulid::from_parts(received as u64, rng.gen());
    let (attempts, response) = match status {
        EventStatus::Delivered => (1, Some(200)),
        EventStatus::Failed => (8, Some(500)),
        _ => (0, None),
    };
    let event = Event {
        id: format!("evt_{ulid}"),
        registration_id: format!("reg_fill_{}", i % 16),
        product_tag: "fillprod".into(),
        access_tag: "admin".into(),
        webhook_tag: "payments".into(),
        env: "prd".into(),
        event_type: Some(
            if i.is_multiple_of(3) {
                "invoice.paid"
            } else {
                "charge.succeeded"
            }
            .into(),
        ),
        status,
        received_at: Millis(received),
        updated_at: Millis(received + 150),
        verification: None,
        provider_event_id: None,
        attempts,
        retry_base: 0,
        next_attempt_at: None,
        delivered_at: (status == EventStatus::Delivered).then_some(Millis(received + 120)),
        last_response_status: response,
        last_error: (status == EventStatus::Failed)
            .then(|| "receiver answered 500 Internal Server Error".into()),
    };
    let payload = Payload {
        method: "POST".into(),
        query: None,
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!(
            r#"{{"id":"evt_{i}","type":"charge.succeeded","amount":{}}}"#,
            i % 10_000
        )
        .into_bytes(),
    };
    (event, payload)
}

/// Inserts `count` events into the database at `url` in batches of `batch`.
pub async fn fill(url: &str, count: u64, batch: usize, span: Duration) -> Result<Filled> {
    let now_ms = Millis::now().0;
    let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
    let (store, sqlite): (DynStore, Option<Arc<SqliteStore>>) = if url.starts_with("sqlite:") {
        let s = Arc::new(SqliteStore::open(url, &SqliteOptions::default()).await?);
        (s.clone(), Some(s))
    } else {
        let opts = hookline_store::ConnectOptions::default();
        (
            hookline_store::connect(url, &opts)
                .await
                .context("opening the database to fill")?,
            None,
        )
    };
    let mut rng = StdRng::seed_from_u64(42);
    let started = Instant::now();
    let mut done = 0u64;
    let mut next_report = 1_000_000u64.min(count);
    while done < count {
        let n = (batch as u64).min(count - done);
        let rows: Vec<(Event, Payload)> = (done..done + n)
            .map(|i| event(i, count, now_ms, span_ms, &mut rng))
            .collect();
        store
            .insert_events(&rows)
            .await
            .context("inserting a batch")?;
        done += n;
        if done >= next_report || done == count {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "  filled {done} of {count} events in {secs:.0} s ({:.0} events/s)",
                done as f64 / secs.max(1e-9)
            );
            next_report += 1_000_000;
        }
    }
    drop(store);
    if let Some(s) = sqlite {
        s.close().await;
    }
    Ok(Filled {
        events: count,
        now_ms,
        span_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_spread_in_time_with_ids_in_time_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let (now, span) = (1_700_000_000_000, 1_000_000);
        let all: Vec<Event> = (0..101)
            .map(|i| event(i, 101, now, span, &mut rng).0)
            .collect();
        assert_eq!(all[0].received_at, Millis(now - span));
        assert_eq!(all[100].received_at, Millis(now));
        assert_eq!(all[50].received_at, Millis(now - span / 2));
        assert!(
            all.windows(2).all(|w| w[0].id < w[1].id),
            "ids sort by time"
        );
        assert!(all.iter().all(|e| e.next_attempt_at.is_none()));
    }

    #[test]
    fn statuses_follow_the_odds() {
        assert_eq!(status_for(0), EventStatus::Delivered);
        assert_eq!(status_for(949), EventStatus::Delivered);
        assert_eq!(status_for(950), EventStatus::Failed);
        assert_eq!(status_for(989), EventStatus::Rejected);
        assert_eq!(status_for(999), EventStatus::Held);
        assert_eq!(STATUS_ODDS.iter().map(|(_, o)| o).sum::<u32>(), 1000);
    }
}
