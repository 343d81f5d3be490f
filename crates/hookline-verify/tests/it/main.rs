//! Integration tests of hookline-verify, through its public API only.
//!
//! - `peers`: signatures made at test time by the providers' own libraries
//!   (stripe and standardwebhooks for Python, @octokit/webhooks-methods for
//!   node), and Hookline's signatures checked by the standardwebhooks library.
//! - `properties`: `verify` never panics, and correctly signed requests pass.

mod peers;
mod properties;
