//! Hookline: a self-hosted webhook gateway. This crate is the server: it
//! builds the application that the `hookline` binary runs and that tests
//! start in-process on port 0.
//!
//! # Layout
//! - [`config`]: the one typed configuration and how it is layered.
//! - [`startup`]: builds the application (store, admin key, router, workers)
//!   and runs it until shutdown.
//! - [`api`]: the HTTP layer — routes per resource, wire types, the error mapping.
//! - [`service`]: the operations behind the API (seed flows, CRUD, events).
//! - [`ingest`]: link lookup, verification, classification, group commit.
//! - [`admin_key`]: the bootstrap management key.
//! - [`telemetry`]: logging setup.
//! - [`error`]: the typed error every operation returns.
//!
//! Storage lives in `hookline-store`, delivery in `hookline-delivery`, the
//! domain in `hookline-core`, signature schemes in `hookline-verify`.
#![forbid(unsafe_code)]

pub mod admin_key;
pub mod api;
pub mod config;
pub mod error;
pub mod ingest;
pub mod service;
pub mod startup;
pub mod telemetry;
