//! The committed OpenAPI document (`docs/openapi.json`) is what the code
//! generates, so SDK authors and reviewers can read it without a server.

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = serde_json::to_value(hookline::api::openapi()).unwrap();
    let text = std::fs::read_to_string(COMMITTED)
        .unwrap_or_else(|e| panic!("cannot read {COMMITTED}: {e}\n{}", regenerate()));
    let committed: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{COMMITTED} is not JSON: {e}\n{}", regenerate()));
    if committed != generated {
        let paths = |v: &serde_json::Value| -> Vec<String> {
            v["paths"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let (have, want) = (paths(&committed), paths(&generated));
        let added: Vec<_> = want.iter().filter(|p| !have.contains(p)).collect();
        let removed: Vec<_> = have.iter().filter(|p| !want.contains(p)).collect();
        panic!(
            "docs/openapi.json differs from the document the code generates \
             (paths added: {added:?}, removed: {removed:?}; other changes may be in schemas).\n{}",
            regenerate()
        );
    }
}

fn regenerate() -> &'static str {
    "Regenerate it with: cargo run -p hookline -- openapi > docs/openapi.json"
}

fn document() -> serde_json::Value {
    serde_json::to_value(hookline::api::openapi()).unwrap()
}

/// The answers every management operation can give are declared on each
/// (they were missing, so clients and fuzzers saw undocumented statuses).
#[test]
fn every_management_operation_declares_its_error_answers() {
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"].as_array().is_none_or(|s| s.is_empty()) {
                continue;
            }
            checked += 1;
            let responses = op["responses"].as_object().unwrap();
            let declared = |status: &str| responses.contains_key(status);
            let label = format!("{} {path}", method.to_uppercase());
            assert!(declared("401"), "{label}: 401");
            let json_body = op["requestBody"]["content"]
                .get("application/json")
                .is_some();
            let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if json_body || has_params {
                assert!(declared("400"), "{label}: 400");
            }
            if json_body {
                assert!(declared("413") && declared("422"), "{label}: 413, 422");
            }
        }
    }
    assert!(checked > 30, "only {checked} secured operations");
    // Declared once; 422 is on every operation with a body already, so its
    // shared answer is not needed.
    let shared = &doc["components"]["responses"];
    for name in ["BadRequest", "Unauthorized", "PayloadTooLarge"] {
        assert_eq!(
            shared[name]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{name}"
        );
    }
}

/// The document states the limits the server enforces, so that a client
/// built from it does not send what is refused.
#[test]
fn the_document_states_the_limits_the_server_enforces() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for name in ["Tag", "EnvSlug"] {
        assert_eq!(schemas[name]["minLength"], 1, "{name}");
        assert_eq!(schemas[name]["maxLength"], 100, "{name}");
        assert!(schemas[name]["pattern"].is_string(), "{name}");
    }
    let tag = |schema: &str, field: &str| schemas[schema]["properties"][field]["$ref"].clone();
    assert_eq!(
        tag("CreateProductRequest", "tag"),
        "#/components/schemas/Tag"
    );
    assert_eq!(
        tag("ProductEnvWire", "slug"),
        "#/components/schemas/EnvSlug"
    );
    assert_eq!(
        tag("EnableRequest", "webhook_tag"),
        "#/components/schemas/Tag"
    );

    let param = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["schema"]
            .clone()
    };
    let limit = param("/api/v1/events", "limit");
    assert_eq!(
        (&limit["minimum"], &limit["maximum"]),
        (&1.into(), &500.into())
    );
    assert_eq!(param("/api/v1/stats", "minutes")["minimum"], 1);
    assert_eq!(schemas["ReplayRequest"]["properties"]["rate"]["minimum"], 1);
}

/// Answers the schemas used to get wrong: the live stream is text (its
/// `ready` message's data is `{}`, not an event), and a template body may
/// be any JSON value (a preset's `sample.body` is `null`).
#[test]
fn the_document_describes_the_stream_and_template_bodies_as_they_are() {
    let doc = document();
    let stream = &doc["paths"]["/api/v1/events/stream"]["get"]["responses"]["200"]["content"]
        ["text/event-stream"]["schema"];
    assert_eq!(stream["type"], "string", "{stream}");
    let body = &doc["components"]["schemas"]["RequestTemplateWire"]["properties"]["body"];
    assert!(body.get("type").is_none(), "any JSON value: {body}");
}
