//! The pure part of ingest (`hookline::ingest::Ingest::accept`) for every
//! built-in preset: a raw call is verified with the preset's scheme, its
//! provider event id read, and it is classified with the preset's event
//! selectors, reading headers as ingest does.
//!
//! Input: a line with the secret, a line with "now" in unix seconds, then the
//! raw request (see `hookline_fuzz::Request::parse`). Seeds are real
//! provider calls, signed with the secrets of the unit tests.
#![no_main]

use hookline_core::model::AppWebhook;
use hookline_fuzz::{check_verification, take_line, Request};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const PRESETS: [&str; 6] = [
    include_str!("../../crates/hookline/presets/stripe.json"),
    include_str!("../../crates/hookline/presets/github.json"),
    include_str!("../../crates/hookline/presets/shopify.json"),
    include_str!("../../crates/hookline/presets/slack.json"),
    include_str!("../../crates/hookline/presets/paystack.json"),
    include_str!("../../crates/hookline/presets/standard_webhooks.json"),
];

/// Every preset's webhooks, as the app webhooks an app made from it has.
static WEBHOOKS: LazyLock<Vec<AppWebhook>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for preset in PRESETS {
        let preset: serde_json::Value = serde_json::from_str(preset).expect("preset parses");
        for w in preset["webhooks"].as_array().expect("webhooks") {
            let events: Vec<_> = w["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "tag": e["tag"], "name": e["name"], "description": null,
                        "selector": e["selector"],
                    })
                })
                .collect();
            let webhook = serde_json::json!({
                "id": "whk_fuzz", "app_id": "app_fuzz", "tag": w["tag"], "name": w["name"],
                "description": null, "verification": w["verification"], "envs": [],
                "events": events, "created_at": 0, "updated_at": 0,
            });
            out.push(serde_json::from_value(webhook).expect("an app webhook"));
        }
    }
    out
});

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let (Some(secret), Some(now)) = (take_line(&mut rest), take_line(&mut rest)) else {
        return;
    };
    let secret = std::str::from_utf8(secret).ok();
    let now = std::str::from_utf8(now)
        .ok()
        .and_then(|n| n.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let req = Request::parse(rest);
    // As ingest reads a header for `$Header{…}` selectors.
    let header = |name: &str| {
        req.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for webhook in WEBHOOKS.iter() {
        check_verification(&webhook.verification, secret, &req, now);
        let _ = webhook.classify_request(&req.body, &header);
    }
});
