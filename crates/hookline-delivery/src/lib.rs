//! Hookline's outbound side: the delivery worker that forwards received events
//! to receivers, the HTTP client it (and provider registration) calls out
//! with, and the guard that keeps both away from private addresses.
//!
//! # Layout
//! - [`guard`]: which addresses outbound calls may reach (`HOOKLINE_ALLOWED_TARGETS`),
//!   checked up front by [`OutboundGuard::check_url`] and again at connect
//!   time by the client's DNS resolver.
//! - [`client`]: the shared `reqwest::Client` ([`build_client`]) and one
//!   guarded attempt ([`send`]) with its errors classified for the attempt log.
//! - [`worker`]: the loop that leases due events, delivers them with bounded
//!   concurrency, records results in groups and shuts down gracefully.
//!
//! # Invariants
//! - No outbound call reaches a refused address, whether the URL names it,
//!   a DNS answer does, or a redirect would (redirects are never followed).
//! - No outbound call happens while a store transaction is open: events are
//!   leased (and that is committed) before any request is made.
//! - Every attempt made is handed to the store; one that cannot be recorded
//!   is logged, and its event is delivered again once its lease lapses.
#![forbid(unsafe_code)]

pub mod client;
pub mod guard;
pub mod worker;

pub use client::{build_client, classify, send, Response, SendError};
pub use guard::{GuardError, GuardedResolver, OutboundGuard};
pub use worker::{spawn, DeliveryConfig};
