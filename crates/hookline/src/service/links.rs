//! What ingest needs to know about a link (its registration, secrets opened,
//! and the webhook that says how to verify and classify), cached in memory so
//! a call to a link costs no database read and no decryption.
//!
//! Every configuration write this node makes (`catalog`, `registry`) clears
//! the cache. On SQLite that is every write there is (one process owns the
//! file), so entries live for [`OWNED_TTL`]. A write made by another node
//! sharing a PostgreSQL database is seen once the entry is older than
//! [`SHARED_TTL`]; until then this node's link answers as before the change
//! (e.g. still accepts on a link just disabled elsewhere), which is the price
//! of not reading the database per call.
//!
//! Webhooks are cached apart from links and shared between them: a webhook
//! with many envs is large, and thousands of links point to few webhooks.
//!
//! A lookup that began before a clear never stores its (possibly stale)
//! result: each clear bumps a generation, and a result is kept only if the
//! generation it was read under is still current.

use hookline_core::model::{AppWebhook, Registration};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long an entry is trusted when this process makes every write.
pub const OWNED_TTL: Duration = Duration::from_secs(3600);
/// How long an entry is trusted when other nodes write too.
pub const SHARED_TTL: Duration = Duration::from_secs(1);

/// The cache starts over when it would hold more entries than this, which
/// bounds its memory: measured at ~5 KB per cached link (10,000 links added
/// ~50 MB of RSS in `hookline-bench registrations`). A gateway with more
/// active links reads the rest from the database, as without a cache.
const MAX_ENTRIES: usize = 10_000;

/// A link's registration and webhook.
pub struct LinkTarget {
    pub registration: Registration,
    pub webhook: Arc<AppWebhook>,
}

/// Links (to their targets) and webhooks (by id) for ingest.
pub struct LinkCache {
    pub links: TtlCache<Arc<LinkTarget>>,
    pub webhooks: TtlCache<Arc<AppWebhook>>,
}

impl LinkCache {
    pub fn new(ttl: Duration) -> Self {
        LinkCache {
            links: TtlCache::new(ttl),
            webhooks: TtlCache::new(ttl),
        }
    }

    pub fn clear(&self) {
        self.links.clear();
        self.webhooks.clear();
    }
}

/// Values by key, each trusted for its `ttl` or until the next clear.
pub struct TtlCache<V> {
    entries: RwLock<HashMap<String, (Instant, V)>>,
    generation: AtomicU64,
    ttl: Duration,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            entries: RwLock::default(),
            generation: AtomicU64::new(0),
            ttl,
        }
    }

    /// The cached value of `key`, if fresh.
    pub fn get(&self, key: &str) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (read_at, value) = entries.get(key)?;
        (read_at.elapsed() < self.ttl).then(|| value.clone())
    }

    /// The generation to pass to [`insert`](Self::insert); take it before
    /// reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Keeps `value`, read at `read_at` under `generation`, unless a clear
    /// happened since.
    pub fn insert(&self, key: &str, generation: u64, read_at: Instant, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock `clear` takes, so a clear cannot slip in
        // between the check and the insert.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (read_at, value));
    }

    /// Forgets everything; called after every configuration write.
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_was_read_until_cleared() {
        let cache = TtlCache::<u32>::new(SHARED_TTL);
        let g = cache.generation();
        cache.insert("l", g, Instant::now(), 7);
        assert_eq!(cache.get("l"), Some(7));
        assert_eq!(cache.get("other"), None);
        cache.clear();
        assert_eq!(cache.get("l"), None);
    }

    #[test]
    fn a_read_begun_before_a_clear_is_not_kept() {
        let cache = TtlCache::<u32>::new(SHARED_TTL);
        let g = cache.generation();
        cache.clear(); // a write lands while the lookup is reading the store
        cache.insert("l", g, Instant::now(), 7);
        assert_eq!(cache.get("l"), None);
        cache.insert("l", cache.generation(), Instant::now(), 8);
        assert_eq!(cache.get("l"), Some(8));
    }

    #[test]
    fn entries_expire() {
        let cache = TtlCache::<u32>::new(SHARED_TTL);
        let g = cache.generation();
        let old = Instant::now() - SHARED_TTL - Duration::from_millis(1);
        cache.insert("l", g, old, 7);
        assert_eq!(cache.get("l"), None);
    }
}
