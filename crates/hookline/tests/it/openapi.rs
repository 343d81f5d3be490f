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
