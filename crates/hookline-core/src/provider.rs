//! Calls to a provider's webhook-registration API, as pure functions: filling
//! an app webhook's registration template, building the request from it, and
//! reading the provider's answer. The server makes the calls
//! (`hookline::providers`); nothing here does I/O.
//!
//! # Placeholders
//! Header, query and body values take `{{name}}`; URLs take `{name}` (the
//! receiver URL's form) or `{{name}}`, percent-encoded as a path segment.
//!
//! | name | value |
//! |---|---|
//! | `link` | the registration's ingest link |
//! | `events` | the webhook's event tags: a JSON list where a body value is exactly `"{{events}}"`, else comma-separated |
//! | `env`, `app_env` | the product env and the app env slugs |
//! | `product`, `access_tag`, `webhook` | the tags the registration is under |
//! | `secret` | a secret Hookline generates (or keeps) and verifies the provider's calls with |
//! | `provider_id` | the provider's id of the webhook (update and deregistration calls) |
//! | anything else | the merged auth `params` (e.g. GitHub's `owner` and `repo`) |
//!
//! A name with no value is an error ([`TemplateError::Missing`]); text in
//! braces that is not a name (`{{ a b }}`, `{}`) is kept as it is.
//!
//! # Bodies
//! The filled body is sent as JSON, or form-encoded when the merged headers
//! say `Content-Type: application/x-www-form-urlencoded`: objects nest as
//! `key[field]`, a list of plain values repeats its key as written (so
//! `"enabled_events[]": "{{events}}"` gives `enabled_events[]=a&enabled_events[]=b`),
//! a list of objects is indexed (`items[0][field]`), and `null` is left out.

use crate::model::{Auth, HttpMethod, ProviderApi, RequestTemplate};
use crate::outbound::ForwardRequest;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Longest provider id or secret taken from an answer.
const MAX_ANSWER_VALUE: usize = 1024;

/// The values a registration template is filled with.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    pub link: &'a str,
    pub events: &'a [String],
    pub env: &'a str,
    pub app_env: &'a str,
    pub product: &'a str,
    pub access_tag: &'a str,
    pub webhook: &'a str,
    pub secret: Option<&'a str>,
    pub provider_id: Option<&'a str>,
    /// The merged auth `params`.
    pub params: &'a BTreeMap<String, String>,
}

enum Filled<'a> {
    Text(Cow<'a, str>),
    List(&'a [String]),
}

impl<'a> Vars<'a> {
    fn lookup(&self, name: &str) -> Option<Filled<'a>> {
        let text = |s: &'a str| Some(Filled::Text(Cow::Borrowed(s)));
        match name {
            "link" => text(self.link),
            "events" => Some(Filled::List(self.events)),
            "env" => text(self.env),
            "app_env" => text(self.app_env),
            "product" => text(self.product),
            "access_tag" => text(self.access_tag),
            "webhook" => text(self.webhook),
            "secret" => self.secret.and_then(text),
            "provider_id" => self.provider_id.and_then(text),
            other => self
                .params
                .get(other)
                .map(|v| Filled::Text(Cow::Borrowed(v.as_str()))),
        }
    }

    fn text(&self, name: &str) -> Result<Cow<'a, str>, TemplateError> {
        match self.lookup(name) {
            Some(Filled::Text(t)) => Ok(t),
            Some(Filled::List(l)) => Ok(Cow::Owned(l.join(","))),
            None => Err(TemplateError::Missing(name.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "placeholder `{0}` has no value: `secret` and `provider_id` exist only where Hookline has \
         them; any other name must be a key of the connection env's (or the call's) auth `params`"
    )]
    Missing(String),
    #[error("the URL `{0}` is relative, but the app env has no base_url to resolve it against")]
    NoBase(String),
    #[error("the URL `{url}` is not valid after filling it in: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("a form-encoded body must be a JSON object")]
    FormNotObject,
    #[error("header `{0}` has an invalid name or value after filling it in")]
    BadHeader(String),
}

/// One call to build: where, how, with what template and credentials.
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    /// The app env's `base_url`, which relative URLs are appended to.
    pub base_url: Option<&'a url::Url>,
    pub url: &'a str,
    pub method: HttpMethod,
    pub template: Option<&'a RequestTemplate>,
    /// Credentials layered on the filled template (connection env auth, then
    /// the auth given to the call): headers and query entries win, body
    /// fields are merged into an object body, params fill placeholders.
    pub auth: &'a Auth,
}

/// Fills the template and builds the request.
pub fn build_call(spec: &CallSpec<'_>, vars: &Vars<'_>) -> Result<ForwardRequest, TemplateError> {
    let empty = RequestTemplate::default();
    let template = spec.template.unwrap_or(&empty);

    let mut url = resolve_url(spec.base_url, &fill_url(spec.url, vars)?)?;
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &template.query {
        query.insert(k.clone(), fill_text(v, vars)?);
    }
    query.extend(spec.auth.query.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }

    let mut headers: Vec<(String, String)> = Vec::new();
    for (k, v) in &template.headers {
        if !spec.auth.headers.keys().any(|a| a.eq_ignore_ascii_case(k)) {
            headers.push((k.clone(), fill_text(v, vars)?));
        }
    }
    headers.extend(
        spec.auth
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    for (k, v) in &headers {
        if !is_token(k) || v.chars().any(|c| c.is_control() && c != '\t') {
            return Err(TemplateError::BadHeader(k.clone()));
        }
    }

    let mut body = fill_value(&template.body, vars)?;
    if !spec.auth.body.is_empty() {
        if body.is_null() {
            body = Value::Object(Map::new());
        }
        if let Value::Object(map) = &mut body {
            for (k, v) in &spec.auth.body {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    let content_type = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase());
    let body = if body.is_null() || spec.method == HttpMethod::Get {
        Vec::new()
    } else if content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
    {
        form_encode(&body)?.into_bytes()
    } else {
        if content_type.is_none() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        serde_json::to_vec(&body).unwrap_or_default()
    };
    Ok(ForwardRequest {
        method: spec.method,
        url,
        headers: headers.into_iter().map(|(k, v)| (k, v.into())).collect(),
        body,
    })
}

/// Whether `{{name}}` appears in any value of the template.
pub fn template_uses(template: &RequestTemplate, name: &str) -> bool {
    fn in_text(s: &str, name: &str) -> bool {
        placeholders(s, false).any(|n| n == name)
    }
    fn in_value(v: &Value, name: &str) -> bool {
        match v {
            Value::String(s) => in_text(s, name),
            Value::Array(a) => a.iter().any(|v| in_value(v, name)),
            Value::Object(m) => m.values().any(|v| in_value(v, name)),
            _ => false,
        }
    }
    template.headers.values().any(|v| in_text(v, name))
        || template.query.values().any(|v| in_text(v, name))
        || in_value(&template.body, name)
}

/// Fills `{{name}}` placeholders in text; a list is comma-separated.
pub fn fill_text(s: &str, vars: &Vars<'_>) -> Result<String, TemplateError> {
    fill(s, false, &mut |name| vars.text(name).map(Cow::into_owned))
}

/// Fills a JSON value: strings are filled as text, except that a string that
/// is exactly `{{events}}` becomes the list itself.
pub fn fill_value(v: &Value, vars: &Vars<'_>) -> Result<Value, TemplateError> {
    Ok(match v {
        Value::String(s) => {
            let trimmed = s.trim();
            let whole = trimmed
                .strip_prefix("{{")
                .and_then(|r| r.strip_suffix("}}"))
                .map(str::trim)
                .filter(|n| is_name(n));
            match whole.and_then(|n| vars.lookup(n)) {
                Some(Filled::List(list)) => {
                    Value::Array(list.iter().cloned().map(Value::String).collect())
                }
                _ => Value::String(fill_text(s, vars)?),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_value(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill_value(v, vars)?)))
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

/// Fills `{name}` and `{{name}}` in a URL, each value percent-encoded as
/// one path segment.
pub fn fill_url(s: &str, vars: &Vars<'_>) -> Result<String, TemplateError> {
    fill(s, true, &mut |name| {
        vars.text(name).map(|v| percent_encode_segment(&v))
    })
}

/// `url` itself when absolute, else appended to `base`'s path (not RFC 3986
/// resolution: `/v1/x` under `http://h/stripe/` is `http://h/stripe/v1/x`,
/// so a stand-in or a gateway can sit under a prefix). Either way the result
/// is an http or https URL with a host.
pub fn resolve_url(base: Option<&url::Url>, url: &str) -> Result<url::Url, TemplateError> {
    let bad = |reason: String| TemplateError::BadUrl {
        url: url.chars().take(200).collect(),
        reason,
    };
    let callable = |u: url::Url| {
        if matches!(u.scheme(), "http" | "https") && u.host().is_some() {
            Ok(u)
        } else {
            Err(bad("only http and https URLs can be called".into()))
        }
    };
    if let Ok(abs) = url::Url::parse(url) {
        return callable(abs);
    }
    let base = base.ok_or_else(|| TemplateError::NoBase(url.chars().take(200).collect()))?;
    let mut root = base.clone();
    root.set_query(None);
    root.set_fragment(None);
    let joined = format!(
        "{}/{}",
        root.as_str().trim_end_matches('/'),
        url.trim_start_matches('/')
    );
    callable(url::Url::parse(&joined).map_err(|e| bad(e.to_string()))?)
}

/// Form-encodes a JSON object body (see the module docs for the rules).
pub fn form_encode(body: &Value) -> Result<String, TemplateError> {
    let map = match body {
        Value::Object(m) => m,
        Value::Null => return Ok(String::new()),
        _ => return Err(TemplateError::FormNotObject),
    };
    let mut pairs = Vec::new();
    for (k, v) in map {
        flatten(k, v, &mut pairs);
    }
    Ok(url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish())
}

fn flatten(key: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Null => {}
        Value::Bool(b) => out.push((key.to_owned(), b.to_string())),
        Value::Number(n) => out.push((key.to_owned(), n.to_string())),
        Value::String(s) => out.push((key.to_owned(), s.clone())),
        Value::Array(items) => {
            let stem = key.strip_suffix("[]").unwrap_or(key);
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Array(_) | Value::Object(_) => {
                        flatten(&format!("{stem}[{i}]"), item, out)
                    }
                    _ => flatten(key, item, out),
                }
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{key}[{k}]"), v, out);
            }
        }
    }
}

/// What Hookline keeps from a provider's answer to a registration call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    pub provider_id: Option<String>,
    pub secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    #[error("the provider's answer is not JSON")]
    NotJson,
}

/// Reads the id and the secret the app webhook's paths name. Needs JSON only
/// when a path is configured; a value that is missing, empty, too long or
/// not a string (or, for the id, a number) is `None`.
pub fn read_answer(body: &[u8], api: &ProviderApi) -> Result<Answer, AnswerError> {
    if api.id_path.is_none() && api.secret_path.is_none() {
        return Ok(Answer::default());
    }
    let json: Value = serde_json::from_slice(body).map_err(|_| AnswerError::NotJson)?;
    let at = |path: &Option<String>, numbers: bool| -> Option<String> {
        let text = match json.pointer(path.as_deref()?)? {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if numbers => n.to_string(),
            _ => return None,
        };
        (!text.is_empty() && text.len() <= MAX_ANSWER_VALUE).then_some(text)
    };
    Ok(Answer {
        provider_id: at(&api.id_path, true),
        secret: at(&api.secret_path, false),
    })
}

/// The human message in a provider's error answer, where the usual places
/// have one (`error.message` for Stripe, `message` for GitHub, `error` or
/// `errors` as text), at most 300 characters.
pub fn error_message(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let text = ["/error/message", "/message", "/error", "/errors"]
        .iter()
        .find_map(|p| match json.pointer(p)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        })?;
    Some(text.chars().take(300).collect())
}

/// Checks a provider API spec when an app webhook is defined.
pub fn validate_api(api: &ProviderApi) -> Result<(), String> {
    for (field, path) in [("id_path", &api.id_path), ("secret_path", &api.secret_path)] {
        if let Some(p) = path {
            if !p.starts_with('/') {
                return Err(format!(
                    "`{field}` must be a JSON Pointer such as `/id` (got `{p}`)"
                ));
            }
        }
    }
    for (field, call) in [("update", &api.update), ("deregister", &api.deregister)] {
        let Some(call) = call else { continue };
        if call.url.trim().is_empty() {
            return Err(format!("`{field}.url` must not be empty"));
        }
        if api.id_path.is_none() {
            return Err(format!(
                "`{field}` needs `id_path`: it is only called for a webhook whose provider id Hookline knows"
            ));
        }
    }
    Ok(())
}

/// Names of the placeholders in `s`, in order.
fn placeholders(s: &str, single: bool) -> impl Iterator<Item = String> + '_ {
    let mut names = Vec::new();
    let _ = fill(s, single, &mut |name| {
        names.push(name.to_owned());
        Ok(String::new())
    });
    names.into_iter()
}

/// Replaces each `{{name}}` (and, with `single`, `{name}`) by `value(name)`.
/// Braces around anything that is not a name are kept as they are.
fn fill(
    s: &str,
    single: bool,
    value: &mut dyn FnMut(&str) -> Result<String, TemplateError>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (open, close) = if after.starts_with("{{") {
            ("{{", "}}")
        } else {
            ("{", "}")
        };
        let inner_start = open.len();
        let replaced = after[inner_start..].find(close).and_then(|end| {
            let name = after[inner_start..inner_start + end].trim();
            (is_name(name) && (open == "{{" || single))
                .then(|| (name, inner_start + end + close.len()))
        });
        match replaced {
            Some((name, used)) => {
                out.push_str(&value(name)?);
                rest = &after[used..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn percent_encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProviderCall;
    use serde_json::json;

    fn vars<'a>(events: &'a [String], params: &'a BTreeMap<String, String>) -> Vars<'a> {
        Vars {
            link: "https://gw.example/webhooks/v1/process/abc",
            events,
            env: "prd",
            app_env: "live",
            product: "shop",
            access_tag: "admin",
            webhook: "events",
            secret: Some("s3cret"),
            provider_id: None,
            params,
        }
    }

    #[test]
    fn stripe_form_body_repeats_enabled_events() {
        let events = vec!["charge.refunded".to_owned(), "invoice.paid".to_owned()];
        let params = BTreeMap::new();
        let template: RequestTemplate = serde_json::from_value(json!({
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            "body": {"url": "{{link}}", "enabled_events[]": "{{events}}",
                     "description": "Hookline {{product}}/{{ env }}", "metadata": {"env": "{{env}}"}}
        }))
        .unwrap();
        let mut auth = Auth::default();
        auth.headers
            .insert("Authorization".into(), "Bearer sk_test_1".into());
        let base: url::Url = "http://127.0.0.1:9/".parse().unwrap();
        let req = build_call(
            &CallSpec {
                base_url: Some(&base),
                url: "/v1/webhook_endpoints",
                method: HttpMethod::Post,
                template: Some(&template),
                auth: &auth,
            },
            &vars(&events, &params),
        )
        .unwrap();
        assert_eq!(req.url.as_str(), "http://127.0.0.1:9/v1/webhook_endpoints");
        let body = String::from_utf8(req.body).unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert!(pairs.contains(&("enabled_events[]".into(), "charge.refunded".into())));
        assert!(pairs.contains(&("enabled_events[]".into(), "invoice.paid".into())));
        assert!(pairs.contains(&(
            "url".into(),
            "https://gw.example/webhooks/v1/process/abc".into()
        )));
        assert!(pairs.contains(&("description".into(), "Hookline shop/prd".into())));
        assert!(pairs.contains(&("metadata[env]".into(), "prd".into())));
        assert!(req
            .headers
            .contains(&("Authorization".into(), "Bearer sk_test_1".into())));
    }

    #[test]
    fn json_body_gets_lists_params_and_auth() {
        let events = vec!["push".to_owned()];
        let params: BTreeMap<String, String> = [
            ("owner".to_owned(), "oct o".to_owned()),
            ("repo".to_owned(), "hello".to_owned()),
        ]
        .into();
        let template: RequestTemplate = serde_json::from_value(json!({
            "body": {"events": "{{events}}", "config": {"url": "{{link}}", "secret": "{{secret}}"}},
            "query": {"note": "{{events}}"}
        }))
        .unwrap();
        let mut auth = Auth::default();
        auth.body.insert("active".into(), json!(true));
        let base: url::Url = "https://api.github.com/prefix/?x=1".parse().unwrap();
        let v = Vars {
            provider_id: Some("42"),
            ..vars(&events, &params)
        };
        let req = build_call(
            &CallSpec {
                base_url: Some(&base),
                url: "/repos/{owner}/{repo}/hooks/{{provider_id}}",
                method: HttpMethod::Patch,
                template: Some(&template),
                auth: &auth,
            },
            &v,
        )
        .unwrap();
        assert_eq!(
            req.url.as_str(),
            "https://api.github.com/prefix/repos/oct%20o/hello/hooks/42?note=push"
        );
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!({"events": ["push"], "active": true,
                   "config": {"url": "https://gw.example/webhooks/v1/process/abc", "secret": "s3cret"}})
        );
        assert!(req
            .headers
            .contains(&("content-type".into(), "application/json".into())));
        assert!(template_uses(&template, "secret"));
        assert!(!template_uses(&template, "provider_id"));
    }

    #[test]
    fn missing_values_and_bad_urls_are_errors() {
        let params = BTreeMap::new();
        let v = vars(&[], &params);
        assert_eq!(
            fill_url("/repos/{owner}/hooks", &v),
            Err(TemplateError::Missing("owner".into()))
        );
        assert_eq!(
            fill_text("{{provider_id}}", &v),
            Err(TemplateError::Missing("provider_id".into()))
        );
        // Braces around non-names stay.
        assert_eq!(
            fill_text("{} {{ a b }} {x}", &v).unwrap(),
            "{} {{ a b }} {x}"
        );
        assert!(matches!(
            resolve_url(None, "/v1/x"),
            Err(TemplateError::NoBase(_))
        ));
        assert!(resolve_url(None, "ftp://x/y").is_err());
        assert_eq!(form_encode(&json!([1])), Err(TemplateError::FormNotObject));
        assert_eq!(
            form_encode(&json!({"a": [{"b": 1}], "n": null, "c": [1, 2]})).unwrap(),
            "a%5B0%5D%5Bb%5D=1&c=1&c=2"
        );
    }

    /// Found by the `provider_template` fuzz target: a relative URL under a
    /// base that is not http(s) came back with the base's scheme.
    #[test]
    fn relative_urls_resolve_to_http_only() {
        let ftp = url::Url::parse("ftp://files.example.test/pub/").unwrap();
        assert!(matches!(
            resolve_url(Some(&ftp), "/v1/x"),
            Err(TemplateError::BadUrl { .. })
        ));
        let http = url::Url::parse("http://api.example.test/stripe/").unwrap();
        assert_eq!(
            resolve_url(Some(&http), "/v1/x").unwrap().as_str(),
            "http://api.example.test/stripe/v1/x"
        );
    }

    #[test]
    fn answers_are_read_by_pointer() {
        let api = ProviderApi {
            id_path: Some("/id".into()),
            secret_path: Some("/secret".into()),
            ..ProviderApi::default()
        };
        let a = read_answer(br#"{"id": 12, "secret": "whsec_x"}"#, &api).unwrap();
        assert_eq!(a.provider_id.as_deref(), Some("12"));
        assert_eq!(a.secret.as_deref(), Some("whsec_x"));
        let a = read_answer(br#"{"id": "", "secret": 5}"#, &api).unwrap();
        assert_eq!(a, Answer::default());
        assert_eq!(read_answer(b"<html>", &api), Err(AnswerError::NotJson));
        assert_eq!(
            read_answer(b"<html>", &ProviderApi::default()),
            Ok(Answer::default())
        );
        assert_eq!(
            error_message(br#"{"error": {"message": "No such key", "type": "x"}}"#).as_deref(),
            Some("No such key")
        );
        assert_eq!(
            error_message(br#"{"message": "Not Found"}"#).as_deref(),
            Some("Not Found")
        );
    }

    #[test]
    fn api_specs_are_checked() {
        let call = ProviderCall {
            url: "/x/{provider_id}".into(),
            method: HttpMethod::Delete,
            sample: None,
        };
        let mut api = ProviderApi {
            deregister: Some(call),
            ..ProviderApi::default()
        };
        assert!(validate_api(&api).unwrap_err().contains("id_path"));
        api.id_path = Some("id".into());
        assert!(validate_api(&api).unwrap_err().contains("JSON Pointer"));
        api.id_path = Some("/id".into());
        assert!(validate_api(&api).is_ok());
    }
}
