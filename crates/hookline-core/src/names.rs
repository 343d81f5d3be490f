//! Validated names. A [`Tag`] names apps, webhooks, events, products and access
//! tags; an [`EnvSlug`] names an environment. Both are parsed once at the edge
//! so the inside never re-validates.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{value}` is not valid: {reason}")]
pub struct NameError {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

const MAX_LEN: usize = 100;

fn check(kind: &'static str, value: &str) -> Result<(), NameError> {
    let err = |reason| NameError {
        kind,
        value: value.chars().take(120).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(err("it is empty"));
    }
    if value.len() > MAX_LEN {
        return Err(err("it is longer than 100 characters"));
    }
    if !value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(err("it must start with a letter or digit"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
    {
        return Err(err(
            "only ASCII letters, digits and `_`, `-`, `.`, `:` are allowed",
        ));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                check($kind, &value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// Names an app, app webhook, event, product or access tag (`stripe-payments`, `payment.succeeded`).
    Tag,
    "tag"
);
name_type!(
    /// Names an environment (`dev`, `stg`, `prd`, `production`).
    EnvSlug,
    "env slug"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_seed_names() {
        for ok in [
            "my_product",
            "stripe-payments",
            "payment.succeeded",
            "prd",
            "v2:orders",
        ] {
            Tag::parse(ok).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "-x", "a b", "ü", "a/b", &"a".repeat(101)] {
            assert!(Tag::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
