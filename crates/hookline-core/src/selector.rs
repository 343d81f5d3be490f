//! Event selectors: `$Event{type}` or `$Event{data}{object}{type}` name the path
//! in an incoming JSON payload where the provider puts the event's name.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Selector {
    path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("selector `{0}` is not valid: write it as $Event{{field}} or $Event{{field}}{{nested}}")]
pub struct SelectorError(pub String);

impl Selector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let err = || SelectorError(s.chars().take(120).collect());
        let mut rest = s.trim().strip_prefix("$Event").ok_or_else(err)?;
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
        if path.is_empty() || path.len() > 16 {
            return Err(err());
        }
        Ok(Selector { path })
    }

    /// The string (or number) at the selector's path, if there is one.
    pub fn apply(&self, json: &Value) -> Option<String> {
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
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$Event")?;
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
    fn rejects_malformed() {
        for bad in [
            "",
            "$Event",
            "type",
            "$Event{",
            "$Event{}",
            "$Event{a}x",
            "$Event{a{b}}",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad:?}");
        }
    }
}
