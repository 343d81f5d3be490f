//! What the OpenAPI document says once for many operations: the schemas of
//! validated names ([`TagName`], [`EnvSlugName`]: the rules of
//! `hookline_core::names`), and the error answers every management
//! operation can give ([`add_shared_responses`]), so that the annotations in
//! each resource module name only the answers particular to them.

use std::borrow::Cow;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// The shape `hookline_core::names` accepts for a [`hookline_core::names::Tag`]
/// or an [`hookline_core::names::EnvSlug`]: 1–100 ASCII letters, digits and
/// `_ - . :`, starting with a letter or digit.
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.:-]*$";
const NAME_MAX_LEN: usize = 100;

fn name_schema(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(NAME_MAX_LEN))
        .pattern(Some(NAME_PATTERN))
        .description(Some(description))
        .into()
}

/// A tag in a request (`#[schema(value_type = TagName)]` on a `String`
/// field that is parsed with [`super::views::tag`]).
pub struct TagName;

impl PartialSchema for TagName {
    fn schema() -> RefOr<Schema> {
        name_schema(
            "Names an app, webhook, event, product or access tag: 1–100 ASCII letters, digits \
             and `_`, `-`, `.`, `:`, starting with a letter or digit (`stripe-payments`, \
             `payment.succeeded`).",
        )
    }
}

impl ToSchema for TagName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Tag")
    }
}

/// An env slug in a request (fields parsed with [`super::views::env`]).
pub struct EnvSlugName;

impl PartialSchema for EnvSlugName {
    fn schema() -> RefOr<Schema> {
        name_schema(
            "Names an environment: 1–100 ASCII letters, digits and `_`, `-`, `.`, `:`, \
             starting with a letter or digit (`prd`, `production`).",
        )
    }
}

impl ToSchema for EnvSlugName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EnvSlug")
    }
}

/// Shared responses, by status: declared once under `components/responses`
/// and referenced from each operation that can give them.
const SHARED: [(&str, &str, &str); 5] = [
    (
        "400",
        "BadRequest",
        "The request does not parse: a malformed query string or path, a body that is not \
         JSON, or one sent without `Content-Type: application/json` (codes `invalid_query`, \
         `invalid_path`, `malformed_json`, `unsupported_content_type`)",
    ),
    (
        "401",
        "Unauthorized",
        "No management key, or not a valid one (code `unauthorized`)",
    ),
    (
        "429",
        "TooManyRequests",
        "Too many invalid management keys from this address (code `too_many_requests`); \
         `Retry-After` says when to try again",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The JSON body is over 2 MiB (code `payload_too_large`)",
    ),
    (
        "422",
        "Unprocessable",
        "The request parses but its values are not acceptable: wrong types, unknown fields, \
         a name, URL or value out of its rules (the code says which)",
    ),
];

/// Adds the answers every management operation can give to each operation
/// that can give them, unless its own annotation already declares the
/// status: 401 and 429 (the key throttle) to every operation that requires
/// the bearer key; 400 to
/// those that take parameters or a body; 413 and 422 to those with a JSON
/// body. Operations outside the management API (ingest, `/healthz`,
/// `/metrics`) carry no bearer requirement and are left as annotated.
pub fn add_shared_responses(doc: &mut utoipa::openapi::OpenApi) {
    let mut used = [false; SHARED.len()];
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if op.security.as_ref().is_none_or(|s| s.is_empty()) {
                continue;
            }
            let json_body = op.request_body.as_ref().is_some_and(|b| {
                b.content
                    .keys()
                    .any(|content_type| content_type == "application/json")
            });
            let has_input = json_body || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            for (i, (status, _, _)) in SHARED.iter().enumerate() {
                let applies = match *status {
                    "401" | "429" => true,
                    "400" => has_input,
                    _ => json_body,
                };
                if applies && add(op, status, SHARED[i].1) {
                    used[i] = true;
                }
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    for (i, (_, name, description)) in SHARED.iter().enumerate() {
        if used[i] {
            let response = ResponseBuilder::new()
                .description(*description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(response));
        }
    }
}

/// Adds a reference to the shared response `name` unless `status` is
/// declared already; true if it added one.
fn add(op: &mut Operation, status: &str, name: &str) -> bool {
    if op.responses.responses.contains_key(status) {
        return false;
    }
    op.responses
        .responses
        .insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(name)));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_core::names::{EnvSlug, Tag};

    /// The pattern and bounds describe exactly what the newtypes accept.
    #[test]
    fn name_schema_agrees_with_the_newtypes() {
        let pattern = regex::Regex::new(NAME_PATTERN).unwrap();
        let long = "a".repeat(NAME_MAX_LEN);
        let too_long = "a".repeat(NAME_MAX_LEN + 1);
        for value in [
            "my_product",
            "payment.succeeded",
            "v2:orders",
            "a",
            "9-x",
            "",
            "-x",
            "_x",
            ".x",
            "a b",
            "ü",
            "aü",
            "a/b",
            "a\n",
            &long,
            &too_long,
        ] {
            let by_doc = (1..=NAME_MAX_LEN).contains(&value.len()) && pattern.is_match(value);
            assert_eq!(by_doc, Tag::parse(value).is_ok(), "tag {value:?}");
            assert_eq!(by_doc, EnvSlug::parse(value).is_ok(), "env slug {value:?}");
        }
    }
}
