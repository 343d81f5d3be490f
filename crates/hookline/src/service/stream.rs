//! The polling behind the live event stream (`GET /api/v1/events/stream`):
//! an [`EventWatch`] scans event ids after a cursor and rescans the last
//! few seconds for events committed late (group commit, other nodes), and
//! re-reads the unfinished events it has sent for changes. It reads the
//! database, not this node's memory, so a stream sees events any node
//! ingested.

use super::Gateway;
use crate::error::Result;
use hookline_core::event::{Event, EventStatus};
use hookline_core::time::Millis;
use hookline_store::EventFilter;
use std::collections::{HashMap, HashSet};

impl Gateway {
    /// Starts watching events matching `filter`: new ones after `after` (or
    /// from a few seconds ago), and changes (a retry, a replay) of those it
    /// sent and of the newest 100 at the start.
    pub async fn watch(&self, filter: EventFilter, after: Option<String>) -> Result<EventWatch> {
        let mut watch = EventWatch {
            gateway: self.clone(),
            filter,
            scan_from: after.or_else(|| Some(id_floor(Millis(Millis::now().0 - STREAM_LAG_MS)))),
            sent: HashSet::new(),
            last_sent: None,
            watched: HashMap::new(),
        };
        // The newest events, which the client is likely showing already:
        // send their changes from now on.
        let recent = EventFilter {
            before_id: None,
            limit: 100,
            ..watch.filter.clone()
        };
        for e in self.store.list_events(&recent).await? {
            watch.watched.insert(e.id.clone(), fingerprint(&e));
        }
        Ok(watch)
    }
}

/// How far back each poll of a stream looks again, for events committed a
/// little after others with later ids (group commit, other nodes).
const STREAM_LAG_MS: i64 = 3_000;
/// Events a stream re-reads for changes, at most (the newest are kept).
const MAX_WATCHED: usize = 500;
/// Pages of new events one poll reads, at most (then it continues next poll).
const MAX_PAGES: usize = 10;

/// The lowest event id minted at `t`: ids are `evt_<ULID>`, time first.
fn id_floor(t: Millis) -> String {
    format!(
        "evt_{}",
        ulid::Ulid::from_parts(u64::try_from(t.0).unwrap_or(0), 0)
    )
}

type Fingerprint = (EventStatus, u32, i64);

fn fingerprint(e: &Event) -> Fingerprint {
    (e.status, e.attempts, e.updated_at.0)
}

/// One stream's view: where it scans for new events, which it has sent, and
/// which unfinished ones it re-reads for changes.
pub struct EventWatch {
    gateway: Gateway,
    filter: EventFilter,
    /// Exclusive lower bound of the next scan for new events.
    scan_from: Option<String>,
    /// Ids sent as new within the rescanned window, so a rescan sends each once.
    sent: HashSet<String>,
    /// The highest id sent as new: where a reconnecting client resumes.
    last_sent: Option<String>,
    /// Events the client is shown and what they looked like when last sent.
    watched: HashMap<String, Fingerprint>,
}

impl EventWatch {
    /// The id a client can resume after (`after`, or `Last-Event-ID`).
    pub fn position(&self) -> Option<&str> {
        self.last_sent.as_deref()
    }

    /// New events, and changes of watched ones, since the last poll, in id order.
    pub async fn poll(&mut self) -> Result<Vec<Event>> {
        let store = &self.gateway.store;
        let mut out: Vec<Event> = Vec::new();

        // Changes of watched events.
        if !self.watched.is_empty() {
            let ids: Vec<String> = self.watched.keys().cloned().collect();
            let mut found: HashSet<String> = HashSet::new();
            for e in store.get_events(&ids).await? {
                found.insert(e.id.clone());
                let fp = fingerprint(&e);
                if self.watched.get(&e.id) != Some(&fp) {
                    self.watched.insert(e.id.clone(), fp);
                    out.push(e);
                }
            }
            self.watched.retain(|id, _| found.contains(id));
        }

        // New events, rescanning a short window for late commits.
        let mut from = self.scan_from.clone();
        let mut page_filter = self.filter.clone();
        page_filter.before_id = None;
        page_filter.limit = 500;
        for _ in 0..MAX_PAGES {
            let page = store
                .list_events_after(&page_filter, from.as_deref())
                .await?;
            let full = page.len() == page_filter.limit as usize;
            for e in page {
                from = Some(e.id.clone());
                if self.sent.contains(&e.id) || out.iter().any(|o| o.id == e.id) {
                    continue;
                }
                self.sent.insert(e.id.clone());
                if self.last_sent.as_ref().is_none_or(|l| &e.id > l) {
                    self.last_sent = Some(e.id.clone());
                }
                self.watched.insert(e.id.clone(), fingerprint(&e));
                out.push(e);
            }
            if !full {
                break;
            }
        }
        // Next time, start no later than the lag window before now.
        let floor = id_floor(Millis(Millis::now().0 - STREAM_LAG_MS));
        self.scan_from = match from {
            Some(last) if last < floor => Some(last),
            Some(_) => Some(floor),
            None => None,
        };
        if let Some(bound) = &self.scan_from {
            self.sent.retain(|id| id > bound);
        }
        // Keep watching the newest ones only.
        if self.watched.len() > MAX_WATCHED {
            let mut ids: Vec<String> = self.watched.keys().cloned().collect();
            ids.sort_unstable();
            for id in &ids[..ids.len() - MAX_WATCHED] {
                self.watched.remove(id);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }
}
