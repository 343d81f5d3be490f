//! HTTPS served by Hookline itself (`[tls]`): certificates made here by a
//! test CA, clients that verify them against that CA only, HTTP/1.1 and
//! HTTP/2 chosen by ALPN, certificate files replaced while serving, and bad
//! files refused at start with a message that names them.

use crate::helpers::*;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A certificate authority made for one test.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("Hookline test CA {name}"),
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate for 127.0.0.1 and localhost: (cert PEM, key PEM, cert DER).
    fn leaf(&self, label: &str) -> (String, String, CertificateDer<'static>) {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("hookline {label}"));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }
}

/// Writes a certificate and key where `[tls]` will read them.
fn write_pair(dir: &Path, cert: &str, key: &str) -> (PathBuf, PathBuf) {
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

async fn spawn_https(cert: PathBuf, key: PathBuf) -> TestApp {
    let app = spawn_app_with(|c| {
        c.tls.cert = Some(cert);
        c.tls.key = Some(key);
        c.tls.reload_interval = Duration::from_millis(100);
    })
    .await;
    assert!(app.base.starts_with("http://127.0.0.1:"), "{}", app.base);
    app
}

fn https_base(app: &TestApp) -> String {
    app.base.replacen("http://", "https://", 1)
}

fn port(app: &TestApp) -> u16 {
    app.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// A rustls client trusting only `cas`, offering `alpn`.
fn connector(cas: &[CertificateDer<'static>], alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        roots.add(ca.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Opens a new verified TLS connection; returns it with the certificate the
/// server presented.
async fn handshake(
    app: &TestApp,
    cas: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> (
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    CertificateDer<'static>,
) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port(app)))
        .await
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector(cas, alpn)
        .connect(name, tcp)
        .await
        .expect("the certificate verifies against the test CA");
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    (tls, presented)
}

#[tokio::test]
async fn https_over_http1_with_a_verifying_client() {
    let ca = TestCa::new("h1");
    let (cert, key, _) = ca.leaf("h1");
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_pair(dir.path(), &cert, &key);
    let app = spawn_https(c, k).await;
    let base = https_base(&app);

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .tls_built_in_root_certs(false)
        .https_only(true)
        .build()
        .unwrap();
    let resp = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    // The management API and its links: links default to https:// too.
    let resp = client
        .post(format!("{base}/api/v1/apps"))
        .bearer_auth(&app.key)
        .json(&serde_json::json!({"tag": "shop", "name": "Shop", "envs": [{"slug": "live"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);

    // A client that does not trust the test CA is refused: it is verifying.
    let untrusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let err = untrusting
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");

    // Plain HTTP on the HTTPS port gets no answer, and the server goes on.
    let plain = app.http.get(format!("{}/healthz", app.base)).send().await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    let resp = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn http2_and_http1_are_chosen_by_alpn() {
    let ca = TestCa::new("h2");
    let (cert, key, _) = ca.leaf("h2");
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_pair(dir.path(), &cert, &key);
    let app = spawn_https(c, k).await;

    for (alpn, want) in [
        (&b"h2"[..], hyper::Version::HTTP_2),
        (b"http/1.1", hyper::Version::HTTP_11),
    ] {
        let (tls, _) = handshake(&app, &[ca.der()], &[alpn]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn), "negotiated");
        let io = TokioIo::new(tls);
        let req = hyper::Request::get(format!("https://127.0.0.1:{}/healthz", port(&app)))
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = if want == hyper::Version::HTTP_2 {
            let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .unwrap();
            tokio::spawn(conn);
            send.send_request(req).await.unwrap()
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            let mut req = req;
            req.headers_mut()
                .insert(hyper::header::HOST, "127.0.0.1".parse().unwrap());
            send.send_request(req).await.unwrap()
        };
        assert_eq!(resp.version(), want);
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("ok"), "{body:?}");
    }
}

/// Polls new connections until one presents `want` (or panics).
async fn wait_for_cert(
    app: &TestApp,
    cas: &[CertificateDer<'static>],
    want: &CertificateDer<'static>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, presented) = handshake(app, cas, &[b"http/1.1"]).await;
        if &presented == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new connections still get the previous certificate after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn replaced_certificate_files_are_used_by_new_connections() {
    let ca = TestCa::new("reload");
    let (cert1, key1, der1) = ca.leaf("first");
    let dir = tempfile::tempdir().unwrap();
    let (c, k) = write_pair(dir.path(), &cert1, &key1);
    let app = spawn_https(c.clone(), k.clone()).await;
    let (open, presented) = handshake(&app, &[ca.der()], &[b"http/1.1"]).await;
    assert_eq!(presented, der1);

    // Renewed: both files replaced.
    let (cert2, key2, der2) = ca.leaf("second");
    write_pair(dir.path(), &cert2, &key2);
    wait_for_cert(&app, &[ca.der()], &der2).await;
    // The connection made before keeps working with its certificate.
    let io = TokioIo::new(open);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get("/healthz")
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    assert_eq!(send.send_request(req).await.unwrap().status(), 200);

    // A bad replacement (the key of another certificate, then garbage) is
    // refused: the last good certificate stays in use.
    let (_, other_key, _) = ca.leaf("other");
    std::fs::write(&k, &other_key).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, presented) = handshake(&app, &[ca.der()], &[b"http/1.1"]).await;
    assert_eq!(presented, der2, "a mismatched key replaced the certificate");
    std::fs::write(&c, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, presented) = handshake(&app, &[ca.der()], &[b"http/1.1"]).await;
    assert_eq!(presented, der2, "a broken file replaced the certificate");

    // Fixed again: a third certificate, from another CA, is picked up.
    let ca3 = TestCa::new("reload-3");
    let (cert3, key3, der3) = ca3.leaf("third");
    write_pair(dir.path(), &cert3, &key3);
    wait_for_cert(&app, &[ca.der(), ca3.der()], &der3).await;
}

/// What `Application::build` says about a `[tls]` pair, as the user sees it.
async fn start_error(cert: PathBuf, key: PathBuf) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.tls.cert = Some(cert);
    config.tls.key = Some(key);
    match hookline::startup::Application::build(config).await {
        Ok(_) => panic!("started with a bad [tls] pair"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn missing_or_bad_files_stop_the_start_with_a_clear_message() {
    let ca = TestCa::new("bad");
    let (cert, key, _) = ca.leaf("bad");
    let (_, other_key, _) = ca.leaf("other");
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str, contents: Option<&str>| {
        let path = dir.path().join(name);
        if let Some(c) = contents {
            std::fs::write(&path, c).unwrap();
        }
        path
    };
    let good_cert = p("cert.pem", Some(&cert));
    let good_key = p("key.pem", Some(&key));

    let e = start_error(p("missing.pem", None), good_key.clone()).await;
    assert!(
        e.contains("cannot read tls.cert file") && e.contains("missing.pem"),
        "{e}"
    );
    let e = start_error(good_cert.clone(), p("nokey.pem", None)).await;
    assert!(
        e.contains("cannot read tls.key file") && e.contains("nokey.pem"),
        "{e}"
    );
    let e = start_error(p("empty.pem", Some("")), good_key.clone()).await;
    assert!(e.contains("holds no PEM certificate"), "{e}");
    // The key where the certificate belongs, and the other way round.
    let e = start_error(good_key.clone(), good_key.clone()).await;
    assert!(e.contains("holds no PEM certificate"), "{e}");
    let e = start_error(good_cert.clone(), good_cert.clone()).await;
    assert!(e.contains("holds no PEM private key"), "{e}");
    let e = start_error(good_cert.clone(), p("other.pem", Some(&other_key))).await;
    assert!(
        e.contains("is not the private key of the certificate"),
        "{e}"
    );
    let broken = key.replace("-----END PRIVATE KEY-----", "");
    let e = start_error(good_cert.clone(), p("broken.pem", Some(&broken))).await;
    assert!(
        e.contains("tls.key file") && e.contains("not valid PEM"),
        "{e}"
    );

    // No message quotes a key.
    for secret in [&key, &other_key] {
        let body: Vec<&str> = secret.lines().filter(|l| !l.starts_with("-----")).collect();
        for e in [
            start_error(good_cert.clone(), p("other.pem", Some(&other_key))).await,
            start_error(good_key.clone(), good_key.clone()).await,
            start_error(good_cert.clone(), p("broken.pem", Some(&broken))).await,
        ] {
            for line in &body {
                assert!(!e.contains(line), "the message quotes the key: {e}");
            }
        }
    }
}

#[tokio::test]
async fn serve_flags_name_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(dir.path().join("nope.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("nope.key"))
        .env("HOOKLINE_DATA_DIR", dir.path().join("data"))
        .env_remove("HOOKLINE_TLS__CERT")
        .env_remove("HOOKLINE_TLS__KEY")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot serve HTTPS: cannot read tls.cert file") && err.contains("nope.pem"),
        "{err}"
    );
    // One without the other is a configuration error.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", "/x.pem"])
        .env("HOOKLINE_DATA_DIR", dir.path().join("data"))
        .env_remove("HOOKLINE_TLS__KEY")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tls.key is not"), "{err}");
}
