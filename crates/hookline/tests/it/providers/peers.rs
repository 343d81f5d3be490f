//! The providers' own libraries, run as subprocesses: Python's `stripe` and
//! `standardwebhooks` and npm's `@octokit/webhooks-methods`, through the
//! peer scripts of hookline-verify (`crates/hookline-verify/tests/peers/`,
//! installed by its `install.sh`). When they are missing, tests that need
//! them fail with instructions, unless `HOOKLINE_SKIP_PEER_TESTS=1`.

use crate::helpers::Hit;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../hookline-verify/tests/peers")
}

#[derive(Clone, Copy)]
enum Peer {
    Python,
    Node,
}

async fn run(peer: Peer, args: &[&str], stdin: &[u8]) -> Result<String, String> {
    let (program, script) = match peer {
        Peer::Python => ("python3", "py_peer.py"),
        Peer::Node => ("node", "github_sign.mjs"),
    };
    let mut child = tokio::process::Command::new(program)
        .arg(dir().join(script))
        .args(args)
        .current_dir(dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let mut input = child.stdin.take().expect("stdin is piped");
    input
        .write_all(stdin)
        .await
        .map_err(|e| format!("cannot write to {script}: {e}"))?;
    drop(input);
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{script} {args:?} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether the peer libraries run. If not: panic with install instructions,
/// or report a skip when `HOOKLINE_SKIP_PEER_TESTS=1`.
pub async fn ready(test: &str) -> bool {
    let mut problems = Vec::new();
    for peer in [Peer::Python, Peer::Node] {
        if let Err(e) = run(peer, &["check"], b"").await {
            problems.push(e);
        }
    }
    if problems.is_empty() {
        return true;
    }
    if std::env::var("HOOKLINE_SKIP_PEER_TESTS").as_deref() == Ok("1") {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: provider libraries not available (HOOKLINE_SKIP_PEER_TESTS=1): {problems:?}"
        );
        return false;
    }
    panic!(
        "{test} needs the providers' libraries (Python stripe and standardwebhooks, npm @octokit/webhooks-methods): \
         {problems:?}\nInstall them with:\n    bash crates/hookline-verify/tests/peers/install.sh\n\
         or set HOOKLINE_SKIP_PEER_TESTS=1 to skip these tests."
    );
}

/// A `Stripe-Signature` header value from `stripe.WebhookSignature.generate_signature_header`.
pub async fn stripe_signature(secret: &str, timestamp: i64, body: &str) -> String {
    run(
        Peer::Python,
        &["stripe-sign", secret, &timestamp.to_string()],
        body.as_bytes(),
    )
    .await
    .expect("stripe signs")
}

/// An `X-Hub-Signature-256` header value from `@octokit/webhooks-methods`' `sign`.
pub async fn github_signature(secret: &str, body: &str) -> String {
    run(Peer::Node, &["sign", secret], body.as_bytes())
        .await
        .expect("octokit signs")
}

/// Checks a forwarded request with the `standardwebhooks` library.
pub async fn standard_verify(secret: &str, hit: &Hit) -> Result<(), String> {
    let header = |name: &str| {
        hit.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    run(
        Peer::Python,
        &[
            "standard-verify",
            secret,
            &header("webhook-id"),
            &header("webhook-timestamp"),
            &header("webhook-signature"),
        ],
        &hit.body,
    )
    .await
    .map(|_| ())
}
