//! A Rust client for Hookline's management API: apps and their webhooks,
//! presets, products and connected apps, the seed calls (`enable`, both
//! `generateLink` forms, `disable`, `fetchAllForProductApp`), registrations,
//! events (search, inspect, replay one or in bulk) and the live event stream.
//!
//! # Layout
//! - this file: [`Client`] (one method per endpoint) and [`Error`].
//! - [`types`]: request and answer shapes.
//! - [`sse`]: the server-sent events parser behind [`Client::stream_events`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), hookline_client::Error> {
//! let client = hookline_client::Client::new("http://127.0.0.1:8080", "hk_…")?;
//! for app in client.list_apps().await? {
//!     println!("{} {}", app.tag, app.name);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod sse;
pub mod types;

pub use sse::{EventStream, SseMessage};
pub use types::*;

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// What a call can fail with. API errors keep the server's stable code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered `{"error": {"code", "message"}}`.
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// A non-2xx answer without the API's error shape (a proxy in between, …).
    #[error("HTTP {status} from {url}: {body}")]
    Http {
        status: u16,
        url: String,
        body: String,
    },
    /// The request did not get an answer.
    #[error("cannot reach {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx answer that is not the expected shape.
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
    /// The event stream sent nothing, not even a keep-alive, for `idle`.
    #[error("{url} sent nothing for {idle:?}")]
    Idle { url: String, idle: Duration },
    #[error("`{url}` is not a valid Hookline URL: {message}")]
    InvalidUrl { url: String, message: String },
}

impl Error {
    /// The HTTP status, for answers that had one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API's stable error code (`not_found`, `target_not_allowed`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// The management API of one Hookline server. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    key: String,
    /// Per-request timeout of ordinary calls (not of the event stream).
    timeout: Duration,
}

impl Client {
    /// `base_url` is where the server listens (`http://127.0.0.1:8080`, or
    /// behind a proxy `https://example.com/hookline`); `key` a management key.
    pub fn new(base_url: &str, key: impl Into<String>) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("hookline-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| Error::Transport {
                url: base_url.to_owned(),
                source,
            })?;
        Self::with_http(http, base_url, key)
    }

    /// As [`Client::new`] with a caller-built HTTP client.
    pub fn with_http(
        http: reqwest::Client,
        base_url: &str,
        key: impl Into<String>,
    ) -> Result<Self, Error> {
        let invalid = |message: &str| Error::InvalidUrl {
            url: base_url.to_owned(),
            message: message.to_owned(),
        };
        let base = url::Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("expected an http(s) URL"));
        }
        Ok(Client {
            http,
            base,
            key: key.into(),
            timeout: Duration::from_secs(60),
        })
    }

    /// Changes the per-request timeout of ordinary calls (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// `{base}/api/v1/{segments…}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> url::Url {
        let mut u = self.base.clone();
        u.set_query(None);
        u.set_fragment(None);
        {
            let mut path = u.path_segments_mut().expect("checked to be a base");
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        u
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .bearer_auth(&self.key)
    }

    async fn send(&self, req: RequestBuilder) -> Result<reqwest::Response, Error> {
        let req = req.build().map_err(|source| Error::Transport {
            url: self.base.to_string(),
            source,
        })?;
        let url = req.url().to_string();
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|source| Error::Transport {
                url: url.clone(),
                source,
            })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_from(resp).await)
    }

    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, Error> {
        let resp = self.send(req.timeout(self.timeout)).await?;
        let url = resp.url().to_string();
        let bytes = resp.bytes().await.map_err(|source| Error::Transport {
            url: url.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            url,
            message: e.to_string(),
        })
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, Error> {
        self.call(self.request(Method::GET, segments)).await
    }

    async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        body: &B,
    ) -> Result<T, Error> {
        self.call(self.request(method, segments).json(body)).await
    }

    async fn delete(&self, segments: &[&str]) -> Result<(), Error> {
        self.send(self.request(Method::DELETE, segments).timeout(self.timeout))
            .await?;
        Ok(())
    }

    // --- apps -------------------------------------------------------------

    pub async fn list_apps(&self) -> Result<Vec<App>, Error> {
        self.get(&["apps"]).await
    }

    pub async fn get_app(&self, tag: &str) -> Result<App, Error> {
        self.get(&["apps", tag]).await
    }

    pub async fn create_app(&self, app: &NewApp) -> Result<App, Error> {
        self.send_json(Method::POST, &["apps"], app).await
    }

    /// Creates an app with its webhooks from a built-in preset.
    pub async fn create_app_from_preset(&self, app: &PresetApp) -> Result<App, Error> {
        self.send_json(Method::POST, &["apps"], app).await
    }

    pub async fn update_app(&self, tag: &str, patch: &AppPatch) -> Result<App, Error> {
        self.send_json(Method::PATCH, &["apps", tag], patch).await
    }

    pub async fn delete_app(&self, tag: &str) -> Result<(), Error> {
        self.delete(&["apps", tag]).await
    }

    pub async fn list_webhooks(&self, app: &str) -> Result<Vec<Webhook>, Error> {
        self.get(&["apps", app, "webhooks"]).await
    }

    pub async fn get_webhook(&self, app: &str, tag: &str) -> Result<Webhook, Error> {
        self.get(&["apps", app, "webhooks", tag]).await
    }

    pub async fn create_webhook(&self, app: &str, def: &WebhookDef) -> Result<Webhook, Error> {
        self.send_json(Method::POST, &["apps", app, "webhooks"], def)
            .await
    }

    /// Replaces a webhook's whole definition (`def.tag` must be `tag`).
    pub async fn replace_webhook(
        &self,
        app: &str,
        tag: &str,
        def: &WebhookDef,
    ) -> Result<Webhook, Error> {
        self.send_json(Method::PUT, &["apps", app, "webhooks", tag], def)
            .await
    }

    pub async fn delete_webhook(&self, app: &str, tag: &str) -> Result<(), Error> {
        self.delete(&["apps", app, "webhooks", tag]).await
    }

    // --- presets ----------------------------------------------------------

    /// The built-in provider definitions, as the server describes them.
    pub async fn list_presets(&self) -> Result<Vec<Value>, Error> {
        self.get(&["presets"]).await
    }

    /// One built-in provider definition (`stripe`, `github`, …).
    pub async fn get_preset(&self, name: &str) -> Result<Value, Error> {
        self.get(&["presets", name]).await
    }

    // --- products and connections -----------------------------------------

    pub async fn list_products(&self) -> Result<Vec<Product>, Error> {
        self.get(&["products"]).await
    }

    pub async fn get_product(&self, tag: &str) -> Result<Product, Error> {
        self.get(&["products", tag]).await
    }

    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, Error> {
        self.send_json(Method::POST, &["products"], product).await
    }

    pub async fn update_product(&self, tag: &str, patch: &ProductPatch) -> Result<Product, Error> {
        self.send_json(Method::PATCH, &["products", tag], patch)
            .await
    }

    pub async fn delete_product(&self, tag: &str) -> Result<(), Error> {
        self.delete(&["products", tag]).await
    }

    pub async fn list_connections(&self, product: &str) -> Result<Vec<Connection>, Error> {
        self.get(&["products", product, "apps"]).await
    }

    pub async fn get_connection(
        &self,
        product: &str,
        access_tag: &str,
    ) -> Result<Connection, Error> {
        self.get(&["products", product, "apps", access_tag]).await
    }

    /// Connects an app to a product under an access tag.
    pub async fn connect_app(
        &self,
        product: &str,
        connection: &NewConnection,
    ) -> Result<Connection, Error> {
        self.send_json(Method::POST, &["products", product, "apps"], connection)
            .await
    }

    /// Replaces a connection's env mapping and credentials.
    pub async fn update_connection(
        &self,
        product: &str,
        access_tag: &str,
        envs: &[ConnectionEnv],
    ) -> Result<Connection, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            envs: &'a [ConnectionEnv],
        }
        self.send_json(
            Method::PATCH,
            &["products", product, "apps", access_tag],
            &Body { envs },
        )
        .await
    }

    pub async fn delete_connection(&self, product: &str, access_tag: &str) -> Result<(), Error> {
        self.delete(&["products", product, "apps", access_tag])
            .await
    }

    // --- the seed calls ---------------------------------------------------

    /// `processor.webhook.enable`: receivers for several envs at once.
    pub async fn enable(&self, req: &EnableRequest) -> Result<Registrations, Error> {
        self.send_json(Method::POST, &["processor", "webhooks", "enable"], req)
            .await
    }

    /// `processor.webhook.generateLink`: one env's webhook-wide link.
    pub async fn generate_link(&self, req: &ProcessorLinkRequest) -> Result<LinkResponse, Error> {
        self.send_json(Method::POST, &["processor", "webhooks", "link"], req)
            .await
    }

    /// `product.webhook.generateLink`: a link for one event.
    pub async fn generate_event_link(
        &self,
        product: &str,
        req: &ProductLinkRequest,
    ) -> Result<LinkResponse, Error> {
        self.send_json(
            Method::POST,
            &["products", product, "webhooks", "link"],
            req,
        )
        .await
    }

    /// Retires a webhook's links in some or all envs.
    pub async fn disable(&self, req: &DisableRequest) -> Result<Registrations, Error> {
        self.send_json(Method::POST, &["processor", "webhooks", "disable"], req)
            .await
    }

    /// `product.webhook.fetchAllForProductApp`.
    pub async fn fetch_all_for_product_app(
        &self,
        product: &str,
        access_tag: &str,
    ) -> Result<Vec<Registration>, Error> {
        self.get(&["products", product, "apps", access_tag, "webhooks"])
            .await
    }

    // --- registrations ----------------------------------------------------

    pub async fn list_registrations(
        &self,
        product: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>, Error> {
        let mut q = vec![("product", product)];
        if let Some(a) = access_tag {
            q.push(("access_tag", a));
        }
        self.call(self.request(Method::GET, &["registrations"]).query(&q))
            .await
    }

    pub async fn get_registration(&self, id: &str) -> Result<Registration, Error> {
        self.get(&["registrations", id]).await
    }

    pub async fn update_registration(
        &self,
        id: &str,
        patch: &RegistrationPatch,
    ) -> Result<Registration, Error> {
        self.send_json(Method::PATCH, &["registrations", id], patch)
            .await
    }

    // --- events -----------------------------------------------------------

    /// One page of events, newest first; pass `next_cursor` as `cursor` for the next.
    pub async fn list_events(&self, query: &EventQuery) -> Result<EventPage, Error> {
        self.call(self.request(Method::GET, &["events"]).query(query))
            .await
    }

    pub async fn get_event(&self, id: &str) -> Result<EventDetail, Error> {
        self.get(&["events", id]).await
    }

    /// Queues an event for delivery again.
    pub async fn replay_event(&self, id: &str) -> Result<Event, Error> {
        self.call(self.request(Method::POST, &["events", id, "replay"]))
            .await
    }

    /// Queues one delivery again (delivered, failed, or waiting for a retry).
    pub async fn replay_delivery(&self, id: &str) -> Result<Delivery, Error> {
        self.call(self.request(Method::POST, &["deliveries", id, "replay"]))
            .await
    }

    /// Starts a bulk replay of every event matching `replay.filter` received
    /// until now, oldest first, at `replay.rate` events per second.
    pub async fn create_replay(&self, replay: &NewReplay) -> Result<ReplayJob, Error> {
        self.send_json(Method::POST, &["replays"], replay).await
    }

    /// How many events [`Self::create_replay`] would go through now; starts
    /// nothing.
    pub async fn preview_replay(&self, replay: &NewReplay) -> Result<ReplayPreview, Error> {
        self.send_json(Method::POST, &["replays", "preview"], replay)
            .await
    }

    /// A bulk replay's progress.
    pub async fn get_replay(&self, id: &str) -> Result<ReplayJob, Error> {
        self.get(&["replays", id]).await
    }

    /// Opens the live event stream (server-sent events): a `ready` message,
    /// then an `event` message for each new event matching the filters and
    /// for each change of an unfinished one (so an id may come several
    /// times). With `last_event_id` the server resumes after that position,
    /// so nothing is missed across a reconnect.
    pub async fn stream_events(
        &self,
        query: &StreamQuery,
        last_event_id: Option<&str>,
    ) -> Result<EventStream, Error> {
        let mut req = self
            .request(Method::GET, &["events", "stream"])
            .query(query)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = self.send(req).await?;
        let mut parser = sse::SseParser::new();
        if let Some(id) = last_event_id {
            // Seed the resume point: a reconnect before any new message
            // still resumes from here.
            parser.feed(format!("id: {id}\n").as_bytes());
        }
        Ok(EventStream {
            response,
            parser,
            ready: Default::default(),
        })
    }
}

async fn error_from(resp: reqwest::Response) -> Error {
    let status = resp.status();
    let url = resp.url().to_string();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(b) => Error::Api {
            status: status.as_u16(),
            code: b.error.code,
            message: b.error.message,
        },
        Err(_) => Error::Http {
            status: status.as_u16(),
            url,
            body: if text.is_empty() {
                status.canonical_reason().unwrap_or("no body").to_owned()
            } else {
                text.chars().take(500).collect()
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_a_base_path_and_encode_segments() {
        let c = Client::new("https://example.com/hookline/", "k").unwrap();
        assert_eq!(
            c.url(&["events", "a/b"]).as_str(),
            "https://example.com/hookline/api/v1/events/a%2Fb"
        );
        let c = Client::new("http://127.0.0.1:8080", "k").unwrap();
        assert_eq!(
            c.url(&["apps"]).as_str(),
            "http://127.0.0.1:8080/api/v1/apps"
        );
        assert!(Client::new("ftp://x", "k").is_err());
        assert!(Client::new("not a url", "k").is_err());
    }

    #[test]
    fn the_filter_is_sent_as_before() {
        let filter = EventFilter {
            product: Some("shop".into()),
            status: Some("failed".into()),
            since: Some("2026-01-01T00:00:00Z".into()),
            ..EventFilter::default()
        };
        fn query<T: Serialize>(q: &T) -> String {
            let req = reqwest::Client::new().get("http://x/").query(q);
            req.build().unwrap().url().query().unwrap().to_owned()
        }
        let list = EventQuery {
            filter: filter.clone(),
            limit: Some(5),
            cursor: None,
        };
        assert_eq!(
            query(&list),
            "product=shop&status=failed&since=2026-01-01T00%3A00%3A00Z&limit=5"
        );
        let stream = StreamQuery {
            filter: filter.clone(),
            after: Some("evt_1".into()),
        };
        assert_eq!(
            query(&stream),
            "product=shop&status=failed&since=2026-01-01T00%3A00%3A00Z&after=evt_1"
        );
        let replay = NewReplay {
            filter,
            rate: Some(3),
        };
        assert_eq!(
            serde_json::to_value(&replay).unwrap(),
            serde_json::json!({"product": "shop", "status": "failed", "since": "2026-01-01T00:00:00Z", "rate": 3})
        );
        // A job's filter as the server shows it, unset fields `null`.
        let job: ReplayJob = serde_json::from_value(serde_json::json!({
            "id": "rpl_1", "status": "running", "rate": 3, "total": 2,
            "filter": {"product": "shop", "access_tag": null, "status": "failed", "since": null}
        }))
        .unwrap();
        assert_eq!(job.filter.product.as_deref(), Some("shop"));
        assert_eq!(job.filter.access_tag, None);
    }

    #[test]
    fn answers_keep_unknown_fields() {
        let v = serde_json::json!({
            "id": "evt_1", "status": "delivered", "request": {"method": "POST", "headers": [["a", "b"]], "body": "hi"},
            "attempt_log": [], "new_field": 3
        });
        let d: EventDetail = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(d.request.body_bytes().unwrap(), b"hi");
        assert_eq!(d.event.extra["new_field"], 3);
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(back["new_field"], 3);
        assert_eq!(back["request"]["method"], "POST");
    }
}
