//! Integration tests of hookline-delivery, one binary: real HTTP servers on
//! loopback, the real SQLite store, nothing of ours mocked.
//! `TEST_LOG=1 cargo test -p hookline-delivery` shows the worker's logs.

mod send;
mod support;
mod worker;
