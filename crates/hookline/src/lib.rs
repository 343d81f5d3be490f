//! Hookline: a self-hosted webhook gateway. This crate is the server: it
//! builds the application that the `hookline` binary runs and that tests
//! start in-process on port 0.
//!
//! # Layout
//! - [`config`]: the one typed configuration and how it is layered.
//! - [`startup`]: builds the application (store, admin key, router, workers)
//!   and runs it until shutdown.
//! - [`http_server`]: the accept loop: HTTP/1.1 + HTTP/2, read timeouts,
//!   the connection cap, graceful shutdown, the peer address.
//! - [`tls`]: HTTPS from the `[tls]` certificate files, reloaded when they change.
//! - [`api`]: the HTTP layer — routes per resource, wire types, the error mapping.
//! - [`service`]: the operations behind the API (seed flows, CRUD, events).
//! - [`ingest`]: link lookup, verification, classification, dedup, group commit.
//! - [`providers`]: calls to providers' webhook-registration APIs (full registration).
//! - [`presets`]: built-in provider definitions (Stripe, GitHub, …), shipped as data.
//! - [`locks`]: per-key async locks (one enable per webhook, one redelivery per event id).
//! - [`admin_key`]: the bootstrap management key.
//! - [`secret_key`]: the key that seals secrets at rest.
//! - [`retention`]: the sweeper that deletes old delivered and failed events.
//! - [`clock`]: keeps this process on the database's clock (PostgreSQL).
//! - [`telemetry`]: logging setup (text or JSON), OpenTelemetry traces (`otel`).
//! - [`metrics`]: the Prometheus recorder, HTTP request metrics, `GET /metrics`.
//! - [`dashboard`]: the embedded web dashboard at `/dashboard`.
//! - [`error`]: the typed error every operation returns.
//!
//! Storage lives in `hookline-store`, delivery in `hookline-delivery`, the
//! domain in `hookline-core`, signature schemes in `hookline-verify`.
#![forbid(unsafe_code)]

pub mod admin_key;
pub mod api;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod http_server;
pub mod ingest;
pub mod locks;
pub mod metrics;
pub mod presets;
pub mod providers;
pub mod retention;
pub mod secret_key;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod tls;
