//! Builders for domain values with plausible contents, so each test states
//! only what it is about.

use hookline_core::event::{
    Attempt, AttemptError, Completion, ErrorKind, Event, EventStatus, NextStep, Payload,
};
use hookline_core::ids::new_id;
use hookline_core::model::{
    App, AppEnv, AppWebhook, Auth, Connection, ConnectionEnv, HttpMethod, Product, ProductEnv,
    Registration,
};
use hookline_core::testing::{verified, EventBuilder, RegistrationBuilder, WebhookEnvBuilder};
use hookline_core::time::Millis;
use hookline_store::Store;
use std::sync::atomic::{AtomicI64, Ordering};

// `T0`: a fixed instant, rounded so sums stay readable; tests that need the
// wall clock (held-event release is "due now") use `Millis::now`.
pub use hookline_core::testing::{env, receiver, tag, T0};

pub fn at(offset_ms: i64) -> Millis {
    Millis(T0.0 + offset_ms)
}

/// Creation times that increase with every fixture built, so "creation
/// order" is the order a test built things in (ids minted in the same
/// millisecond do not sort by creation).
pub fn created() -> Millis {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    at(NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn app(tag_: &str) -> App {
    App {
        id: new_id("app"),
        tag: tag(tag_),
        name: format!("{tag_} app"),
        description: Some("a provider".into()),
        envs: vec![AppEnv {
            slug: env("prd"),
            base_url: Some("https://api.example.com/".parse().expect("url")),
        }],
        created_at: created(),
        updated_at: T0,
    }
}

pub fn webhook(app_id: &str, tag_: &str) -> AppWebhook {
    AppWebhook {
        id: new_id("whk"),
        app_id: app_id.into(),
        tag: tag(tag_),
        name: format!("{tag_} webhook"),
        description: None,
        verification: Default::default(),
        envs: vec![WebhookEnvBuilder::new("prd")
            .registration("/v1/webhook_endpoints", HttpMethod::Post)
            .build()],
        events: Vec::new(),
        created_at: created(),
        updated_at: T0,
    }
}

pub fn product(tag_: &str) -> Product {
    Product {
        id: new_id("prd"),
        tag: tag(tag_),
        name: format!("{tag_} product"),
        envs: vec![ProductEnv {
            slug: env("prd"),
            name: Some("Production".into()),
        }],
        created_at: created(),
        updated_at: T0,
    }
}

pub fn connection(product_id: &str, app_id: &str, access_tag: &str) -> Connection {
    let mut auth = Auth::default();
    auth.headers
        .insert("Authorization".into(), "Bearer sk_test".into());
    Connection {
        id: new_id("con"),
        product_id: product_id.into(),
        app_id: app_id.into(),
        access_tag: tag(access_tag),
        envs: vec![ConnectionEnv {
            product_env: env("prd"),
            app_env: env("prd"),
            auth,
        }],
        created_at: created(),
        updated_at: T0,
    }
}

/// A registration of product `p1`, webhook `whk_1`, env `prd`, with a
/// receiver (the builder's defaults).
pub fn registration(access_tag: &str, event: Option<&str>) -> Registration {
    RegistrationBuilder::new()
        .access_tag(access_tag)
        .event(event)
        .created_at(created())
        .build()
}

/// Saves and returns a registration that can deliver.
pub async fn saved_registration(store: &dyn Store, access_tag: &str) -> Registration {
    let reg = registration(access_tag, None);
    store
        .save_registrations(std::slice::from_ref(&reg))
        .await
        .expect("save registration");
    reg
}

/// A verified `payment.succeeded` of `reg`, received at `T0`, not queued.
pub fn event_of(reg: &Registration) -> EventBuilder {
    EventBuilder::for_registration(reg)
        .event_type(Some("payment.succeeded"))
        .verification(Some(verified("stripe")))
}

pub fn event(reg: &Registration, status: EventStatus, received_at: Millis) -> Event {
    event_of(reg)
        .status(status)
        .received_at(received_at)
        .build()
}

/// Stores one event with its payload.
pub async fn insert_one(s: &dyn Store, e: &Event) -> anyhow::Result<()> {
    s.insert_events(&with_payloads(std::slice::from_ref(e)))
        .await?;
    Ok(())
}

/// A `received` event due at `due`.
pub fn queued(reg: &Registration, due: Millis) -> Event {
    event_of(reg).received_at(due).due(due).build()
}

pub fn payload(body: &[u8]) -> Payload {
    Payload {
        method: "POST".into(),
        query: Some("a=1&b=%20".into()),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("stripe-signature".into(), "t=1,v1=abc".into()),
        ],
        body: body.to_vec(),
    }
}

pub fn with_payloads(events: &[Event]) -> Vec<(Event, Payload)> {
    events
        .iter()
        .map(|e| {
            (
                e.clone(),
                payload(format!("{{\"id\":\"{}\"}}", e.id).as_bytes()),
            )
        })
        .collect()
}

pub fn attempt(event_id: &str, number: u32, started_at: Millis, status: u16) -> Attempt {
    let ok = (200..300).contains(&status);
    Attempt {
        id: new_id("att"),
        event_id: event_id.into(),
        // Each event has one delivery, to its registration's receiver.
        delivery_id: hookline_store::rules::primary_delivery_id(event_id),
        number,
        started_at,
        duration_ms: 120,
        request_url: "https://receiver.example/hook".into(),
        response_status: Some(status),
        response_excerpt: Some(if ok { "ok" } else { "try later" }.into()),
        error: (!ok).then(|| AttemptError {
            kind: ErrorKind::Status,
            message: format!("receiver answered {status}"),
        }),
    }
}

pub fn completion(owner: &str, attempt: Attempt, next: NextStep) -> Completion {
    Completion {
        lease_owner: owner.into(),
        attempt,
        next,
    }
}
