//! Writing events in batches, the same way on every backend: how a batch
//! is cut into statements, which events of a batch are provider
//! redeliveries of each other, and which event a failed batch insert names.

use crate::{Result, StoreError};
use hookline_core::event::{Event, Payload};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// Payload bytes per `INSERT` statement: one batch of large bodies is split
/// so no single statement nears a database's message or memory limits
/// (PostgreSQL's is 1 GiB).
pub(crate) const PAYLOAD_CHUNK_BYTES: usize = 32 << 20;

/// Provider redeliveries inside one batch: each event with a provider event
/// id that an earlier event of the batch (same registration) also carries
/// is a copy, answered like that first one. Only the firsts are offered to
/// the database.
pub(crate) struct Copies {
    /// Per event, the index of the first event it copies.
    copy_of: Vec<Option<usize>>,
}

impl Copies {
    pub(crate) fn of(events: &[(Event, Payload)]) -> Copies {
        let mut first: HashMap<(&str, &str), usize> = HashMap::new();
        let copy_of = events
            .iter()
            .enumerate()
            .map(|(i, (e, _))| {
                let pid = e.provider_event_id.as_deref()?;
                match first.entry((e.registration_id.as_str(), pid)) {
                    Entry::Occupied(first) => Some(*first.get()),
                    Entry::Vacant(slot) => {
                        slot.insert(i);
                        None
                    }
                }
            })
            .collect();
        Copies { copy_of }
    }

    /// The events that are not copies, in order.
    pub(crate) fn firsts<'a>(&self, events: &'a [(Event, Payload)]) -> Vec<&'a (Event, Payload)> {
        events
            .iter()
            .zip(&self.copy_of)
            .filter(|(_, copy)| copy.is_none())
            .map(|(item, _)| item)
            .collect()
    }

    /// The firsts the database did not store (their `stored` ids lack
    /// them): redeliveries whose originals must be looked up.
    pub(crate) fn left_out<'a>(
        firsts: &[&'a (Event, Payload)],
        stored: &HashSet<String>,
    ) -> Vec<&'a Event> {
        firsts
            .iter()
            .map(|(e, _)| e)
            .filter(|e| !stored.contains(&e.id))
            .collect()
    }

    /// The answer of `IngestStore::insert_new_events`, given the ids stored and
    /// the originals (by registration and provider event id) of the firsts
    /// left out.
    pub(crate) fn answers(
        &self,
        events: &[(Event, Payload)],
        stored: &HashSet<String>,
        originals: &HashMap<(String, String), String>,
    ) -> Result<Vec<Option<String>>> {
        let answer_of = |e: &Event| -> Result<Option<String>> {
            if stored.contains(&e.id) {
                return Ok(None);
            }
            let key = (
                e.registration_id.clone(),
                e.provider_event_id.clone().unwrap_or_default(),
            );
            match originals.get(&key) {
                Some(original) => Ok(Some(original.clone())),
                None => Err(StoreError::Corrupt(format!(
                    "event {} was left out as a redelivery, but its original is gone",
                    e.id
                ))),
            }
        };
        events
            .iter()
            .zip(&self.copy_of)
            .map(|((e, _), copy)| match copy {
                // The first copy's original, or the first copy itself.
                Some(first) => {
                    let first = &events[*first].0;
                    Ok(Some(answer_of(first)?.unwrap_or_else(|| first.id.clone())))
                }
                None => answer_of(e),
            })
            .collect()
    }
}

/// The id that kept the batch from being inserted whole: one already
/// stored, or one given twice in the batch.
pub(crate) fn first_conflict<'a>(
    events: impl IntoIterator<Item = &'a Event>,
    inserted: Vec<(String,)>,
) -> String {
    let inserted: HashSet<String> = inserted.into_iter().map(|(id,)| id).collect();
    let mut seen = HashSet::new();
    events
        .into_iter()
        .map(|e| &e.id)
        .find(|id| !inserted.contains(*id) || !seen.insert(*id))
        .cloned()
        .unwrap_or_default()
}

/// Consecutive slices of `items` whose `size` adds up to at most
/// [`PAYLOAD_CHUNK_BYTES`] (a bigger single item gets a slice of its own).
pub(crate) fn chunk_by_bytes<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && bytes + n > PAYLOAD_CHUNK_BYTES {
            chunks.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_chunks_stay_under_the_byte_budget() {
        let sizes = [10 << 20, 10 << 20, 10 << 20, 10 << 20, 40 << 20, 1];
        let chunks = chunk_by_bytes(&sizes, |n| *n);
        let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(lens, [3, 1, 1, 1]);
        assert!(chunk_by_bytes(&[] as &[usize], |n| *n).is_empty());
        assert_eq!(chunk_by_bytes(&[1, 2, 3], |n| *n).len(), 1);
    }
}
