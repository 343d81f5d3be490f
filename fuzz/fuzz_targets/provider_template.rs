//! Provider registration calls (`hookline_core::provider`): filling an app
//! env's template, building the request, and reading the provider's answer.
//!
//! Input: a line with a JSON object describing the call
//! `{"base_url", "url", "method", "template", "auth", "events", "secret",
//! "provider_id"}` (every field optional; `template` and `auth` as stored,
//! plus the env's provider API spec as `template.provider_api`),
//! then the provider's answer body. Seeds are the built-in presets'
//! registration calls with answers in the providers' documented shapes.
#![no_main]

use hookline_core::model::{Auth, HttpMethod, ProviderApi, RequestTemplate};
use hookline_core::provider::{self, CallSpec, Vars};
use hookline_fuzz::take_line;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

fn parsed<T: serde::de::DeserializeOwned + Default>(v: &Value, key: &str) -> T {
    v.get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Some(line) = take_line(&mut rest) else {
        return;
    };
    let Ok(call) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let answer = rest;

    let base_url = text(&call, "base_url").and_then(|u| url::Url::parse(&u).ok());
    let url = text(&call, "url").unwrap_or_default();
    let method = text(&call, "method")
        .and_then(|m| HttpMethod::parse(&m))
        .unwrap_or_default();
    let template: RequestTemplate = parsed(&call, "template");
    let auth: Auth = parsed(&call, "auth");
    let events: Vec<String> = parsed(&call, "events");
    let secret = text(&call, "secret");
    let provider_id = text(&call, "provider_id");
    let params = template
        .params
        .clone()
        .into_iter()
        .chain(auth.params.clone())
        .collect();
    let vars = Vars {
        link: "https://hooks.example.test/in/lnk_0123456789abcdef",
        events: &events,
        env: "live",
        app_env: "prod",
        product: "shop",
        access_tag: "acme",
        webhook: "orders",
        secret: secret.as_deref(),
        provider_id: provider_id.as_deref(),
        params: &params,
    };
    let spec = CallSpec {
        base_url: base_url.as_ref(),
        url: &url,
        method,
        template: Some(&template),
        auth: &auth,
    };
    if let Ok(request) = provider::build_call(&spec, &vars) {
        assert!(
            matches!(request.url.scheme(), "http" | "https"),
            "{}",
            request.url
        );
        for (name, value) in &request.headers {
            assert!(
                http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
                "{name:?}"
            );
            assert!(
                http::HeaderValue::from_bytes(value.as_bytes()).is_ok(),
                "{value:?}"
            );
        }
        if method == HttpMethod::Get {
            assert!(request.body.is_empty());
        }
    }
    let _ = provider::fill_url(&url, &vars);
    let _ = provider::form_encode(&template.body);
    for name in ["link", "events", "secret", "provider_id"] {
        let _ = provider::template_uses(&template, name);
    }

    let api: ProviderApi = call
        .get("template")
        .map(|t| parsed(t, "provider_api"))
        .unwrap_or_default();
    let _ = provider::validate_api(&api);
    if let Ok(read) = provider::read_answer(answer, &api) {
        for value in [read.provider_id, read.secret].into_iter().flatten() {
            assert!(!value.is_empty() && value.len() <= 1024, "{value:?}");
        }
    }
    if let Some(message) = provider::error_message(answer) {
        assert!(message.chars().count() <= 300);
    }
});
