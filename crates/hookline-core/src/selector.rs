//! Event selectors name where an incoming call carries the event's name:
//! `$Event{type}` or `$Event{data}{object}{type}` is a path in the JSON body;
//! `$Header{x-github-event}` is a request header (for providers such as
//! GitHub and Shopify that put the event name there, not in the body).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Selector {
    source: Source,
    /// Fields under `$Event` (at least one); the lowercased header name
    /// (exactly one) under `$Header`.
    path: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Event,
    Header,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector `{0}` is not valid: write it as $Event{{field}}, $Event{{field}}{{nested}} or $Header{{header-name}}")]
pub struct SelectorError(pub String);

impl Selector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let err = || SelectorError(s.chars().take(120).collect());
        let s = s.trim();
        let (source, mut rest) = if let Some(rest) = s.strip_prefix("$Event") {
            (Source::Event, rest)
        } else if let Some(rest) = s.strip_prefix("$Header") {
            (Source::Header, rest)
        } else {
            return Err(err());
        };
        let mut path = Vec::new();
        while !rest.is_empty() {
            let inner = rest.strip_prefix('{').ok_or_else(err)?;
            let end = inner.find('}').ok_or_else(err)?;
            let field = &inner[..end];
            if field.is_empty() || field.contains('{') {
                return Err(err());
            }
            path.push(field.to_owned());
            rest = &inner[end + 1..];
        }
        match source {
            Source::Event if path.is_empty() || path.len() > 16 => return Err(err()),
            Source::Header => {
                let [name] = path.as_slice() else {
                    return Err(err());
                };
                // An HTTP token: what a header name may be.
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(err());
                }
                path[0] = name.to_ascii_lowercase();
            }
            Source::Event => {}
        }
        Ok(Selector { source, path })
    }

    /// Whether the selector reads the JSON body (as opposed to a header).
    pub fn reads_body(&self) -> bool {
        self.source == Source::Event
    }

    /// The string (or number) at the selector's path in a JSON body, if there
    /// is one. A `$Header` selector finds nothing here; see [`Selector::find`].
    pub fn apply(&self, json: &Value) -> Option<String> {
        if self.source != Source::Event {
            return None;
        }
        let mut cur = json;
        for field in &self.path {
            cur = match cur {
                Value::Object(m) => m.get(field)?,
                Value::Array(a) => a.get(field.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        match cur {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The value this selector names in a request: a path in its JSON body
    /// (`json`, `None` when the body is not JSON) or one of its headers
    /// (`header` looks a lowercase name up). Empty header values count as
    /// absent.
    pub fn find(
        &self,
        json: Option<&Value>,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        match self.source {
            Source::Event => self.apply(json?),
            Source::Header => header(&self.path[0])
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.source {
            Source::Event => "$Event",
            Source::Header => "$Header",
        })?;
        for p in &self.path {
            write!(f, "{{{p}}}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for Selector {
    type Error = SelectorError;
    fn try_from(s: String) -> Result<Self, SelectorError> {
        Selector::parse(&s)
    }
}

impl From<Selector> for String {
    fn from(s: Selector) -> String {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_applies() {
        let s = Selector::parse("$Event{data}{type}").unwrap();
        assert_eq!(s.to_string(), "$Event{data}{type}");
        assert_eq!(
            s.apply(&json!({"data": {"type": "charge.refunded"}})),
            Some("charge.refunded".into())
        );
        assert_eq!(s.apply(&json!({"data": "x"})), None);
        let top = Selector::parse("$Event{type}").unwrap();
        assert_eq!(top.apply(&json!({"type": 7})), Some("7".into()));
    }

    #[test]
    fn header_selectors_read_headers_case_insensitively() {
        let s = Selector::parse("$Header{X-GitHub-Event}").unwrap();
        assert_eq!(s.to_string(), "$Header{x-github-event}");
        assert!(!s.reads_body());
        let headers = |name: &str| (name == "x-github-event").then(|| "push".to_owned());
        assert_eq!(s.find(None, &headers), Some("push".into()));
        assert_eq!(s.apply(&json!({"x-github-event": "no"})), None);
        let none = |_: &str| Some("  ".to_owned());
        assert_eq!(s.find(None, &none), None);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "$Event",
            "type",
            "$Event{",
            "$Event{}",
            "$Event{a}x",
            "$Event{a{b}}",
            "$Header",
            "$Header{}",
            "$Header{a}{b}",
            "$Header{a b}",
            "$Header{é}",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }
}
