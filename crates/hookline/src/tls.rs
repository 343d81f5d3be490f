//! HTTPS served by Hookline itself: the `[tls]` certificate and key files,
//! loaded at start (a missing or bad file stops the start with a message
//! naming the file and what is wrong with it, never its contents), then read
//! again every `tls.reload_interval` so a renewed certificate (certbot,
//! cert-manager) is used for new connections without a restart.
//!
//! The server's rustls configuration resolves its certificate through
//! [`Certificates`], which hands each handshake the pair loaded last; a
//! reload that fails (half-written files, a key that does not match the
//! certificate) is logged once per distinct pair of file contents and the
//! previous pair stays in use. Connections already open keep the certificate
//! they were made with.
//!
//! ALPN offers `h2` and `http/1.1`; hyper-util's auto builder then serves
//! whichever the connection speaks.

use crate::config::TlsConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// Why the certificate files cannot be used. Messages name the file and the
/// problem; none contains any of the files' contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read tls.{which} file {}: {source}", path.display())]
    Read {
        which: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls.cert file {} holds no PEM certificate (a `-----BEGIN CERTIFICATE-----` block)", .0.display())]
    NoCertificate(PathBuf),
    #[error("tls.cert file {} is not valid PEM: {problem}", path.display())]
    BadCertificate {
        path: PathBuf,
        problem: &'static str,
    },
    #[error("tls.key file {} holds no PEM private key (`-----BEGIN PRIVATE KEY-----`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)", .0.display())]
    NoKey(PathBuf),
    #[error("tls.key file {} is not valid PEM: {problem}", path.display())]
    BadKey {
        path: PathBuf,
        problem: &'static str,
    },
    #[error("tls.key file {} holds a key of a type Hookline cannot use (RSA, ECDSA P-256/P-384 and Ed25519 are supported)", .0.display())]
    UnsupportedKey(PathBuf),
    #[error("tls.key file {} is not the private key of the certificate in tls.cert file {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("tls.cert file {} cannot be used: {reason}", path.display())]
    Unusable { path: PathBuf, reason: String },
}

/// The TLS side of the server: the acceptor for new connections and the
/// certificate it presents, reloadable.
pub struct Tls {
    acceptor: TlsAcceptor,
    certificates: Arc<Certificates>,
    reload_interval: Duration,
}

impl Tls {
    /// `None` when `[tls]` names no files (plain HTTP); an error when a
    /// named file cannot be read or used.
    pub fn load(config: &TlsConfig) -> Result<Option<Tls>, TlsError> {
        let Some((cert, key)) = config.files() else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certificates = Arc::new(Certificates::load(
            cert.to_owned(),
            key.to_owned(),
            provider.clone(),
        )?);
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Unusable {
                path: cert.to_owned(),
                reason: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(certificates.clone());
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            certificates,
            reload_interval: config.reload_interval,
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// Reads the files again every `reload_interval` until `shutdown`.
    pub fn spawn_reloader(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let certificates = self.certificates.clone();
        let every = self.reload_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await; // The first tick is now: just loaded.
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let c = certificates.clone();
                // Small files, but blocking reads all the same.
                let _ = tokio::task::spawn_blocking(move || c.reload()).await;
            }
        })
    }
}

/// The certificate handed to every handshake, and what it was loaded from.
#[derive(Debug)]
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// Digest of the file contents last tried, loaded or not: unchanged
    /// files are not parsed again, and a bad pair is logged once.
    last_seen: Mutex<[u8; 32]>,
}

impl Certificates {
    fn load(
        cert_path: PathBuf,
        key_path: PathBuf,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let (cert_pem, key_pem) = read_pair(&cert_path, &key_path)?;
        let key = certified_key(&cert_path, &key_path, &cert_pem, &key_pem, &provider)?;
        Ok(Certificates {
            last_seen: Mutex::new(digest(&cert_pem, &key_pem)),
            cert_path,
            key_path,
            provider,
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// Reads both files; when their contents changed and load, they are
    /// presented from the next handshake on. Returns whether they did.
    pub fn reload(&self) -> bool {
        let (cert_pem, key_pem) = match read_pair(&self.cert_path, &self.key_path) {
            Ok(pair) => pair,
            Err(e) => {
                // A file being replaced can be missing for an instant; a
                // lasting problem shows as the same warning every interval.
                tracing::warn!(error = %e, "TLS certificate reload failed; still using the previous certificate");
                return false;
            }
        };
        let seen = digest(&cert_pem, &key_pem);
        {
            let mut last = self.last_seen.lock().expect("not poisoned");
            if *last == seen {
                return false;
            }
            *last = seen;
        }
        match certified_key(
            &self.cert_path,
            &self.key_path,
            &cert_pem,
            &key_pem,
            &self.provider,
        ) {
            Ok(key) => {
                *self.current.write().expect("not poisoned") = Arc::new(key);
                tracing::info!(cert = %self.cert_path.display(), "TLS certificate reloaded; new connections use it");
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate files changed but cannot be used; still using the previous certificate");
                false
            }
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("not poisoned").clone())
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |which, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            which,
            path: path.to_owned(),
            source,
        })
    };
    Ok((read("cert", cert)?, read("key", key)?))
}

fn digest(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

/// What went wrong in a PEM file, without quoting any of it (a key file's
/// lines are secret).
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a block has no `-----END …-----` line",
        pem::Error::IllegalSectionStart { .. } => "a `-----BEGIN …-----` line is malformed",
        pem::Error::Base64Decode(_) => "a block's body is not valid base64",
        pem::Error::SectionTooLarge => "a block is too large",
        _ => "it could not be parsed",
    }
}

fn certified_key(
    cert_path: &Path,
    key_path: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: cert_path.to_owned(),
            problem: pem_problem(&e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert_path.to_owned()));
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(k) => k,
        Err(pem::Error::NoItemsFound) => return Err(TlsError::NoKey(key_path.to_owned())),
        Err(e) => {
            return Err(TlsError::BadKey {
                path: key_path.to_owned(),
                problem: pem_problem(&e),
            })
        }
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| TlsError::UnsupportedKey(key_path.to_owned()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            })
        }
        Err(e) => Err(TlsError::Unusable {
            path: cert_path.to_owned(),
            reason: format!("its first certificate cannot be parsed ({e})"),
        }),
    }
}
