//! Retention: deleting finished events (with payloads and attempts) older
//! than a cutoff, in batches.

use crate::fixtures::*;
use anyhow::Result;
use hookline_core::event::{Event, EventStatus, NextStep};
use hookline_store::{Lease, Store};

pub async fn expired_events_are_deleted_in_batches(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let cutoff = at(100_000);
    let old = |status| event(&reg, status, at(1_000));
    let old_delivered: Vec<Event> = (0..3).map(|_| old(EventStatus::Delivered)).collect();
    let old_failed = old(EventStatus::Failed);
    // Old, but not finished: kept whatever their age.
    let keep_old = vec![
        old(EventStatus::Rejected),
        old(EventStatus::Held),
        queued(&reg, at(1_000)),
        event_of(&reg)
            .status(EventStatus::Delivering)
            .received_at(at(1_000))
            .due(at(900_000))
            .build(),
    ];
    // Finished, but not old enough; `updated_at` counts, not `received_at`.
    let recent = event(&reg, EventStatus::Delivered, cutoff);
    let replayed_late = event_of(&reg)
        .status(EventStatus::Failed)
        .received_at(at(1_000))
        .updated_at(at(200_000))
        .build();
    let mut all = old_delivered.clone();
    all.push(old_failed.clone());
    all.extend(keep_old.iter().cloned());
    all.push(recent.clone());
    all.push(replayed_late.clone());
    s.insert_events(&with_payloads(&all)).await?;

    // An old event delivered after an attempt: its attempt goes with it.
    let with_attempt = queued(&reg, at(0));
    s.insert_events(&with_payloads(std::slice::from_ref(&with_attempt)))
        .await?;
    assert_eq!(
        s.claim_due(Lease::new("W", at(0), at(30_000)), 10)
            .await?
            .len(),
        1
    );
    s.complete(&[completion(
        "W",
        attempt(&with_attempt.id, 1, at(10), 200),
        NextStep::Delivered,
    )])
    .await?;
    assert_eq!(s.list_attempts(&with_attempt.id).await?.len(), 1);
    // `complete` stamps the wall clock: sweep with a cutoff after it.
    let cutoff_now = hookline_core::time::Millis::now() + std::time::Duration::from_millis(1);

    assert_eq!(s.delete_expired_events(cutoff, 0).await?, 0);
    assert_eq!(s.delete_expired_events(cutoff, 3).await?, 3);
    assert_eq!(s.delete_expired_events(cutoff, 3).await?, 1);
    assert_eq!(s.delete_expired_events(cutoff, 3).await?, 0);
    for e in old_delivered.iter().chain([&old_failed]) {
        assert_eq!(s.get_event(&e.id).await?, None, "{:?} kept", e.status);
    }
    for e in keep_old
        .iter()
        .chain([&recent, &replayed_late, &with_attempt])
    {
        assert!(
            s.get_event(&e.id).await?.is_some(),
            "{:?} deleted",
            e.status
        );
    }

    assert_eq!(s.delete_expired_events(cutoff_now, 100).await?, 3);
    assert_eq!(s.get_event(&with_attempt.id).await?, None);
    assert_eq!(s.list_attempts(&with_attempt.id).await?, vec![]);
    for e in &keep_old {
        assert!(
            s.get_event(&e.id).await?.is_some(),
            "{:?} deleted",
            e.status
        );
    }
    assert_eq!(
        s.list_events(&Default::default()).await?.len(),
        keep_old.len()
    );
    Ok(())
}

/// Rejected events go by receive time, in batches, whatever the other
/// retention; nothing else is touched.
pub async fn rejected_events_have_their_own_retention(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let cutoff = at(100_000);
    let old_rejected: Vec<Event> = (0..3)
        .map(|_| event(&reg, EventStatus::Rejected, at(1_000)))
        .collect();
    let recent_rejected = event(&reg, EventStatus::Rejected, cutoff);
    let old_others = [
        event(&reg, EventStatus::Delivered, at(1_000)),
        event(&reg, EventStatus::Failed, at(1_000)),
        event(&reg, EventStatus::Held, at(1_000)),
        queued(&reg, at(1_000)),
    ];
    let mut all = old_rejected.clone();
    all.push(recent_rejected.clone());
    all.extend(old_others.iter().cloned());
    s.insert_events(&with_payloads(&all)).await?;

    assert_eq!(s.delete_rejected_events(cutoff, 0).await?, 0);
    assert_eq!(s.delete_rejected_events(cutoff, 2).await?, 2);
    assert_eq!(s.delete_rejected_events(cutoff, 2).await?, 1);
    assert_eq!(s.delete_rejected_events(cutoff, 2).await?, 0);
    for e in &old_rejected {
        assert_eq!(s.get_event(&e.id).await?, None, "old rejected event kept");
    }
    for e in old_others.iter().chain([&recent_rejected]) {
        assert!(
            s.get_event(&e.id).await?.is_some(),
            "{:?} deleted",
            e.status
        );
    }
    Ok(())
}
