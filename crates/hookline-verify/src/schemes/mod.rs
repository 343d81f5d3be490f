//! One module per scheme family. Each exposes a `verify` taking the secret,
//! the request and, where the scheme signs a timestamp, `now` and the
//! tolerance; [`crate::verify`] dispatches to them.

pub(crate) mod body;
pub(crate) mod credentials;
pub(crate) mod hmac;
pub(crate) mod slack;
pub(crate) mod stripe;
