//! Tests of the configuration type and the dispatch; each scheme's own
//! behaviour is tested in its module.

use serde_json::json;

use crate::test_support::TestRequest;
use crate::*;

fn all_schemes() -> Vec<Verification> {
    vec![
        Verification::None,
        Verification::Stripe {
            tolerance_secs: None,
        },
        Verification::Github,
        Verification::Shopify,
        Verification::Slack {
            tolerance_secs: Some(60),
        },
        Verification::Paystack,
        Verification::StandardWebhooks {
            tolerance_secs: None,
        },
        Verification::Hmac(HmacOptions {
            algorithm: HmacAlgorithm::Sha512,
            header: "x-sig".into(),
            prefix: None,
            encoding: Encoding::Base64,
            signed: Some("{timestamp}.{body}".into()),
            timestamp_header: Some("x-ts".into()),
            id_header: Some("x-id".into()),
            tolerance_secs: Some(30),
        }),
        Verification::Basic,
        Verification::ApiKey {
            header: None,
            query: Some("token".into()),
        },
    ]
}

#[test]
fn json_shape_is_scheme_tagged_snake_case() {
    let cases = [
        (Verification::None, json!({"scheme": "none"})),
        (
            Verification::Stripe {
                tolerance_secs: None,
            },
            json!({"scheme": "stripe"}),
        ),
        (
            Verification::Stripe {
                tolerance_secs: Some(600),
            },
            json!({"scheme": "stripe", "tolerance_secs": 600}),
        ),
        (Verification::Github, json!({"scheme": "github"})),
        (
            Verification::StandardWebhooks {
                tolerance_secs: None,
            },
            json!({"scheme": "standard_webhooks"}),
        ),
        (
            Verification::ApiKey {
                header: Some("x-token".into()),
                query: None,
            },
            json!({"scheme": "api_key", "header": "x-token"}),
        ),
        (
            Verification::Hmac(HmacOptions::over_body(
                "x-sig",
                Some("sha1="),
                HmacAlgorithm::Sha1,
                Encoding::Base64,
            )),
            json!({"scheme": "hmac", "algorithm": "sha1", "header": "x-sig", "prefix": "sha1=", "encoding": "base64"}),
        ),
    ];
    for (v, want) in cases {
        assert_eq!(serde_json::to_value(&v).unwrap(), want);
        assert_eq!(serde_json::from_value::<Verification>(want).unwrap(), v);
    }
}

#[test]
fn every_scheme_round_trips_and_names_itself() {
    for v in all_schemes() {
        let value = serde_json::to_value(&v).unwrap();
        assert_eq!(value["scheme"], v.scheme());
        assert_eq!(serde_json::from_value::<Verification>(value).unwrap(), v);
        assert_eq!(v.validate(), Ok(()), "{v:?}");
    }
}

#[test]
fn unknown_schemes_and_fields_are_rejected() {
    for bad in [
        json!({"scheme": "stripe", "tolerance": 5}),
        json!({"scheme": "github", "secret": "x"}),
        json!({"scheme": "hmac", "header": "x", "algo": "sha1"}),
        json!({"scheme": "hmac"}),
        json!({"scheme": "hmac", "header": "x", "algorithm": "md5"}),
        json!({"scheme": "ed25519"}),
        json!({"tolerance_secs": 5}),
    ] {
        assert!(
            serde_json::from_value::<Verification>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn default_is_none_and_accepts_anything_without_a_secret() {
    assert_eq!(Verification::default(), Verification::None);
    let req = TestRequest::new("anything");
    assert_eq!(verify(&Verification::None, None, &req.inbound(), 0), Ok(()));
}

#[test]
fn every_other_scheme_needs_a_secret() {
    let req = TestRequest::new("{}");
    for v in all_schemes().into_iter().skip(1) {
        for secret in [None, Some(""), Some(" \t")] {
            assert_eq!(
                verify(&v, secret, &req.inbound(), 0),
                Err(VerifyError::MissingSecret),
                "{v:?}"
            );
        }
    }
}

#[test]
fn error_codes_are_stable() {
    let cases = [
        (VerifyError::MissingSecret, "missing_secret"),
        (
            VerifyError::InvalidSecret { reason: "r".into() },
            "invalid_secret",
        ),
        (VerifyError::InvalidConfig("c".into()), "invalid_config"),
        (VerifyError::MissingHeader("h".into()), "missing_header"),
        (
            VerifyError::MissingQueryParam("q".into()),
            "missing_query_param",
        ),
        (
            VerifyError::MalformedHeader {
                header: "h".into(),
                reason: "r".into(),
            },
            "malformed_header",
        ),
        (
            VerifyError::TimestampOutOfTolerance {
                header: "h".into(),
                timestamp: 0,
                now: 0,
                tolerance_secs: 0,
            },
            "timestamp_out_of_tolerance",
        ),
        (VerifyError::SignatureMismatch, "signature_mismatch"),
        (
            VerifyError::CredentialMismatch {
                location: "l".into(),
            },
            "credential_mismatch",
        ),
    ];
    for (err, code) in cases {
        assert_eq!(err.code(), code);
    }
}

#[test]
fn provider_event_ids() {
    let stripe = Verification::Stripe {
        tolerance_secs: None,
    };
    let slack = Verification::Slack {
        tolerance_secs: None,
    };
    let hmac_with_id = Verification::Hmac(HmacOptions {
        id_header: Some("X-Delivery".into()),
        ..HmacOptions::over_body("x-sig", None, HmacAlgorithm::Sha256, Encoding::Hex)
    });
    let req = TestRequest::new(r#"{"id":"evt_123","event_id":"Ev0PV52K21","object":"event"}"#)
        .header("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .header(
            "X-Shopify-Webhook-Id",
            " b54557e4-bdd9-4b37-8a5f-bf7d70bcd043 ",
        )
        .header("webhook-id", "msg_abc")
        .header("svix-id", "msg_svix")
        .header("x-delivery", "dlv_9");
    let req = req.inbound();
    assert_eq!(stripe.provider_event_id(&req).as_deref(), Some("evt_123"));
    assert_eq!(slack.provider_event_id(&req).as_deref(), Some("Ev0PV52K21"));
    assert_eq!(
        Verification::Github.provider_event_id(&req).as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(
        Verification::Shopify.provider_event_id(&req).as_deref(),
        Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    );
    assert_eq!(
        Verification::StandardWebhooks {
            tolerance_secs: None
        }
        .provider_event_id(&req)
        .as_deref(),
        Some("msg_abc")
    );
    assert_eq!(
        hmac_with_id.provider_event_id(&req).as_deref(),
        Some("dlv_9")
    );
    for v in [
        Verification::None,
        Verification::Paystack,
        Verification::Basic,
        Verification::ApiKey {
            header: None,
            query: None,
        },
        Verification::Hmac(HmacOptions::over_body(
            "x-sig",
            None,
            HmacAlgorithm::Sha256,
            Encoding::Hex,
        )),
    ] {
        assert_eq!(v.provider_event_id(&req), None, "{v:?}");
    }
}

#[test]
fn provider_event_ids_ignore_unusable_values() {
    let stripe = Verification::Stripe {
        tolerance_secs: None,
    };
    for body in [
        "not json".to_string(),
        "[]".to_string(),
        r#"{"id": 5}"#.to_string(),
        r#"{"id": ""}"#.to_string(),
        format!(r#"{{"id": "{}"}}"#, "x".repeat(300)),
        r#"{"data": {"id": "nested"}}"#.to_string(),
        // The body must be JSON throughout, not just up to the field.
        r#"{"id": "evt_1", "data": }"#.to_string(),
        r#"{"id": "evt_1"} trailing"#.to_string(),
        // The last of a field given twice counts, as in a parsed document.
        r#"{"id": "evt_1", "id": 7}"#.to_string(),
    ] {
        let req = TestRequest::new(body.clone());
        assert_eq!(stripe.provider_event_id(&req.inbound()), None, "{body}");
    }
    let req = TestRequest::new("").header("x-github-delivery", b"\xff\xfe");
    assert_eq!(Verification::Github.provider_event_id(&req.inbound()), None);
}

#[test]
fn body_ids_are_read_as_a_json_parser_reads_them() {
    let stripe = Verification::Stripe {
        tolerance_secs: None,
    };
    for (body, id) in [
        (r#"{"id": 7, "id": "evt_2"}"#, "evt_2"),
        // Escapes are decoded in keys and values alike.
        (r#"{"i\u0064": "evt_\u0033"}"#, "evt_3"),
        (
            r#"{"data": {"object": {"id": "ch_1"}}, "id": "evt_4", "type": "x"}"#,
            "evt_4",
        ),
    ] {
        let req = TestRequest::new(body.to_string());
        assert_eq!(
            stripe.provider_event_id(&req.inbound()).as_deref(),
            Some(id),
            "{body}"
        );
    }
}
