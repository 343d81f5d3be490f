//! The servers under test: the gateway (spawned with a fresh database, or a
//! running one) and the bare baseline server, plus the model the gateway
//! needs before it accepts webhooks.

use crate::net::{self, Api};
use crate::procs::Spawned;
use anyhow::{bail, Context, Result};
use http::{Method, Uri};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How to reach (or start) the gateway.
#[derive(Debug, Clone)]
pub struct GatewayOpts {
    /// A running gateway to drive instead of spawning one.
    pub url: Option<String>,
    pub admin_key: Option<String>,
    pub pid: Option<u32>,
    pub bin: PathBuf,
    /// `sqlite://…`/`postgres://…`; `None`: SQLite in the data dir.
    pub database_url: Option<String>,
    /// `RUST_LOG` of a spawned gateway.
    pub log: String,
    /// Extra `HOOKLINE_*` variables for a spawned gateway.
    pub env: Vec<(String, String)>,
    /// Keep a spawned gateway's temp data dir (database, `gateway.log`).
    pub keep_data: bool,
}

/// Where a spawned gateway keeps its data.
pub enum Data {
    /// A throw-away data dir (SQLite inside it).
    Temp(tempfile::TempDir),
    /// A kept dir (the query scenario's filled database).
    Dir(PathBuf),
}

impl Data {
    pub fn path(&self) -> &Path {
        match self {
            Data::Temp(t) => t.path(),
            Data::Dir(p) => p,
        }
    }

    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}/hookline.db", self.path().display())
    }
}

pub struct Gateway {
    pub api: Api,
    /// For `/proc` readings; `None` for an external gateway without `--gateway-pid`.
    pub pid: Option<u32>,
    child: Option<Spawned>,
    pg: Option<PgDatabase>,
    _data: Option<Data>,
}

const BENCH_KEY: &str = "hk_bench_0123456789abcdef0123456789abcdef";

impl Gateway {
    /// Starts `hookline serve` on a free loopback port, or attaches to
    /// `--gateway-url`. For PostgreSQL a fresh database is created (and
    /// dropped by [`Gateway::stop`]) unless `database_url` is given ready.
    pub async fn start(
        opts: &GatewayOpts,
        data: Option<Data>,
        database_url: Option<String>,
    ) -> Result<Gateway> {
        let client = net::client();
        if let Some(url) = &opts.url {
            let key = opts
                .admin_key
                .clone()
                .context("--gateway-url needs --admin-key")?;
            return Ok(Gateway {
                api: Api {
                    client,
                    base: url.trim_end_matches('/').to_owned(),
                    key,
                },
                pid: opts.pid,
                child: None,
                pg: None,
                _data: None,
            });
        }
        let data = match data {
            Some(d) => d,
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("hookline-bench-")
                    .tempdir()?;
                if opts.keep_data {
                    let kept = dir.keep();
                    eprintln!("keeping the gateway's data dir {}", kept.display());
                    Data::Dir(kept)
                } else {
                    Data::Temp(dir)
                }
            }
        };
        // A fresh PostgreSQL database per gateway, unless the caller made one.
        let (db_url, pg) = match (database_url, &opts.database_url) {
            (Some(url), _) => (url, None),
            (None, Some(url)) if is_postgres(url) => {
                let pg = PgDatabase::create(url).await?;
                (pg.url.clone(), Some(pg))
            }
            (None, Some(url)) => (url.clone(), None),
            (None, None) => (data.sqlite_url(), None),
        };
        if !opts.bin.exists() {
            bail!(
                "{} does not exist: build it (`cargo build --release -p hookline`) or pass --hookline-bin",
                opts.bin.display()
            );
        }
        let mut cmd = Command::new(&opts.bin);
        cmd.arg("serve")
            .current_dir(data.path())
            .env("HOOKLINE_LISTEN", "127.0.0.1:0")
            .env("HOOKLINE_DATA_DIR", data.path())
            .env("HOOKLINE_DATABASE_URL", &db_url)
            .env("HOOKLINE_ADMIN_KEY", BENCH_KEY)
            .env("HOOKLINE_ALLOWED_TARGETS", "127.0.0.0/8")
            .env("RUST_LOG", &opts.log);
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let log = data.path().join("gateway.log");
        let child = match Spawned::spawn(cmd, &log, Duration::from_secs(120)) {
            Ok(c) => c,
            Err(e) => {
                if let Some(pg) = pg {
                    pg.drop_db().await;
                }
                return Err(e.context(format!("starting the gateway on {}", redact(&db_url))));
            }
        };
        Ok(Gateway {
            api: Api {
                client,
                base: format!("http://127.0.0.1:{}", child.port),
                key: BENCH_KEY.to_owned(),
            },
            pid: Some(child.pid()),
            child: Some(child),
            pg,
            _data: Some(data),
        })
    }

    pub fn log_path(&self) -> Option<PathBuf> {
        self.child.as_ref().map(|c| c.log.clone())
    }

    /// Stops a spawned gateway (SIGTERM, then SIGKILL after 20 s) and drops
    /// its PostgreSQL database.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(child) = self.child.take() {
            tokio::task::spawn_blocking(move || child.stop(Duration::from_secs(20))).await??;
        }
        if let Some(pg) = self.pg.take() {
            pg.drop_db().await;
        }
        Ok(())
    }
}

pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Hides a password in a URL before printing it.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A database created for one run on a PostgreSQL server and dropped after.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    /// `url` names the server (its database part is replaced): the bench
    /// connects to the `postgres` database there and creates
    /// `hookline_bench_<pid>_<n>`.
    pub async fn create(url: &str) -> Result<PgDatabase> {
        use sqlx::Connection;
        let (server, query) = split_pg_url(url)?;
        let admin_url = format!("{server}/postgres{query}");
        let name = format!(
            "hookline_bench_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("connecting to {}", redact(&admin_url)))?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        let _ = conn.close().await;
        eprintln!("created PostgreSQL database {name}");
        Ok(PgDatabase {
            url: format!("{server}/{name}{query}"),
            admin_url,
            name,
        })
    }

    pub async fn drop_db(self) {
        use sqlx::Connection;
        let dropped = async {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url).await?;
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await?;
            conn.close().await
        }
        .await;
        match dropped {
            Ok(()) => eprintln!("dropped PostgreSQL database {}", self.name),
            Err(e) => eprintln!("could not drop PostgreSQL database {}: {e}", self.name),
        }
    }
}

/// `postgres://u@h:5432/db?x=y` → (`postgres://u@h:5432`, `?x=y`).
fn split_pg_url(url: &str) -> Result<(String, String)> {
    let (no_query, query) = match url.split_once('?') {
        Some((a, q)) => (a, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = no_query.find("://").context("a postgres:// URL")? + 3;
    let server = match no_query[scheme_end..].find('/') {
        Some(slash) => &no_query[..scheme_end + slash],
        None => no_query,
    };
    Ok((server.to_owned(), query))
}

/// The bare server, run as a child process (`hookline-bench
/// baseline-server`) so it sits in its own process with its own runtime,
/// as the gateway does.
pub struct Baseline {
    pub base: String,
    pub pid: u32,
    child: Spawned,
    _dir: tempfile::TempDir,
}

impl Baseline {
    pub fn start() -> Result<Baseline> {
        let dir = tempfile::Builder::new()
            .prefix("hookline-bench-baseline-")
            .tempdir()?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("baseline-server");
        let child = Spawned::spawn(
            cmd,
            &dir.path().join("baseline.log"),
            Duration::from_secs(20),
        )?;
        Ok(Baseline {
            base: format!("http://127.0.0.1:{}", child.port),
            pid: child.pid(),
            child,
            _dir: dir,
        })
    }

    /// `n` distinct link-like paths, so the request line matches the
    /// gateway's.
    pub fn links(&self, n: usize) -> Vec<Uri> {
        (0..n.max(1))
            .map(|i| {
                format!("{}/webhooks/v1/process/{:0>32}", self.base, i)
                    .parse()
                    .expect("a valid URI")
            })
            .collect()
    }

    pub fn stop(self) -> Result<()> {
        self.child.stop(Duration::from_secs(5))
    }
}

/// How the bench webhook verifies inbound calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sign {
    /// `{"scheme":"stripe"}`: every request carries a valid Stripe-Signature.
    Stripe,
    /// `{"scheme":"none"}`.
    None,
}

/// The secret every bench registration verifies against.
pub const VERIFY_SECRET: &str = "whsec_bench_0123456789abcdefghijklmnop";

/// Registrations spread over products of at most this many envs each.
const ENVS_PER_PRODUCT: usize = 100;

/// What [`setup`] made.
pub struct Model {
    pub links: Vec<Uri>,
    pub registration_ids: Vec<String>,
    /// Each registration's `whsec_…` secret (Standard Webhooks signature
    /// on forwarded requests), for receivers that check it.
    pub signing_secrets: Vec<String>,
}

/// Creates an app (`<prefix>shop`) with a Stripe-like webhook, products with
/// envs, their connections, and `registrations` links. With a `receiver`
/// each link forwards there (`processor.webhook.generateLink`); without one
/// the links have no receiver (`product.webhook.generateLink`), so events
/// are held until one is set.
pub async fn setup(
    api: &Api,
    prefix: &str,
    registrations: usize,
    receiver: Option<&str>,
    sign: Sign,
) -> Result<Model> {
    let app = format!("{prefix}shop");
    let verification = match sign {
        Sign::Stripe => json!({"scheme": "stripe"}),
        Sign::None => json!({"scheme": "none"}),
    };
    api.post(
        "/api/v1/apps",
        json!({"tag": app, "name": "Bench shop", "envs": [{"slug": "live"}]}),
    )
    .await?;
    api.post(
        &format!("/api/v1/apps/{app}/webhooks"),
        json!({
            "tag": "payments", "name": "Payments", "verification": verification,
            "envs": [{"slug": "live"}],
            "events": [
                {"tag": "charge.succeeded", "name": "Charge succeeded", "selector": "$Event{type}"},
                {"tag": "invoice.paid", "name": "Invoice paid", "selector": "$Event{type}"}
            ]
        }),
    )
    .await?;
    let n = registrations.max(1);
    let mut slots = Vec::with_capacity(n);
    for p in 0..n.div_ceil(ENVS_PER_PRODUCT) {
        let product = format!("{prefix}prod{p}");
        let envs: Vec<String> = (0..ENVS_PER_PRODUCT.min(n - p * ENVS_PER_PRODUCT))
            .map(|e| format!("e{e}"))
            .collect();
        api.post(
            "/api/v1/products",
            json!({"tag": product, "name": "Bench product", "envs": envs.iter().map(|e| json!({"slug": e})).collect::<Vec<_>>()}),
        )
        .await?;
        api.post(
            &format!("/api/v1/products/{product}/apps"),
            json!({"app": app, "access_tag": "admin",
                   "envs": envs.iter().map(|e| json!({"product_env": e, "app_env": "live"})).collect::<Vec<_>>()}),
        )
        .await?;
        slots.extend(envs.into_iter().map(|e| (product.clone(), e)));
    }
    // A few link calls at once: each is a small write transaction.
    let mut links = Vec::with_capacity(n);
    let mut registration_ids = Vec::with_capacity(n);
    let mut signing_secrets = Vec::with_capacity(n);
    for chunk in slots.chunks(8) {
        let calls = chunk.iter().map(|(product, env)| {
            let (path, body) = match receiver {
                Some(url) => (
                    "/api/v1/processor/webhooks/link".to_owned(),
                    json!({"product_tag": product, "access_tag": "admin", "webhook_tag": "payments",
                           "product_env": env, "url": url, "method": "POST", "verification_secret": VERIFY_SECRET}),
                ),
                None => (
                    format!("/api/v1/products/{product}/webhooks/link"),
                    json!({"app": "admin", "event": "charge.succeeded", "env": env, "webhook": "payments",
                           "verification_secret": VERIFY_SECRET}),
                ),
            };
            async move { api.ok(Method::POST, &path, &body).await }
        });
        for answer in futures::future::join_all(calls).await {
            let v = answer?;
            links.push(field(&v, &["link"])?.parse()?);
            registration_ids.push(field(&v, &["registration", "id"])?.to_owned());
            signing_secrets.push(field(&v, &["registration", "signing_secret"])?.to_owned());
        }
        if links.len() % 1000 == 0 {
            eprintln!("  {} of {n} registrations", links.len());
        }
    }
    Ok(Model {
        links,
        registration_ids,
        signing_secrets,
    })
}

fn field<'v>(v: &'v Value, path: &[&str]) -> Result<&'v str> {
    let mut cur = v;
    for key in path {
        cur = &cur[*key];
    }
    cur.as_str()
        .with_context(|| format!("no {} in {v}", path.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_urls_split_into_server_and_options() {
        let (s, q) =
            split_pg_url("postgres://postgres@127.0.0.1:5432/bench?sslmode=disable").unwrap();
        assert_eq!(s, "postgres://postgres@127.0.0.1:5432");
        assert_eq!(q, "?sslmode=disable");
        let (s, q) = split_pg_url("postgresql://u:p@h").unwrap();
        assert_eq!((s.as_str(), q.as_str()), ("postgresql://u:p@h", ""));
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
