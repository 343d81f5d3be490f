//! Writing events in batches, the same way on every backend: how a batch
//! is cut into statements, and which event a failed batch insert names.

use hookline_core::event::{Event, Payload};
use std::collections::HashSet;

/// Payload bytes per `INSERT` statement: one batch of large bodies is split
/// so no single statement nears a database's message or memory limits
/// (PostgreSQL's is 1 GiB).
pub(crate) const PAYLOAD_CHUNK_BYTES: usize = 32 << 20;

/// The id of an event in `stored` that `event` redelivers (same
/// registration and provider event id), if any.
pub(crate) fn earlier_in_batch(stored: &[(Event, Payload)], event: &Event) -> Option<String> {
    let pid = event.provider_event_id.as_deref()?;
    stored
        .iter()
        .find(|(e, _)| {
            e.registration_id == event.registration_id
                && e.provider_event_id.as_deref() == Some(pid)
        })
        .map(|(e, _)| e.id.clone())
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
