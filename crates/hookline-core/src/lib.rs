//! Hookline's domain: the plain types every other crate speaks, and the pure
//! functions over them. Nothing here does I/O, knows HTTP frameworks or SQL.
//!
//! # Layout
//! - [`names`]: validated newtypes for tags and env slugs, parsed once at the edge.
//! - [`ids`]: prefixed, sortable ids (`evt_…`, `reg_…`) and unguessable link ids.
//! - [`model`]: apps, app webhooks, products, connections, registrations, receivers.
//! - [`event`]: received events, their status machine and delivery attempts.
//! - [`selector`]: `$Event{data}{type}` / `$Header{name}` selectors that find an event's name in a call.
//! - [`filter`]: routing filters, Hookdeck-syntax JSON rules matched against a request.
//! - [`provider`]: provider registration calls: filling templates, building the request, reading the answer.
//! - [`outbound`]: builds the request forwarded to a receiver (auth injection).
//! - [`retry`]: the retry schedule and its jitter.
//! - [`time`]: millisecond timestamps, the unit every layer stores and compares.
//! - `testing` (feature `testing`): builders of registrations, events and deliveries for other crates' tests.
#![forbid(unsafe_code)]

pub mod event;
pub mod filter;
pub mod ids;
pub mod model;
pub mod names;
pub mod outbound;
pub mod provider;
pub mod retry;
pub mod selector;
pub mod time;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use hookline_verify as verify;

#[cfg(test)]
mod proptests;
