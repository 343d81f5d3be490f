//! Builds the application from a [`Config`] and runs it. Tests call
//! [`Application::build`] with port 0 and their own data dir or database,
//! exactly as `hookline serve` does.

use crate::admin_key::{self, Origin};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::{group_commit, Ingest};
use crate::service::links::{self, LinkCache};
use crate::service::Gateway;
use hookline_core::retry::RetrySchedule;
use hookline_delivery::guard::OutboundGuard;
use hookline_delivery::worker::{self, DeliveryConfig};
use hookline_store::sealed::KeyCheck;
use hookline_store::{ConnectOptions, DynStore, SealedStore};
use std::sync::Arc;
use tokio::sync::Notify;
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
    writer: tokio::task::JoinHandle<()>,
    delivery: DeliveryParts,
    retention: crate::config::RetentionConfig,
    http_limits: crate::http_server::Limits,
    /// The certificate and acceptor when `[tls]` names files.
    tls: Option<Arc<crate::tls::Tls>>,
    /// Cancelled on SIGTERM (or by a test): stops HTTP and the workers.
    shutdown: CancellationToken,
}

struct DeliveryParts {
    store: DynStore,
    client: reqwest::Client,
    guard: Arc<OutboundGuard>,
    config: DeliveryConfig,
    wake: Arc<Notify>,
}

/// Opens the configured database (creating the data dir for SQLite), with
/// migrations run and secrets sealed with the configured key. The key is not
/// checked against the database here (`hookline migrate` may run anywhere);
/// [`Application::build`] does that with [`verify_secret_key`].
pub async fn open_store(config: &Config) -> Result<DynStore, StartupError> {
    let (store, _) = open_sealed(config).await?;
    Ok(store)
}

async fn open_sealed(
    config: &Config,
) -> Result<(Arc<SealedStore>, crate::secret_key::KeySource), StartupError> {
    std::fs::create_dir_all(&config.data_dir).map_err(hookline_store::StoreError::from)?;
    let opts = ConnectOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: config.database.acquire_timeout,
        migrate: true,
    };
    let (cipher, source) = crate::secret_key::load(&config.secret_key, &config.data_dir)
        .map_err(StartupError::SecretKey)?;
    let inner = hookline_store::connect(&config.database_url(), &opts).await?;
    Ok((Arc::new(SealedStore::new(inner, cipher)), source))
}

/// Refuses a key that does not open the database's key check value (or,
/// on a database without one yet, any of its sealed secrets), and stores
/// the check value on the first start.
async fn verify_secret_key(
    store: &SealedStore,
    source: &crate::secret_key::KeySource,
) -> Result<(), StartupError> {
    match store.verify_key().await {
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
        let (sealed, key_source) = open_sealed(&config).await?;
        verify_secret_key(&sealed, &key_source).await?;
        let store: DynStore = sealed;
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
        let (writer_handle, writer) = {
            let (w, h) = group_commit::Writer::spawn(
                store.clone(),
                config.ingest.batch_max,
                config.providers.dedup_window,
                write_health.clone(),
            );
            (h, w)
        };
        let shutdown = CancellationToken::new();
        let monitor = api::monitor::MonitorState::new(&config, gateway.clone(), shutdown.clone());
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
            monitor: Arc::new(monitor),
        };
        let d = &config.delivery;
        let delivery = DeliveryParts {
            store,
            client: hookline_delivery::client::build_client(
                guard.clone(),
                concat!("Hookline/", env!("CARGO_PKG_VERSION")),
            ),
            guard,
            config: DeliveryConfig {
                node_id: hookline_core::ids::new_id("node"),
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
            writer: writer_handle,
            delivery,
            retention: config.retention.clone(),
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

    /// Serves HTTP and runs the delivery worker until the shutdown token is
    /// cancelled; then stops taking requests, lets in-flight deliveries
    /// finish, and flushes the ingest writer.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let d = self.delivery;
        let remote_wake =
            forward_work_notifications(&d.store, d.wake.clone(), self.shutdown.clone());
        let retention =
            crate::retention::spawn(d.store.clone(), self.retention, self.shutdown.clone());
        let clock = crate::clock::spawn(d.store.clone(), self.shutdown.clone());
        let worker = worker::spawn(
            d.store,
            d.client,
            d.guard,
            d.config,
            d.wake,
            self.shutdown.clone(),
        );
        let monitor_tasks = self.state.monitor.spawn_tasks();
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
        // The router (and with it every writer handle) is gone: the writer
        // drains what was accepted and stops.
        let _ = self.writer.await;
        let _ = worker.await;
        for task in monitor_tasks {
            let _ = task.await;
        }
        for task in [retention, remote_wake, Some(clock)].into_iter().flatten() {
            let _ = task.await;
        }
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
