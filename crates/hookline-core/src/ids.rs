//! Identifiers. Stored rows carry prefixed ULIDs (`evt_01J…`) so that ids sort
//! by creation time and say what they name; ingest links carry a random
//! [`LinkId`] that cannot be guessed from any other id.

use crate::time::Millis;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Mutex;

/// One monotonic generator per process: two ids minted in the same
/// millisecond still sort in the order they were minted, so listings ordered
/// by id keep arrival order (a plain `Ulid::new()` randomises within a ms).
/// Ids carry the shared time ([`Millis::now`], the database's clock on
/// PostgreSQL), so their time part compares with other nodes' timestamps;
/// when that time steps back (the offset re-measured) the generator counts
/// on from its last id instead of going back.
static IDS: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// A fresh prefixed id, e.g. `new_id("evt")` → `evt_01JD…`; later calls in
/// this process return larger ids.
pub fn new_id(prefix: &str) -> String {
    let minted = IDS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .generate_from_datetime(Millis::now().to_system_time())
        // Overflow needs 2^80 ids in one millisecond; keep going unordered.
        .unwrap_or_else(|_| ulid::Ulid::new());
    format!("{prefix}_{minted}")
}

/// The unguessable part of an ingest link: 32 alphanumeric characters from the
/// OS-seeded CSPRNG (about 190 bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkId(String);

impl LinkId {
    pub const LEN: usize = 32;

    pub fn generate() -> Self {
        let s: String = rand::rngs::OsRng
            .sample_iter(&Alphanumeric)
            .take(Self::LEN)
            .map(char::from)
            .collect();
        LinkId(s)
    }

    /// Accepts only the shape [`LinkId::generate`] produces, so a malformed
    /// path never reaches the database.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| LinkId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ingest link for a link id under the configured public URL.
pub fn link_url(public_url: &str, link: &LinkId) -> String {
    format!(
        "{}/webhooks/v1/process/{}",
        public_url.trim_end_matches('/'),
        link
    )
}

/// A fresh Standard Webhooks signing secret (`whsec_…`).
pub fn new_signing_secret() -> String {
    let bytes: [u8; 32] = rand::rngs::OsRng.gen();
    hookline_verify::standard::generate_secret(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ids_roundtrip_and_differ() {
        let a = LinkId::generate();
        let b = LinkId::generate();
        assert_ne!(a, b);
        assert_eq!(LinkId::parse(a.as_str()), Some(a));
        assert_eq!(LinkId::parse("short"), None);
        assert_eq!(LinkId::parse(&"!".repeat(32)), None);
    }

    #[test]
    fn ids_sort_by_creation() {
        let a = new_id("evt");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("evt");
        assert!(a < b && a.starts_with("evt_"));
    }

    #[test]
    fn ids_carry_the_shared_time() {
        let before = Millis::now().0;
        let id = new_id("evt");
        let after = Millis::now().0;
        let ulid = ulid::Ulid::from_string(&id["evt_".len()..]).unwrap();
        let ms = i64::try_from(ulid.timestamp_ms()).unwrap();
        // The generator may count on from an earlier id in this millisecond.
        assert!(before - 1 <= ms && ms <= after, "{before} {ms} {after}");
    }

    #[test]
    fn ids_keep_growing_when_the_time_steps_back() {
        let mut ids = ulid::Generator::new();
        let now = Millis(1_700_000_000_000);
        let a = ids.generate_from_datetime(now.to_system_time()).unwrap();
        let b = ids
            .generate_from_datetime(Millis(now.0 - 5).to_system_time())
            .unwrap();
        assert!(b > a);
    }

    #[test]
    fn ids_minted_in_the_same_millisecond_keep_their_order() {
        let ids: Vec<String> = (0..2_000).map(|_| new_id("evt")).collect();
        // Thousands of ids in a tight loop share milliseconds, so this fails
        // for random-within-ms ULIDs.
        let shared_ms = ids.windows(2).filter(|w| w[0][..14] == w[1][..14]).count();
        assert!(shared_ms > 0, "no two ids shared a millisecond");
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }
}
