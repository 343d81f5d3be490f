//! One integration-test binary for the server: every test starts a real
//! Hookline on port 0 with its own data dir, and real receivers on loopback.

mod backend;
mod bad_input;
mod cli;
mod crash;
mod delivery;
mod disk_full;
mod helpers;
mod http_edge;
mod monitor;
mod multinode;
mod openapi;
mod providers;
mod retention;
mod secrets;
mod seed_flows;
mod tls;
