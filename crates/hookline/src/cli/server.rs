//! `hookline serve` and `hookline migrate`: the commands that run the
//! gateway itself. Flags override `hookline.toml` and `HOOKLINE_*` variables.

use anyhow::Context;
use clap::Args;
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use hookline::config::Config;
use hookline::startup::{open_store, Application};
use std::path::PathBuf;

/// Flags override `hookline.toml` and `HOOKLINE_*` variables.
#[derive(Args)]
pub struct ServerFlags {
    /// Configuration file (default: ./hookline.toml when present).
    #[arg(long, env = "HOOKLINE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: Option<String>,
    /// sqlite://path or postgres://user@host/db.
    #[arg(long)]
    database_url: Option<String>,
    /// Base of generated ingest links.
    #[arg(long)]
    public_url: Option<String>,
    /// Bootstrap management key.
    #[arg(long)]
    admin_key: Option<String>,
    /// Comma-separated private CIDRs Hookline may call.
    #[arg(long)]
    allowed_targets: Option<String>,
    /// Folder for the embedded database and the generated admin key.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long)]
    tls_key: Option<PathBuf>,
}

impl ServerFlags {
    fn load(&self) -> anyhow::Result<Config> {
        let mut d = Dict::new();
        let mut set = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                d.insert(k.into(), Value::from(v.clone()));
            }
        };
        set("listen", &self.listen);
        set("database_url", &self.database_url);
        set("public_url", &self.public_url);
        set("admin_key", &self.admin_key);
        set("allowed_targets", &self.allowed_targets);
        set(
            "data_dir",
            &self.data_dir.as_ref().map(|p| p.display().to_string()),
        );
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| Value::from(p.display().to_string()));
        let mut tls = Dict::new();
        if let Some(v) = path(&self.tls_cert) {
            tls.insert("cert".into(), v);
        }
        if let Some(v) = path(&self.tls_key) {
            tls.insert("key".into(), v);
        }
        if !tls.is_empty() {
            d.insert("tls".into(), Value::from(tls));
        }
        Ok(Config::load(
            self.config.as_deref(),
            Serialized::globals(d),
        )?)
    }
}

pub async fn migrate(flags: ServerFlags) -> anyhow::Result<()> {
    let config = flags.load()?;
    hookline::telemetry::init(config.log_format);
    open_store(&config)
        .await
        .context("migrating the database")?;
    println!("migrations applied to {}", redact(&config.database_url()));
    Ok(())
}

pub async fn serve(flags: ServerFlags) -> anyhow::Result<()> {
    let config = flags.load()?;
    let _telemetry = hookline::telemetry::init_from(&config)?;
    let app = Application::build(config.clone()).await?;
    println!(
        "hookline listening on port {}; links start with {}",
        app.port(),
        app.public_url()
    );
    if app.admin_key_generated() {
        println!(
            "Generated a management key (shown once; also saved to {}):\n  {}",
            config.data_dir.join("admin.key").display(),
            app.admin_key()
        );
    }
    let token = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing in-flight work");
        token.cancel();
    });
    app.run_until_stopped().await.context("serving HTTP")?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Hides a password in a database URL before printing it.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}
