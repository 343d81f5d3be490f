//! One `hookline serve` process under test: started with the suite's short
//! timeouts, killed, paused, resumed, stopped gracefully and started again on
//! the same data dir and database. Optionally wrapped:
//!
//! - [`Wrap::Tmpfs`]: in a private mount namespace (`unshare -m`) with a
//!   small tmpfs mounted over its data dir, which the harness fills and frees
//!   through `/proc/<pid>/root/<dir>` (disk full without touching the host);
//! - [`Wrap::Faketime`]: with libfaketime preloaded, offsetting its wall clock
//!   (`CLOCK_REALTIME`) only — `FAKETIME_DONT_FAKE_MONOTONIC=1` keeps the
//!   monotonic clock, so timers and timeouts run at the real pace.

use anyhow::{bail, Context, Result};
use hookline_bench::procs::{self, Spawned};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The management key every node is given.
pub const ADMIN_KEY: &str = "hk_faults_0123456789abcdef0123456789abcdef";
/// One secret key for every node of a scenario (nodes sharing a database
/// must share it).
const SECRET_KEY: &str = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=";
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Per-attempt timeout and lease the suite runs with: faults of a few
/// seconds outlast both.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(2);
pub const LEASE: Duration = Duration::from_secs(4);

#[derive(Debug, Clone)]
pub enum Wrap {
    None,
    /// A tmpfs of `size` (e.g. `16m`) over the data dir, in its own mount namespace.
    Tmpfs {
        size: String,
    },
    /// libfaketime's `FAKETIME` value, e.g. `+30s`.
    Faketime {
        offset: String,
    },
}

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub log_dir: PathBuf,
    pub database_url: String,
    pub wrap: Wrap,
}

pub struct Node {
    pub spec: NodeSpec,
    proc: Option<Spawned>,
    /// `http://127.0.0.1:<port>` of the running process.
    pub base: String,
    starts: u32,
}

impl Node {
    pub async fn start(spec: NodeSpec) -> Result<Node> {
        let mut node = Node {
            spec,
            proc: None,
            base: String::new(),
            starts: 0,
        };
        node.restart().await?;
        Ok(node)
    }

    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.pid())
    }

    pub fn log(&self) -> PathBuf {
        self.spec
            .log_dir
            .join(format!("{}.{}.log", self.spec.name, self.starts))
    }

    fn command(&self) -> Command {
        let s = &self.spec;
        let mut cmd = match &s.wrap {
            Wrap::Tmpfs { size } => {
                let mut c = Command::new("unshare");
                c.args(["-m", "--propagation", "private", "--", "sh", "-c"])
                    .arg(r#"mount -t tmpfs -o "size=$1" tmpfs "$2" && shift 2 && exec "$@""#)
                    .arg("sh")
                    .arg(size)
                    .arg(&s.data_dir)
                    .arg(&s.bin);
                c
            }
            Wrap::None | Wrap::Faketime { .. } => Command::new(&s.bin),
        };
        if let Wrap::Faketime { offset } = &s.wrap {
            cmd.env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME", offset)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        let secs = |d: Duration| format!("{}ms", d.as_millis());
        cmd.arg("serve")
            .current_dir(&s.log_dir)
            .env("HOOKLINE_LISTEN", "127.0.0.1:0")
            .env("HOOKLINE_DATA_DIR", &s.data_dir)
            .env("HOOKLINE_DATABASE_URL", &s.database_url)
            .env("HOOKLINE_ADMIN_KEY", ADMIN_KEY)
            .env("HOOKLINE_SECRET_KEY", SECRET_KEY)
            .env("HOOKLINE_ALLOWED_TARGETS", "127.0.0.0/8")
            .env("HOOKLINE_DELIVERY__TIMEOUT", secs(DELIVERY_TIMEOUT))
            .env("HOOKLINE_DELIVERY__LEASE", secs(LEASE))
            .env("HOOKLINE_DELIVERY__POLL_INTERVAL", "250ms")
            .env("HOOKLINE_DELIVERY__SHUTDOWN_GRACE", "5s")
            // Retries add up to ~45 s: longer than any fault of the suite,
            // so no acknowledged event runs out of attempts.
            .env(
                "HOOKLINE_DELIVERY__RETRY_SCHEDULE",
                "500ms,1s,1s,2s,2s,3s,3s,4s,4s,5s,5s,5s,5s",
            )
            .env("HOOKLINE_HEALTH__INTERVAL", "0s")
            .env("HOOKLINE_DATABASE__ACQUIRE_TIMEOUT", "2s")
            .env("RUST_LOG", "info");
        cmd
    }

    /// Starts the process (again), on the same data dir and database.
    pub async fn restart(&mut self) -> Result<()> {
        if self.proc.is_some() {
            bail!("{} is still running", self.spec.name);
        }
        self.starts += 1;
        let cmd = self.command();
        let log = self.log();
        let spawned =
            tokio::task::spawn_blocking(move || Spawned::spawn(cmd, &log, Duration::from_secs(60)))
                .await?
                .with_context(|| format!("starting node {}", self.spec.name))?;
        self.base = format!("http://127.0.0.1:{}", spawned.port);
        self.proc = Some(spawned);
        Ok(())
    }

    fn signal(&self, sig: &str) -> Result<()> {
        let pid = self.pid().context("the node is not running")?;
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()?;
        if !status.success() {
            bail!("kill {sig} {pid} failed");
        }
        Ok(())
    }

    /// SIGKILL, and reaps the process.
    pub async fn kill(&mut self) -> Result<()> {
        self.signal("-KILL")?;
        let proc = self.proc.take();
        tokio::task::spawn_blocking(move || drop(proc)).await?;
        Ok(())
    }

    pub fn pause(&self) -> Result<()> {
        self.signal("-STOP")
    }

    pub fn resume(&self) -> Result<()> {
        self.signal("-CONT")
    }

    /// SIGTERM and waits for a graceful exit (SIGKILL after `grace`).
    pub async fn terminate(&mut self, grace: Duration) -> Result<()> {
        if let Some(p) = self.proc.take() {
            tokio::task::spawn_blocking(move || p.stop(grace)).await??;
        }
        Ok(())
    }

    pub fn rss_kb(&self) -> Option<u64> {
        procs::sample(&self.pid()?.to_string()).map(|s| s.rss_kb)
    }

    /// The data dir as the host sees inside the node's mount namespace.
    pub fn data_dir_inside(&self) -> Option<PathBuf> {
        let rel = self.spec.data_dir.strip_prefix("/").ok()?;
        Some(Path::new(&format!("/proc/{}/root", self.pid()?)).join(rel))
    }
}
