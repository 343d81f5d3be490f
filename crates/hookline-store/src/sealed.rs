//! Secrets at rest: [`DocCipher`] seals the secret fields of registrations
//! (receiver auth values, verification secrets, and current and rotated-out
//! signing secrets) and connections (provider credentials). A store given a
//! cipher ([`Store::with_cipher`](crate::Store::with_cipher)) seals them as
//! the codec writes their documents and opens them as it reads them back, so
//! every path to the database (ingest, delivery claims, the API) goes
//! through it and no backend carries crypto of its own. Names stay readable
//! (header names, env slugs); values do not.
//!
//! Sealed values are `sealed:v1:<base64url(nonce ‖ XChaCha20-Poly1305 ciphertext)>`
//! under a 32-byte key from configuration. A value without that prefix is
//! read as plain text, so databases written before sealing stay readable and
//! are sealed on their next write.
//!
//! The key check: nodes sharing a database must share the key, so the
//! database holds a known constant sealed with the key of the first node that
//! started ([`DocCipher::verify_key`], table `key_check`; never the key
//! itself), and every start opens it. A node with another key refuses to
//! start instead of answering 500 on every secret it reads. A database
//! written before the check existed gets its value on the first start that
//! can open at least one of its sealed secrets.
//!
//! A claimed event whose registration's secrets cannot be opened all the
//! same (a value sealed by a node of an older release that had another key)
//! is handed to the worker with [`Claimed::unreadable_secrets`](crate::Claimed::unreadable_secrets)
//! set and the secrets left out, so the worker records a failed attempt
//! (kind `secret_unreadable`) and the event follows its retry schedule
//! instead of staying leased, and the rest of the claim is delivered.

use crate::{ConfigStore, Result, StoreError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hookline_core::model::{Auth, Connection, Registration};
use hookline_core::time::Millis;
use rand::RngCore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 24;
/// What the key check value seals.
const KEY_CHECK_PLAIN: &str = "hookline secret key check v1";
/// Documents read from a database that has sealed data but no check value.
const FIRST_CHECK_SAMPLE: u32 = 100;

/// What [`DocCipher::verify_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// The stored check value opens with this key.
    Matched,
    /// There was no check value; this key's is stored now. `unreadable`
    /// counts sealed values in the sampled documents this key could not
    /// open (written under another key by an older release); their
    /// registrations fail to deliver until their secrets are set again.
    Written { opened: usize, unreadable: usize },
}

/// The AEAD key sealed values are encrypted with.
#[derive(Clone)]
pub struct DocCipher {
    aead: XChaCha20Poly1305,
}

impl fmt::Debug for DocCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocCipher(..)")
    }
}

impl DocCipher {
    pub const KEY_LEN: usize = 32;

    pub fn new(key: &[u8; Self::KEY_LEN]) -> Self {
        DocCipher {
            aead: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A fresh random key, for a data dir that has none yet.
    pub fn generate_key() -> [u8; Self::KEY_LEN] {
        let mut key = [0u8; Self::KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        key
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), plain.as_bytes())
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    pub fn open(&self, text: &str) -> Result<String> {
        let Some(b64) = text.strip_prefix(PREFIX) else {
            return Ok(text.to_owned());
        };
        let bad = || {
            StoreError::Corrupt(
                "a sealed secret cannot be decrypted: this node's secret key (HOOKLINE_SECRET_KEY or <data_dir>/secret.key) is not the one it was written with"
                    .into(),
            )
        };
        let raw = URL_SAFE_NO_PAD.decode(b64).map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let plain = self
            .aead
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }

    fn seal_map(&self, m: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), self.seal(v))).collect()
    }

    fn open_map(&self, m: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        m.into_iter()
            .map(|(k, v)| Ok((k, self.open(&v)?)))
            .collect()
    }

    fn seal_auth(&self, a: &Auth) -> Auth {
        Auth {
            headers: self.seal_map(&a.headers),
            query: self.seal_map(&a.query),
            params: self.seal_map(&a.params),
            body: a
                .body
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(self.seal(&v.to_string()))))
                .collect(),
        }
    }

    fn open_auth(&self, a: Auth) -> Result<Auth> {
        let mut body = serde_json::Map::new();
        for (k, v) in a.body {
            let v = match v {
                Value::String(s) if s.starts_with(PREFIX) => serde_json::from_str(&self.open(&s)?)?,
                other => other,
            };
            body.insert(k, v);
        }
        Ok(Auth {
            headers: self.open_map(a.headers)?,
            query: self.open_map(a.query)?,
            params: self.open_map(a.params)?,
            body,
        })
    }

    pub fn seal_registration(&self, r: &Registration) -> Registration {
        let mut r = r.clone();
        if let Some(rx) = r.receiver.as_mut() {
            rx.auth = self.seal_auth(&rx.auth);
        }
        r.verification_secret = r.verification_secret.as_deref().map(|s| self.seal(s));
        r.signing_secret = self.seal(&r.signing_secret);
        for p in &mut r.previous_signing_secrets {
            p.secret = self.seal(&p.secret);
        }
        r
    }

    pub fn open_registration(&self, mut r: Registration) -> Result<Registration> {
        if let Some(rx) = r.receiver.as_mut() {
            rx.auth = self.open_auth(std::mem::take(&mut rx.auth))?;
        }
        r.verification_secret = r.verification_secret.map(|s| self.open(&s)).transpose()?;
        r.signing_secret = self.open(&r.signing_secret)?;
        for p in &mut r.previous_signing_secrets {
            p.secret = self.open(&p.secret)?;
        }
        Ok(r)
    }

    pub fn seal_connection(&self, c: &Connection) -> Connection {
        let mut c = c.clone();
        for e in &mut c.envs {
            e.auth = self.seal_auth(&e.auth);
        }
        c
    }

    pub fn open_connection(&self, mut c: Connection) -> Result<Connection> {
        for e in &mut c.envs {
            e.auth = self.open_auth(std::mem::take(&mut e.auth))?;
        }
        Ok(c)
    }

    /// Checks that this key is the database's: opens the stored check
    /// value, or, when there is none yet, first checks that the key opens
    /// what is sealed already (if anything is) and then stores one. The
    /// server calls it on every start, with the cipher its store seals with.
    /// [`StoreError::WrongSecretKey`] when the key does not fit.
    pub async fn verify_key(&self, store: &dyn ConfigStore) -> Result<KeyCheck> {
        if let Some(stored) = store.key_check().await? {
            self.opens_check(&stored)?;
            return Ok(KeyCheck::Matched);
        }
        let (mut opened, mut unreadable) = (0, 0);
        for doc in store.docs_containing(PREFIX, FIRST_CHECK_SAMPLE).await? {
            let doc: Value = serde_json::from_str(&doc)?;
            for sealed in sealed_strings(&doc) {
                match self.open(sealed) {
                    Ok(_) => opened += 1,
                    Err(_) => unreadable += 1,
                }
            }
        }
        if opened == 0 && unreadable > 0 {
            return Err(StoreError::WrongSecretKey(
                "any of the secrets stored in it".into(),
            ));
        }
        let check = self.seal(KEY_CHECK_PLAIN);
        // Another node may have stored its own just now: the stored one counts.
        let stored = store.init_key_check(&check, Millis::now()).await?;
        self.opens_check(&stored)?;
        Ok(KeyCheck::Written { opened, unreadable })
    }

    fn opens_check(&self, stored: &str) -> Result<()> {
        match self.open(stored) {
            Ok(plain) if plain == KEY_CHECK_PLAIN => Ok(()),
            _ => Err(StoreError::WrongSecretKey(
                "its key check value, written by the first node that started on it".into(),
            )),
        }
    }
}

/// Every string in `doc` that is a sealed value.
fn sealed_strings(doc: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.starts_with(PREFIX) => out.push(s.as_str()),
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_roundtrips_and_hides_the_value() {
        let c = DocCipher::new(&DocCipher::generate_key());
        let sealed = c.seal("Bearer s3cret");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("s3cret"));
        assert_ne!(sealed, c.seal("Bearer s3cret"), "nonces differ");
        assert_eq!(c.open(&sealed).unwrap(), "Bearer s3cret");
        assert_eq!(c.open("plain").unwrap(), "plain");
    }

    #[test]
    fn a_different_key_is_a_clear_error() {
        let a = DocCipher::new(&DocCipher::generate_key());
        let b = DocCipher::new(&DocCipher::generate_key());
        let e = b.open(&a.seal("x")).unwrap_err();
        assert!(e.to_string().contains("secret key"), "{e}");
        assert!(b.open("sealed:v1:!!").is_err());
        assert!(b.open("sealed:v1:AAAA").is_err());
    }
}
