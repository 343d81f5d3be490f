//! Signatures produced by the providers' own libraries, at test time.
//!
//! The helpers live in `tests/peers/` and are installed by
//! `tests/peers/install.sh`. When they are missing these tests fail with
//! instructions, unless `HOOKLINE_SKIP_PEER_TESTS=1`, in which case they say
//! they skipped and pass.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use hookline_verify::{standard, verify, InboundRequest, Verification, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};

/// A JSON body with multi-byte UTF-8, so any re-encoding would break the signature.
const BODY: &str = r#"{"id":"evt_peer_1","object":"event","type":"invoice.paid","data":{"note":"naïve café ✓ 日本","amount":4200}}"#;
const TAMPERED: &str = r#"{"id":"evt_peer_1","object":"event","type":"invoice.paid","data":{"note":"naïve café ✓ 日本","amount":4201}}"#;

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("time fits i64")
}

/// A peer helper: an interpreter and a script in `tests/peers/`.
#[derive(Clone, Copy)]
enum Peer {
    Python,
    Node,
}

impl Peer {
    fn command(self) -> Command {
        let (program, script) = match self {
            Peer::Python => ("python3", "py_peer.py"),
            Peer::Node => ("node", "github_sign.mjs"),
        };
        let mut cmd = Command::new(program);
        cmd.arg(peers_dir().join(script)).current_dir(peers_dir());
        cmd
    }

    /// Runs the helper with `args` and `stdin`; `Ok(stdout)` on exit status 0,
    /// `Err(description)` otherwise.
    fn run(self, args: &[&str], stdin: &[u8]) -> Result<String, String> {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", self.command().get_program()))?;
        child
            .stdin
            .take()
            .expect("stdin is piped")
            .write_all(stdin)
            .map_err(|e| format!("cannot write to the helper: {e}"))?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "{} {args:?} exited with {}: {}",
                self.command().get_program().to_string_lossy(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Whether the helper and its library can run. If not: fail with install
    /// instructions, or report a skip when `HOOKLINE_SKIP_PEER_TESTS=1`.
    fn ready(self, test: &str) -> bool {
        let Err(problem) = self.run(&["check"], b"") else {
            return true;
        };
        let libraries = match self {
            Peer::Python => "the Python packages stripe and standardwebhooks",
            Peer::Node => "the npm package @octokit/webhooks-methods",
        };
        if std::env::var("HOOKLINE_SKIP_PEER_TESTS").as_deref() == Ok("1") {
            // Written to the real stderr so the skip shows despite output capture.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {libraries} not available (HOOKLINE_SKIP_PEER_TESTS=1): {problem}"
            );
            return false;
        }
        panic!(
            "{test} needs {libraries}, which could not be run: {problem}\n\
             Install the peer libraries with:\n    bash crates/hookline-verify/tests/peers/install.sh\n\
             or set HOOKLINE_SKIP_PEER_TESTS=1 to skip these tests."
        );
    }
}

/// Owned request parts; `check` borrows them as an [`InboundRequest`].
struct Request {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Request {
    fn new(body: &str, headers: &[(&str, &str)]) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Request {
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn check(&self, v: &Verification, secret: &str, now: i64) -> Result<(), VerifyError> {
        let req = InboundRequest {
            method: "POST",
            headers: &self.headers,
            query: None,
            body: &self.body,
        };
        verify(v, Some(secret), &req, now)
    }
}

#[test]
fn stripe_python_signature_is_accepted() {
    if !Peer::Python.ready("stripe_python_signature_is_accepted") {
        return;
    }
    let secret = "whsec_8mQ1mCw2ZJ0NUmQxP7Vb7hG2lK0dO9sX";
    let v = Verification::Stripe {
        tolerance_secs: None,
    };
    let t = now();
    let header = Peer::Python
        .run(&["stripe-sign", secret, &t.to_string()], BODY.as_bytes())
        .unwrap();
    assert!(header.starts_with(&format!("t={t},v1=")), "{header}");

    let signed = |body| Request::new(body, &[("Stripe-Signature", &header)]);
    assert_eq!(signed(BODY).check(&v, secret, t), Ok(()));
    assert_eq!(
        signed(TAMPERED).check(&v, secret, t),
        Err(VerifyError::SignatureMismatch)
    );
    assert_eq!(
        signed(BODY).check(&v, "whsec_other", t),
        Err(VerifyError::SignatureMismatch)
    );
    assert_eq!(
        signed(BODY).check(&v, secret, t + 301).unwrap_err().code(),
        "timestamp_out_of_tolerance"
    );
}

#[test]
fn standard_webhooks_python_signature_is_accepted() {
    if !Peer::Python.ready("standard_webhooks_python_signature_is_accepted") {
        return;
    }
    let v = Verification::StandardWebhooks {
        tolerance_secs: None,
    };
    let t = now();
    let msg_id = "msg_2bVxUn3RFnLYHa8z6ZKHMT9PqPX";
    let prefixed = standard::generate_secret(&[0x5a; 32]);
    // The libraries also take a bare base64 secret; so does Hookline.
    let bare = prefixed.trim_start_matches("whsec_").to_owned();

    for secret in [&prefixed, &bare] {
        let signature = Peer::Python
            .run(
                &["standard-sign", secret, msg_id, &t.to_string()],
                BODY.as_bytes(),
            )
            .unwrap();
        // Hookline's signer produces byte-for-byte the same header value.
        assert_eq!(
            standard::sign(secret, msg_id, t, BODY.as_bytes()).unwrap(),
            signature
        );

        let ts = t.to_string();
        let signed = |body, name_prefix: &str| {
            Request::new(
                body,
                &[
                    (&format!("{name_prefix}-id"), msg_id),
                    (&format!("{name_prefix}-timestamp"), &ts),
                    (&format!("{name_prefix}-signature"), &signature),
                ],
            )
        };
        assert_eq!(signed(BODY, "webhook").check(&v, secret, t), Ok(()));
        assert_eq!(signed(BODY, "svix").check(&v, secret, t), Ok(()));
        assert_eq!(
            signed(TAMPERED, "webhook").check(&v, secret, t),
            Err(VerifyError::SignatureMismatch)
        );
        let other = standard::generate_secret(&[0x5b; 32]);
        assert_eq!(
            signed(BODY, "webhook").check(&v, &other, t),
            Err(VerifyError::SignatureMismatch)
        );
    }
}

#[test]
fn hookline_signature_is_accepted_by_standard_webhooks_python() {
    if !Peer::Python.ready("hookline_signature_is_accepted_by_standard_webhooks_python") {
        return;
    }
    let t = now().to_string();
    let msg_id = "msg_hookline_01HZX3";
    let current = standard::generate_secret(&[0x11; 32]);
    let next = standard::generate_secret(&[0x22; 24]);
    let unrelated = standard::generate_secret(&[0x33; 32]);
    // During rotation the header carries one signature per secret.
    let signature = standard::sign_all(
        &[&current, &next],
        msg_id,
        t.parse().unwrap(),
        BODY.as_bytes(),
    )
    .unwrap();

    let python_verify = |secret: &str, body: &str| {
        Peer::Python.run(
            &["standard-verify", secret, msg_id, &t, &signature],
            body.as_bytes(),
        )
    };
    assert_eq!(python_verify(&current, BODY), Ok("verified".into()));
    assert_eq!(python_verify(&next, BODY), Ok("verified".into()));
    let rejected = python_verify(&unrelated, BODY).unwrap_err();
    assert!(rejected.contains("No matching signature"), "{rejected}");
    let rejected = python_verify(&current, TAMPERED).unwrap_err();
    assert!(rejected.contains("No matching signature"), "{rejected}");
}

#[test]
fn github_octokit_signature_is_accepted() {
    if !Peer::Node.ready("github_octokit_signature_is_accepted") {
        return;
    }
    let secret = "It's a Secret to Everybody 🔑";
    let header = Peer::Node.run(&["sign", secret], BODY.as_bytes()).unwrap();
    assert!(header.starts_with("sha256="), "{header}");

    let signed = |body| Request::new(body, &[("X-Hub-Signature-256", &header)]);
    let v = Verification::Github;
    assert_eq!(signed(BODY).check(&v, secret, 0), Ok(()));
    assert_eq!(
        signed(TAMPERED).check(&v, secret, 0),
        Err(VerifyError::SignatureMismatch)
    );
    assert_eq!(
        signed(BODY).check(&v, "It's a Secret to Everybody", 0),
        Err(VerifyError::SignatureMismatch)
    );
}
