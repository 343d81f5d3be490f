//! `hookline-faults`: Hookline's fault-injection suite. Starts real
//! `hookline serve` processes on SQLite and on a private PostgreSQL, drives
//! a steady load of signed webhooks at them, injects one fault per scenario,
//! lets the system recover and checks that nothing acknowledged was lost
//! (see [`check`] for exactly what is checked). `--short` is the whole suite
//! in a few minutes; `--soak 30m` is a long run with faults in rotation and
//! the nodes' memory sampled.
//!
//! # Layout
//! - [`receiver`]: the recording receiver and its fault modes.
//! - [`load`]: the fixed-rate signed load and its record of answers.
//! - [`node`]: one `hookline serve` process (kill, pause, resume, restart;
//!   tmpfs and faketime wrappers).
//! - [`pg`]: the private PostgreSQL server and the cuttable TCP proxy.
//! - [`scenario`]: a scenario's world and the shared recover-and-check steps.
//! - [`check`]: the checker.
//! - this file: the command line, the scenarios, the table, the soak.
#![forbid(unsafe_code)]

mod check;
mod load;
mod node;
mod pg;
mod receiver;
mod scenario;

use anyhow::{bail, Result};
use check::Verdict;
use clap::Parser;
use node::{Wrap, LEASE};
use receiver::Mode;
use scenario::{Backend, Ctx, World};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "hookline-faults",
    about = "Fault-injection suite for Hookline: kill, pause, database restart and cut, disk full, \
             receiver faults, clock skew and rolling restarts under a steady signed load, each \
             followed by a check that nothing acknowledged was lost."
)]
struct Cli {
    /// The whole suite with short faults (the default; CI runs this).
    #[arg(long, conflicts_with = "soak")]
    short: bool,
    /// Instead of the suite: one long run of this length (e.g. `30m`) on two
    /// PostgreSQL nodes, faults in rotation, RSS of each node sampled.
    #[arg(long, value_parser = humantime::parse_duration)]
    soak: Option<Duration>,
    /// Run only the scenarios whose name contains one of these (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// The `hookline` binary (default: `hookline` next to this binary).
    #[arg(long)]
    hookline_bin: Option<PathBuf>,
    /// Where `initdb` and `pg_ctl` are.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin: PathBuf,
    /// Webhooks per second.
    #[arg(long, default_value_t = 25)]
    rate: u32,
    /// Keep the work dir (node logs, databases) even when every scenario passes.
    #[arg(long)]
    keep: bool,
}

/// Each scenario: a name, why it may be expected to fail, and its steps.
struct Scenario {
    name: &'static str,
    /// Expected to fail until the named fix merges: printed as XFAIL, not
    /// counted as a pass; XPASS once it passes.
    xfail: Option<&'static str>,
    what: &'static str,
}

const SCENARIOS: &[Scenario] = &[
    Scenario { name: "sqlite-sigkill", xfail: None, what: "SIGKILL the SQLite node mid-load (deliveries in flight), start it again on the same file" },
    Scenario { name: "pg-sigkill", xfail: None, what: "two PostgreSQL nodes; SIGKILL one mid-load (deliveries in flight), start it again 2 s later" },
    Scenario { name: "receiver-fail", xfail: None, what: "the receiver answers 500 for 3 s" },
    Scenario { name: "receiver-hang", xfail: None, what: "the receiver accepts and never answers for 3 s (past the 2 s delivery timeout)" },
    Scenario { name: "receiver-reset", xfail: None, what: "the receiver closes every connection without answering for 3 s" },
    Scenario { name: "receiver-slow", xfail: None, what: "the receiver answers after 1.2 s (under the 2 s timeout) for 4 s" },
    Scenario { name: "pg-proxy-cut", xfail: None, what: "two PostgreSQL nodes behind the harness's proxy; every connection dropped and new ones refused for 4 s" },
    Scenario { name: "pg-restart", xfail: None, what: "two PostgreSQL nodes; the server stopped (-m immediate) and started again 3 s later" },
    Scenario { name: "pg-sigstop", xfail: None, what: "two PostgreSQL nodes; SIGSTOP one (deliveries in flight) for lease + 2 s, then SIGCONT: its late results must not overwrite the other's" },
    Scenario { name: "sqlite-disk-full", xfail: None, what: "the SQLite node's data dir (a 16 MiB tmpfs in its own mount namespace) filled for 4 s, then freed" },
    Scenario { name: "pg-clock-skew", xfail: None, what: "two PostgreSQL nodes, one with its wall clock 30 s ahead (libfaketime)" },
    Scenario { name: "pg-rolling-restart", xfail: None, what: "two PostgreSQL nodes; SIGTERM, restart and re-admit one, then the other, under load" },
];

/// Short faults: the suite's timings.
const WARM: Duration = Duration::from_secs(2);
const AFTER: Duration = Duration::from_secs(3);
/// Upper bound on any load (a scenario stops its load well before).
const LOAD_MAX: Duration = Duration::from_secs(120);
/// A whole scenario, start to teardown.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(200);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

async fn run_scenario(ctx: &mut Ctx, name: &str) -> Result<(Verdict, Duration, String)> {
    let rate = ctx.rate;
    let sqlite = || vec![Wrap::None];
    let two = || vec![Wrap::None, Wrap::None];
    let mut w: World = match name {
        "sqlite-sigkill" | "receiver-fail" | "receiver-hang" | "receiver-reset"
        | "receiver-slow" => ctx.world(name, Backend::Sqlite, sqlite()).await?,
        "sqlite-disk-full" => {
            ctx.world(
                name,
                Backend::Sqlite,
                vec![Wrap::Tmpfs { size: "16m".into() }],
            )
            .await?
        }
        "pg-proxy-cut" => ctx.world(name, Backend::PostgresProxied, two()).await?,
        "pg-clock-skew" => {
            ctx.world(
                name,
                Backend::Postgres,
                vec![
                    Wrap::None,
                    Wrap::Faketime {
                        offset: "+30s".into(),
                    },
                ],
            )
            .await?
        }
        _ => ctx.world(name, Backend::Postgres, two()).await?,
    };
    w.warm_up(rate, WARM, LOAD_MAX).await;
    let start = Instant::now();
    match name {
        "sqlite-sigkill" => {
            w.rules.duplicates_allowed = true;
            w.hold_deliveries().await;
            w.nodes[0].kill().await?;
            w.receiver.set_mode(Mode::Ok);
            w.nodes[0].restart().await?;
            w.retarget(0);
            w.window(start);
        }
        "pg-sigkill" => {
            w.rules.duplicates_allowed = true;
            w.hold_deliveries().await;
            w.nodes[1].kill().await?;
            w.receiver.set_mode(Mode::Ok);
            w.untarget(1);
            tokio::time::sleep(secs(2.0)).await;
            w.nodes[1].restart().await?;
            w.retarget(1);
            w.window(start);
        }
        "receiver-fail" | "receiver-hang" | "receiver-reset" | "receiver-slow" => {
            let (mode, d) = match name {
                "receiver-fail" => (Mode::Fail, 3.0),
                "receiver-hang" => (Mode::Hang, 3.0),
                "receiver-reset" => (Mode::Reset, 3.0),
                _ => (Mode::Slow(secs(1.2)), 4.0),
            };
            w.receiver.set_mode(mode);
            tokio::time::sleep(secs(d)).await;
            w.receiver.set_mode(Mode::Ok);
            w.window(start);
        }
        "pg-proxy-cut" => {
            w.rules.duplicates_allowed = true;
            w.rules.dependency = true;
            let proxy = w.proxy.as_ref().expect("a proxied world");
            proxy.cut();
            tokio::time::sleep(secs(4.0)).await;
            proxy.restore();
            w.window(start);
        }
        "pg-restart" => {
            w.rules.duplicates_allowed = true;
            w.rules.dependency = true;
            let pg = ctx.pg()?;
            pg.crash()?;
            tokio::time::sleep(secs(3.0)).await;
            pg.up()?;
            w.window(start);
        }
        "pg-sigstop" => {
            w.rules.duplicates_allowed = true;
            w.untarget(1);
            w.hold_deliveries().await;
            w.nodes[1].pause()?;
            w.receiver.set_mode(Mode::Ok);
            tokio::time::sleep(LEASE + secs(2.0)).await;
            w.nodes[1].resume()?;
            w.window(start);
            tokio::time::sleep(secs(1.0)).await;
            w.retarget(1);
        }
        "sqlite-disk-full" => {
            w.rules.duplicates_allowed = true;
            w.rules.dependency = true;
            let dir = w.nodes[0]
                .data_dir_inside()
                .ok_or_else(|| anyhow::anyhow!("the node has no pid"))?;
            let fill = dir.join("fill");
            let written = fill_up(&fill)?;
            eprintln!("  filled {} with {written} MiB", dir.display());
            tokio::time::sleep(secs(4.0)).await;
            std::fs::remove_file(&fill)?;
            w.window(start);
        }
        "pg-clock-skew" => {
            // The fault is there from the start: the window is the whole run.
            tokio::time::sleep(secs(6.0)).await;
            w.rules.windows.push(check::Window {
                start: start - WARM,
                end: Instant::now(),
            });
        }
        "pg-rolling-restart" => {
            for i in 0..w.nodes.len() {
                w.untarget(i);
                tokio::time::sleep(secs(0.3)).await;
                w.nodes[i].terminate(Duration::from_secs(10)).await?;
                w.nodes[i].restart().await?;
                w.retarget(i);
                tokio::time::sleep(secs(2.0)).await;
            }
            w.window(start);
        }
        other => bail!("no scenario {other}"),
    }
    let rss = w.rss_line();
    let (verdict, settle) = w.finish(AFTER).await?;
    Ok((verdict, settle, rss))
}

/// Writes 1 MiB chunks into `path` until the file system is full (at most
/// 1 GiB); returns how many MiB went in.
fn fill_up(path: &std::path::Path) -> Result<usize> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0u8; 1 << 20];
    for n in 0..1024 {
        if f.write_all(&chunk).and_then(|_| f.flush()).is_err() {
            return Ok(n);
        }
    }
    bail!("{} did not fill up within 1 GiB", path.display())
}

struct Row {
    name: String,
    result: &'static str,
    verdict: Option<Verdict>,
    seconds: f64,
    error: Option<String>,
}

fn print_figures(name: &str, v: &Verdict, settle: Duration, rss: &str) {
    let f = &v.figures;
    println!(
        "  {name}: sent {} acked {} delivered {} lost {} duplicates {} allowed + {} unexplained; \
         5xx {} (503 {} while down, {} otherwise), 4xx {}, unanswered {}; log disagrees {}; \
         recovery {}; quiet {:.1}s after the load; RSS {rss}; \
         altered {}, never sent {}, unsigned {}, skipped {}",
        f.sent,
        f.acked,
        f.delivered,
        f.lost,
        f.duplicates_allowed,
        f.duplicates_unexplained,
        f.s5xx + f.s503_allowed + f.s503_other,
        f.s503_allowed,
        f.s503_other,
        f.s4xx,
        f.unanswered,
        f.log_disagrees,
        f.recovery
            .map(|r| format!("{:.1}s", r.as_secs_f64()))
            .unwrap_or_else(|| "never".into()),
        settle.as_secs_f64(),
        f.mismatched,
        f.strangers,
        f.unsigned,
        f.skipped
    );
    for n in &v.notes {
        println!("    note: {n}");
    }
    for failure in &v.failures {
        println!("    FAILED: {failure}");
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<20} {:<6} {:>6} {:>6} {:>5} {:>8} {:>5} {:>8} {:>6} {:>4} {:>8} {:>6}",
        "scenario",
        "result",
        "acked",
        "deliv",
        "lost",
        "dup ok/x",
        "5xx",
        "503 ok/x",
        "unans",
        "log",
        "recovery",
        "time"
    );
    for r in rows {
        match &r.verdict {
            Some(v) => {
                let f = &v.figures;
                println!(
                    "{:<20} {:<6} {:>6} {:>6} {:>5} {:>8} {:>5} {:>8} {:>6} {:>4} {:>8} {:>5.0}s",
                    r.name,
                    r.result,
                    f.acked,
                    f.delivered,
                    f.lost,
                    format!("{}/{}", f.duplicates_allowed, f.duplicates_unexplained),
                    f.s5xx,
                    format!("{}/{}", f.s503_allowed, f.s503_other),
                    f.unanswered,
                    f.log_disagrees,
                    f.recovery
                        .map(|d| format!("{:.1}s", d.as_secs_f64()))
                        .unwrap_or_else(|| "never".into()),
                    r.seconds
                );
            }
            None => println!(
                "{:<20} {:<6} {}",
                r.name,
                r.result,
                r.error.as_deref().unwrap_or("")
            ),
        }
    }
}

fn default_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hookline")))
        .unwrap_or_else(|| PathBuf::from("target/debug/hookline"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.list {
        for s in SCENARIOS {
            let mark = s
                .xfail
                .map(|r| format!(" [XFAIL: {r}]"))
                .unwrap_or_default();
            println!("{:<20} {}{mark}", s.name, s.what);
        }
        return Ok(());
    }
    let _ = cli.short; // the default
    let bin = cli.hookline_bin.clone().unwrap_or_else(default_bin);
    // Absolute: nodes run in their own working directories.
    let Ok(bin) = std::fs::canonicalize(&bin) else {
        bail!(
            "{} does not exist: build it (`cargo build -p hookline`) or pass --hookline-bin",
            bin.display()
        );
    };
    let work = tempfile::Builder::new()
        .prefix("hookline-faults-")
        .tempdir()?;
    let mut ctx = Ctx {
        bin,
        pg_bin: cli.pg_bin.clone(),
        work: work.path().to_owned(),
        rate: cli.rate,
        pg: None,
        runs: 0,
    };
    let failed = match cli.soak {
        Some(d) => soak::run(&mut ctx, d).await?,
        None => suite(&mut ctx, &cli.only).await,
    };
    drop(ctx);
    if failed || cli.keep {
        println!("node logs and data kept in {}", work.keep().display());
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

/// Runs the scenarios; true when one that is not expected to fail failed.
async fn suite(ctx: &mut Ctx, only: &[String]) -> bool {
    let started = Instant::now();
    let mut rows = Vec::new();
    for s in SCENARIOS {
        if !only.is_empty() && !only.iter().any(|o| s.name.contains(o.as_str())) {
            continue;
        }
        println!("== {}: {}", s.name, s.what);
        let t = Instant::now();
        let outcome = tokio::time::timeout(SCENARIO_DEADLINE, run_scenario(ctx, s.name)).await;
        let seconds = t.elapsed().as_secs_f64();
        let (verdict, error) = match outcome {
            Ok(Ok((v, settle, rss))) => {
                print_figures(s.name, &v, settle, &rss);
                (Some(v), None)
            }
            Ok(Err(e)) => (None, Some(format!("error: {e:#}"))),
            Err(_) => (
                None,
                Some(format!("did not finish within {SCENARIO_DEADLINE:?}")),
            ),
        };
        if let Some(e) = &error {
            println!("    FAILED: {e}");
        }
        let passed = verdict.as_ref().is_some_and(|v| v.failures.is_empty());
        // A scenario that could not run has not shown the expected failure.
        let result = match (passed, s.xfail) {
            _ if verdict.is_none() => "FAIL",
            (true, None) => "pass",
            (false, None) => "FAIL",
            (false, Some(_)) => "XFAIL",
            (true, Some(_)) => "XPASS",
        };
        if let Some(reason) = s.xfail {
            println!("    {result} (expected to fail: {reason})");
        }
        rows.push(Row {
            name: s.name.to_owned(),
            result,
            verdict,
            seconds,
            error,
        });
    }
    print_table(&rows);
    let failed = rows.iter().filter(|r| r.result == "FAIL").count();
    let xfail = rows.iter().filter(|r| r.result == "XFAIL").count();
    println!(
        "\n{} scenarios: {} passed, {} failed, {} expected to fail (XFAIL, not counted as passes), {} XPASS; {:.0}s",
        rows.len(),
        rows.iter().filter(|r| r.result == "pass").count(),
        failed,
        xfail,
        rows.iter().filter(|r| r.result == "XPASS").count(),
        started.elapsed().as_secs_f64()
    );
    for r in rows.iter().filter(|r| r.result == "XPASS") {
        println!(
            "XPASS {}: the fix it waited for has landed; remove its xfail mark",
            r.name
        );
    }
    failed > 0
}

mod soak {
    //! The soak: two PostgreSQL nodes behind the proxy under load for the
    //! whole duration, a fault every minute in rotation (receiver failing,
    //! resetting, slow; the database connection cut; one node paused past
    //! its lease), each node's RSS sampled every 10 s. Memory must stay
    //! loosely bounded: the last sample at most twice the largest of the
    //! first tenth of the run (after its first minute) plus 128 MiB.
    use super::*;

    pub async fn run(ctx: &mut Ctx, length: Duration) -> Result<bool> {
        let mut w = ctx
            .world(
                "soak",
                Backend::PostgresProxied,
                vec![Wrap::None, Wrap::None],
            )
            .await?;
        let rate = ctx.rate;
        println!(
            "== soak for {}: two PostgreSQL nodes, a fault a minute",
            humantime::format_duration(length)
        );
        w.warm_up(rate, Duration::ZERO, length + Duration::from_secs(60))
            .await;
        let start = Instant::now();
        let mut samples: Vec<(Duration, Vec<Option<u64>>)> = Vec::new();
        let mut next_fault = start + Duration::from_secs(30);
        let mut k = 0usize;
        while start.elapsed() < length {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let rss: Vec<Option<u64>> = w.nodes.iter().map(|n| n.rss_kb()).collect();
            println!(
                "  t={:>5.0}s sent {:>7} arrivals {:>7} RSS {}",
                start.elapsed().as_secs_f64(),
                w.load.snapshot().len(),
                w.receiver.count(),
                w.rss_line()
            );
            samples.push((start.elapsed(), rss));
            if Instant::now() >= next_fault && start.elapsed() + Duration::from_secs(40) < length {
                let at = Instant::now();
                match k % 5 {
                    0 => {
                        w.receiver.set_mode(Mode::Fail);
                        tokio::time::sleep(secs(5.0)).await;
                        w.receiver.set_mode(Mode::Ok);
                    }
                    1 => {
                        w.rules.duplicates_allowed = true;
                        w.rules.dependency = true;
                        let p = w.proxy.as_ref().expect("proxied");
                        p.cut();
                        tokio::time::sleep(secs(5.0)).await;
                        p.restore();
                    }
                    2 => {
                        w.receiver.set_mode(Mode::Reset);
                        tokio::time::sleep(secs(5.0)).await;
                        w.receiver.set_mode(Mode::Ok);
                    }
                    3 => {
                        w.rules.duplicates_allowed = true;
                        w.untarget(1);
                        w.nodes[1].pause()?;
                        tokio::time::sleep(LEASE + secs(2.0)).await;
                        w.nodes[1].resume()?;
                        w.retarget(1);
                    }
                    _ => {
                        w.receiver.set_mode(Mode::Slow(secs(1.2)));
                        tokio::time::sleep(secs(10.0)).await;
                        w.receiver.set_mode(Mode::Ok);
                    }
                }
                println!(
                    "  fault {} lifted after {:.1}s",
                    k % 5,
                    at.elapsed().as_secs_f64()
                );
                w.window(at);
                k += 1;
                next_fault = Instant::now() + Duration::from_secs(60);
            }
        }
        let rss_end = w.rss_line();
        let (mut verdict, settle) = w.finish(AFTER).await?;
        let early = length.as_secs_f64() / 10.0;
        let last = samples.last().map(|(_, r)| r.clone()).unwrap_or_default();
        for (i, end) in last.iter().enumerate() {
            let base = samples
                .iter()
                .filter(|(t, _)| {
                    t.as_secs_f64() >= 60.0_f64.min(early) && t.as_secs_f64() <= early.max(60.0)
                })
                .filter_map(|(_, r)| r.get(i).copied().flatten())
                .max();
            if let (Some(base), Some(end)) = (base, end) {
                let bound = 2 * base + 128 * 1024;
                println!(
                    "  node{i}: RSS {:.0} MiB early, {:.0} MiB at the end (bound {:.0} MiB)",
                    base as f64 / 1024.0,
                    *end as f64 / 1024.0,
                    bound as f64 / 1024.0
                );
                if *end > bound {
                    verdict
                        .failures
                        .push(format!("node{i}'s RSS grew from {base} KiB to {end} KiB"));
                }
            }
        }
        print_figures("soak", &verdict, settle, &rss_end);
        let failed = !verdict.failures.is_empty();
        print_table(&[Row {
            name: "soak".into(),
            result: if failed { "FAIL" } else { "pass" },
            verdict: Some(verdict),
            seconds: start.elapsed().as_secs_f64(),
            error: None,
        }]);
        Ok(failed)
    }
}
