//! One scenario's world — a receiver, the nodes, the database, the load —
//! and the steps every scenario shares: start, warm up, recover (wait until
//! quiet, bounded), read the event log, check, tear down.

use crate::check::{self, Rules, Verdict, Window};
use crate::load::{Load, Outcome};
use crate::node::{Node, NodeSpec, Wrap, ADMIN_KEY, DELIVERY_TIMEOUT};
use crate::pg::{PrivatePg, Proxy};
use crate::receiver::{Mode, Receiver};
use anyhow::{Context, Result};
use hookline_bench::net::{self, Api};
use hookline_bench::targets::{self, PgDatabase, Sign};
use http::Method;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Suite-wide settings.
pub struct Ctx {
    pub bin: PathBuf,
    pub pg_bin: PathBuf,
    pub work: PathBuf,
    /// Requests per second of the load.
    pub rate: u32,
    /// The private PostgreSQL server, started on first use.
    pub pg: Option<PrivatePg>,
    pub runs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    /// The private server, nodes connected directly.
    Postgres,
    /// The private server behind the harness's cuttable proxy.
    PostgresProxied,
}

pub struct World {
    pub receiver: Receiver,
    pub nodes: Vec<Node>,
    pub load: Arc<Load>,
    pub rules: Rules,
    pub lifted: Instant,
    pub proxy: Option<Proxy>,
    db: Option<PgDatabase>,
    loader: Option<tokio::task::JoinHandle<()>>,
}

/// How long the recovery may take before the scenario fails.
const QUIET_DEADLINE: Duration = Duration::from_secs(75);
/// No new arrival for this long (after every acknowledged event arrived)
/// counts as quiet: late duplicates have had their chance.
const QUIET_FOR: Duration = Duration::from_millis(2500);

impl Ctx {
    pub fn pg(&mut self) -> Result<&PrivatePg> {
        if self.pg.is_none() {
            eprintln!(
                "starting a private PostgreSQL from {}",
                self.pg_bin.display()
            );
            self.pg = Some(PrivatePg::start(&self.pg_bin)?);
        }
        Ok(self.pg.as_ref().expect("just started"))
    }

    /// Starts `wraps.len()` nodes on `backend` and the model they need,
    /// with one registration forwarding to a fresh receiver.
    pub async fn world(&mut self, name: &str, backend: Backend, wraps: Vec<Wrap>) -> Result<World> {
        self.runs += 1;
        let run = self.runs;
        let dir = self.work.join(name);
        std::fs::create_dir_all(&dir)?;
        let receiver = Receiver::start().await?;
        let (db, proxy, database_url) = match backend {
            Backend::Sqlite => (None, None, None),
            Backend::Postgres | Backend::PostgresProxied => {
                let server = self.pg()?.url("postgres");
                let db = PgDatabase::create(&server).await?;
                let db_name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
                let (proxy, url) = if backend == Backend::PostgresProxied {
                    let proxy = Proxy::start(self.pg()?.port).await?;
                    let url = proxy.url(&db_name);
                    (Some(proxy), url)
                } else {
                    (None, db.url.clone())
                };
                (Some(db), proxy, Some(url))
            }
        };
        let mut nodes = Vec::new();
        let mut starting = Vec::new();
        for (i, wrap) in wraps.into_iter().enumerate() {
            let data_dir = dir.join(format!("node{i}"));
            std::fs::create_dir_all(&data_dir)?;
            let spec = NodeSpec {
                name: format!("node{i}"),
                bin: self.bin.clone(),
                database_url: database_url
                    .clone()
                    .unwrap_or_else(|| format!("sqlite://{}/hookline.db", data_dir.display())),
                data_dir,
                log_dir: dir.clone(),
                wrap,
            };
            starting.push(tokio::spawn(Node::start(spec)));
        }
        for node in starting {
            nodes.push(node.await??);
        }
        let api = api(&nodes[0].base);
        let model = targets::setup(&api, "f", 1, Some(&receiver.url), Sign::Stripe)
            .await
            .context("setting up the model")?;
        receiver.set_secret(&model.signing_secrets[0]);
        let load = Load::new(model.links[0].path().to_owned(), run);
        for (i, n) in nodes.iter().enumerate() {
            load.targets.set(i, Some(n.base.clone()));
        }
        Ok(World {
            receiver,
            nodes,
            load,
            rules: Rules {
                in_flight: DELIVERY_TIMEOUT + Duration::from_secs(1),
                ..Rules::default()
            },
            lifted: Instant::now(),
            proxy,
            db,
            loader: None,
        })
    }
}

pub fn api(base: &str) -> Api {
    Api {
        client: net::client(),
        base: base.to_owned(),
        key: ADMIN_KEY.to_owned(),
    }
}

impl World {
    /// Starts the load and lets it run for `warm`.
    pub async fn warm_up(&mut self, rate: u32, warm: Duration, max: Duration) {
        self.loader = Some(self.load.spawn(rate, max));
        tokio::time::sleep(warm).await;
    }

    /// Records a fault window from `start` to now, and that it was lifted now.
    pub fn window(&mut self, start: Instant) {
        let end = Instant::now();
        self.rules.windows.push(Window { start, end });
        self.lifted = end;
    }

    /// Makes the receiver answer slowly (under the delivery timeout) for a
    /// second, so the next fault finds deliveries in flight; the caller sets
    /// the mode back after the fault.
    pub async fn hold_deliveries(&self) {
        self.receiver
            .set_mode(Mode::Slow(Duration::from_millis(1500)));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    pub fn retarget(&self, i: usize) {
        self.load.targets.set(i, Some(self.nodes[i].base.clone()));
    }

    pub fn untarget(&self, i: usize) {
        self.load.targets.set(i, None);
    }

    /// Stops the load after `after`, waits until quiet (bounded), reads the
    /// event log and checks; tears everything down.
    pub async fn finish(mut self, after: Duration) -> Result<(Verdict, Duration)> {
        tokio::time::sleep(after).await;
        self.load.stop(Duration::from_secs(15)).await;
        if let Some(l) = self.loader.take() {
            l.abort();
        }
        let stopped = Instant::now();
        let acked: HashSet<String> = self
            .load
            .snapshot()
            .into_iter()
            .filter_map(|s| match s.outcome {
                Outcome::Acked(id) => Some(id),
                _ => None,
            })
            .collect();
        // Quiet: every acknowledged event arrived, and nothing new for a while.
        let deadline = stopped + QUIET_DEADLINE;
        let (mut seen, mut last_change) = (0, Instant::now());
        while Instant::now() < deadline {
            let arrivals = self.receiver.arrivals();
            if arrivals.len() != seen {
                seen = arrivals.len();
                last_change = Instant::now();
            }
            let got: HashSet<&str> = arrivals
                .iter()
                .filter(|a| a.ok)
                .map(|a| a.id.as_str())
                .collect();
            let all = acked.iter().all(|id| got.contains(id.as_str()));
            if all && last_change.elapsed() >= QUIET_FOR {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = self.event_log(&acked, deadline).await;
        let settle = stopped.elapsed();
        let verdict = check::check(
            &self.load.snapshot(),
            &self.receiver.arrivals(),
            &log.unwrap_or_default(),
            &self.rules,
            self.lifted,
        );
        self.teardown().await;
        Ok((verdict, settle))
    }

    /// Event id → status of every event, from the first node that answers;
    /// read again (until `deadline`) while an acknowledged one is not yet
    /// `delivered` (its completion may still be on its way).
    async fn event_log(
        &self,
        acked: &HashSet<String>,
        deadline: Instant,
    ) -> Option<HashMap<String, String>> {
        let deadline = deadline.max(Instant::now() + Duration::from_secs(10));
        let mut last = None;
        while Instant::now() < deadline {
            for node in &self.nodes {
                if node.pid().is_none() {
                    continue;
                }
                if let Ok(log) = read_log(&api(&node.base)).await {
                    let done = acked
                        .iter()
                        .all(|id| log.get(id).map(String::as_str) == Some("delivered"));
                    last = Some(log);
                    if done {
                        return last;
                    }
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        last
    }

    pub fn rss_line(&self) -> String {
        self.nodes
            .iter()
            .map(|n| match n.rss_kb() {
                Some(kb) => format!("{} {:.0} MiB", n.spec.name, kb as f64 / 1024.0),
                None => format!("{} -", n.spec.name),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub async fn teardown(&mut self) {
        for n in &mut self.nodes {
            // A paused node cannot handle SIGTERM.
            let _ = n.resume();
            let _ = n.terminate(Duration::from_secs(10)).await;
        }
        self.proxy.take();
        if let Some(db) = self.db.take() {
            db.drop_db().await;
        }
    }
}

/// Every event of the log, paged.
async fn read_log(api: &Api) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/events?limit=500&cursor={c}"),
            None => "/api/v1/events?limit=500".to_owned(),
        };
        let (status, page) = api.call(Method::GET, &path, None).await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status} {page}");
        for e in page["data"].as_array().into_iter().flatten() {
            if let (Some(id), Some(st)) = (e["id"].as_str(), e["status"].as_str()) {
                out.insert(id.to_owned(), st.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
            _ => return Ok(out),
        }
    }
    Ok(out)
}
