//! Configuration: one typed [`Config`], layered as the embedded commented
//! defaults (`config/default.toml`), an optional `hookline.toml`, `HOOKLINE_*`
//! environment variables and command-line flags, then checked once at start.

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: String,
    pub admin_key: String,
    /// Key sealing secrets at rest (32 bytes, base64); empty: `<data_dir>/secret.key`.
    pub secret_key: String,
    #[serde(deserialize_with = "cidr_list")]
    pub allowed_targets: Vec<IpNet>,
    pub max_body_bytes: usize,
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub tls: TlsConfig,
    pub database: DatabaseConfig,
    pub ingest: IngestConfig,
    pub delivery: DeliveryConfig,
    pub providers: ProvidersConfig,
    pub signing: SigningConfig,
    pub metrics: MetricsConfig,
    pub telemetry: TelemetryConfig,
    pub stream: StreamConfig,
    pub replay: ReplayConfig,
    pub health: HealthConfig,
    pub retention: RetentionConfig,
}

/// The HTTP server's limits against slow or abusive clients (see
/// `http_server`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpConfig {
    /// A client must send a request's headers (and, on a new connection,
    /// its first request) within this; a keep-alive connection that sends
    /// nothing for this long is closed too.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A request body that sends nothing for this long is cut (ingest
    /// answers 408 `request_timeout`).
    #[serde(with = "humantime_serde")]
    pub body_idle_timeout: Duration,
    /// A request body must be whole within this after it is first read
    /// (408 `request_timeout` otherwise).
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Most connections open at once; further ones wait in the listen
    /// backlog until one closes.
    pub max_connections: usize,
    /// Failed management-key checks from one client address (an IPv6 /64)
    /// within `auth_failure_window` before that address is answered 429
    /// without checking its key, until the window passes; 0: no limit.
    pub auth_failure_limit: u32,
    #[serde(with = "humantime_serde")]
    pub auth_failure_window: Duration,
    /// Reverse proxies in front of Hookline: from a peer in these networks,
    /// the client's address is read from `X-Forwarded-For` (for the key
    /// throttle and the rejected-call limit). Empty: the peer's address.
    #[serde(default, deserialize_with = "cidr_list")]
    pub trusted_proxies: Vec<IpNet>,
}

/// HTTPS served by Hookline itself (see `tls`). Both files set: HTTPS on
/// `listen`; neither: plain HTTP (the default, for local use or behind a
/// proxy that terminates TLS).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    #[serde(default, deserialize_with = "optional_path")]
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of that certificate.
    #[serde(default, deserialize_with = "optional_path")]
    pub key: Option<PathBuf>,
    /// How often both files are read again; a changed pair that loads is
    /// used for new connections from then on.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl TlsConfig {
    /// The two files, when HTTPS is on.
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert.as_deref()?, self.key.as_deref()?))
    }
}

/// Deleting old delivered and failed events, with payloads and attempts,
/// and old rejected calls.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RetentionConfig {
    /// Delivered and failed events whose last change is older than this are
    /// deleted; `0s` keeps every event.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Rejected calls (failed signature checks) received longer ago than
    /// this are deleted; `0s` keeps them.
    #[serde(with = "humantime_serde")]
    pub rejected_after: Duration,
    /// How often the sweeper runs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Events deleted per statement; the sweeper pauses between batches so
    /// ingest never waits long behind it.
    pub batch: u32,
}

/// `GET /metrics` (Prometheus text).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Ask scrapers for a management key (`Authorization: Bearer`).
    pub require_key: bool,
}

/// Traces exported with OTLP (needs the `otel` build feature).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TelemetryConfig {
    /// OTLP/HTTP endpoint, e.g. `http://127.0.0.1:4318`; empty: no traces.
    pub otlp_endpoint: String,
    pub service_name: String,
}

/// The live event stream (`GET /api/v1/events/stream`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StreamConfig {
    /// How often a stream looks for new and changed events.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

/// Bulk replays (`POST /api/v1/replays`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReplayConfig {
    /// Events per second a job replays when it asks for no rate, and the
    /// most it may ask for.
    pub rate: u32,
    /// How long a node holds a job without progress before another node
    /// (or this one, restarted) takes it over.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

/// Registration health checks and their notifications.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HealthConfig {
    /// How often registrations are judged; `0s` turns the checks off.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Attempts started this long ago or less count towards the failure rate.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Unhealthy at or above this share of failed attempts (0–1)…
    pub failure_rate: f64,
    /// …when the window holds at least this many attempts.
    pub min_attempts: u64,
    /// Unhealthy when this many events are queued (0: no limit).
    pub backlog: u64,
    /// Unhealthy when the oldest queued event is older than this (`0s`: no limit).
    #[serde(with = "humantime_serde")]
    pub backlog_age: Duration,
    /// Where changes of health are POSTed; empty: nowhere.
    pub notify_url: String,
    /// `whsec_…` secret the notifications are signed with (Standard Webhooks).
    pub notify_secret: String,
}

/// Provider registration calls and provider redeliveries.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProvidersConfig {
    /// Per-call timeout of a provider registration API call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// A call whose provider event id was already received (and verified)
    /// within this window is answered 2xx and not forwarded again; `0s`
    /// turns deduplication off.
    #[serde(with = "humantime_serde")]
    pub dedup_window: Duration,
}

/// Signing of forwarded requests.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SigningConfig {
    /// After `rotate-secret`, how long the previous signing secret keeps
    /// signing alongside the new one (when the call names no overlap).
    #[serde(with = "humantime_serde")]
    pub rotation_overlap: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IngestConfig {
    pub batch_max: usize,
    /// Rejected calls (failed signature checks) stored per minute from one
    /// source address on one link; more are answered 429 and not stored.
    /// `0`: no limit.
    pub rejected_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeliveryConfig {
    pub concurrency: usize,
    pub batch: u32,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(deserialize_with = "duration_list", serialize_with = "ser_durations")]
    pub retry_schedule: Vec<Duration>,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long a claimed event stays this node's before another node may
    /// take it over (when this one died mid-delivery). Must exceed
    /// `timeout`; unset: `timeout` + 30s.
    #[serde(default, with = "humantime_serde")]
    pub lease: Option<Duration>,
}

impl DeliveryConfig {
    /// The lease a claim takes: `lease`, or `timeout` + 30s.
    pub fn lease(&self) -> Duration {
        self.lease.unwrap_or(self.timeout + Duration::from_secs(30))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration is not valid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Figment(#[from] Box<figment::Error>),
}

impl Config {
    /// Defaults, then `file` (or `./hookline.toml` when present), then
    /// `HOOKLINE_*`, then `overrides` (flags, as a partial TOML-like map).
    pub fn load(
        file: Option<&Path>,
        overrides: Serialized<figment::value::Dict>,
    ) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Toml::string(DEFAULTS));
        match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError::Invalid(format!(
                        "config file {} does not exist",
                        f.display()
                    )));
                }
                fig = fig.merge(Toml::file(f));
            }
            None => fig = fig.merge(Toml::file("hookline.toml")),
        }
        let env = Env::prefixed("HOOKLINE_")
            .split("__")
            .ignore(&["config"])
            .map(|k| k.as_str().to_ascii_lowercase().into());
        let config: Config = fig
            .merge(env)
            .merge(overrides)
            .extract()
            .map_err(|e| ConfigError::Figment(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// The built-in defaults alone (what tests start from).
    pub fn defaults() -> Self {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .expect("embedded defaults are valid")
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !self.public_url.is_empty() {
            match url::Url::parse(&self.public_url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return bad(format!(
                        "public_url `{}` must be an http(s) URL",
                        self.public_url
                    ))
                }
            }
        }
        if self.max_body_bytes == 0 {
            return bad("max_body_bytes must be above 0".into());
        }
        let h = &self.http;
        if h.header_read_timeout.is_zero()
            || h.body_idle_timeout.is_zero()
            || h.body_read_timeout.is_zero()
            || h.max_connections == 0
        {
            return bad(
                "http.header_read_timeout, http.body_idle_timeout, http.body_read_timeout and http.max_connections must be above 0"
                    .into(),
            );
        }
        if h.auth_failure_limit > 0 && h.auth_failure_window.is_zero() {
            return bad(
                "http.auth_failure_window must be above 0 when http.auth_failure_limit is set"
                    .into(),
            );
        }
        if self.delivery.concurrency == 0 || self.delivery.batch == 0 || self.ingest.batch_max == 0
        {
            return bad(
                "delivery.concurrency, delivery.batch and ingest.batch_max must be above 0".into(),
            );
        }
        if self.delivery.timeout.is_zero() {
            return bad("delivery.timeout must be above 0".into());
        }
        if self.delivery.lease() <= self.delivery.timeout {
            return bad(format!(
                "delivery.lease ({}) must be longer than delivery.timeout ({}), or another node could take over an event still being delivered",
                humantime::format_duration(self.delivery.lease()),
                humantime::format_duration(self.delivery.timeout)
            ));
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => return bad("tls.cert is set but tls.key is not: set both (HOOKLINE_TLS__KEY, --tls-key) or neither".into()),
            (None, Some(_)) => return bad("tls.key is set but tls.cert is not: set both (HOOKLINE_TLS__CERT, --tls-cert) or neither".into()),
            _ => {}
        }
        if self.tls.reload_interval.is_zero() {
            return bad("tls.reload_interval must be above 0".into());
        }
        let r = &self.retention;
        if (!r.max_age.is_zero() || !r.rejected_after.is_zero())
            && (r.interval.is_zero() || r.batch == 0)
        {
            return bad("retention.interval and retention.batch must be above 0 when retention.max_age or retention.rejected_after is set".into());
        }
        if self.providers.timeout.is_zero() {
            return bad("providers.timeout must be above 0".into());
        }
        if self.replay.rate == 0 || self.replay.lease.is_zero() {
            return bad("replay.rate and replay.lease must be above 0".into());
        }
        if self.stream.poll_interval.is_zero() {
            return bad("stream.poll_interval must be above 0".into());
        }
        let h = &self.health;
        if !(0.0..=1.0).contains(&h.failure_rate) {
            return bad(format!(
                "health.failure_rate must be between 0 and 1, got {}",
                h.failure_rate
            ));
        }
        if !h.notify_url.is_empty() {
            match url::Url::parse(&h.notify_url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => {
                    return bad(format!(
                        "health.notify_url `{}` must be an http(s) URL",
                        h.notify_url
                    ))
                }
            }
            if hookline_verify::standard::sign(&h.notify_secret, "msg_check", 0, b"").is_err() {
                return bad(
                    "health.notify_secret must be a Standard Webhooks secret (whsec_…) when health.notify_url is set"
                        .into(),
                );
            }
        }
        let db = self.database_url();
        if !(db.starts_with("sqlite:")
            || db.starts_with("postgres://")
            || db.starts_with("postgresql://"))
        {
            return bad(format!(
                "database_url `{db}` must start with sqlite:// or postgres://"
            ));
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("hookline.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Base of ingest links: `public_url`, or the address actually bound
    /// (`https://` when Hookline serves TLS itself).
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        if self.public_url.is_empty() {
            let scheme = if self.tls.files().is_some() {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{bound}")
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }
}

/// Accepts `"10.0.0.0/8, ::1/128"` or `["10.0.0.0/8"]`; a bare address is a /32 or /128.
fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    string_or_list(d)?
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!("`{s}` is not a CIDR like 127.0.0.0/8"))
                })
        })
        .collect()
}

/// A path, where an empty string (e.g. `HOOKLINE_TLS__CERT=`) means unset.
fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    Ok(Option::<PathBuf>::deserialize(d)?.filter(|p| !p.as_os_str().is_empty()))
}

fn duration_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    string_or_list(d)?
        .iter()
        .map(|s| {
            humantime::parse_duration(s)
                .map_err(|e| serde::de::Error::custom(format!("retry_schedule: `{s}`: {e}")))
        })
        .collect()
}

fn ser_durations<S: serde::Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|d| humantime::format_duration(*d).to_string()))
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

#[cfg(test)]
// figment's Jail API returns its large error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_as_the_contract_says() {
        let c = Config::defaults();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://./hookline-data/hookline.db");
        assert_eq!(c.public_url_for(c.listen), "http://127.0.0.1:8080");
        assert!(c.allowed_targets.is_empty());
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.delivery.retry_schedule.len(), 7);
    }

    #[test]
    fn env_overrides_file_and_accepts_comma_lists() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hookline.toml",
                "listen = \"127.0.0.1:9000\"\nmax_body_bytes = 10\n",
            )?;
            jail.set_env("HOOKLINE_LISTEN", "127.0.0.1:9100");
            jail.set_env("HOOKLINE_ALLOWED_TARGETS", "127.0.0.0/8,::1/128");
            jail.set_env("HOOKLINE_DELIVERY__RETRY_SCHEDULE", "1s, 2s");
            let c = Config::load(None, Serialized::defaults(Default::default())).unwrap();
            assert_eq!(c.listen.port(), 9100);
            assert_eq!(c.max_body_bytes, 10);
            assert_eq!(c.allowed_targets.len(), 2);
            assert_eq!(
                c.delivery.retry_schedule,
                vec![Duration::from_secs(1), Duration::from_secs(2)]
            );
            Ok(())
        });
    }

    #[test]
    fn tls_files_come_from_env_and_must_come_in_pairs() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, Serialized::defaults(Default::default())).unwrap();
            assert!(c.tls.files().is_none(), "plain HTTP is the default");
            jail.set_env("HOOKLINE_TLS__CERT", "/etc/hookline/cert.pem");
            let e = Config::load(None, Serialized::defaults(Default::default())).unwrap_err();
            assert!(e.to_string().contains("tls.key is not"), "{e}");
            jail.set_env("HOOKLINE_TLS__KEY", "/etc/hookline/key.pem");
            let c = Config::load(None, Serialized::defaults(Default::default())).unwrap();
            let (cert, key) = c.tls.files().unwrap();
            assert_eq!(cert, Path::new("/etc/hookline/cert.pem"));
            assert_eq!(key, Path::new("/etc/hookline/key.pem"));
            assert_eq!(c.public_url_for(c.listen), "https://127.0.0.1:8080");
            // An empty variable unsets.
            jail.set_env("HOOKLINE_TLS__CERT", "");
            jail.set_env("HOOKLINE_TLS__KEY", "");
            let c = Config::load(None, Serialized::defaults(Default::default())).unwrap();
            assert!(c.tls.files().is_none());
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_reported() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HOOKLINE_ALLOWED_TARGETS", "not-a-cidr");
            let e = Config::load(None, Serialized::defaults(Default::default())).unwrap_err();
            assert!(e.to_string().contains("not-a-cidr"), "{e}");
            Ok(())
        });
    }
}
