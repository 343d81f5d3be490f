//! Builders for requests in unit tests.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::InboundRequest;

/// An owned request; [`TestRequest::inbound`] borrows it as an [`InboundRequest`].
pub(crate) struct TestRequest {
    pub method: String,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Vec<u8>,
}

impl TestRequest {
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        TestRequest {
            method: "POST".into(),
            headers: HeaderMap::new(),
            query: None,
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value.as_ref()).unwrap(),
        );
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.headers.remove(name);
        self
    }

    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.into());
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub fn inbound(&self) -> InboundRequest<'_> {
        InboundRequest {
            method: &self.method,
            headers: &self.headers,
            query: self.query.as_deref(),
            body: &self.body,
        }
    }
}
