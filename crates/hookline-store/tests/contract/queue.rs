//! The delivery queue: leases, fencing, retries, release, replay.

use crate::fixtures::*;
use anyhow::Result;
use hookline_core::event::{Event, EventStatus, NextStep};
use hookline_core::testing::EventBuilder;
use hookline_core::time::Millis;
use hookline_store::{Lease, Requeue, Store};

async fn get(s: &dyn Store, id: &str) -> Result<Event> {
    Ok(s.get_event(id).await?.expect("event exists").0)
}

pub async fn claim_ids(
    s: &dyn Store,
    owner: &str,
    now: Millis,
    until: Millis,
    limit: u32,
) -> Result<Vec<String>> {
    Ok(s.claim_due(Lease::new(owner, now, until), limit)
        .await?
        .into_iter()
        .map(|c| c.event.id)
        .collect())
}

pub async fn claim_leases_exclusively_until_expiry(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let e1 = queued(&reg, at(-3_000));
    let e2 = queued(&reg, at(-2_000));
    let e3 = queued(&reg, at(-1_000));
    let later = queued(&reg, at(60_000));
    let done = event(&reg, EventStatus::Delivered, at(-5_000));
    // Inserted out of due order: claims come back oldest due first anyway.
    let batch = with_payloads(&[e3.clone(), later.clone(), e1.clone(), done, e2.clone()]);
    s.insert_events(&batch).await?;

    let claimed = s.claim_due(Lease::new("A", at(0), at(30_000)), 10).await?;
    let ids: Vec<&str> = claimed.iter().map(|c| c.event.id.as_str()).collect();
    assert_eq!(ids, [e1.id.as_str(), e2.id.as_str(), e3.id.as_str()]);
    for c in &claimed {
        assert_eq!(c.event.status, EventStatus::Delivering);
        assert_eq!(c.registration, reg);
        let (_, want_payload) = batch
            .iter()
            .find(|(e, _)| e.id == c.event.id)
            .expect("from the batch");
        assert_eq!(&c.payload, want_payload);
    }
    let stored = get(s, &e1.id).await?;
    assert_eq!(stored.status, EventStatus::Delivering);
    assert_eq!(stored.updated_at, at(0));
    assert_eq!(stored.next_attempt_at, Some(at(-3_000)));

    // Live lease: nobody else gets them, up to and including `lease_until`.
    assert_eq!(
        claim_ids(s, "B", at(1_000), at(40_000), 10).await?,
        Vec::<String>::new()
    );
    assert_eq!(
        claim_ids(s, "B", at(30_000), at(40_000), 10).await?,
        Vec::<String>::new()
    );
    // Expired: the next claimer takes them over.
    assert_eq!(
        claim_ids(s, "B", at(30_001), at(90_000), 10).await?,
        vec![e1.id.clone(), e2.id.clone(), e3.id.clone()]
    );
    assert_eq!(
        claim_ids(s, "C", at(60_000), at(90_000), 10).await?,
        vec![later.id]
    );
    Ok(())
}

pub async fn claim_respects_limit_and_due_order(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let events: Vec<Event> = [5, 1, 4, 2, 3]
        .into_iter()
        .map(|t| queued(&reg, at(t)))
        .collect();
    s.insert_events(&with_payloads(&events)).await?;
    let by_due = |t: i64| {
        events
            .iter()
            .find(|e| e.next_attempt_at == Some(at(t)))
            .expect("due")
            .id
            .clone()
    };

    assert_eq!(
        claim_ids(s, "A", at(10), at(100), 0).await?,
        Vec::<String>::new()
    );
    assert_eq!(
        claim_ids(s, "A", at(10), at(100), 2).await?,
        vec![by_due(1), by_due(2)]
    );
    assert_eq!(
        claim_ids(s, "B", at(10), at(100), 2).await?,
        vec![by_due(3), by_due(4)]
    );
    // Only what is due at `now`.
    assert_eq!(
        claim_ids(s, "C", at(4), at(100), 9).await?,
        Vec::<String>::new()
    );
    assert_eq!(claim_ids(s, "C", at(5), at(100), 9).await?, vec![by_due(5)]);
    Ok(())
}

pub async fn complete_is_fenced_by_lease_owner(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let e = queued(&reg, at(0));
    insert_one(s, &e).await?;

    assert_eq!(
        claim_ids(s, "A", at(0), at(1_000), 1).await?,
        vec![e.id.clone()]
    );
    // A's call outlives its lease; B takes the event over.
    assert_eq!(
        claim_ids(s, "B", at(2_000), at(10_000), 1).await?,
        vec![e.id.clone()]
    );

    let late = attempt(&e.id, 1, at(100), 200);
    s.complete(&[completion("A", late.clone(), NextStep::Delivered)])
        .await?;
    // The attempt happened, so it is recorded; the event is B's to move.
    assert_eq!(s.list_attempts(&e.id).await?, vec![late.clone()]);
    let stored = get(s, &e.id).await?;
    assert_eq!(stored.status, EventStatus::Delivering);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.delivered_at, None);
    assert_eq!(stored.last_response_status, None);
    assert_eq!(
        claim_ids(s, "C", at(5_000), at(20_000), 1).await?,
        Vec::<String>::new()
    );

    let ok = attempt(&e.id, 2, at(2_100), 200);
    s.complete(&[completion("B", ok.clone(), NextStep::Delivered)])
        .await?;
    let stored = get(s, &e.id).await?;
    assert_eq!(stored.status, EventStatus::Delivered);
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.delivered_at, Some(at(2_100 + 120)));
    assert_eq!(stored.next_attempt_at, None);
    assert_eq!(stored.last_response_status, Some(200));
    assert_eq!(stored.last_error, None);
    assert_eq!(s.list_attempts(&e.id).await?, vec![late, ok.clone()]);

    // Completing the same attempt again records nothing twice and moves nothing.
    s.complete(&[completion("B", ok, NextStep::Failed)]).await?;
    assert_eq!(s.list_attempts(&e.id).await?.len(), 2);
    assert_eq!(get(s, &e.id).await?.status, EventStatus::Delivered);
    Ok(())
}

pub async fn retry_is_claimable_only_when_due(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let e = queued(&reg, at(0));
    insert_one(s, &e).await?;
    assert_eq!(
        claim_ids(s, "A", at(0), at(30_000), 1).await?,
        vec![e.id.clone()]
    );

    let failed = attempt(&e.id, 1, at(10), 503);
    s.complete(&[completion(
        "A",
        failed.clone(),
        NextStep::RetryAt(at(10_000)),
    )])
    .await?;
    let stored = get(s, &e.id).await?;
    assert_eq!(stored.status, EventStatus::Delivering);
    assert_eq!(stored.next_attempt_at, Some(at(10_000)));
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.retry_base, 0);
    assert_eq!(stored.last_response_status, Some(503));
    assert_eq!(stored.last_error.as_deref(), Some("receiver answered 503"));
    assert_eq!(stored.delivered_at, None);

    // The lease is gone, but the retry is not due yet.
    assert_eq!(
        claim_ids(s, "B", at(9_999), at(40_000), 1).await?,
        Vec::<String>::new()
    );
    assert_eq!(s.next_due().await?, Some(at(10_000)));
    assert_eq!(
        claim_ids(s, "B", at(10_000), at(40_000), 1).await?,
        vec![e.id.clone()]
    );

    let ok = attempt(&e.id, 2, at(10_010), 204);
    s.complete(&[completion("B", ok.clone(), NextStep::Delivered)])
        .await?;
    let stored = get(s, &e.id).await?;
    assert_eq!(stored.status, EventStatus::Delivered);
    assert_eq!(stored.attempts, 2);
    assert_eq!(stored.last_response_status, Some(204));
    assert_eq!(stored.last_error, None);
    assert_eq!(s.list_attempts(&e.id).await?, vec![failed, ok]);
    assert_eq!(s.next_due().await?, None);
    Ok(())
}

pub async fn failed_and_held_leave_the_queue(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let e1 = queued(&reg, at(0));
    let e2 = queued(&reg, at(1));
    s.insert_events(&with_payloads(&[e1.clone(), e2.clone()]))
        .await?;
    assert_eq!(claim_ids(s, "A", at(5), at(100), 5).await?.len(), 2);

    // Both in one call, one transaction.
    s.complete(&[
        completion("A", attempt(&e1.id, 8, at(6), 500), NextStep::Failed),
        completion("A", attempt(&e2.id, 1, at(6), 410), NextStep::Held),
    ])
    .await?;
    let (f, h) = (get(s, &e1.id).await?, get(s, &e2.id).await?);
    assert_eq!(
        (f.status, f.next_attempt_at, f.attempts),
        (EventStatus::Failed, None, 1)
    );
    assert_eq!(f.last_error.as_deref(), Some("receiver answered 500"));
    assert_eq!(
        (h.status, h.next_attempt_at, h.attempts),
        (EventStatus::Held, None, 1)
    );
    assert_eq!(s.next_due().await?, None);
    assert_eq!(
        claim_ids(s, "B", at(1_000_000), at(2_000_000), 5).await?,
        Vec::<String>::new()
    );
    Ok(())
}

pub async fn release_leases_by_owner_and_all(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let events: Vec<Event> = (0..3).map(|t| queued(&reg, at(t))).collect();
    s.insert_events(&with_payloads(&events)).await?;

    let a = claim_ids(s, "A", at(10), at(60_000), 2).await?;
    let b = claim_ids(s, "B", at(10), at(60_000), 5).await?;
    assert_eq!((a.len(), b.len()), (2, 1));

    assert_eq!(s.release_leases(Some("A")).await?, 2);
    assert_eq!(s.release_leases(Some("A")).await?, 0);
    // Released events are claimable at once, long before their lease ran out.
    assert_eq!(claim_ids(s, "C", at(11), at(60_000), 5).await?, a);

    assert_eq!(s.release_leases(None).await?, 3);
    let all = claim_ids(s, "D", at(12), at(60_000), 5).await?;
    assert_eq!(all, events.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
    Ok(())
}

pub async fn requeue_rules(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let mut delivered = event(&reg, EventStatus::Delivered, at(0));
    delivered.attempts = 3;
    delivered.retry_base = 1;
    delivered.delivered_at = Some(at(50));
    let failed = event(&reg, EventStatus::Failed, at(1));
    let rejected = event(&reg, EventStatus::Rejected, at(2));
    let held = event(&reg, EventStatus::Held, at(3));
    let received = queued(&reg, at(4_000));
    let mut waiting = event(&reg, EventStatus::Delivering, at(5));
    waiting.next_attempt_at = Some(at(900_000));
    let leased = queued(&reg, at(6));
    s.insert_events(&with_payloads(&[
        delivered.clone(),
        failed.clone(),
        rejected.clone(),
        held.clone(),
        received.clone(),
        waiting.clone(),
        leased.clone(),
    ]))
    .await?;
    assert_eq!(
        claim_ids(s, "A", at(10), at(1_000), 1).await?,
        vec![leased.id.clone()]
    );

    assert_eq!(
        s.requeue_event("evt_nope", at(500)).await?,
        Requeue::NotFound
    );
    for (e, status) in [
        (&rejected, EventStatus::Rejected),
        (&held, EventStatus::Held),
        (&received, EventStatus::Received),
        (&leased, EventStatus::Delivering),
    ] {
        assert_eq!(
            s.requeue_event(&e.id, at(500)).await?,
            Requeue::NotAllowed(status),
            "{status:?}"
        );
    }

    let want = EventBuilder::from(delivered.clone())
        .status(EventStatus::Received)
        .due(at(500))
        .retry_base(3)
        .updated_at(at(500))
        .build();
    assert_eq!(
        s.requeue_event(&delivered.id, at(500)).await?,
        Requeue::Queued(want.clone())
    );
    assert_eq!(get(s, &delivered.id).await?, want);

    for e in [&failed, &waiting] {
        let Requeue::Queued(q) = s.requeue_event(&e.id, at(500)).await? else {
            panic!("{:?} should be replayable", e.status);
        };
        assert_eq!(
            (q.status, q.next_attempt_at),
            (EventStatus::Received, Some(at(500)))
        );
    }

    // Once the lease has run out, a leased event may be replayed; the replay
    // frees it for the next claimer.
    let Requeue::Queued(q) = s.requeue_event(&leased.id, at(1_001)).await? else {
        panic!("an expired lease should not block a replay");
    };
    assert_eq!(q.status, EventStatus::Received);
    assert!(claim_ids(s, "B", at(1_001), at(2_000), 10)
        .await?
        .contains(&leased.id));
    Ok(())
}

pub async fn next_due_tracks_the_earliest_queued(s: &dyn Store) -> Result<()> {
    assert_eq!(s.next_due().await?, None);
    let reg = saved_registration(s, "main").await;
    let soon = queued(&reg, at(2_000));
    let later = queued(&reg, at(5_000));
    let done = event(&reg, EventStatus::Delivered, at(0));
    s.insert_events(&with_payloads(&[later.clone(), soon.clone(), done]))
        .await?;
    assert_eq!(s.next_due().await?, Some(at(2_000)));

    // Leased events still count: their lease may run out.
    assert_eq!(
        claim_ids(s, "A", at(3_000), at(4_000), 5).await?,
        vec![soon.id.clone()]
    );
    assert_eq!(s.next_due().await?, Some(at(2_000)));

    s.complete(&[completion(
        "A",
        attempt(&soon.id, 1, at(3_000), 200),
        NextStep::Delivered,
    )])
    .await?;
    assert_eq!(s.next_due().await?, Some(at(5_000)));
    Ok(())
}

pub async fn claim_fails_events_without_registration(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let ghost = registration("ghost", None); // never saved
    let good = queued(&reg, at(1));
    let orphan = queued(&ghost, at(0));
    s.insert_events(&with_payloads(&[good.clone(), orphan.clone()]))
        .await?;

    // The orphan cannot be delivered; it must not block the good one, nor
    // come back on every claim.
    assert_eq!(
        claim_ids(s, "A", at(10), at(60_000), 10).await?,
        vec![good.id.clone()]
    );
    let stored = get(s, &orphan.id).await?;
    assert_eq!(stored.status, EventStatus::Failed);
    assert_eq!(stored.next_attempt_at, None);
    assert_eq!(
        stored.last_error,
        Some(format!(
            "cannot be delivered: registration {} does not exist",
            ghost.id
        ))
    );
    assert_eq!(
        claim_ids(s, "B", at(5_000), at(9_000), 10).await?,
        Vec::<String>::new()
    );
    Ok(())
}
