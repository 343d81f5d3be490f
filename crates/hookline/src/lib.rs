//! Hookline: a self-hosted webhook gateway. This crate is the server: it
//! builds the application that the `hookline` binary runs and that tests
//! start in-process on port 0.
//!
//! # Layout
//! - [`config`]: the one typed configuration and how it is layered.
//! - [`startup`]: builds the application (store, admin key, state, router)
//!   and every background task, starts them all in one place, runs until
//!   shutdown and drains in a documented order.
//! - [`http_server`]: the accept loop: HTTP/1.1 + HTTP/2, read timeouts,
//!   the connection cap, graceful shutdown, the peer address.
//! - [`tls`]: HTTPS from the `[tls]` certificate files, reloaded when they change.
//! - [`api`]: the HTTP layer — routes per resource (including `stats`,
//!   `stream`, `replays`, `health` and `/metrics`), wire types, the error
//!   mapping. It only serves: it starts no background task.
//! - [`service`]: the operations behind the API (seed flows, CRUD, events,
//!   traffic statistics, the live stream's polling, bulk replay jobs and
//!   their runner, registration health checks).
//! - [`ingest`]: link lookup, verification, classification, dedup, group commit.
//! - [`providers`]: calls to providers' webhook-registration APIs (full registration).
//! - [`presets`]: built-in provider definitions (Stripe, GitHub, …), shipped as data.
//! - [`locks`]: per-key async locks (one enable per webhook, one redelivery per event id).
//! - [`admin_key`]: the bootstrap management key, and how every key is hashed.
//! - [`secret_key`]: the key that seals secrets at rest.
//! - [`retention`]: the sweeper that deletes old delivered and failed events.
//! - [`clock`]: keeps this process on the database's clock (PostgreSQL).
//! - [`telemetry`]: logging setup (text or JSON), OpenTelemetry traces (`otel`).
//! - [`metrics`]: the Prometheus recorder, metric names and the functions
//!   that record them (the HTTP middleware and `GET /metrics` are
//!   [`api::metrics`]).
//! - [`dashboard`]: the embedded web dashboard at `/dashboard`.
//! - [`error`]: the typed error every operation returns.
//!
//! Imports point one way: `startup` → `api` → `ingest` → `service` →
//! `metrics`, `error`, `config` (and the crates below). No module outside
//! `api/` imports `api` except `startup` and the binary (a unit test holds
//! this).
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
#[cfg(test)]
mod layering;
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
