//! One integration-test binary for the server: every test starts a real
//! Hookline on port 0 with its own data dir, and real receivers on loopback.

mod bad_input;
mod crash;
mod delivery;
mod helpers;
mod seed_flows;
