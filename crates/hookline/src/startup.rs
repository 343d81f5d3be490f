//! Builds the application from a [`Config`] and runs it. Tests call
//! [`Application::build`] with port 0 and their own data dir or database,
//! exactly as `hookline serve` does.
//!
//! This is the one place where a node's work starts. [`Application::build`]
//! opens the store, binds the listener and builds the state the HTTP layer
//! serves from ([`AppState`]) together with every background task, none of
//! them running yet; [`Application::run_until_stopped`] starts them all
//! (`Background::start`), serves HTTP, and drains. The HTTP layer
//! ([`crate::api`], [`crate::http_server`]) only serves: it starts no
//! long-lived task (a connection's task and a request's work end with them).
//!
//! # Background tasks
//! - the ingest writer ([`group_commit`]): writes accepted events in batches;
//! - the delivery worker ([`hookline_delivery::worker`]);
//! - the wake-up forwarder: other nodes' `NOTIFY` into the worker's wake
//!   (PostgreSQL only);
//! - the bulk replay runner ([`crate::service::ReplayJobs::run`]);
//! - the registration health checks ([`crate::service::HealthChecker::run`]);
//! - metrics upkeep (the recorder's histograms, every 10 s);
//! - the retention sweeper ([`crate::retention`]);
//! - the clock refresh ([`crate::clock`], PostgreSQL only).
//!
//! # Shutdown
//! One [`CancellationToken`] stops everything. Every task sees it at once;
//! `run_until_stopped` then waits for them in this order, so that what is
//! accepted is written and what is leased is handed back before it returns:
//! 1. HTTP: the listener closes, live event streams end, requests in flight
//!    finish; `serve` returns once every connection is gone and drops the
//!    router, and with it every handle of the ingest writer.
//! 2. The ingest writer writes what was accepted and stops (it ends when its
//!    last handle is dropped, not on the token, so nothing acknowledged is
//!    lost).
//! 3. The delivery worker stops claiming, lets deliveries in flight finish
//!    within `delivery.shutdown_grace` (aborting the rest, which are
//!    delivered again later), records their results and releases the leases
//!    it still holds.
//! 4. The replay runner frees its job leases (so a restart on any node
//!    resumes them at once); the health checks and metrics upkeep stop.
//! 5. The retention sweeper, the wake-up forwarder and the clock refresh
//!    stop (they hold no work).

use crate::admin_key::{self, Origin};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::{group_commit, Ingest};
use crate::service::links::{self, LinkCache};
use crate::service::{Gateway, HealthChecker, ReplayJobs};
use hookline_core::retry::RetrySchedule;
use hookline_delivery::guard::OutboundGuard;
use hookline_delivery::worker::{self, DeliveryConfig};
use hookline_store::{ConfigStore, ConnectOptions, DocCipher, DynStore, KeyCheck};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the database: {0}")]
    Store(#[from] hookline_store::StoreError),
    #[error("cannot load the secret key: {0}")]
    SecretKey(#[from] crate::secret_key::KeyError),
    /// This node's secret key cannot open what the database holds.
    #[error("refusing to start: {cause}; {hint}")]
    WrongSecretKey { cause: String, hint: String },
    #[error("cannot set up the admin key: {0}")]
    AdminKey(String),
    #[error("cannot serve HTTPS: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

pub struct Application {
    listener: tokio::net::TcpListener,
    port: u16,
    admin_key: String,
    admin_key_origin: Origin,
    state: AppState,
    /// Built with the state, started by [`Application::run_until_stopped`].
    background: Background,
    http_limits: crate::http_server::Limits,
    /// The certificate and acceptor when `[tls]` names files.
    tls: Option<Arc<crate::tls::Tls>>,
    /// Cancelled on SIGTERM (or by a test): stops HTTP and every task.
    shutdown: CancellationToken,
}

/// Every long-lived task of a node, built (not running) by
/// [`Application::build`] and started together by [`Background::start`].
struct Background {
    store: DynStore,
    /// Writes what ingest accepted; the other half of the state's `Writer`.
    writer: group_commit::WriterTask,
    delivery: DeliveryParts,
    /// The bulk replay runner (shares its wake with the state's handle).
    replays: ReplayJobs,
    /// The registration health checks.
    health: HealthChecker,
    /// The process's metrics recorder, whose histograms need upkeep.
    metrics: PrometheusHandle,
    retention: crate::config::RetentionConfig,
}

struct DeliveryParts {
    client: reqwest::Client,
    guard: Arc<OutboundGuard>,
    config: DeliveryConfig,
    wake: Arc<Notify>,
}

/// The started tasks, in the order [`Running::drain`] waits for them (see
/// the module docs, "Shutdown").
struct Running {
    writer: JoinHandle<()>,
    delivery: JoinHandle<()>,
    /// The replay runner, health checks and metrics upkeep.
    monitoring: Vec<(&'static str, JoinHandle<()>)>,
    /// Retention, the wake-up forwarder and the clock refresh.
    housekeeping: Vec<(&'static str, JoinHandle<()>)>,
}

impl Background {
    /// Starts every background task; each ends with `shutdown` (the ingest
    /// writer once its last handle is dropped).
    fn start(self, shutdown: &CancellationToken) -> Running {
        let Background {
            store,
            writer,
            delivery: d,
            replays,
            health,
            metrics,
            retention,
        } = self;
        let writer = tokio::spawn(writer.run());
        let mut housekeeping = Vec::new();
        if let Some(task) = forward_work_notifications(&store, d.wake.clone(), shutdown.clone()) {
            housekeeping.push(("wake-up forwarder", task));
        }
        if let Some(task) = crate::retention::spawn(store.clone(), retention, shutdown.clone()) {
            housekeeping.push(("retention", task));
        }
        housekeeping.push((
            "clock refresh",
            crate::clock::spawn(store.clone(), shutdown.clone()),
        ));
        let delivery = worker::spawn(store, d.client, d.guard, d.config, d.wake, shutdown.clone());
        let monitoring = vec![
            ("replay runner", tokio::spawn(replays.run(shutdown.clone()))),
            ("health checks", tokio::spawn(health.run(shutdown.clone()))),
            (
                "metrics upkeep",
                tokio::spawn(crate::metrics::run_upkeep(metrics, shutdown.clone())),
            ),
        ];
        Running {
            writer,
            delivery,
            monitoring,
            housekeeping,
        }
    }
}

impl Running {
    /// Waits for every task, in the documented order. Call it once HTTP has
    /// stopped and the token is cancelled.
    async fn drain(self) {
        // The router (and with it every writer handle) is gone: the writer
        // drains what was accepted and stops.
        joined("ingest writer", self.writer).await;
        joined("delivery worker", self.delivery).await;
        for (name, task) in self.monitoring.into_iter().chain(self.housekeeping) {
            joined(name, task).await;
        }
    }
}

async fn joined(name: &str, task: JoinHandle<()>) {
    if let Err(e) = task.await {
        tracing::error!(task = name, error = %e, "a background task panicked");
    }
}

/// Opens the configured database (creating the data dir for SQLite), with
/// migrations run and secrets sealed with the configured key. The key is not
/// checked against the database here (`hookline migrate` may run anywhere);
/// [`Application::build`] does that with [`verify_secret_key`].
pub async fn open_store(config: &Config) -> Result<DynStore, StartupError> {
    let (store, _, _) = open_sealed(config).await?;
    Ok(store)
}

/// The store, sealing with the configured key, and that key.
async fn open_sealed(
    config: &Config,
) -> Result<(DynStore, DocCipher, crate::secret_key::KeySource), StartupError> {
    std::fs::create_dir_all(&config.data_dir).map_err(hookline_store::StoreError::from)?;
    let opts = ConnectOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: config.database.acquire_timeout,
        migrate: true,
    };
    let (cipher, source) = crate::secret_key::load(&config.secret_key, &config.data_dir)
        .map_err(StartupError::SecretKey)?;
    let store = hookline_store::connect(&config.database_url(), &opts)
        .await?
        .with_cipher(Some(cipher.clone()));
    Ok((store, cipher, source))
}

/// Refuses a key that does not open the database's key check value (or,
/// on a database without one yet, any of its sealed secrets), and stores
/// the check value on the first start.
async fn verify_secret_key(
    store: &dyn ConfigStore,
    cipher: &DocCipher,
    source: &crate::secret_key::KeySource,
) -> Result<(), StartupError> {
    match cipher.verify_key(store).await {
        Ok(KeyCheck::Matched) => Ok(()),
        Ok(KeyCheck::Written { opened, unreadable }) => {
            tracing::info!(
                sealed_values_checked = opened,
                "stored the secret key check value: nodes with another secret key will refuse to start"
            );
            if unreadable > 0 {
                tracing::warn!(
                    unreadable,
                    opened,
                    "some stored secrets were sealed with another key and cannot be opened; \
                     deliveries of their registrations fail with `secret_unreadable` until their \
                     auth and secrets are set again"
                );
            }
            Ok(())
        }
        Err(hookline_store::StoreError::WrongSecretKey(what)) => {
            Err(StartupError::WrongSecretKey {
                cause: format!(
                    "this node's secret key is not the one the database's secrets are sealed with: it cannot open {what}"
                ),
                hint: crate::secret_key::mismatch_hint(source),
            })
        }
        Err(e) => Err(e.into()),
    }
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        // First: a bad certificate file is the user's to fix before
        // anything is opened or bound.
        let tls = crate::tls::Tls::load(&config.tls)?.map(Arc::new);
        let (store, cipher, key_source) = open_sealed(&config).await?;
        verify_secret_key(&*store, &cipher, &key_source).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.listen,
            source,
        })?;
        let (admin_key, admin_key_origin) =
            admin_key::ensure(store.as_ref(), &config.admin_key, &config.data_dir)
                .await
                .map_err(|e| StartupError::AdminKey(e.to_string()))?;

        let guard = Arc::new(OutboundGuard::new(config.allowed_targets.clone()));
        let wake = Arc::new(Notify::new());
        let schedule = RetrySchedule(config.delivery.retry_schedule.clone());
        let gateway = Gateway {
            store: store.clone(),
            guard: guard.clone(),
            public_url: config.public_url_for(bound).into(),
            wake: wake.clone(),
            default_schedule: schedule.clone(),
            providers: Arc::new(crate::providers::Providers::new(
                guard.clone(),
                config.providers.timeout,
            )),
            rotation_overlap: config.signing.rotation_overlap,
            links: Arc::new(LinkCache::new(link_ttl(&config))),
        };
        let write_health = Arc::new(crate::ingest::write_health::WriteHealth::default());
        let (writer, writer_task) = group_commit::Writer::new(
            store.clone(),
            config.ingest.batch_max,
            config.providers.dedup_window,
            write_health.clone(),
        );
        // One id names this node as the holder of its event and replay job
        // leases.
        let node_id = hookline_core::ids::new_id("node");
        let user_agent = concat!("Hookline/", env!("CARGO_PKG_VERSION"));
        let replays = ReplayJobs {
            gateway: gateway.clone(),
            config: config.replay.clone(),
            node_id: node_id.clone(),
            wake: Arc::new(Notify::new()),
        };
        let health = HealthChecker {
            gateway: gateway.clone(),
            config: config.health.clone(),
            // Health notifications go through their own guarded client.
            client: hookline_delivery::client::build_client(guard.clone(), user_agent),
        };
        let metrics = crate::metrics::install();
        let shutdown = CancellationToken::new();
        let state = AppState {
            ingest: Arc::new(Ingest::new(
                gateway.clone(),
                writer,
                write_health,
                config.ingest.rejected_per_minute,
            )),
            gateway,
            max_body_bytes: config.max_body_bytes,
            key_throttle: Arc::new(api::key_throttle::KeyThrottle::new(
                config.http.auth_failure_limit,
                config.http.auth_failure_window,
            )),
            metrics: api::metrics::MetricsEndpoint {
                handle: metrics.clone(),
                enabled: config.metrics.enabled,
                require_key: config.metrics.require_key,
            },
            replays: replays.clone(),
            stream: api::stream::StreamSettings {
                poll_interval: config.stream.poll_interval,
                shutdown: shutdown.clone(),
            },
        };
        let d = &config.delivery;
        let delivery = DeliveryParts {
            client: hookline_delivery::client::build_client(guard.clone(), user_agent),
            guard,
            config: DeliveryConfig {
                node_id,
                concurrency: d.concurrency,
                batch: d.batch,
                lease: d.lease(),
                timeout: d.timeout,
                poll_interval: d.poll_interval,
                schedule,
                shutdown_grace: d.shutdown_grace,
            },
            wake,
        };
        Ok(Application {
            listener,
            port: bound.port(),
            admin_key,
            admin_key_origin,
            state,
            background: Background {
                store,
                writer: writer_task,
                delivery,
                replays,
                health,
                metrics,
                retention: config.retention.clone(),
            },
            http_limits: (&config.http).into(),
            tls,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.state.gateway.public_url
    }

    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }

    /// True when the admin key was generated by this start (print it once).
    pub fn admin_key_generated(&self) -> bool {
        self.admin_key_origin == Origin::Generated
    }

    /// Cancel it to stop the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts every background task and serves HTTP until the shutdown
    /// token is cancelled; then stops taking requests and drains in the
    /// order the module docs give (in-flight requests, the ingest writer,
    /// in-flight deliveries, replay leases).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let running = self.background.start(&self.shutdown);
        let router = api::router(self.state);
        tracing::info!(port = self.port, "hookline is listening");
        let served = crate::http_server::serve(
            self.listener,
            router,
            self.http_limits,
            self.tls,
            self.shutdown.clone(),
        )
        .await;
        running.drain().await;
        tracing::info!("hookline stopped");
        served
    }
}

/// Wakes the delivery worker when another node sharing the database commits
/// work (PostgreSQL's `NOTIFY`), as local ingest does, so an idle worker
/// claims it at once rather than at its next poll. `None` on SQLite, whose
/// only process wakes its worker itself.
fn forward_work_notifications(
    store: &DynStore,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut signal = store.work_notifications()?;
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = signal.changed() => {
                    if changed.is_err() {
                        return; // The store is gone.
                    }
                    // The worker listens before each claim, so a wake that
                    // lands while it is claiming is not lost.
                    wake.notify_waiters();
                }
            }
        }
    }))
}

/// How long ingest trusts a cached link: long when this process makes every
/// configuration write (it clears the cache on each), short when other nodes
/// share the database (see `service::links`).
fn link_ttl(config: &Config) -> std::time::Duration {
    if config.database_url().starts_with("postgres") {
        links::SHARED_TTL
    } else {
        links::OWNED_TTL
    }
}
