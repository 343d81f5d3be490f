//! The processes under test: starting a child that prints its port, stopping
//! it, and reading its memory and CPU from `/proc`.
//!
//! - CPU time is `utime + stime` of `/proc/<pid>/stat` (every thread), in
//!   clock ticks (`getconf CLK_TCK`, 100 on Linux).
//! - Peak RSS is `VmHWM` of `/proc/<pid>/status`. Before each phase the
//!   peak is reset (`echo 5 > /proc/<pid>/clear_refs`), so a phase reports
//!   its own peak rather than the setup's or an earlier phase's; when the
//!   reset is refused the peak is the process lifetime's, and says so.

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub cpu_s: f64,
    pub hwm_kb: u64,
    pub rss_kb: u64,
    pub at: Instant,
}

/// `pid` or `self`.
pub fn sample(pid: &str) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(Sample {
        cpu_s: cpu_ticks(&stat)? as f64 / clock_ticks(),
        hwm_kb: status_kb(&status, "VmHWM:")?,
        rss_kb: status_kb(&status, "VmRSS:")?,
        at: Instant::now(),
    })
}

/// `utime + stime`: fields 14 and 15 of `/proc/<pid>/stat`, counted after
/// the command name, which is in parentheses and may hold spaces.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state).
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resets the peak RSS; false when the kernel refused.
pub fn reset_peak(pid: &str) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// What a process used over a phase.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub cpu_s: f64,
    /// CPU time over wall time: 1.0 is one core busy.
    pub cores: f64,
    pub peak_rss_mb: f64,
    pub rss_end_mb: f64,
    /// False when the peak could not be reset, so it is the lifetime peak.
    pub peak_is_phase_only: bool,
}

/// Measures one process over a phase.
pub struct Meter {
    pid: String,
    before: Option<Sample>,
    reset: bool,
}

impl Meter {
    pub fn start(pid: &str) -> Meter {
        let reset = reset_peak(pid);
        Meter {
            pid: pid.to_owned(),
            before: sample(pid),
            reset,
        }
    }

    pub fn finish(&self) -> Option<Usage> {
        let before = self.before?;
        let after = sample(&self.pid)?;
        let wall = after.at.saturating_duration_since(before.at).as_secs_f64();
        let cpu_s = after.cpu_s - before.cpu_s;
        Some(Usage {
            cpu_s,
            cores: if wall > 0.0 { cpu_s / wall } else { 0.0 },
            peak_rss_mb: after.hwm_kb as f64 / 1024.0,
            rss_end_mb: after.rss_kb as f64 / 1024.0,
            peak_is_phase_only: self.reset,
        })
    }
}

/// A child process that printed `… listening on port <N>` on stdout.
pub struct Spawned {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `cmd` with stdout and stderr going to `log`, and waits up to
    /// `within` for the port line.
    pub fn spawn(mut cmd: Command, log: &Path, within: Duration) -> Result<Spawned> {
        let file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::from(file.try_clone()?))
            .stdin(Stdio::null());
        let program = format!(
            "{} {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut file = file;
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = port_in(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port);
                    }
                }
                let _ = writeln!(file, "{line}");
            }
        });
        let deadline = Instant::now() + within;
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(port) => {
                    return Ok(Spawned {
                        child,
                        port,
                        log: log.to_owned(),
                    })
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) | Err(_)
                    if child.try_wait()?.is_some() =>
                {
                    let tail = log_tail(log, 20);
                    bail!("`{program}` exited before listening; its output ends:\n{tail}");
                }
                Err(_) if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!(
                        "`{program}` printed no port within {within:?}; output:\n{}",
                        log_tail(log, 20)
                    );
                }
                Err(_) => {}
            }
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) -> Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child
            .kill()
            .map_err(|e| anyhow!("killing {pid}: {e}"))?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // Stopped already, or an error path: never leave a child behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The number after `listening on port ` in a line.
fn port_in(line: &str) -> Option<u16> {
    let rest = &line[line.find("listening on port ")? + "listening on port ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_a_command_with_spaces() {
        let stat = "1234 (tokio (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 100";
        assert_eq!(cpu_ticks(stat), Some(300));
    }

    #[test]
    fn reads_status_kilobytes() {
        let status = "Name:\thookline\nVmHWM:\t  123456 kB\nVmRSS:\t   65432 kB\n";
        assert_eq!(status_kb(status, "VmHWM:"), Some(123_456));
        assert_eq!(status_kb(status, "VmRSS:"), Some(65_432));
        assert_eq!(status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn finds_the_port_line() {
        assert_eq!(
            port_in("hookline listening on port 41234; links start with http://127.0.0.1:41234"),
            Some(41234)
        );
        assert_eq!(port_in("baseline listening on port 80"), Some(80));
        assert_eq!(port_in("Generated a management key"), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample("self").expect("/proc/self is readable");
        assert!(s.rss_kb > 0 && s.hwm_kb >= s.rss_kb);
    }
}
