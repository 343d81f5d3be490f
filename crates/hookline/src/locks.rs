//! Per-key async locks, for work that must not run twice at once for the
//! same key on this node: two `enable` calls for the same webhook (which
//! would both create a webhook at the provider), or two redeliveries of the
//! same provider event (which would both pass the dedup check).
//!
//! They are in-process: one SQLite file has one owning process, so this is
//! enough there. Several nodes sharing PostgreSQL need the database to
//! decide (a unique index), which is the store's to add.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

type Slots = Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>;

/// A set of named locks; a key's entry lives only while someone holds or
/// waits for it, so the map stays as small as the work in flight.
#[derive(Default, Clone)]
pub struct KeyedLocks {
    slots: Slots,
}

/// Holds one key's lock until dropped.
pub struct KeyGuard {
    key: String,
    slots: Slots,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: String) -> KeyGuard {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key.clone()).or_default().clone()
        };
        let guard = slot.lock_owned().await;
        KeyGuard {
            key,
            slots: self.slots.clone(),
            guard: Some(guard),
        }
    }

    /// Keys currently held or waited for (for tests).
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        // Release first, so the count below sees only the map and waiters.
        drop(self.guard.take());
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots
            .get(&self.key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1)
        {
            slots.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn same_key_waits_other_keys_do_not_and_entries_go_away() {
        let locks = KeyedLocks::default();
        let a = locks.lock("a".into()).await;
        let _b = locks.lock("b".into()).await;
        let waiting = {
            let locks = locks.clone();
            tokio::spawn(async move {
                let _a = locks.lock("a".into()).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(a);
        waiting.await.unwrap();
        assert_eq!(locks.len(), 1);
        drop(_b);
        assert!(locks.is_empty());
    }
}
