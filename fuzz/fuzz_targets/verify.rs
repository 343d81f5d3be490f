//! `hookline_verify::verify` (and the provider event id) over any
//! configuration and any request.
//!
//! Input: a line with the verification as JSON (as an app webhook stores
//! it), a line with the secret, a line with "now" in unix seconds, then the
//! raw request (see `hookline_fuzz::Request::parse`). Seeds are signed
//! provider examples, so mutations also reach the checks made after the
//! signature (timestamps, ids).
#![no_main]

use hookline_fuzz::{check_verification, take_line, Request};
use hookline_verify::Verification;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let (Some(config), Some(secret), Some(now)) = (
        take_line(&mut rest),
        take_line(&mut rest),
        take_line(&mut rest),
    ) else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<Verification>(config) else {
        return;
    };
    // The configuration is checked when it is saved; verify must cope with
    // an invalid one all the same (it reports `invalid_config`).
    let _ = v.validate();
    let secret = std::str::from_utf8(secret).ok();
    let now = std::str::from_utf8(now)
        .ok()
        .and_then(|n| n.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let req = Request::parse(rest);
    check_verification(&v, secret, &req, now);
});
