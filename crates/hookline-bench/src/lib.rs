//! The reusable parts of `hookline-bench`, shared with `hookline-faults`
//! (the fault-injection suite): starting the real `hookline` binary and
//! reading it from `/proc`, HTTP on loopback and the management API helper,
//! signed Stripe-like bodies, and the model a gateway needs before it
//! accepts webhooks. The scenarios and the report stay in the binary.
//!
//! # Layout
//! - [`schedule`]: the open-model timeline and the open/closed load runners.
//! - [`hist`]: latency histograms, percentiles, throughput and ratios.
//! - [`payload`]: Stripe-like bodies of 1–4 KiB and their signatures.
//! - [`net`]: the HTTP client, the management API helper, the bare
//!   baseline server and the recording receiver.
//! - [`targets`]: starting or attaching to the gateway (SQLite or a fresh
//!   PostgreSQL database), the baseline process, and the bench model.
//! - [`procs`]: child processes and their CPU and peak RSS from `/proc`.
#![forbid(unsafe_code)]

pub mod hist;
pub mod net;
pub mod payload;
pub mod procs;
pub mod schedule;
pub mod targets;
