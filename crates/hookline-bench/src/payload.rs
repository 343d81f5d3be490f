//! Request bodies: Stripe-like event JSON between a minimum and a maximum
//! size, each with its own event id, optionally signed the way Stripe signs
//! (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`).
//!
//! A few dozen templates of different sizes are built once; a request copies
//! one and writes its number into the fixed-width id, so building a body in
//! the hot loop is one copy, not a JSON serialisation.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};

/// Width of the number in `evt_<number>`.
const ID_DIGITS: usize = 20;
const ID_PLACEHOLDER: &str = "evt_00000000000000000000";

const EVENT_TYPES: [&str; 4] = [
    "charge.succeeded",
    "payment_intent.succeeded",
    "invoice.paid",
    "customer.updated",
];

struct Template {
    bytes: Vec<u8>,
    /// Offset of the digits of the event id.
    id_at: usize,
}

pub struct Bodies {
    templates: Vec<Template>,
    /// Leading digits of every id, different on every run, so that no two
    /// requests of any run against the same gateway carry the same provider
    /// event id (the gateway answers a redelivery without storing it).
    run: u64,
    /// Next body number: each body gets its own, whatever the phase.
    next: AtomicU64,
}

/// Digits of the per-request counter; the rest of the id is the run.
const COUNTER_DIGITS: usize = 12;

impl Bodies {
    /// `n` templates with sizes spread over `min..=max` bytes.
    pub fn new(min: usize, max: usize, n: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let (min, max) = (min.min(max), max.max(min));
        let templates = (0..n.max(1))
            .map(|k| {
                let target = rng.gen_range(min..=max);
                let event_type = EVENT_TYPES[k % EVENT_TYPES.len()];
                template(&mut rng, target, event_type)
            })
            .collect();
        Bodies {
            templates,
            run: 0,
            next: AtomicU64::new(0),
        }
    }

    /// The same bodies with ids starting with `run` (up to 8 digits).
    pub fn for_run(mut self, run: u64) -> Self {
        self.run = run % 100_000_000;
        self
    }

    /// The next body: template `k mod n` with id `evt_<run><k>` for a `k`
    /// no earlier call got.
    pub fn next(&self) -> Bytes {
        self.body(self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Body number `i`: template `i mod n` with id `evt_<run><i>`.
    pub fn body(&self, i: u64) -> Bytes {
        let t = &self.templates[(i % self.templates.len() as u64) as usize];
        let mut bytes = t.bytes.clone();
        let digits = format!(
            "{:0run$}{:0count$}",
            self.run,
            i % 10u64.pow(COUNTER_DIGITS as u32),
            run = ID_DIGITS - COUNTER_DIGITS,
            count = COUNTER_DIGITS
        );
        bytes[t.id_at..t.id_at + ID_DIGITS].copy_from_slice(&digits.as_bytes()[..ID_DIGITS]);
        Bytes::from(bytes)
    }

    pub fn sizes(&self) -> (usize, usize) {
        let sizes = self.templates.iter().map(|t| t.bytes.len());
        (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0))
    }
}

fn word(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect()
}

fn template(rng: &mut StdRng, target: usize, event_type: &str) -> Template {
    let amount: u32 = rng.gen_range(100..500_000);
    let mut lines = Vec::new();
    let build = |lines: &Vec<serde_json::Value>, pad: &str| {
        json!({
            "id": ID_PLACEHOLDER,
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1_718_000_000,
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": "req_8d1c2f3a4b5c6d", "idempotency_key": "5c0ffee0-8b8e-4f9a-9d3c-2a1b0c9d8e7f"},
            "type": event_type,
            "data": {"object": {
                "id": "ch_3PQxYz2eZvKYlo2C0abcdEFG",
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "currency": "usd",
                "customer": "cus_Q1w2E3r4T5y6U7",
                "description": "Order from the bench",
                "paid": true,
                "status": "succeeded",
                "billing_details": {"address": {"city": "Berlin", "country": "DE", "line1": "Hauptstr. 1", "postal_code": "10115"}, "email": "jenny@example.com", "name": "Jenny Rosen"},
                "metadata": {"order_id": "6735", "note": pad},
                "lines": lines,
            }}
        })
        .to_string()
    };
    // Add line items until the next would overshoot, then pad the note.
    while build(&lines, "").len() < target.saturating_sub(200) {
        lines.push(json!({
            "id": format!("il_{}", word(rng, 14)),
            "description": word(rng, 24),
            "quantity": rng.gen_range(1..5),
            "amount": rng.gen_range(100..10_000),
        }));
    }
    let short = build(&lines, "").len();
    let pad = word(rng, target.saturating_sub(short));
    let text = build(&lines, &pad);
    let id_at = text
        .find(ID_PLACEHOLDER)
        .expect("the template holds its placeholder id")
        + "evt_".len();
    Template {
        bytes: text.into_bytes(),
        id_at,
    }
}

/// How requests are signed.
#[derive(Debug, Clone)]
pub enum Signer {
    None,
    Stripe { secret: String },
}

impl Signer {
    /// The `Stripe-Signature` value for `body` at `unix` seconds.
    pub fn header(&self, body: &[u8], unix: i64) -> Option<String> {
        match self {
            Signer::None => None,
            Signer::Stripe { secret } => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(unix.to_string().as_bytes());
                mac.update(b".");
                mac.update(body);
                Some(format!(
                    "t={unix},v1={}",
                    hex::encode(mac.finalize().into_bytes())
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_of_the_asked_sizes_with_distinct_ids() {
        let b = Bodies::new(1024, 4096, 16, 7);
        let (lo, hi) = b.sizes();
        assert!(lo >= 1024 && hi <= 4096 + 64, "sizes {lo}..{hi}");
        let one: serde_json::Value = serde_json::from_slice(&b.body(1)).unwrap();
        let two: serde_json::Value = serde_json::from_slice(&b.body(17)).unwrap();
        assert_eq!(one["id"], "evt_00000000000000000001");
        assert_eq!(two["id"], "evt_00000000000000000017");
        assert_eq!(one["type"], "payment_intent.succeeded");
    }

    #[test]
    fn ids_never_repeat_within_or_across_runs() {
        let b = Bodies::new(1024, 1100, 4, 7).for_run(12_345_678);
        let id =
            |body: Bytes| serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].clone();
        assert_eq!(id(b.next()), "evt_12345678000000000000");
        assert_eq!(id(b.next()), "evt_12345678000000000001");
        let other = Bodies::new(1024, 1100, 4, 7).for_run(7);
        assert_eq!(id(other.next()), "evt_00000007000000000000");
    }

    #[test]
    fn stripe_signature_matches_stripes_reference() {
        // The reference vector of hookline-verify's Stripe tests (from
        // stripe-python's generate_signature_header).
        let body = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded","data":{"object":{"amount":2000,"currency":"eur","description":"café"}}}"#;
        let s = Signer::Stripe {
            secret: "whsec_test_secret_0123456789".into(),
        };
        assert_eq!(
            s.header(body.as_bytes(), 1_700_000_000).unwrap(),
            "t=1700000000,v1=4d02b356dbdae057cf6a4e9f2e259bc65de208e6f4400bb92944c189c02ed68d"
        );
        assert_eq!(Signer::None.header(b"x", 1), None);
    }
}
