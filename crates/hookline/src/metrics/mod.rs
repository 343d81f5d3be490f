//! Prometheus metrics, apart from HTTP: the process-wide recorder
//! ([`install`], [`run_upkeep`]), the name and help text of every metric
//! ([`names`]), and the functions that record them ([`record`]).
//!
//! Code records through the `metrics` facade (`counter!`, `histogram!`), so
//! the delivery crate needs no handle and ingest, the replay runner and the
//! health checks import only [`record`]; this module installs the one
//! global recorder on the first [`install`] (a process runs one
//! application; tests run several, which then share it). The HTTP side —
//! the middleware that counts and times requests and `GET /metrics`, which
//! renders the recorder plus gauges read from the store on each scrape (so
//! every node of a cluster reports the same truth without a background
//! refresher) — is `crate::api::metrics`.
//!
//! **Invariant:** nothing here imports the HTTP layer (`crate::api`).

pub mod names;
pub mod record;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use names::DELIVERY_LATENCY;
use std::sync::OnceLock;
use tokio_util::sync::CancellationToken;

/// Seconds, from a few milliseconds (a local receiver) to the hours a
/// retried event may take.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    7200.0, 36000.0,
];
/// Seconds, for one HTTP exchange (bounded by the delivery timeout).
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the global recorder once per process and returns its handle.
///
/// If another recorder was installed first (an embedding program's), the
/// handle renders a recorder nobody records into, and a warning says so.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(DELIVERY_LATENCY.to_owned()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), DURATION_BUCKETS)
                })
                .expect("bucket lists are not empty");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if ::metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will not see Hookline's metrics");
            }
            names::describe();
            handle
        })
        .clone()
}

/// Runs the recorder's upkeep (draining histograms) every 10 s until
/// `shutdown`, so that memory stays bounded between scrapes; started by
/// [`crate::startup`].
pub async fn run_upkeep(handle: PrometheusHandle, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}
