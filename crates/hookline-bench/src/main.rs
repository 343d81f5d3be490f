//! `hookline-bench`: Hookline's load tool. See `BENCHMARKS.md` at the
//! repository root for the method, the figures and the commands.
//!
//! # Layout
//! - the library (`lib.rs`): `schedule`, `hist`, `payload`, `net`,
//!   `targets`, `procs` — shared with `hookline-faults`.
//! - [`fill`]: filling a database with millions of events for `query`.
//! - [`report`]: phases, the side-by-side table, JSON.
//! - this file: the command line and the scenarios.
#![forbid(unsafe_code)]

mod fill;
mod report;

use hookline_bench::{hist, net, payload, procs, schedule, targets};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use hist::Latency;
use http::{Method, Uri};
use net::{Arrivals, Client, Receiver};
use payload::{Bodies, Signer};
use procs::Meter;
use report::{E2e, Phase};
use schedule::{from_schedule, Collected, SendFn, Timeline};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use targets::{Baseline, Data, Gateway, GatewayOpts, Sign};

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

fn duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

#[derive(Parser)]
#[command(
    name = "hookline-bench",
    about = "Load tool for Hookline: open-model latency, maximum throughput, end-to-end delivery, \
             backlog drain and event queries, each beside a bare HTTP server on the same machine."
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Clone, Debug, Serialize)]
struct Common {
    /// Drive this running gateway instead of starting one (needs --admin-key).
    #[arg(long, global = true)]
    gateway_url: Option<String>,
    /// Management key of --gateway-url.
    #[arg(long, global = true)]
    #[serde(skip)]
    admin_key: Option<String>,
    /// Pid of --gateway-url, to read its RSS and CPU time from /proc.
    #[arg(long, global = true)]
    gateway_pid: Option<u32>,
    /// The `hookline` binary to start (default: next to this binary).
    #[arg(long, global = true)]
    hookline_bin: Option<PathBuf>,
    /// sqlite://… or postgres://user@host:port/db for the started gateway.
    /// For PostgreSQL a fresh database is created on that server for each
    /// gateway and dropped afterwards. Default: SQLite in a temp data dir.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Extra environment for the started gateway, `KEY=VALUE` (repeatable),
    /// e.g. `HOOKLINE_INGEST__BATCH_MAX=64`.
    #[arg(long = "gateway-env", global = true, value_parser = key_value)]
    gateway_env: Vec<(String, String)>,
    /// RUST_LOG of the started gateway (`info` is what ships).
    #[arg(long, global = true, default_value = "info")]
    gateway_log: String,
    /// Inbound signature scheme of the bench webhook.
    #[arg(long, global = true, value_enum, default_value_t = Sign::Stripe)]
    #[serde(skip)]
    sign: Sign,
    /// Smallest request body, bytes.
    #[arg(long, global = true, default_value_t = 1024)]
    body_min: usize,
    /// Largest request body, bytes.
    #[arg(long, global = true, default_value_t = 4096)]
    body_max: usize,
    /// Per-request timeout (counted as error `timeout`).
    #[arg(long, global = true, default_value = "30s", value_parser = duration)]
    #[serde(skip)]
    timeout: Duration,
    /// How long to wait for deliveries after the load of a phase.
    #[arg(long, global = true, default_value = "60s", value_parser = duration)]
    #[serde(skip)]
    settle: Duration,
    /// Most requests outstanding at once in the open model.
    #[arg(long, global = true, default_value_t = 1024)]
    max_in_flight: usize,
    /// Keep each started gateway's data dir (database and gateway.log).
    #[arg(long, global = true)]
    keep_data: bool,
    /// Skip the bare-server baseline.
    #[arg(long, global = true)]
    no_baseline: bool,
    /// Print one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Exit 1 if any request failed or any event did not arrive (CI smoke).
    #[arg(long, global = true)]
    strict: bool,
}

#[derive(Args, Clone, Debug, Serialize)]
struct LoadArgs {
    /// Length of each measured phase.
    #[arg(long, default_value = "10s", value_parser = duration)]
    #[serde(serialize_with = "secs")]
    duration: Duration,
    /// Rate of the fixed-rate (open model) phase, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Connections of the maximum-rate (closed loop) phase.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Unmeasured warm-up against each target first.
    #[arg(long, default_value = "2s", value_parser = duration)]
    #[serde(serialize_with = "secs")]
    warmup: Duration,
    /// Registrations (ingest links) the load is spread over.
    #[arg(long, default_value_t = 1)]
    registrations: usize,
    /// Skip the maximum-rate phase.
    #[arg(long)]
    no_max: bool,
    /// Skip the fixed-rate phase.
    #[arg(long)]
    no_fixed: bool,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Subcommand, Clone, Debug, Serialize)]
enum Scenario {
    /// Ingest acknowledgements, fast receiver: maximum rate and fixed rate.
    Ingest(LoadArgs),
    /// Like ingest, also timing each event to its arrival at the receiver.
    E2e(LoadArgs),
    /// K events arrive while their registration has no receiver (held);
    /// then the receiver is set and the backlog drains.
    Drain(DrainArgs),
    /// The same load over few and over many registrations.
    Registrations(RegistrationArgs),
    /// Event-list queries over a database filled with M events.
    Query(QueryArgs),
    /// (internal) The bare baseline server.
    #[command(hide = true)]
    BaselineServer,
}

#[derive(Args, Clone, Debug, Serialize)]
struct DrainArgs {
    /// Events in the backlog.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Connections sending the backlog.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Longest wait for the backlog to arrive (and to be sent).
    #[arg(long, default_value = "15m", value_parser = duration)]
    #[serde(serialize_with = "secs")]
    drain_timeout: Duration,
}

#[derive(Args, Clone, Debug, Serialize)]
struct RegistrationArgs {
    /// Registration counts to compare.
    #[arg(long, value_delimiter = ',', default_value = "10,10000")]
    counts: Vec<usize>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Args, Clone, Debug, Serialize)]
struct QueryArgs {
    /// Stored events to query over.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Requests per query shape (sequential, one connection).
    #[arg(long, default_value_t = 100)]
    requests: u64,
    /// Longest time spent on one query shape.
    #[arg(long, default_value = "60s", value_parser = duration)]
    #[serde(serialize_with = "secs")]
    shape_time: Duration,
    /// Events per insert transaction while filling.
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    /// Time the events are spread over, ending now.
    #[arg(long, default_value = "30days", value_parser = duration)]
    #[serde(serialize_with = "secs")]
    span: Duration,
    /// SQLite: keep the filled data dir here and reuse it when it already
    /// holds --events events (filling 10M takes minutes).
    #[arg(long)]
    fill_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if matches!(cli.scenario, Scenario::BaselineServer) {
        return baseline_server();
    }
    // Two workers, like the gateway's runtime on this 2-core machine; the
    // open-model dispatcher is one more (mostly sleeping) thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let strict = cli.common.strict;
    let problems = runtime.block_on(run(cli))?;
    if strict && !problems.is_empty() {
        for p in &problems {
            eprintln!("FAILED: {p}");
        }
        std::process::exit(1);
    }
    Ok(())
}

/// `hookline-bench baseline-server`: the bare server in its own process,
/// on tokio's default multi-thread runtime as `hookline` uses.
fn baseline_server() -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!(
            "baseline listening on port {}",
            listener.local_addr()?.port()
        );
        net::serve_baseline(listener).await
    })
}

/// Everything a scenario shares.
struct Ctx {
    common: Common,
    gateway: GatewayOpts,
    client: Client,
    bodies: Arc<Bodies>,
    signer: Signer,
    phases: Vec<Phase>,
    tables: Vec<String>,
    extra: serde_json::Map<String, Value>,
    /// Tag prefix of this run's model, so runs never collide on a kept gateway.
    prefix: String,
}

async fn run(cli: Cli) -> Result<Vec<String>> {
    let c = cli.common.clone();
    if c.body_min == 0 || c.body_max < c.body_min {
        bail!("--body-min must be above 0 and at most --body-max");
    }
    let bin = match &c.hookline_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the bench binary's folder")?
            .join("hookline"),
    };
    let signer = match c.sign {
        Sign::Stripe => Signer::Stripe {
            secret: targets::VERIFY_SECRET.into(),
        },
        Sign::None => Signer::None,
    };
    let mut ctx = Ctx {
        gateway: GatewayOpts {
            url: c.gateway_url.clone(),
            admin_key: c.admin_key.clone(),
            pid: c.gateway_pid,
            bin,
            database_url: c.database_url.clone(),
            log: c.gateway_log.clone(),
            env: c.gateway_env.clone(),
            keep_data: c.keep_data,
        },
        client: net::client(),
        bodies: Arc::new(Bodies::new(c.body_min, c.body_max, 64, 1).for_run(rand::random())),
        signer,
        phases: Vec::new(),
        tables: Vec::new(),
        extra: serde_json::Map::new(),
        prefix: format!("b{:08x}", rand::random::<u32>()),
        common: c,
    };
    let (lo, hi) = ctx.bodies.sizes();
    ctx.extra
        .insert("body_bytes".into(), json!({"min": lo, "max": hi}));
    let machine = machine();
    if !ctx.common.json {
        eprintln!("{}", machine_line(&machine));
    }
    let name = match &cli.scenario {
        Scenario::Ingest(a) => {
            load_scenario(&mut ctx, a, false).await?;
            "ingest"
        }
        Scenario::E2e(a) => {
            load_scenario(&mut ctx, a, true).await?;
            "e2e"
        }
        Scenario::Drain(a) => {
            drain(&mut ctx, a).await?;
            "drain"
        }
        Scenario::Registrations(a) => {
            registrations(&mut ctx, a).await?;
            "registrations"
        }
        Scenario::Query(a) => {
            query(&mut ctx, a).await?;
            "query"
        }
        Scenario::BaselineServer => unreachable!("handled in main"),
    };
    let problems: Vec<String> = ctx.phases.iter().flat_map(Phase::problems).collect();
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    if ctx.common.json {
        let doc = json!({
            "scenario": name,
            "machine": machine,
            "loadavg_after": load_after.trim(),
            "common": ctx.common,
            "args": cli.scenario,
            "phases": ctx.phases,
            "extra": ctx.extra,
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{}", machine_line(&machine));
        for t in &ctx.tables {
            print!("{t}");
        }
        println!("\n   loadavg after: {}", load_after.trim());
        for p in &problems {
            println!("   PROBLEM: {p}");
        }
    }
    Ok(problems)
}

#[derive(Serialize)]
struct Machine {
    nproc: usize,
    cpu_model: String,
    mem_total_gib: f64,
    kernel: String,
    loadavg_before: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    Machine {
        nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default(),
        mem_total_gib: mem_kb / 1024.0 / 1024.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        loadavg_before: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

fn machine_line(m: &Machine) -> String {
    format!(
        "machine: {} CPUs ({}), {:.1} GiB, Linux {}; loadavg before: {}",
        m.nproc, m.cpu_model, m.mem_total_gib, m.kernel, m.loadavg_before
    )
}

/// Progress, always on stderr (stdout carries the tables or the JSON).
fn say(msg: impl AsRef<str>) {
    eprintln!("{}", msg.as_ref());
}

/// The shape of a phase's load.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// Closed loop: `connections` workers for `d`, or until `count` sent.
    Max {
        connections: usize,
        d: Duration,
        count: Option<u64>,
    },
    /// Open model: `rate` per second for `d`.
    Fixed { rate: f64, d: Duration },
}

impl Load {
    fn describe(&self) -> (String, Option<f64>) {
        match *self {
            Load::Max {
                connections,
                d,
                count: None,
            } => (
                format!(
                    "closed loop, {connections} connections, {} s",
                    d.as_secs_f64()
                ),
                None,
            ),
            Load::Max {
                connections,
                count: Some(n),
                ..
            } => (
                format!("closed loop, {connections} connections, {n} requests"),
                None,
            ),
            Load::Fixed { rate, d } => (
                format!(
                    "open model, {rate} requests/s for {} s ({} requests)",
                    d.as_secs_f64(),
                    (rate * d.as_secs_f64()).round()
                ),
                Some(rate),
            ),
        }
    }
}

/// Runs one load against one target, metering the target process and this
/// one. With a receiver, then waits (bounded by --settle) for every
/// acknowledged event to arrive and adds the end-to-end figures: from the
/// due time (open model) or the send (closed loop) to the arrival.
async fn phase(
    ctx: &Ctx,
    name: &str,
    target: &str,
    pid: Option<u32>,
    send: SendFn,
    load: Load,
    e2e: Option<&Receiver>,
) -> (Phase, Collected) {
    let cursor = e2e.map_or(0, Receiver::len);
    let meter = pid.map(|p| Meter::start(&p.to_string()));
    let me = Meter::start("self");
    let timeout = ctx.common.timeout;
    let c = match load {
        Load::Max {
            connections,
            d,
            count,
        } => schedule::run_closed(connections, Instant::now() + d, count, timeout, send).await,
        Load::Fixed { rate, d } => {
            let count = (rate * d.as_secs_f64()).round() as u64;
            let timeline = Timeline::new(Instant::now() + Duration::from_millis(20), rate, count);
            schedule::run_open(timeline, ctx.common.max_in_flight, timeout, send).await
        }
    };
    let load_tool = me.finish();
    let (words, offered) = load.describe();
    let mut p = Phase::new(name, target, words, offered, &c);
    p.load_tool = load_tool;
    if let Some(receiver) = e2e {
        p.e2e = Some(e2e_of(receiver, cursor, &c, ctx.common.settle).await);
    }
    // With e2e, the server's usage covers the deliveries of this phase too.
    p.process = meter.and_then(|m| m.finish());
    (p, c)
}

/// Waits for the events `c` acknowledged to arrive and times them.
async fn e2e_of(receiver: &Receiver, cursor: usize, c: &Collected, settle: Duration) -> E2e {
    let wanted: HashMap<String, Instant> = c.ids.iter().cloned().collect();
    let mut arrivals = Arrivals::from(cursor);
    let last = arrivals
        .wait_all(receiver, &wanted, Instant::now() + settle)
        .await;
    let mut latency = Latency::new();
    for (id, at) in &arrivals.first {
        latency.record(from_schedule(wanted[id], *at));
    }
    let arrived = arrivals.first.len() as u64;
    let wall = last.map_or(Duration::ZERO, |l| l.saturating_duration_since(c.start));
    E2e {
        latency: latency.summary(),
        expected: wanted.len() as u64,
        arrived,
        missing: wanted.len() as u64 - arrived,
        duplicates: arrivals.duplicates,
        throughput_per_s: hist::per_second(arrived, wall),
    }
}

/// Waits until the receiver has seen `total` requests (deliveries of
/// earlier phases), so they do not load the next phase; bounded by settle.
async fn quiesce(ctx: &Ctx, receiver: &Receiver, total: u64) {
    let deadline = Instant::now() + ctx.common.settle;
    while (receiver.len() as u64) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if (receiver.len() as u64) < total {
        say(format!(
            "  (deliveries still behind: {} of {total})",
            receiver.len()
        ));
    }
    // Let the last completions' group commit land too.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn push_table(ctx: &mut Ctx, title: &str, row: Vec<Phase>) {
    let refs: Vec<&Phase> = row.iter().collect();
    let baseline = refs.first().is_some_and(|p| p.target == "baseline");
    let mut t = report::table(title, &refs, baseline);
    if ctx.common.no_baseline {
        t.push_str("   (no baseline: --no-baseline)\n");
    }
    ctx.tables.push(t);
    ctx.phases.extend(row);
}

/// The gateway and baseline of a load scenario, with their senders.
struct Pair {
    gw: Gateway,
    gw_send: SendFn,
    baseline: Option<(Baseline, SendFn)>,
}

async fn start_pair(ctx: &Ctx, registrations: usize, receiver: &Receiver) -> Result<Pair> {
    let baseline = if ctx.common.no_baseline {
        None
    } else {
        let b = Baseline::start()?;
        let send = net::ingest_sender(
            ctx.client.clone(),
            Arc::new(b.links(registrations)),
            ctx.bodies.clone(),
            ctx.signer.clone(),
        );
        Some((b, send))
    };
    let gw = start_gateway(ctx, registrations, Some(&receiver.url)).await?;
    let gw_send = gw.1;
    Ok(Pair {
        gw: gw.0,
        gw_send,
        baseline,
    })
}

/// Starts (or attaches to) the gateway and sets up `registrations` links.
async fn start_gateway(
    ctx: &Ctx,
    registrations: usize,
    receiver: Option<&str>,
) -> Result<(Gateway, SendFn, targets::Model)> {
    let gw = Gateway::start(&ctx.gateway, None, None).await?;
    say(format!(
        "gateway at {} (pid {}); setting up {registrations} registration(s)",
        gw.api.base,
        gw.pid.map_or("unknown".into(), |p| p.to_string())
    ));
    let started = Instant::now();
    let model = match targets::setup(
        &gw.api,
        &ctx.prefix,
        registrations,
        receiver,
        ctx.common.sign,
    )
    .await
    {
        Ok(m) => m,
        Err(e) => {
            let log = gw.log_path();
            let _ = gw.stop().await;
            return Err(e.context(format!("setting up the model (gateway log: {log:?})")));
        }
    };
    say(format!(
        "  set up in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let send = net::ingest_sender(
        ctx.client.clone(),
        Arc::new(model.links.clone()),
        ctx.bodies.clone(),
        ctx.signer.clone(),
    );
    Ok((gw, send, model))
}

impl Pair {
    async fn stop(self) -> Result<()> {
        self.gw.stop().await?;
        if let Some((b, _)) = self.baseline {
            b.stop()?;
        }
        Ok(())
    }
}

/// Warm-up: a short closed loop against each target, not reported.
async fn warm_up(ctx: &Ctx, pair: &Pair, receiver: &Receiver, d: Duration, delivered: &mut u64) {
    if d.is_zero() {
        return;
    }
    say(format!("warm-up {} s per target", d.as_secs_f64()));
    let load = Load::Max {
        connections: 8,
        d,
        count: None,
    };
    if let Some((b, send)) = &pair.baseline {
        phase(
            ctx,
            "warmup",
            "baseline",
            Some(b.pid),
            send.clone(),
            load,
            None,
        )
        .await;
    }
    let (p, _) = phase(
        ctx,
        "warmup",
        "gateway",
        pair.gw.pid,
        pair.gw_send.clone(),
        load,
        None,
    )
    .await;
    *delivered += p.ok;
    quiesce(ctx, receiver, *delivered).await;
}

/// `ingest` and `e2e`: maximum rate, then fixed rate, baseline first.
async fn load_scenario(ctx: &mut Ctx, a: &LoadArgs, e2e: bool) -> Result<()> {
    if !(a.rate.is_finite() && a.rate > 0.0) {
        bail!("--rate must be a positive number");
    }
    let receiver = Receiver::start().await?;
    let pair = start_pair(ctx, a.registrations, &receiver).await?;
    let mut delivered = 0u64;
    warm_up(ctx, &pair, &receiver, a.warmup, &mut delivered).await;
    let scenario = if e2e { "e2e" } else { "ingest" };
    let e2e_receiver = e2e.then_some(&receiver);
    let loads = [
        (!a.no_max).then_some((
            "max",
            Load::Max {
                connections: a.connections,
                d: a.duration,
                count: None,
            },
        )),
        (!a.no_fixed).then_some((
            "fixed",
            Load::Fixed {
                rate: a.rate,
                d: a.duration,
            },
        )),
    ];
    for (name, load) in loads.into_iter().flatten() {
        say(format!("{scenario}: {}", load.describe().0));
        let mut row = Vec::new();
        if let Some((b, send)) = &pair.baseline {
            row.push(
                phase(ctx, name, "baseline", Some(b.pid), send.clone(), load, None)
                    .await
                    .0,
            );
        }
        let (p, _) = phase(
            ctx,
            name,
            "gateway",
            pair.gw.pid,
            pair.gw_send.clone(),
            load,
            e2e_receiver,
        )
        .await;
        delivered += p.ok;
        row.push(p);
        let title = match name {
            "max" => format!("{scenario} — maximum rate"),
            _ => format!("{scenario} — fixed rate"),
        };
        push_table(ctx, &title, row);
        quiesce(ctx, &receiver, delivered).await;
    }
    ctx.extra
        .insert("gateway_log".into(), json!(pair.gw.log_path()));
    pair.stop().await
}

/// `drain`: the backlog arrives while its registration has no receiver
/// (events are `held`); then the receiver is set in one PATCH, which queues
/// the whole backlog at once, and the time until the last event arrives is
/// the drain time.
async fn drain(ctx: &mut Ctx, a: &DrainArgs) -> Result<()> {
    let receiver = Receiver::start().await?;
    let baseline = if ctx.common.no_baseline {
        None
    } else {
        let b = Baseline::start()?;
        let send = net::ingest_sender(
            ctx.client.clone(),
            Arc::new(b.links(1)),
            ctx.bodies.clone(),
            ctx.signer.clone(),
        );
        Some((b, send))
    };
    let (gw, send, model) = start_gateway(ctx, 1, None).await?;
    let mut row = Vec::new();
    if let Some((b, bsend)) = &baseline {
        say("baseline: maximum rate for 5 s, for reference");
        let load = Load::Max {
            connections: a.connections,
            d: Duration::from_secs(5),
            count: None,
        };
        row.push(
            phase(
                ctx,
                "max",
                "baseline",
                Some(b.pid),
                bsend.clone(),
                load,
                None,
            )
            .await
            .0,
        );
    }
    say(format!(
        "drain: sending {} events while the registration has no receiver",
        a.events
    ));
    let load = Load::Max {
        connections: a.connections,
        d: a.drain_timeout,
        count: Some(a.events),
    };
    let (mut backlog, c) = phase(ctx, "backlog", "gateway (held)", gw.pid, send, load, None).await;
    backlog.phase = "backlog".into();

    // Bring the receiver "up": set it on the registration.
    let meter = gw.pid.map(|p| Meter::start(&p.to_string()));
    let me = Meter::start("self");
    let cursor = receiver.len();
    let t0 = Instant::now();
    let reg = &model.registration_ids[0];
    let (status, answer) = gw
        .api
        .call(
            Method::PATCH,
            &format!("/api/v1/registrations/{reg}"),
            Some(&json!({"receiver": {"url": receiver.url, "method": "POST"}})),
        )
        .await?;
    let patch_ms = t0.elapsed().as_secs_f64() * 1000.0;
    if !status.is_success() {
        bail!("setting the receiver answered {status}: {answer}");
    }
    say(format!("  receiver set in {patch_ms:.1} ms; draining"));
    let wanted: HashMap<String, Instant> = c.ids.iter().map(|(id, _)| (id.clone(), t0)).collect();
    let mut arrivals = Arrivals::from(cursor);
    let mut last_report = Instant::now();
    let deadline = t0 + a.drain_timeout;
    while arrivals.update(&receiver, &wanted) < wanted.len() && Instant::now() < deadline {
        if last_report.elapsed() >= Duration::from_secs(10) {
            say(format!(
                "  {} of {} arrived",
                arrivals.first.len(),
                wanted.len()
            ));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let usage = meter.and_then(|m| m.finish());
    let load_tool = me.finish();
    let mut latency = Latency::new();
    for at in arrivals.first.values() {
        latency.record(at.saturating_duration_since(t0));
    }
    let arrived = arrivals.first.len() as u64;
    let last = arrivals.first.values().max().copied().unwrap_or(t0);
    let first = arrivals.first.values().min().copied().unwrap_or(t0);
    let drain_s = last.saturating_duration_since(t0).as_secs_f64();
    let rate = hist::per_second(arrived, last.saturating_duration_since(t0));
    let mut drained = Phase::new(
        "drain",
        "gateway (drain)",
        format!("{} held events released at once", c.ids.len()),
        None,
        &Collected::empty(t0),
    );
    drained.sent = arrived;
    drained.ok = arrived;
    drained.wall_s = drain_s;
    drained.throughput_per_s = rate;
    drained.e2e = Some(E2e {
        latency: latency.summary(),
        expected: wanted.len() as u64,
        arrived,
        missing: wanted.len() as u64 - arrived,
        duplicates: arrivals.duplicates,
        throughput_per_s: rate,
    });
    drained.process = usage;
    drained.load_tool = load_tool;
    ctx.extra.insert(
        "drain".into(),
        json!({
            "events": wanted.len(),
            "arrived": arrived,
            "patch_ms": patch_ms,
            "first_arrival_ms": first.saturating_duration_since(t0).as_secs_f64() * 1000.0,
            "drain_s": drain_s,
            "drain_per_s": rate,
        }),
    );
    row.push(backlog);
    row.push(drained);
    let mut title = "drain — backlog sent while held, then released".to_owned();
    title.push_str(&format!(
        "\n   receiver set in {patch_ms:.1} ms; first arrival after {:.1} ms; {arrived} of {} arrived in {drain_s:.2} s = {rate:.0} events/s\n   (in the drain column, throughput = drain rate and e2e = release → arrival)",
        first.saturating_duration_since(t0).as_secs_f64() * 1000.0,
        wanted.len()
    ));
    push_table(ctx, &title, row);
    ctx.extra.insert("gateway_log".into(), json!(gw.log_path()));
    gw.stop().await?;
    if let Some((b, _)) = baseline {
        b.stop()?;
    }
    Ok(())
}

/// `registrations`: the same load over each registration count, one fresh
/// gateway per count.
async fn registrations(ctx: &mut Ctx, a: &RegistrationArgs) -> Result<()> {
    let l = &a.load;
    if !(l.rate.is_finite() && l.rate > 0.0) {
        bail!("--rate must be a positive number");
    }
    let receiver = Receiver::start().await?;
    let max_load = Load::Max {
        connections: l.connections,
        d: l.duration,
        count: None,
    };
    let fixed_load = Load::Fixed {
        rate: l.rate,
        d: l.duration,
    };
    let mut max_row = Vec::new();
    let mut fixed_row = Vec::new();
    if !ctx.common.no_baseline {
        let b = Baseline::start()?;
        let send = net::ingest_sender(
            ctx.client.clone(),
            Arc::new(b.links(1000)),
            ctx.bodies.clone(),
            ctx.signer.clone(),
        );
        say("baseline: maximum rate, then fixed rate");
        if !l.no_max {
            max_row.push(
                phase(
                    ctx,
                    "max",
                    "baseline",
                    Some(b.pid),
                    send.clone(),
                    max_load,
                    None,
                )
                .await
                .0,
            );
        }
        if !l.no_fixed {
            fixed_row.push(
                phase(
                    ctx,
                    "fixed",
                    "baseline",
                    Some(b.pid),
                    send,
                    fixed_load,
                    None,
                )
                .await
                .0,
            );
        }
        b.stop()?;
    }
    let mut setups = serde_json::Map::new();
    for &n in &a.counts {
        let started = Instant::now();
        let (gw, send, _) = start_gateway(ctx, n, Some(&receiver.url)).await?;
        setups.insert(n.to_string(), json!(started.elapsed().as_secs_f64()));
        let label = format!("gateway n={n}");
        let mut delivered = receiver.len() as u64;
        let pair = Pair {
            gw,
            gw_send: send.clone(),
            baseline: None,
        };
        warm_up(ctx, &pair, &receiver, l.warmup, &mut delivered).await;
        if !l.no_max {
            say(format!("{label}: {}", max_load.describe().0));
            let (p, _) = phase(
                ctx,
                "max",
                &label,
                pair.gw.pid,
                send.clone(),
                max_load,
                None,
            )
            .await;
            delivered += p.ok;
            max_row.push(p);
            quiesce(ctx, &receiver, delivered).await;
        }
        if !l.no_fixed {
            say(format!("{label}: {}", fixed_load.describe().0));
            let (p, _) = phase(
                ctx,
                "fixed",
                &label,
                pair.gw.pid,
                send,
                fixed_load,
                Some(&receiver),
            )
            .await;
            delivered += p.ok;
            fixed_row.push(p);
            quiesce(ctx, &receiver, delivered).await;
        }
        pair.stop().await?;
    }
    ctx.extra.insert("setup_s".into(), Value::Object(setups));
    if !max_row.is_empty() {
        push_table(ctx, "registrations — maximum rate", max_row);
    }
    if !fixed_row.is_empty() {
        push_table(ctx, "registrations — fixed rate (with e2e)", fixed_row);
    }
    Ok(())
}

/// One event-list query of the `query` scenario.
struct Shape {
    name: &'static str,
    /// Query string; `{since}`/`{until}` are filled relative to the fill.
    status: &'static str,
    since_ago: Duration,
    until_ago: Option<Duration>,
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            name: "delivered, last hour",
            status: "delivered",
            since_ago: Duration::from_secs(HOUR),
            until_ago: None,
        },
        Shape {
            name: "failed (2 %), last 24 h",
            status: "failed",
            since_ago: Duration::from_secs(DAY),
            until_ago: None,
        },
        Shape {
            name: "held (1 %), last hour",
            status: "held",
            since_ago: Duration::from_secs(HOUR),
            until_ago: None,
        },
        Shape {
            name: "failed (2 %), all 30 days",
            status: "failed",
            since_ago: Duration::from_secs(30 * DAY),
            until_ago: None,
        },
        Shape {
            name: "delivered, one day 29 days ago (+until)",
            status: "delivered",
            since_ago: Duration::from_secs(29 * DAY),
            until_ago: Some(Duration::from_secs(28 * DAY)),
        },
        Shape {
            name: "received (none stored), last hour",
            status: "received",
            since_ago: Duration::from_secs(HOUR),
            until_ago: None,
        },
    ]
}

fn rfc3339(ms: i64) -> String {
    hookline_core::time::Millis(ms).to_rfc3339()
}

/// `query`: fills the database (or reuses a filled SQLite dir), starts the
/// gateway on it, and times each query shape.
async fn query(ctx: &mut Ctx, a: &QueryArgs) -> Result<()> {
    if ctx.gateway.url.is_some() {
        bail!("query fills the database before the gateway starts, so it needs a gateway it starts itself (drop --gateway-url)");
    }
    let mut pg = None;
    let (data, db_url, filled) = match &ctx.gateway.database_url {
        Some(url) if targets::is_postgres(url) => {
            let db = targets::PgDatabase::create(url).await?;
            say(format!(
                "filling {} events into a fresh PostgreSQL database",
                a.events
            ));
            let started = Instant::now();
            let filled = match fill::fill(&db.url, a.events, a.batch, a.span).await {
                Ok(f) => f,
                Err(e) => {
                    db.drop_db().await;
                    return Err(e);
                }
            };
            ctx.extra
                .insert("fill_s".into(), json!(started.elapsed().as_secs_f64()));
            let url = db.url.clone();
            pg = Some(db);
            (
                Data::Temp(
                    tempfile::Builder::new()
                        .prefix("hookline-bench-")
                        .tempdir()?,
                ),
                Some(url),
                filled,
            )
        }
        Some(other) => bail!(
            "query fills SQLite in its own data dir (see --fill-dir) or PostgreSQL; got {}",
            targets::redact(other)
        ),
        None => {
            let data = match &a.fill_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir)?;
                    Data::Dir(dir.clone())
                }
                None => Data::Temp(
                    tempfile::Builder::new()
                        .prefix("hookline-bench-")
                        .tempdir()?,
                ),
            };
            let filled = match fill::reusable(data.path(), a.events) {
                Some(f) => {
                    say(format!(
                        "reusing {} events in {}",
                        f.events,
                        data.path().display()
                    ));
                    f
                }
                None => {
                    let db = data.path().join("hookline.db");
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
                    }
                    say(format!("filling {} events into {}", a.events, db.display()));
                    let started = Instant::now();
                    let f = fill::fill(&data.sqlite_url(), a.events, a.batch, a.span).await?;
                    ctx.extra
                        .insert("fill_s".into(), json!(started.elapsed().as_secs_f64()));
                    std::fs::write(data.path().join(fill::MARKER), serde_json::to_vec(&f)?)?;
                    f
                }
            };
            (data, None, filled)
        }
    };
    if let Ok(meta) = std::fs::metadata(data.path().join("hookline.db")) {
        ctx.extra.insert("db_bytes".into(), json!(meta.len()));
    }
    let result = query_phases(ctx, a, data, db_url, &filled).await;
    if let Some(db) = pg {
        db.drop_db().await;
    }
    result
}

async fn query_phases(
    ctx: &mut Ctx,
    a: &QueryArgs,
    data: Data,
    db_url: Option<String>,
    filled: &fill::Filled,
) -> Result<()> {
    let gw = Gateway::start(&ctx.gateway, Some(data), db_url).await?;
    say(format!(
        "gateway at {} on {} events",
        gw.api.base, filled.events
    ));
    let baseline = if ctx.common.no_baseline {
        None
    } else {
        Some(Baseline::start()?)
    };
    let mut lines = vec![format!(
        "\n== query — GET /api/v1/events?status=…&since=…&limit=50 over {} events ({} requests per shape, one connection)\n   {:<42} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>12}",
        filled.events, a.requests, "shape", "rows", "first ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "base p50 ms"
    )];
    for shape in shapes() {
        let since = filled.now_ms - shape.since_ago.as_millis() as i64;
        let mut q = format!("status={}&since={}&limit=50", shape.status, rfc3339(since));
        if let Some(u) = shape.until_ago {
            q.push_str(&format!(
                "&until={}",
                rfc3339(filled.now_ms - u.as_millis() as i64)
            ));
        }
        let q = q.replace('+', "%2B");
        let path = format!("/api/v1/events?{q}");
        // The first request alone (colder caches), and how many rows it finds.
        let t = Instant::now();
        let (status, answer) = gw.api.call(Method::GET, &path, None).await?;
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        if !status.is_success() {
            bail!("GET {path} answered {status}: {answer}");
        }
        let rows = answer["data"].as_array().map_or(0, Vec::len);
        let uri: Uri = format!("{}{path}", gw.api.base).parse()?;
        let send = net::get_sender(ctx.client.clone(), uri, Some(gw.api.key.clone()));
        let load = Load::Max {
            connections: 1,
            d: a.shape_time,
            count: Some(a.requests),
        };
        let (mut p, _) = phase(ctx, "query", "gateway", gw.pid, send, load, None).await;
        p.phase = format!("query: {}", shape.name);
        let base_p50 = match &baseline {
            Some(b) => {
                let uri: Uri = format!("{}{path}", b.base).parse()?;
                let send = net::get_sender(ctx.client.clone(), uri, None);
                let (mut bp, _) =
                    phase(ctx, "query", "baseline", Some(b.pid), send, load, None).await;
                bp.phase = format!("query: {}", shape.name);
                let v = bp.ack.p50_ms;
                ctx.phases.push(bp);
                Some(v)
            }
            None => None,
        };
        let s = p.ack;
        let line = format!(
            "   {:<42} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>12}",
            shape.name,
            rows,
            first_ms,
            s.p50_ms,
            s.p90_ms,
            s.p99_ms,
            s.max_ms,
            base_p50.map_or("—".into(), |v| format!("{v:.3}"))
        );
        say(&line);
        lines.push(line);
        ctx.extra.insert(
            format!("query: {}", shape.name),
            json!({"query": q, "rows": rows, "first_ms": first_ms}),
        );
        ctx.phases.push(p);
    }
    if let Some(u) = ctx
        .phases
        .iter()
        .rev()
        .find(|p| p.target == "gateway")
        .and_then(|p| p.process)
    {
        lines.push(format!(
            "   gateway peak RSS during the last shape: {:.1} MB",
            u.peak_rss_mb
        ));
    }
    ctx.tables.push(lines.join("\n") + "\n");
    ctx.extra.insert("gateway_log".into(), json!(gw.log_path()));
    gw.stop().await?;
    if let Some(b) = baseline {
        b.stop()?;
    }
    Ok(())
}
