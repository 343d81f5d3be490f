//! Secrets at rest: [`SealedStore`] wraps any backend and encrypts the secret
//! fields of registrations (receiver auth values, verification secrets, and
//! current and rotated-out signing secrets) and connections (provider credentials) before they reach the
//! database, and decrypts them on the way out. Names stay readable (header
//! names, env slugs); values do not.
//!
//! Sealed values are `sealed:v1:<base64url(nonce ‖ XChaCha20-Poly1305 ciphertext)>`
//! under a 32-byte key from configuration. A value without that prefix is
//! read as plain text, so databases written before sealing stay readable and
//! are sealed on their next write.
//!
//! The key check: nodes sharing a database must share the key, so the
//! database holds a known constant sealed with the key of the first node that
//! started ([`SealedStore::verify_key`], table `key_check`; never the key
//! itself), and every start opens it. A node with another key refuses to
//! start instead of answering 500 on every secret it reads. A database
//! written before the check existed gets its value on the first start that
//! can open at least one of its sealed secrets.
//!
//! A claimed event whose registration's secrets cannot be opened all the
//! same (a value sealed by a node of an older release that had another key)
//! is handed to the worker with [`Claimed::unreadable_secrets`] set and the
//! secrets left out, so the worker records a failed attempt (kind
//! `secret_unreadable`) and the event follows its retry schedule instead of
//! staying leased, and the rest of the claim is delivered.
//!
//! Why a decorator: every backend and every reader (ingest, delivery claims,
//! the API) goes through the trait, so sealing here covers them all and no
//! backend carries crypto. The cost is that each new trait method needs a
//! forwarding line below.

use crate::monitor::{
    QueueStats, RegistrationHealth, RegistrationLoad, ReplayJob, Traffic, TrafficQuery,
};
use crate::{
    Claimed, ConfigStore, DynStore, EventFilter, EventStore, IngestStore, QueueStore,
    RegistrationStore, ReplayJobStore, Requeue, Result, RetentionStore, StatsStore, Store,
    StoreError,
};
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hookline_core::event::{Attempt, Completion, Event, Payload};
use hookline_core::model::{
    ApiKey, App, AppWebhook, Auth, Connection, Product, Registration, RegistrationKey,
};
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

/// What [`SealedStore::verify_key`] found.
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
        for p in &mut r.provider.previous_signing_secrets {
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
        for p in &mut r.provider.previous_signing_secrets {
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
}

/// A [`Store`] that seals secrets on the way in and opens them on the way out.
pub struct SealedStore {
    inner: DynStore,
    cipher: DocCipher,
}

impl SealedStore {
    /// Wraps `inner`. Call [`SealedStore::verify_key`] before serving.
    pub fn new(inner: DynStore, cipher: DocCipher) -> Self {
        SealedStore { inner, cipher }
    }

    /// Checks that this store's key is the database's: opens the stored
    /// check value, or, when there is none yet, first checks that the key
    /// opens what is sealed already (if anything is) and then stores one.
    /// [`StoreError::WrongSecretKey`] when the key does not fit.
    pub async fn verify_key(&self) -> Result<KeyCheck> {
        if let Some(stored) = self.inner.key_check().await? {
            self.opens_check(&stored)?;
            return Ok(KeyCheck::Matched);
        }
        let (mut opened, mut unreadable) = (0, 0);
        for doc in self
            .inner
            .docs_containing(PREFIX, FIRST_CHECK_SAMPLE)
            .await?
        {
            let doc: Value = serde_json::from_str(&doc)?;
            for sealed in sealed_strings(&doc) {
                match self.cipher.open(sealed) {
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
        let check = self.cipher.seal(KEY_CHECK_PLAIN);
        // Another node may have stored its own just now: the stored one counts.
        let stored = self.inner.init_key_check(&check, Millis::now()).await?;
        self.opens_check(&stored)?;
        Ok(KeyCheck::Written { opened, unreadable })
    }

    fn opens_check(&self, stored: &str) -> Result<()> {
        match self.cipher.open(stored) {
            Ok(plain) if plain == KEY_CHECK_PLAIN => Ok(()),
            _ => Err(StoreError::WrongSecretKey(
                "its key check value, written by the first node that started on it".into(),
            )),
        }
    }

    fn open_regs(&self, regs: Vec<Registration>) -> Result<Vec<Registration>> {
        regs.into_iter()
            .map(|r| self.cipher.open_registration(r))
            .collect()
    }
}

#[async_trait]
impl ConfigStore for SealedStore {
    async fn insert_api_key(&self, key: &ApiKey) -> Result<()> {
        self.inner.insert_api_key(key).await
    }
    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        self.inner.find_api_key(hash).await
    }
    async fn insert_app(&self, app: &App) -> Result<()> {
        self.inner.insert_app(app).await
    }
    async fn update_app(&self, app: &App) -> Result<()> {
        self.inner.update_app(app).await
    }
    async fn get_app(&self, tag: &str) -> Result<Option<App>> {
        self.inner.get_app(tag).await
    }
    async fn get_app_by_id(&self, id: &str) -> Result<Option<App>> {
        self.inner.get_app_by_id(id).await
    }
    async fn list_apps(&self) -> Result<Vec<App>> {
        self.inner.list_apps().await
    }
    async fn delete_app(&self, id: &str) -> Result<()> {
        self.inner.delete_app(id).await
    }
    async fn insert_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        self.inner.insert_webhook(webhook).await
    }
    async fn update_webhook(&self, webhook: &AppWebhook) -> Result<()> {
        self.inner.update_webhook(webhook).await
    }
    async fn get_webhook(&self, app_id: &str, tag: &str) -> Result<Option<AppWebhook>> {
        self.inner.get_webhook(app_id, tag).await
    }
    async fn get_webhook_by_id(&self, id: &str) -> Result<Option<AppWebhook>> {
        self.inner.get_webhook_by_id(id).await
    }
    async fn list_webhooks(&self, app_id: &str) -> Result<Vec<AppWebhook>> {
        self.inner.list_webhooks(app_id).await
    }
    async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.inner.delete_webhook(id).await
    }
    async fn insert_product(&self, product: &Product) -> Result<()> {
        self.inner.insert_product(product).await
    }
    async fn update_product(&self, product: &Product) -> Result<()> {
        self.inner.update_product(product).await
    }
    async fn get_product(&self, tag: &str) -> Result<Option<Product>> {
        self.inner.get_product(tag).await
    }
    async fn list_products(&self) -> Result<Vec<Product>> {
        self.inner.list_products().await
    }
    async fn delete_product(&self, id: &str) -> Result<()> {
        self.inner.delete_product(id).await
    }

    async fn insert_connection(&self, connection: &Connection) -> Result<()> {
        self.inner
            .insert_connection(&self.cipher.seal_connection(connection))
            .await
    }
    async fn update_connection(&self, connection: &Connection) -> Result<()> {
        self.inner
            .update_connection(&self.cipher.seal_connection(connection))
            .await
    }
    async fn get_connection(
        &self,
        product_id: &str,
        access_tag: &str,
    ) -> Result<Option<Connection>> {
        self.inner
            .get_connection(product_id, access_tag)
            .await?
            .map(|c| self.cipher.open_connection(c))
            .transpose()
    }
    async fn list_connections(&self, product_id: &str) -> Result<Vec<Connection>> {
        self.inner
            .list_connections(product_id)
            .await?
            .into_iter()
            .map(|c| self.cipher.open_connection(c))
            .collect()
    }
    async fn count_connections_for_app(&self, app_id: &str) -> Result<u64> {
        self.inner.count_connections_for_app(app_id).await
    }
    async fn delete_connection(&self, id: &str) -> Result<()> {
        self.inner.delete_connection(id).await
    }
    async fn key_check(&self) -> Result<Option<String>> {
        self.inner.key_check().await
    }
    async fn init_key_check(&self, value: &str, now: Millis) -> Result<String> {
        self.inner.init_key_check(value, now).await
    }
    async fn docs_containing(&self, needle: &str, limit: u32) -> Result<Vec<String>> {
        self.inner.docs_containing(needle, limit).await
    }
}

#[async_trait]
impl RegistrationStore for SealedStore {
    async fn save_registrations(&self, regs: &[Registration]) -> Result<()> {
        let sealed: Vec<Registration> = regs
            .iter()
            .map(|r| self.cipher.seal_registration(r))
            .collect();
        self.inner.save_registrations(&sealed).await
    }
    async fn get_registration(&self, id: &str) -> Result<Option<Registration>> {
        self.inner
            .get_registration(id)
            .await?
            .map(|r| self.cipher.open_registration(r))
            .transpose()
    }
    async fn get_registration_by_key(&self, key: &RegistrationKey) -> Result<Option<Registration>> {
        self.inner
            .get_registration_by_key(key)
            .await?
            .map(|r| self.cipher.open_registration(r))
            .transpose()
    }
    async fn get_registration_by_link(&self, link_id: &str) -> Result<Option<Registration>> {
        self.inner
            .get_registration_by_link(link_id)
            .await?
            .map(|r| self.cipher.open_registration(r))
            .transpose()
    }
    async fn list_registrations(
        &self,
        product_id: &str,
        access_tag: Option<&str>,
    ) -> Result<Vec<Registration>> {
        self.open_regs(
            self.inner
                .list_registrations(product_id, access_tag)
                .await?,
        )
    }
}

#[async_trait]
impl IngestStore for SealedStore {
    async fn insert_events(&self, events: &[(Event, Payload)]) -> Result<()> {
        self.inner.insert_events(events).await
    }
    async fn insert_new_events(
        &self,
        events: Vec<(Event, Payload)>,
        dedup_since: Millis,
    ) -> Result<Vec<Option<String>>> {
        self.inner.insert_new_events(events, dedup_since).await
    }
    async fn find_duplicate(
        &self,
        registration_id: &str,
        provider_event_id: &str,
        since: Millis,
    ) -> Result<Option<String>> {
        self.inner
            .find_duplicate(registration_id, provider_event_id, since)
            .await
    }
}

#[async_trait]
impl QueueStore for SealedStore {
    async fn claim_due(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        let claimed = self.inner.claim_due(owner, now, lease_until, limit).await?;
        // One registration that cannot be opened must not fail the claim: its
        // events would stay leased, and the others with them.
        Ok(claimed
            .into_iter()
            .map(|mut c| {
                match self.cipher.open_registration(c.registration.clone()) {
                    Ok(reg) => c.registration = reg,
                    Err(e) => {
                        strip_secrets(&mut c.registration);
                        c.unreadable_secrets = Some(match e {
                            StoreError::Corrupt(why) => why,
                            other => other.to_string(),
                        });
                    }
                }
                c
            })
            .collect())
    }
    async fn complete(&self, completions: &[Completion]) -> Result<()> {
        self.inner.complete(completions).await
    }
    async fn release_leases(&self, owner: Option<&str>) -> Result<u64> {
        self.inner.release_leases(owner).await
    }
    async fn next_due(&self) -> Result<Option<Millis>> {
        self.inner.next_due().await
    }
    // Has a default (`None`): without this line other nodes' work would
    // never wake this one's worker.
    fn work_notifications(&self) -> Option<crate::WorkNotifications> {
        self.inner.work_notifications()
    }
}

#[async_trait]
impl EventStore for SealedStore {
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        self.inner.list_events(filter).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<(Event, Payload)>> {
        self.inner.get_event(id).await
    }
    async fn list_attempts(&self, event_id: &str) -> Result<Vec<Attempt>> {
        self.inner.list_attempts(event_id).await
    }
    async fn requeue_event(&self, id: &str, now: Millis) -> Result<Requeue> {
        self.inner.requeue_event(id, now).await
    }
    async fn list_events_after(
        &self,
        filter: &EventFilter,
        after_id: Option<&str>,
    ) -> Result<Vec<Event>> {
        self.inner.list_events_after(filter, after_id).await
    }
    async fn get_events(&self, ids: &[String]) -> Result<Vec<Event>> {
        self.inner.get_events(ids).await
    }
    async fn count_events(&self, filter: &EventFilter) -> Result<u64> {
        self.inner.count_events(filter).await
    }
}

#[async_trait]
impl StatsStore for SealedStore {
    async fn queue_stats(&self) -> Result<QueueStats> {
        self.inner.queue_stats().await
    }
    async fn traffic(&self, query: &TrafficQuery) -> Result<Traffic> {
        self.inner.traffic(query).await
    }
    async fn registration_loads(&self, since: Millis) -> Result<Vec<RegistrationLoad>> {
        self.inner.registration_loads(since).await
    }
    async fn list_registration_health(&self) -> Result<Vec<RegistrationHealth>> {
        self.inner.list_registration_health().await
    }
    async fn save_registration_health(&self, health: &RegistrationHealth) -> Result<bool> {
        self.inner.save_registration_health(health).await
    }
}

#[async_trait]
impl ReplayJobStore for SealedStore {
    async fn insert_replay_job(&self, job: &ReplayJob) -> Result<()> {
        self.inner.insert_replay_job(job).await
    }
    async fn get_replay_job(&self, id: &str) -> Result<Option<ReplayJob>> {
        self.inner.get_replay_job(id).await
    }
    async fn list_replay_jobs(&self, limit: u32) -> Result<Vec<ReplayJob>> {
        self.inner.list_replay_jobs(limit).await
    }
    async fn claim_replay_job(
        &self,
        owner: &str,
        now: Millis,
        lease_until: Millis,
    ) -> Result<Option<ReplayJob>> {
        self.inner.claim_replay_job(owner, now, lease_until).await
    }
    async fn update_replay_job(&self, job: &ReplayJob, owner: &str) -> Result<bool> {
        self.inner.update_replay_job(job, owner).await
    }
    async fn cancel_replay_job(&self, id: &str, now: Millis) -> Result<Option<ReplayJob>> {
        self.inner.cancel_replay_job(id, now).await
    }
    async fn release_replay_jobs(&self, owner: &str) -> Result<u64> {
        self.inner.release_replay_jobs(owner).await
    }
}

#[async_trait]
impl RetentionStore for SealedStore {
    async fn delete_expired_events(&self, before: Millis, limit: u32) -> Result<u64> {
        self.inner.delete_expired_events(before, limit).await
    }
    async fn delete_rejected_events(&self, before: Millis, limit: u32) -> Result<u64> {
        self.inner.delete_rejected_events(before, limit).await
    }
}

#[async_trait]
impl Store for SealedStore {
    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> Result<()> {
        self.inner.probe_write().await
    }
    async fn sync_clock(&self) -> Result<Option<crate::ClockSync>> {
        self.inner.sync_clock().await
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

/// Leaves no sealed (or half-opened) secret in a registration that could
/// not be opened, so nothing can send it.
fn strip_secrets(r: &mut Registration) {
    if let Some(rx) = r.receiver.as_mut() {
        rx.auth = Auth::default();
    }
    r.verification_secret = None;
    r.signing_secret = String::new();
    r.provider.previous_signing_secrets.clear();
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
