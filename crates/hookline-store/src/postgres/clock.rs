//! The database's clock is the time of every node sharing it: leases, due
//! times and received times stamped by one node are compared by the others,
//! so this process's offset to the server's clock is measured (Cristian's
//! algorithm, [`ClockSample`]) when the store opens and again on each
//! [`Store::sync_clock`](crate::Store::sync_clock), and `Millis::now` adds
//! it (see [`hookline_core::time`]). SQL never reads the server's `now()`: every time is stamped by a node
//! (through `Millis::now`) and passed as a parameter.

use super::PgStore;
use crate::{ClockSync, Result};
use hookline_core::time::{self, ClockSample};
use std::time::Instant;

/// Samples per measurement; the one with the shortest round trip is used.
const SAMPLES: usize = 5;

/// Beyond this the node's own clock is worth a warning: the operator should
/// fix its time sync, even though Hookline no longer depends on it.
const WARN_OFFSET_MS: i64 = 1_000;

/// One reading of the server's clock per sample, on one connection (so no
/// sample waits for the pool), the best of them.
pub(super) async fn measure(s: &PgStore) -> Result<ClockSample> {
    let mut conn = s.pool.acquire().await?;
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let sent_local_ms = time::local_millis();
        let started = Instant::now();
        let reference_ms: i64 = sqlx::query_scalar(
            "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
        )
        .fetch_one(&mut *conn)
        .await?;
        samples.push(ClockSample {
            sent_local_ms,
            reference_ms,
            round_trip: started.elapsed(),
        });
    }
    Ok(ClockSample::best(&samples).expect("SAMPLES > 0"))
}

/// Measures the offset and adopts it when it moved by more than the
/// measurement's error (so jitter never moves the clock).
pub(super) async fn sync(s: &PgStore) -> Result<ClockSync> {
    let sample = measure(s).await?;
    let current = time::clock_offset_ms();
    let adopted = time::offset_changed(current, &sample);
    let offset_ms = if adopted { sample.offset_ms() } else { current };
    if adopted {
        time::set_clock_offset_ms(offset_ms);
        if offset_ms.abs() > WARN_OFFSET_MS {
            tracing::warn!(
                offset_ms,
                round_trip_ms = sample.round_trip.as_millis() as u64,
                "this node's clock is {:.1} s {} the database's; Hookline uses the database's",
                offset_ms.unsigned_abs() as f64 / 1000.0,
                if offset_ms < 0 { "ahead of" } else { "behind" },
            );
        } else {
            tracing::info!(
                offset_ms,
                previous_ms = current,
                "clock offset to the database's measured"
            );
        }
    }
    Ok(ClockSync {
        offset_ms,
        round_trip: sample.round_trip,
        adopted,
    })
}
