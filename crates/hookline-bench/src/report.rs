//! What a run reports: one [`Phase`] per (load, target), printed as a table
//! of figures beside the baseline's with their ratio, or as JSON.

use crate::hist::{per_second, ratio, Summary};
use crate::procs::Usage;
use crate::schedule::Collected;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// End-to-end figures: due time → arrival at the receiver.
#[derive(Debug, Clone, Serialize)]
pub struct E2e {
    pub latency: Summary,
    /// Events acknowledged by the gateway.
    pub expected: u64,
    pub arrived: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Arrivals per second, first due time → last arrival.
    pub throughput_per_s: f64,
}

/// One load against one target.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub phase: String,
    pub target: String,
    /// How the load was made, in words (`open 1000/s for 10 s`, …).
    pub load: String,
    pub offered_per_s: Option<f64>,
    pub sent: u64,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub wall_s: f64,
    /// 2xx answers per second over the phase.
    pub throughput_per_s: f64,
    /// Acknowledgement latency (open model: from the due time).
    pub ack: Summary,
    /// Open model: how late the load tool started requests.
    pub dispatch_lag: Option<Summary>,
    pub e2e: Option<E2e>,
    /// The target process.
    pub process: Option<Usage>,
    /// The load tool's own process (it shares the CPUs).
    pub load_tool: Option<Usage>,
}

impl Phase {
    pub fn new(
        phase: &str,
        target: &str,
        load: String,
        offered: Option<f64>,
        c: &Collected,
    ) -> Phase {
        Phase {
            phase: phase.into(),
            target: target.into(),
            load,
            offered_per_s: offered,
            sent: c.sent,
            ok: c.ok,
            errors: c.errors.clone(),
            wall_s: c.wall().as_secs_f64(),
            throughput_per_s: per_second(c.ok, c.wall()),
            ack: c.ack.summary(),
            dispatch_lag: (c.dispatch_lag.count() > 0).then(|| c.dispatch_lag.summary()),
            e2e: None,
            process: None,
            load_tool: None,
        }
    }

    /// Problems a strict run fails on: request errors, missing arrivals.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let errors: u64 = self.errors.values().sum();
        if errors > 0 {
            out.push(format!(
                "{} / {}: {errors} request errors {:?}",
                self.phase, self.target, self.errors
            ));
        }
        if let Some(e) = &self.e2e {
            if e.missing > 0 {
                out.push(format!(
                    "{} / {}: {} events never arrived",
                    self.phase, self.target, e.missing
                ));
            }
        }
        out
    }
}

/// A figure of a phase, for the table.
#[derive(Clone, Copy)]
enum Fig {
    Throughput,
    Ack(fn(&Summary) -> f64),
    E2e(fn(&Summary) -> f64),
    E2eThroughput,
    Cpu,
    Cores,
    PeakRss,
}

fn value(p: &Phase, f: Fig) -> Option<f64> {
    match f {
        Fig::Throughput => Some(p.throughput_per_s),
        Fig::Ack(get) => (p.ack.count > 0).then(|| get(&p.ack)),
        Fig::E2e(get) => p
            .e2e
            .as_ref()
            .filter(|e| e.latency.count > 0)
            .map(|e| get(&e.latency)),
        Fig::E2eThroughput => p.e2e.as_ref().map(|e| e.throughput_per_s),
        Fig::Cpu => p.process.map(|u| u.cpu_s),
        Fig::Cores => p.process.map(|u| u.cores),
        Fig::PeakRss => p.process.map(|u| u.peak_rss_mb),
    }
}

const ROWS: [(&str, Fig); 15] = [
    ("throughput (2xx/s)", Fig::Throughput),
    ("ack p50 (ms)", Fig::Ack(|s| s.p50_ms)),
    ("ack p90 (ms)", Fig::Ack(|s| s.p90_ms)),
    ("ack p99 (ms)", Fig::Ack(|s| s.p99_ms)),
    ("ack p99.9 (ms)", Fig::Ack(|s| s.p999_ms)),
    ("ack max (ms)", Fig::Ack(|s| s.max_ms)),
    ("e2e p50 (ms)", Fig::E2e(|s| s.p50_ms)),
    ("e2e p90 (ms)", Fig::E2e(|s| s.p90_ms)),
    ("e2e p99 (ms)", Fig::E2e(|s| s.p99_ms)),
    ("e2e p99.9 (ms)", Fig::E2e(|s| s.p999_ms)),
    ("e2e max (ms)", Fig::E2e(|s| s.max_ms)),
    ("e2e arrivals/s", Fig::E2eThroughput),
    ("server CPU (s)", Fig::Cpu),
    ("server CPU (cores)", Fig::Cores),
    ("server peak RSS (MB)", Fig::PeakRss),
];

fn num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// A table of `phases` side by side. With `baseline`, the first column is
/// the bare server and every other figure is also shown divided by it.
pub fn table(title: &str, phases: &[&Phase], baseline: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== {title}");
    if let Some(p) = phases.first() {
        let _ = writeln!(out, "   load: {}", p.load);
    }
    let mut header = vec!["".to_owned()];
    for (k, p) in phases.iter().enumerate() {
        header.push(p.target.clone());
        if baseline && k > 0 {
            header.push("÷ base".into());
        }
    }
    let mut rows = vec![header];
    let base = phases.first().filter(|_| baseline);
    for (label, fig) in ROWS.iter() {
        let vals: Vec<Option<f64>> = phases.iter().map(|p| value(p, *fig)).collect();
        if vals.iter().all(Option::is_none) {
            continue;
        }
        let mut row = vec![(*label).to_owned()];
        let b = base.and_then(|p| value(p, *fig));
        for (k, v) in vals.iter().enumerate() {
            row.push(v.map(num).unwrap_or_else(|| "—".into()));
            if baseline && k > 0 {
                let r = match (v, b) {
                    (Some(v), Some(b)) => ratio(*v, b),
                    _ => None,
                };
                row.push(r.map(|r| format!("{r:.2}×")).unwrap_or_else(|| "—".into()));
            }
        }
        rows.push(row);
    }
    let mut counts = vec!["requests ok / sent".to_owned()];
    let mut errs = vec!["errors".to_owned()];
    for (k, p) in phases.iter().enumerate() {
        counts.push(format!("{} / {}", p.ok, p.sent));
        errs.push(if p.errors.is_empty() {
            "0".into()
        } else {
            p.errors
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(" ")
        });
        if baseline && k > 0 {
            counts.push(String::new());
            errs.push(String::new());
        }
    }
    rows.push(counts);
    rows.push(errs);
    if phases.iter().any(|p| p.e2e.is_some()) {
        let mut r = vec!["arrived / missing / dup".to_owned()];
        for (k, p) in phases.iter().enumerate() {
            r.push(
                p.e2e
                    .as_ref()
                    .map(|e| format!("{} / {} / {}", e.arrived, e.missing, e.duplicates))
                    .unwrap_or_else(|| "—".into()),
            );
            if baseline && k > 0 {
                r.push(String::new());
            }
        }
        rows.push(r);
    }
    if phases.iter().any(|p| p.dispatch_lag.is_some()) {
        let mut r = vec!["tool lag p50/p99 (ms)".to_owned()];
        for (k, p) in phases.iter().enumerate() {
            r.push(
                p.dispatch_lag
                    .map(|l| format!("{:.3}/{:.3}", l.p50_ms, l.p99_ms))
                    .unwrap_or_else(|| "—".into()),
            );
            if baseline && k > 0 {
                r.push(String::new());
            }
        }
        rows.push(r);
    }
    let mut r = vec!["load tool CPU (cores)".to_owned()];
    for (k, p) in phases.iter().enumerate() {
        r.push(
            p.load_tool
                .map(|u| format!("{:.2}", u.cores))
                .unwrap_or_else(|| "—".into()),
        );
        if baseline && k > 0 {
            r.push(String::new());
        }
    }
    rows.push(r);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                let _ = write!(line, "   {cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(line, "  {}{cell}", " ".repeat(pad));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(target: &str, throughput: f64, p99: f64) -> Phase {
        Phase {
            phase: "max".into(),
            target: target.into(),
            load: "closed".into(),
            offered_per_s: None,
            sent: 10,
            ok: 10,
            errors: BTreeMap::new(),
            wall_s: 1.0,
            throughput_per_s: throughput,
            ack: Summary {
                count: 10,
                p99_ms: p99,
                ..Summary::default()
            },
            dispatch_lag: None,
            e2e: None,
            process: None,
            load_tool: None,
        }
    }

    #[test]
    fn the_table_shows_ratios_to_the_first_column() {
        let base = phase("baseline", 20_000.0, 1.0);
        let gw = phase("gateway", 5_000.0, 4.0);
        let t = table("ingest", &[&base, &gw], true);
        let line = t.lines().find(|l| l.contains("throughput")).unwrap();
        assert!(
            line.contains("20000") && line.contains("5000") && line.contains("0.25×"),
            "{line}"
        );
        let line = t.lines().find(|l| l.contains("ack p99 ")).unwrap();
        assert!(line.contains("4.00×"), "{line}");
        // No e2e rows when no phase measured them.
        assert!(!t.contains("e2e p50"), "{t}");
        // Without a baseline nothing is divided.
        let t = table("ingest", &[&gw], false);
        assert!(!t.contains('×'), "{t}");
    }

    #[test]
    fn errors_and_missing_arrivals_are_problems() {
        let mut p = phase("gateway", 1.0, 1.0);
        assert!(p.problems().is_empty());
        p.errors.insert("http_500".into(), 2);
        p.e2e = Some(E2e {
            latency: Summary::default(),
            expected: 10,
            arrived: 9,
            missing: 1,
            duplicates: 0,
            throughput_per_s: 0.0,
        });
        assert_eq!(p.problems().len(), 2);
    }
}
