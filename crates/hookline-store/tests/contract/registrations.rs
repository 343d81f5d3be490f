//! Registrations: upsert by id, one link per key, and held events.

use crate::fixtures::*;
use anyhow::Result;
use hookline_core::event::EventStatus;
use hookline_core::ids::LinkId;
use hookline_core::model::ProviderStatus;
use hookline_core::time::Millis;
use hookline_store::{Lease, Store, StoreError};

pub async fn upsert_keeps_id_and_link(s: &dyn Store) -> Result<()> {
    let reg = registration("main", None);
    s.save_registrations(std::slice::from_ref(&reg)).await?;
    assert_eq!(s.get_registration(&reg.id).await?, Some(reg.clone()));
    assert_eq!(
        s.get_registration_by_key(&reg.key()).await?,
        Some(reg.clone())
    );
    assert_eq!(
        s.get_registration_by_link(reg.link_id.as_str()).await?,
        Some(reg.clone())
    );

    // Calling enable again updates the same registration.
    let mut again = reg.clone();
    again.receiver = Some(receiver("https://receiver.example/v2"));
    again.provider.status = ProviderStatus::Registered;
    again.provider.provider_id = Some("we_123".into());
    again.updated_at = at(5_000);
    s.save_registrations(std::slice::from_ref(&again)).await?;

    let stored = s
        .get_registration_by_key(&reg.key())
        .await?
        .expect("still there");
    assert_eq!(stored, again);
    assert_eq!(
        (stored.id.as_str(), &stored.link_id),
        (reg.id.as_str(), &reg.link_id)
    );
    assert_eq!(
        s.list_registrations(&reg.product_id, None).await?,
        vec![again]
    );
    assert_eq!(s.get_registration("reg_nope").await?, None);
    assert_eq!(s.get_registration_by_link("nope").await?, None);
    Ok(())
}

pub async fn key_and_link_conflicts_roll_back_the_batch(s: &dyn Store) -> Result<()> {
    // "Every event" and one named event are different keys.
    let all_events = registration("main", None);
    let one_event = registration("main", Some("payment.succeeded"));
    s.save_registrations(&[all_events.clone(), one_event.clone()])
        .await?;

    let innocent = registration("other", None);
    let same_key = registration("main", None);
    match s
        .save_registrations(&[innocent.clone(), same_key.clone()])
        .await
    {
        Err(StoreError::Conflict { entity, key }) => {
            assert_eq!(
                (entity, key.as_str()),
                ("registration", "p1/main/payments/prd")
            );
        }
        other => panic!("expected a key Conflict, got {other:?}"),
    }
    // One transaction: the innocent one was not saved either.
    assert_eq!(s.get_registration(&innocent.id).await?, None);
    assert_eq!(s.get_registration(&same_key.id).await?, None);

    let mut same_link = registration("third", None);
    same_link.link_id = one_event.link_id.clone();
    match s.save_registrations(std::slice::from_ref(&same_link)).await {
        Err(StoreError::Conflict { entity, key }) => {
            assert_eq!(entity, "registration");
            assert_eq!(key, format!("link {}", one_event.link_id));
        }
        other => panic!("expected a link Conflict, got {other:?}"),
    }

    let same_event_key = registration("main", Some("payment.succeeded"));
    assert!(matches!(
        s.save_registrations(&[same_event_key]).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        s.list_registrations("prd_1", None).await?,
        vec![all_events, one_event]
    );
    Ok(())
}

pub async fn list_by_product_and_access_tag(s: &dyn Store) -> Result<()> {
    let a1 = registration("a", None);
    let b1 = registration("b", None);
    let a2 = registration("a", Some("charge.refunded"));
    let mut elsewhere = registration("a", None);
    elsewhere.product_id = "prd_2".into();
    elsewhere.link_id = LinkId::generate();
    s.save_registrations(&[a1.clone(), b1.clone(), a2.clone(), elsewhere.clone()])
        .await?;

    assert_eq!(
        s.list_registrations("prd_1", None).await?,
        vec![a1.clone(), b1.clone(), a2.clone()]
    );
    assert_eq!(
        s.list_registrations("prd_1", Some("a")).await?,
        vec![a1, a2]
    );
    assert_eq!(s.list_registrations("prd_1", Some("b")).await?, vec![b1]);
    assert_eq!(s.list_registrations("prd_1", Some("zzz")).await?, vec![]);
    assert_eq!(s.list_registrations("prd_2", None).await?, vec![elsewhere]);
    assert_eq!(s.list_registrations("prd_3", None).await?, vec![]);
    Ok(())
}

pub async fn held_events_are_queued_when_a_receiver_arrives(s: &dyn Store) -> Result<()> {
    let mut reg = registration("main", None);
    reg.receiver = None;
    s.save_registrations(std::slice::from_ref(&reg)).await?;

    let mut held1 = event(&reg, EventStatus::Held, at(1));
    held1.attempts = 2;
    let held2 = event(&reg, EventStatus::Held, at(2));
    let delivered = event(&reg, EventStatus::Delivered, at(3));
    let rejected = event(&reg, EventStatus::Rejected, at(4));
    s.insert_events(&with_payloads(&[
        held1.clone(),
        held2.clone(),
        delivered.clone(),
        rejected.clone(),
    ]))
    .await?;

    // Active but still no receiver: nothing moves.
    s.save_registrations(std::slice::from_ref(&reg)).await?;
    assert_eq!(status_of(s, &held1.id).await?, (EventStatus::Held, None));

    // A receiver, but inactive: nothing moves either.
    reg.receiver = Some(receiver("https://receiver.example/hook"));
    reg.active = false;
    s.save_registrations(std::slice::from_ref(&reg)).await?;
    assert_eq!(status_of(s, &held1.id).await?, (EventStatus::Held, None));

    let before = Millis::now();
    reg.active = true;
    s.save_registrations(std::slice::from_ref(&reg)).await?;
    let after = Millis::now();

    for held in [&held1, &held2] {
        let (e, _) = s.get_event(&held.id).await?.expect("event");
        assert_eq!(e.status, EventStatus::Received);
        let due = e.next_attempt_at.expect("queued");
        assert!(before <= due && due <= after, "due {due:?} not now");
        // The retry schedule starts afresh.
        assert_eq!(e.retry_base, held.attempts);
    }
    assert_eq!(
        status_of(s, &delivered.id).await?,
        (EventStatus::Delivered, None)
    );
    assert_eq!(
        status_of(s, &rejected.id).await?,
        (EventStatus::Rejected, None)
    );

    let mut claimed: Vec<String> = s
        .claim_due(
            Lease::new("w1", Millis::now(), Millis(Millis::now().0 + 30_000)),
            10,
        )
        .await?
        .into_iter()
        .map(|c| c.event.id)
        .collect();
    claimed.sort();
    let mut want = vec![held1.id, held2.id];
    want.sort();
    assert_eq!(claimed, want);
    Ok(())
}

async fn status_of(s: &dyn Store, id: &str) -> Result<(EventStatus, Option<Millis>)> {
    let (e, _) = s.get_event(id).await?.expect("event exists");
    Ok((e.status, e.next_attempt_at))
}
