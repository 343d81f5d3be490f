//! PostgreSQL for the suite: a private server of its own (never the
//! machine's shared one, which other test runs use), and a TCP proxy between
//! the nodes and it whose connection can be cut.
//!
//! The server is `initdb` + `pg_ctl` from `--pg-bin` (default
//! `/usr/lib/postgresql/15/bin`) in a temp dir on a free loopback port, run
//! as the `postgres` OS user (`runuser -u postgres --`: PostgreSQL refuses to
//! run as root), with trust authentication. `fsync=off`: the suite restarts
//! the server process (`pg_ctl stop -m immediate`, a crash without recovery
//! of the page cache), never the machine, so the kernel still holds every
//! write; it only saves the shared disk some work.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub struct PrivatePg {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn as_postgres(program: &Path) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", "postgres", "--"]).arg(program);
    c
}

fn run(mut cmd: Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl PrivatePg {
    pub fn start(bin: &Path) -> Result<PrivatePg> {
        if !bin.join("initdb").exists() {
            bail!(
                "no initdb in {} (install postgresql or pass --pg-bin)",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("hookline-faults-pg-")
            .tempdir()?;
        let mut chown = Command::new("chown");
        chown.arg("postgres:postgres").arg(dir.path());
        run(chown, "chown")?;
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(dir.path().join("data"));
        run(initdb, "initdb")?;
        let pg = PrivatePg {
            bin: bin.to_owned(),
            dir,
            port: free_port()?,
        };
        pg.up()?;
        Ok(pg)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn ctl(&self, args: &[&str]) -> Command {
        let mut c = as_postgres(&self.bin.join("pg_ctl"));
        c.arg("-D").arg(self.dir.path().join("data")).args(args);
        c
    }

    /// Starts the server and waits until it accepts connections.
    pub fn up(&self) -> Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("postgres.log");
        let mut c = self.ctl(&["-w", "-t", "60", "-o", &options, "-l"]);
        c.arg(log).arg("start");
        run(c, "pg_ctl start")
    }

    /// Stops the server the hard way (`-m immediate`: every backend killed,
    /// crash recovery at the next start).
    pub fn crash(&self) -> Result<()> {
        run(self.ctl(&["-w", "-m", "immediate", "stop"]), "pg_ctl stop")
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.ctl(&["-m", "immediate", "stop"]).output();
    }
}

/// A TCP proxy on loopback in front of one upstream. [`Proxy::cut`] drops
/// every connection and refuses new ones (accepts and closes them at once)
/// until [`Proxy::restore`].
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream_port: u16) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (c, set) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(down);
                    continue;
                }
                let mut set = set.lock().expect("proxy connections");
                // Reap finished connections so the set stays small.
                while set.try_join_next().is_some() {}
                set.spawn(async move {
                    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
                        return;
                    };
                    let _ = down.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                });
            }
        });
        Ok(Proxy {
            port,
            cut,
            conns,
            accept,
        })
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.conns.lock().expect("proxy connections").abort_all();
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.conns.lock().expect("proxy connections").abort_all();
    }
}
