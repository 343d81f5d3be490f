//! Logging and tracing: `RUST_LOG` filters (default `info`), text or JSON
//! lines on stderr, and, in builds with the `otel` feature, spans exported
//! over OTLP/HTTP when `telemetry.otlp_endpoint` is set.
//!
//! Request spans name the route template, never the concrete URI (so a
//! `key` query parameter never reaches a log line), and ingest records the
//! stored event's id on its request span; delivery and replay spans carry
//! event, registration and replay ids.

use crate::config::{Config, LogFormat};
use std::io::IsTerminal;
use tracing::Span;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Logging only, in `format` (what tests use).
pub fn init(format: LogFormat) {
    let _ = install(format, None);
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.otlp_endpoint is set, but this build has no OpenTelemetry support; rebuild with `--features otel` or leave it empty")]
    NotBuiltIn,
    #[error("cannot set up OpenTelemetry export: {0}")]
    Otel(String),
}

/// Keeps trace export running; dropping it flushes the spans still queued.
#[derive(Default)]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.shutdown() {
                eprintln!("flushing traces failed: {e}");
            }
        }
    }
}

/// Logging as configured, plus OTLP trace export when an endpoint is set.
pub fn init_from(config: &Config) -> Result<TelemetryGuard, TelemetryError> {
    let endpoint = config.telemetry.otlp_endpoint.trim();
    if endpoint.is_empty() {
        init(config.log_format);
        return Ok(TelemetryGuard::default());
    }
    #[cfg(feature = "otel")]
    {
        let (layer, provider) = otel::layer(endpoint, &config.telemetry.service_name)?;
        let _ = install(config.log_format, Some(Box::new(layer)));
        Ok(TelemetryGuard {
            provider: Some(provider),
        })
    }
    #[cfg(not(feature = "otel"))]
    Err(TelemetryError::NotBuiltIn)
}

type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;

fn install(
    format: LogFormat,
    extra: Option<BoxedLayer>,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
    });
    // Colour only for a person at a terminal: piped or captured logs (CI,
    // files, journald) get plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
    });
    // A second init (tests) is harmless: the first subscriber stays.
    tracing_subscriber::registry()
        .with(extra)
        .with(json)
        .with(text)
        .with(filter)
        .try_init()
}

/// The span of one HTTP request: method and route template; ingest adds
/// `event_id` once the event is stored.
pub fn request_span<B>(req: &http::Request<B>) -> Span {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("unmatched", |p| p.as_str());
    tracing::info_span!(
        "request",
        method = %req.method(),
        route,
        event_id = tracing::field::Empty,
    )
}

#[cfg(feature = "otel")]
mod otel {
    use super::TelemetryError;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    /// A tracing layer exporting spans in batches to `endpoint` (OTLP over
    /// HTTP/protobuf; `/v1/traces` is appended unless present).
    pub fn layer(
        endpoint: &str,
        service_name: &str,
    ) -> Result<
        (
            tracing_opentelemetry::OpenTelemetryLayer<
                tracing_subscriber::Registry,
                opentelemetry_sdk::trace::Tracer,
            >,
            SdkTracerProvider,
        ),
        TelemetryError,
    > {
        let url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .map_err(|e| TelemetryError::Otel(e.to_string()))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name.to_owned())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("hookline");
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }
}
