//! Property tests over what providers and users control: selectors, the
//! payloads they read, and registration templates with the values filled
//! into them. None of it may panic, whatever the input; where an answer is
//! defined, it is checked.

use crate::model::{Auth, HttpMethod, ProviderApi, RequestTemplate};
use crate::provider::{self, CallSpec, Vars};
use crate::selector::Selector;
use proptest::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Any JSON value, a few levels deep, with keys and strings that like braces.
fn json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        ".*",
        "[{}a-z_ ]{0,12}",
        Just("{{events}}".to_owned()),
        Just("{{link}}".to_owned()),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z{}\\[\\]]{0,6}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn text_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-zA-Z_-]{1,8}", ".{0,16}", 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn selectors_parse_anything_and_round_trip(s in ".{0,40}", tail in "(\\{[^{}]{1,8}\\}){0,3}") {
        for candidate in [s.clone(), format!("$Event{tail}"), format!("$Header{tail}"), format!("$Event{s}")] {
            if let Ok(sel) = Selector::parse(&candidate) {
                let again = Selector::parse(&sel.to_string()).expect("a printed selector parses");
                prop_assert_eq!(again, sel);
            }
        }
    }

    #[test]
    fn selectors_read_any_payload(path in prop::collection::vec("[a-z0-9]{1,4}", 1..5), body in json(), header in ".{0,20}") {
        let sel = Selector::parse(&format!("$Event{{{}}}", path.join("}{"))).unwrap();
        let found = sel.find(Some(&body), &|_| None);
        prop_assert_eq!(found.clone(), sel.apply(&body));
        if let Some(v) = found {
            prop_assert!(!matches!(serde_json::from_str::<Value>(&v), Ok(Value::Object(_))));
        }
        let h = Selector::parse("$Header{x-event}").unwrap();
        let got = h.find(None, &|_| Some(header.clone()));
        prop_assert_eq!(got, Some(header.trim().to_owned()).filter(|v| !v.is_empty()));
    }

    #[test]
    fn classification_never_panics(body in prop::collection::vec(any::<u8>(), 0..256), json_body in json()) {
        let webhook: crate::model::AppWebhook = serde_json::from_value(serde_json::json!({
            "id": "whk_1", "app_id": "app_1", "tag": "w", "name": "w", "description": null,
            "envs": [], "created_at": 0, "updated_at": 0,
            "events": [
                {"tag": "a", "name": "a", "description": null, "selector": "$Event{data}{type}"},
                {"tag": "b", "name": "b", "description": null, "selector": "$Header{x-kind}"},
                {"tag": "c", "name": "c", "description": null, "selector": "$Event{type}"}
            ]
        })).unwrap();
        let _ = webhook.classify_request(&body, &|_| None);
        let bytes = serde_json::to_vec(&json_body).unwrap();
        let _ = webhook.classify_request(&bytes, &|n| (n == "x-kind").then(|| "k".to_owned()));
    }

    #[test]
    fn filling_text_never_panics_and_leaves_plain_text_alone(s in ".{0,60}", params in text_map()) {
        let events = vec!["a.b".to_owned(), "c".to_owned()];
        let vars = Vars {
            link: "https://gw/l", events: &events, env: "prd", app_env: "live", product: "p",
            access_tag: "t", webhook: "w", secret: Some("s"), provider_id: None, params: &params,
        };
        let filled = provider::fill_text(&s, &vars);
        let _ = provider::fill_url(&s, &vars);
        if !s.contains('{') {
            prop_assert_eq!(filled.unwrap(), s);
        }
    }

    #[test]
    fn building_calls_never_panics(
        url in prop_oneof![".{0,30}", "/[a-z{}/_]{0,30}", "https://[a-z]{1,8}\\.example/[a-z{}]{0,10}"],
        headers in text_map(),
        query in text_map(),
        body in json(),
        auth_headers in text_map(),
        params in text_map(),
        form in any::<bool>(),
        method in prop_oneof![Just(HttpMethod::Get), Just(HttpMethod::Post), Just(HttpMethod::Delete)],
    ) {
        let mut headers = headers;
        if form {
            headers.insert("Content-Type".into(), "application/x-www-form-urlencoded".into());
        }
        let template = RequestTemplate { headers, query, params: BTreeMap::new(), body };
        let auth = Auth { headers: auth_headers, params: params.clone(), ..Auth::default() };
        let events = vec!["e1".to_owned()];
        let vars = Vars {
            link: "https://gw/l", events: &events, env: "prd", app_env: "live", product: "p",
            access_tag: "t", webhook: "w", secret: None, provider_id: Some("id/1"), params: &params,
        };
        let base: url::Url = "http://127.0.0.1:9/base/".parse().unwrap();
        let built = provider::build_call(
            &CallSpec { base_url: Some(&base), url: &url, method, template: Some(&template), auth: &auth },
            &vars,
        );
        if let Ok(req) = built {
            prop_assert!(matches!(req.url.scheme(), "http" | "https"));
            if method == HttpMethod::Get {
                prop_assert!(req.body.is_empty());
            }
        }
    }

    #[test]
    fn form_encoding_never_panics_and_keeps_flat_fields(body in json(), flat in prop::collection::btree_map("[a-z]{1,6}", ".{0,12}", 0..5)) {
        let _ = provider::form_encode(&body);
        let object = Value::Object(flat.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect());
        let encoded = provider::form_encode(&object).unwrap();
        let decoded: BTreeMap<String, String> = url::form_urlencoded::parse(encoded.as_bytes()).into_owned().collect();
        prop_assert_eq!(decoded, flat);
    }

    #[test]
    fn reading_answers_never_panics(body in prop::collection::vec(any::<u8>(), 0..512), json_body in json(), path in "(/[a-z~01]{0,4}){0,3}") {
        let api = ProviderApi { id_path: Some(path.clone()), secret_path: Some(path), ..ProviderApi::default() };
        let _ = provider::read_answer(&body, &api);
        let _ = provider::error_message(&body);
        let bytes = serde_json::to_vec(&json_body).unwrap();
        if let Ok(a) = provider::read_answer(&bytes, &api) {
            prop_assert!(a.provider_id.is_none_or(|id| !id.is_empty() && id.len() <= 1024));
        }
        let _ = provider::error_message(&bytes);
    }
}

#[test]
fn rotation_keeps_the_old_secret_signing_until_it_expires() {
    use crate::time::Millis;
    use std::time::Duration;
    let mut reg: crate::model::Registration = serde_json::from_value(serde_json::json!({
        "id": "reg_1", "product_id": "prd_1", "product_tag": "p", "access_tag": "a", "app_tag": "x",
        "webhook_id": "whk_1", "webhook_tag": "w", "event": null, "env": "prd", "app_env": "live",
        "link_id": "l", "receiver": null, "verification_secret": null, "signing_secret": "whsec_old",
        "provider": {"status": "not_applicable", "provider_id": null, "http_status": null, "message": null, "updated_at": null},
        "retry_schedule": null, "active": true, "created_at": 0, "updated_at": 0
    }))
    .expect("a registration stored before rotation existed still reads");
    let t0 = Millis(1_000_000);
    assert_eq!(reg.signing_secrets(t0), vec!["whsec_old"]);
    reg.rotate_signing_secret("whsec_new".into(), t0, Duration::from_secs(60));
    assert_eq!(reg.signing_secrets(t0), vec!["whsec_new", "whsec_old"]);
    assert_eq!(
        reg.signing_secrets(t0 + Duration::from_secs(61)),
        vec!["whsec_new"]
    );
    // A second rotation within the overlap keeps both older secrets, newest first.
    reg.rotate_signing_secret("whsec_newer".into(), t0, Duration::from_secs(30));
    assert_eq!(
        reg.signing_secrets(t0),
        vec!["whsec_newer", "whsec_new", "whsec_old"]
    );
    // Without an overlap the old secret stops at once; expired ones are dropped.
    reg.rotate_signing_secret(
        "whsec_last".into(),
        t0 + Duration::from_secs(90),
        Duration::ZERO,
    );
    assert_eq!(
        reg.signing_secrets(t0 + Duration::from_secs(90)),
        vec!["whsec_last"]
    );
    assert!(reg.previous_signing_secrets.is_empty());
}
