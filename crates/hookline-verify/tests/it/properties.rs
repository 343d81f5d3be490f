//! Property tests: no input makes `verify` panic, and requests signed the way
//! each provider documents are accepted (and rejected once the body changes).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookline_verify::{
    standard, verify, Encoding, HmacAlgorithm, HmacOptions, InboundRequest, Verification,
    VerifyError,
};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use sha1::Sha1;
use sha2::{Sha256, Sha512};

/// Every header name a scheme reads, plus the generic scheme's test names.
const HEADER_NAMES: &[&str] = &[
    "stripe-signature",
    "x-hub-signature-256",
    "x-github-delivery",
    "x-shopify-hmac-sha256",
    "x-shopify-webhook-id",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-paystack-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "authorization",
    "x-api-key",
    "x-sig",
    "x-ts",
    "x-id",
];

fn tolerance() -> impl Strategy<Value = Option<u64>> {
    prop_oneof![
        Just(None),
        Just(Some(0)),
        Just(Some(u64::MAX)),
        any::<Option<u64>>()
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(HEADER_NAMES).prop_map(str::to_owned),
        Just(String::new()),
        Just("not a header".to_owned()),
        Just("X-Sig".to_owned()),
        "\\PC{0,12}",
    ]
}

fn hmac_options() -> impl Strategy<Value = HmacOptions> {
    let algorithm = prop_oneof![
        Just(HmacAlgorithm::Sha1),
        Just(HmacAlgorithm::Sha256),
        Just(HmacAlgorithm::Sha512)
    ];
    let encoding = prop_oneof![Just(Encoding::Hex), Just(Encoding::Base64)];
    let prefix = proptest::option::of(prop_oneof![
        Just("sha256=".to_owned()),
        Just(String::new()),
        Just("é".to_owned()),
        "\\PC{0,6}",
    ]);
    let signed = proptest::option::of(prop_oneof![
        Just("{body}".to_owned()),
        Just("{timestamp}.{body}".to_owned()),
        Just("{id}.{timestamp}.{body}".to_owned()),
        Just("{method} {query} {body}".to_owned()),
        Just("{body".to_owned()),
        Just("{nope}{body}".to_owned()),
        Just(String::new()),
        "[a-z{}.:é]{0,24}",
    ]);
    (
        algorithm,
        header_name(),
        prefix,
        encoding,
        signed,
        proptest::option::of(header_name()),
        proptest::option::of(header_name()),
        tolerance(),
    )
        .prop_map(
            |(
                algorithm,
                header,
                prefix,
                encoding,
                signed,
                timestamp_header,
                id_header,
                tolerance_secs,
            )| {
                HmacOptions {
                    algorithm,
                    header,
                    prefix,
                    encoding,
                    signed,
                    timestamp_header,
                    id_header,
                    tolerance_secs,
                }
            },
        )
}

fn verification() -> impl Strategy<Value = Verification> {
    prop_oneof![
        Just(Verification::None),
        tolerance().prop_map(|tolerance_secs| Verification::Stripe { tolerance_secs }),
        Just(Verification::Github),
        Just(Verification::Shopify),
        tolerance().prop_map(|tolerance_secs| Verification::Slack { tolerance_secs }),
        Just(Verification::Paystack),
        tolerance().prop_map(|tolerance_secs| Verification::StandardWebhooks { tolerance_secs }),
        hmac_options().prop_map(Verification::Hmac),
        Just(Verification::Basic),
        (
            proptest::option::of(header_name()),
            proptest::option::of("\\PC{0,8}")
        )
            .prop_map(|(header, query)| Verification::ApiKey { header, query }),
    ]
}

/// Header values: raw bytes, plus shapes close to real ones so parsing gets
/// past its first checks.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        "[ -~]{0,80}".prop_map(String::into_bytes),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        any::<u64>().prop_map(|n| format!("{n}{n}").into_bytes()),
        (any::<i64>(), "[0-9a-fA-F]{0,130}", "[0-9a-z]{0,4}")
            .prop_map(|(t, h, x)| format!("t={t},v1={h},v0={x},{x}").into_bytes()),
        "((v1|v1a|v2|),[A-Za-z0-9+/=]{0,90} ?){0,3}".prop_map(String::into_bytes),
        "(sha256=|SHA256=|v0=|sha1=|Basic |basic |)[0-9a-zA-Z+/=]{0,140}"
            .prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    // Each header a scheme reads is present more often than not, so most
    // cases get past the "missing header" checks; a few other names are added.
    let known = proptest::collection::vec(
        proptest::option::weighted(0.7, header_value()),
        HEADER_NAMES.len(),
    );
    let extra = proptest::collection::vec(("[a-z-]{1,10}", header_value()), 0..4);
    (known, extra).prop_map(|(known, extra)| {
        let known = HEADER_NAMES
            .iter()
            .zip(known)
            .filter_map(|(name, value)| Some((name.to_string(), value?)));
        let mut map = HeaderMap::new();
        for (name, value) in known.chain(extra) {
            // Keep only what an HTTP server could have parsed.
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(&value),
            ) {
                map.append(n, v);
            }
        }
        map
    })
}

fn secret() -> impl Strategy<Value = Option<String>> {
    proptest::option::weighted(
        0.9,
        prop_oneof![
            "\\PC{0,40}",
            "whsec_[A-Za-z0-9+/=]{0,50}",
            "[A-Za-z0-9+/]{0,44}",
            "[a-z]{0,8}:[a-z]{0,8}",
        ],
    )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        "\\{\"(id|event_id)\": ?(\"[a-z_0-9]{0,300}\"|[0-9]{1,5}|null|\\{\\}), ?\"x\": ?\\[\\]\\}"
            .prop_map(String::into_bytes),
    ]
}

fn now() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        1_600_000_000i64..1_900_000_000
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn verify_never_panics(
        v in verification(),
        secret in secret(),
        headers in headers(),
        query in proptest::option::of("[ -~]{0,40}"),
        method in "\\PC{0,8}",
        body in body(),
        now in now(),
    ) {
        let req = InboundRequest { method: &method, headers: &headers, query: query.as_deref(), body: &body };
        if let Err(e) = verify(&v, secret.as_deref(), &req, now) {
            // Every error has a code and a message that does not echo the secret.
            prop_assert!(!e.code().is_empty());
            let message = e.to_string();
            if let Some(secret) = secret.as_deref().filter(|s| s.len() >= 12) {
                prop_assert!(!message.contains(secret), "{message}");
            }
        }
        let _ = v.provider_event_id(&req);
        let _ = v.validate();
        let _ = v.scheme();
    }

    #[test]
    fn signing_never_panics(
        secrets in proptest::collection::vec("\\PC{0,40}", 0..3),
        msg_id in "\\PC{0,20}",
        timestamp in any::<i64>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
        random in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let _ = standard::sign_all(&secrets, &msg_id, timestamp, &body);
        let generated = standard::generate_secret(&random);
        prop_assert!(generated.starts_with("whsec_"));
        if !random.is_empty() {
            prop_assert!(standard::sign(&generated, &msg_id, timestamp, &body).is_ok());
        }
    }
}

// -- Correctly signed requests ---------------------------------------------

fn mac<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A request signed the way the provider documents, built here with the
/// `hmac` crate directly rather than through the crate under test.
struct SignedCase {
    v: Verification,
    secret: String,
    headers: Vec<(&'static str, String)>,
    /// Header whose value holds the timestamp, for schemes that sign one.
    timestamp_header: Option<&'static str>,
}

fn signed_cases(secret: &str, key: &[u8], msg_id: &str, body: &[u8], t: i64) -> Vec<SignedCase> {
    let ts = t.to_string();
    let over = |prefix: String| [prefix.as_bytes(), body].concat();
    let s = secret.as_bytes();
    let case = |v, secret: &str, headers, timestamp_header| SignedCase {
        v,
        secret: secret.to_owned(),
        headers,
        timestamp_header,
    };
    let whsec = standard::generate_secret(key);
    let basic_secret = format!("{secret}:{secret}");
    vec![
        case(
            Verification::Stripe {
                tolerance_secs: None,
            },
            secret,
            vec![(
                "stripe-signature",
                format!(
                    "t={ts},v1={}",
                    hex::encode(mac::<Hmac<Sha256>>(s, &over(format!("{ts}."))))
                ),
            )],
            Some("stripe-signature"),
        ),
        case(
            Verification::Slack {
                tolerance_secs: None,
            },
            secret,
            vec![
                (
                    "x-slack-signature",
                    format!(
                        "v0={}",
                        hex::encode(mac::<Hmac<Sha256>>(s, &over(format!("v0:{ts}:"))))
                    ),
                ),
                ("x-slack-request-timestamp", ts.clone()),
            ],
            Some("x-slack-request-timestamp"),
        ),
        case(
            Verification::Github,
            secret,
            vec![(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac::<Hmac<Sha256>>(s, body))),
            )],
            None,
        ),
        case(
            Verification::Shopify,
            secret,
            vec![("x-shopify-hmac-sha256", b64(&mac::<Hmac<Sha256>>(s, body)))],
            None,
        ),
        case(
            Verification::Paystack,
            secret,
            vec![(
                "x-paystack-signature",
                hex::encode(mac::<Hmac<Sha512>>(s, body)),
            )],
            None,
        ),
        case(
            Verification::StandardWebhooks {
                tolerance_secs: None,
            },
            &whsec,
            vec![
                ("webhook-id", msg_id.to_owned()),
                ("webhook-timestamp", ts.clone()),
                (
                    "webhook-signature",
                    format!(
                        "v1,{}",
                        b64(&mac::<Hmac<Sha256>>(key, &over(format!("{msg_id}.{ts}."))))
                    ),
                ),
            ],
            Some("webhook-timestamp"),
        ),
        case(
            Verification::Hmac(HmacOptions {
                algorithm: HmacAlgorithm::Sha1,
                header: "x-sig".into(),
                prefix: Some("sha1=".into()),
                encoding: Encoding::Base64,
                signed: Some("{id}:{timestamp}:{method}:{body}".into()),
                timestamp_header: Some("x-ts".into()),
                id_header: Some("x-id".into()),
                tolerance_secs: None,
            }),
            secret,
            vec![
                (
                    "x-sig",
                    format!(
                        "sha1={}",
                        b64(&mac::<Hmac<Sha1>>(s, &over(format!("{msg_id}:{ts}:POST:"))))
                    ),
                ),
                ("x-ts", ts.clone()),
                ("x-id", msg_id.to_owned()),
            ],
            Some("x-ts"),
        ),
        case(
            Verification::Basic,
            &basic_secret,
            vec![(
                "authorization",
                format!("Basic {}", b64(basic_secret.as_bytes())),
            )],
            None,
        ),
        case(
            Verification::ApiKey {
                header: None,
                query: None,
            },
            secret,
            vec![("x-api-key", secret.to_owned())],
            None,
        ),
    ]
}

fn check(
    case: &SignedCase,
    headers: &[(&str, String)],
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let req = InboundRequest {
        method: "POST",
        headers: &map,
        query: None,
        body,
    };
    verify(&case.v, Some(&case.secret), &req, now)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Accepted exactly when within tolerance; a changed body is caught by
    /// every scheme that signs it.
    #[test]
    fn signed_requests_pass_and_tampering_is_caught(
        secret in "[!-~]{1,40}",
        key in proptest::collection::vec(any::<u8>(), 1..64),
        msg_id in "[!-~]{1,40}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        t in prop_oneof![1_600_000_000i64..1_900_000_000, 0..=i64::MAX],
        now in prop_oneof![Just(None), any::<i64>().prop_map(Some)],
        skew in -300i64..=300,
        flip in any::<usize>(),
    ) {
        let now = now.unwrap_or_else(|| t.saturating_add(skew));
        for case in signed_cases(&secret, &key, &msg_id, &body, t) {
            let result = check(&case, &case.headers, &body, now);
            match case.timestamp_header {
                Some(header) if now.abs_diff(t) > 300 => prop_assert_eq!(
                    result,
                    Err(VerifyError::TimestampOutOfTolerance {
                        header: header.into(), timestamp: t, now, tolerance_secs: 300,
                    }),
                    "{:?}", case.v
                ),
                _ => prop_assert_eq!(result, Ok(()), "{:?}", case.v),
            }

            if matches!(case.v, Verification::Basic | Verification::ApiKey { .. }) {
                continue; // they do not sign the body
            }
            let mut tampered = body.clone();
            match tampered.len() {
                0 => tampered.push(b'x'),
                n => tampered[flip % n] ^= 0x01,
            }
            prop_assert_eq!(
                check(&case, &case.headers, &tampered, now),
                Err(VerifyError::SignatureMismatch),
                "{:?}", case.v
            );
        }
    }

    /// Each header of a correctly signed request, cut short or replaced by
    /// other bytes, never makes `verify` panic.
    #[test]
    fn damaged_signed_requests_never_panic(
        secret in "[!-~]{1,40}",
        key in proptest::collection::vec(any::<u8>(), 1..64),
        msg_id in "[!-~]{1,40}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        t in 0..=i64::MAX,
        now in any::<i64>(),
        cut in any::<usize>(),
        replacement in "[ -~]{0,80}",
    ) {
        for case in signed_cases(&secret, &key, &msg_id, &body, t) {
            for i in 0..case.headers.len() {
                let mut headers = case.headers.clone();
                let value = &headers[i].1;
                // Values are ASCII, so every index is a char boundary.
                headers[i].1 = value[..cut % (value.len() + 1)].to_owned();
                let _ = check(&case, &headers, &body, now);
                headers[i].1 = replacement.clone();
                let _ = check(&case, &headers, &body, now);
                headers.remove(i);
                let _ = check(&case, &headers, &body, now);
            }
        }
    }
}
