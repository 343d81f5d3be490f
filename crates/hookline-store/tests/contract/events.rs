//! Storing, reading, deduplicating and listing events.

use crate::fixtures::*;
use anyhow::Result;
use hookline_core::event::{Event, EventStatus, HeaderBytes, Payload};
use hookline_core::model::Registration;
use hookline_store::{EventFilter, Store, StoreError};
use std::collections::HashSet;

/// Stores `e` alone, with a payload.
pub async fn insert_batch_and_get_exact_bytes(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let mut e1 = queued(&reg, at(10));
    e1.provider_event_id = Some("evt_provider_1".into());
    let mut e2 = event(&reg, EventStatus::Rejected, at(20));
    e2.verification = Some(hookline_core::event::VerificationResult {
        scheme: "stripe".into(),
        ok: false,
        code: Some("signature_mismatch".into()),
        message: Some("no v1 signature matched".into()),
        received_body_bytes: Some(70_000),
    });
    e2.event_type = None;
    let mut e3 = event(&reg, EventStatus::Failed, at(30));
    e3.attempts = 8;
    e3.retry_base = 3;
    e3.delivered_at = Some(at(25));
    e3.last_response_status = Some(500);
    e3.last_error = Some("receiver answered 500".into());
    e3.verification = None;

    // Bytes that are not UTF-8, a NUL, and header values of every kind:
    // UTF-8 text, raw bytes that are no text at all.
    let raw = vec![0xff, 0x00, 0xfe, b'{', 0x80, b'}', 0xc3];
    let p1 = Payload {
        method: "PUT".into(),
        query: None,
        headers: vec![
            ("x-utf8".into(), "caf\u{e9} \u{ff}".into()),
            ("x-raw".into(), HeaderBytes(vec![b'a', 0xff, 0xfe, 0x80])),
            ("x-dup".into(), "1".into()),
            ("x-dup".into(), "2".into()),
        ],
        body: raw.clone(),
    };
    let p2 = Payload {
        body: Vec::new(),
        ..payload(b"")
    };
    let p3 = payload(br#"{"type":"payment.failed"}"#);
    s.insert_events(&[
        (e1.clone(), p1.clone()),
        (e2.clone(), p2.clone()),
        (e3.clone(), p3.clone()),
    ])
    .await?;

    let (got1, gotp1) = s.get_event(&e1.id).await?.expect("e1");
    assert_eq!(got1, e1);
    assert_eq!(gotp1, p1);
    assert_eq!(gotp1.body, raw);
    assert_eq!(s.get_event(&e2.id).await?, Some((e2, p2)));
    assert_eq!(s.get_event(&e3.id).await?, Some((e3, p3)));
    assert_eq!(s.get_event("evt_nope").await?, None);
    assert_eq!(s.list_attempts(&e1.id).await?, vec![]);
    // An empty batch is fine.
    s.insert_events(&[]).await?;
    Ok(())
}

pub async fn insert_batch_is_atomic(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let first = queued(&reg, at(1));
    insert_one(s, &first).await?;

    let fresh = queued(&reg, at(2));
    match s
        .insert_events(&with_payloads(&[fresh.clone(), first.clone()]))
        .await
    {
        Err(StoreError::Conflict { entity, key }) => {
            assert_eq!((entity, key), ("event", first.id.clone()));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(s.get_event(&fresh.id).await?, None);
    // The failed batch left nothing open: the next one commits and is seen
    // by other connections.
    insert_one(s, &fresh).await?;
    assert!(s.get_event(&fresh.id).await?.is_some());
    Ok(())
}

pub async fn find_duplicate_window(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let other = saved_registration(s, "other").await;
    let mut e = event(&reg, EventStatus::Delivered, at(1_000));
    e.provider_event_id = Some("pe_1".into());
    let plain = event(&reg, EventStatus::Delivered, at(2_000));
    s.insert_events(&with_payloads(&[e.clone(), plain])).await?;

    assert_eq!(
        s.find_duplicate(&reg.id, "pe_1", at(500)).await?,
        Some(e.id.clone())
    );
    // `since` is inclusive.
    assert_eq!(
        s.find_duplicate(&reg.id, "pe_1", at(1_000)).await?,
        Some(e.id)
    );
    assert_eq!(s.find_duplicate(&reg.id, "pe_1", at(1_001)).await?, None);
    assert_eq!(s.find_duplicate(&reg.id, "pe_2", at(0)).await?, None);
    assert_eq!(s.find_duplicate(&other.id, "pe_1", at(0)).await?, None);
    Ok(())
}

pub async fn insert_new_leaves_out_redeliveries(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let other = saved_registration(s, "other").await;
    let with_pid = |reg: &Registration, t: i64, pid: &str| {
        let mut e = queued(reg, at(t));
        e.provider_event_id = Some(pid.into());
        e
    };
    let original = with_pid(&reg, 1_000, "pe_1");
    insert_one(s, &original).await?;

    let redelivery = with_pid(&reg, 2_000, "pe_1");
    let same_id_other_reg = with_pid(&other, 2_001, "pe_1");
    let first = with_pid(&reg, 2_002, "pe_2");
    let copy_of_first = with_pid(&reg, 2_003, "pe_2");
    let plain = queued(&reg, at(2_004));
    let batch = [
        redelivery.clone(),
        same_id_other_reg.clone(),
        first.clone(),
        copy_of_first.clone(),
        plain.clone(),
    ];
    let answer = s.insert_new_events(with_payloads(&batch), at(500)).await?;
    assert_eq!(
        answer,
        vec![
            Some(original.id.clone()),
            None,
            None,
            Some(first.id.clone()),
            None
        ]
    );
    for stored in [&same_id_other_reg, &first, &plain] {
        assert!(
            s.get_event(&stored.id).await?.is_some(),
            "{} stored",
            stored.id
        );
    }
    for left_out in [&redelivery, &copy_of_first] {
        assert_eq!(
            s.get_event(&left_out.id).await?,
            None,
            "{} left out",
            left_out.id
        );
    }

    // Outside the window the same provider id is a new event.
    let later = with_pid(&reg, 3_000, "pe_1");
    let answer = s
        .insert_new_events(with_payloads(std::slice::from_ref(&later)), at(2_500))
        .await?;
    assert_eq!(answer, vec![None]);
    assert!(s.get_event(&later.id).await?.is_some());
    assert_eq!(s.insert_new_events(Vec::new(), at(0)).await?, vec![]);
    Ok(())
}

/// Payloads past one statement's share (32 MiB) take each backend's
/// multi-statement path; the batch is still stored whole, redeliveries
/// still left out.
pub async fn batches_past_one_statement_are_stored_whole(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let big = |n: u8| Payload {
        body: vec![n; 12 << 20],
        ..payload(b"")
    };
    let events: Vec<Event> = (0..3).map(|i| queued(&reg, at(10 + i))).collect();
    let batch: Vec<(Event, Payload)> = events.iter().cloned().zip((0u8..).map(big)).collect();
    s.insert_events(&batch).await?;
    for (e, p) in &batch {
        let (got, got_payload) = s.get_event(&e.id).await?.expect("stored");
        assert_eq!(&got, e);
        assert_eq!(got_payload.body.len(), p.body.len());
        assert_eq!(got_payload.body, p.body);
    }

    let with_pid = |t: i64, pid: &str| {
        let mut e = queued(&reg, at(t));
        e.provider_event_id = Some(pid.into());
        e
    };
    let original = with_pid(100, "pe_big");
    let redelivery = with_pid(200, "pe_big");
    let fresh = with_pid(201, "pe_other");
    let plain = queued(&reg, at(202));
    let answer = s
        .insert_new_events(
            vec![
                (original.clone(), big(7)),
                (redelivery.clone(), big(8)),
                (fresh.clone(), big(9)),
                (plain.clone(), big(10)),
            ],
            at(0),
        )
        .await?;
    assert_eq!(answer, vec![None, Some(original.id.clone()), None, None]);
    for stored in [&original, &fresh, &plain] {
        assert!(s.get_event(&stored.id).await?.is_some(), "{}", stored.id);
    }
    assert_eq!(s.get_event(&redelivery.id).await?, None);
    Ok(())
}

/// A mixed population for the listing tests, ids ascending.
async fn population(s: &dyn Store) -> Result<Vec<Event>> {
    let main = saved_registration(s, "main").await;
    let mut other = registration("other", None);
    other.webhook_tag = tag("payouts");
    other.env = env("stg");
    s.save_registrations(std::slice::from_ref(&other)).await?;

    let statuses = [
        EventStatus::Received,
        EventStatus::Delivered,
        EventStatus::Failed,
        EventStatus::Delivered,
        EventStatus::Rejected,
    ];
    let mut events = Vec::new();
    for i in 0..40i64 {
        let reg = if i % 3 == 0 { &other } else { &main };
        let mut e = event(reg, statuses[(i % 5) as usize], at(i * 100));
        // Ids strictly increasing, as ingest mints them over time.
        e.id = format!("evt_{i:04}");
        if i % 4 == 0 {
            e.event_type = Some("charge.refunded".into());
        }
        events.push(e);
    }
    s.insert_events(&with_payloads(&events)).await?;
    Ok(events)
}

fn ids_desc(events: &[Event], keep: impl Fn(&Event) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .filter(|e| keep(e))
        .map(|e| e.id.clone())
        .collect();
    ids.sort_by(|a, b| b.cmp(a));
    ids
}

async fn list_ids(s: &dyn Store, f: EventFilter) -> Result<Vec<String>> {
    Ok(s.list_events(&f).await?.into_iter().map(|e| e.id).collect())
}

/// Which events of the population a filter should return.
type Keep = Box<dyn Fn(&Event) -> bool>;

pub async fn list_filters(s: &dyn Store) -> Result<()> {
    let all = population(s).await?;
    let f = || EventFilter {
        limit: 1000,
        ..EventFilter::default()
    };

    assert_eq!(list_ids(s, f()).await?, ids_desc(&all, |_| true));
    // Whole events come back, not only ids.
    let listed = s.list_events(&f()).await?;
    assert_eq!(listed.first(), all.last());

    let cases: Vec<(EventFilter, Keep)> = vec![
        (
            EventFilter {
                status: Some(EventStatus::Delivered),
                ..f()
            },
            Box::new(|e| e.status == EventStatus::Delivered),
        ),
        (
            EventFilter {
                access_tag: Some("other".into()),
                ..f()
            },
            Box::new(|e| e.access_tag == "other"),
        ),
        (
            EventFilter {
                product_tag: Some("p1".into()),
                webhook_tag: Some("payouts".into()),
                ..f()
            },
            Box::new(|e| e.webhook_tag == "payouts"),
        ),
        (
            EventFilter {
                env: Some("prd".into()),
                event_type: Some("charge.refunded".into()),
                ..f()
            },
            Box::new(|e| e.env == "prd" && e.event_type.as_deref() == Some("charge.refunded")),
        ),
        (
            EventFilter {
                registration_id: Some(all[0].registration_id.clone()),
                status: Some(EventStatus::Received),
                ..f()
            },
            Box::new(|e| e.access_tag == "other" && e.status == EventStatus::Received),
        ),
        (
            // `since` inclusive, `until` exclusive.
            EventFilter {
                since: Some(at(1_000)),
                until: Some(at(2_000)),
                ..f()
            },
            Box::new(|e| e.received_at >= at(1_000) && e.received_at < at(2_000)),
        ),
        (
            EventFilter {
                status: Some(EventStatus::Failed),
                since: Some(at(1_200)),
                ..f()
            },
            Box::new(|e| e.status == EventStatus::Failed && e.received_at >= at(1_200)),
        ),
        (
            EventFilter {
                before_id: Some("evt_0010".into()),
                ..f()
            },
            Box::new(|e| e.id.as_str() < "evt_0010"),
        ),
        (
            EventFilter {
                product_tag: Some("nope".into()),
                ..f()
            },
            Box::new(|_| false),
        ),
    ];
    for (i, (filter, keep)) in cases.into_iter().enumerate() {
        let want = ids_desc(&all, keep);
        assert_eq!(
            list_ids(s, filter.clone()).await?,
            want,
            "case {i}: {filter:?}"
        );
    }
    // The population really is mixed, so the cases above can tell filters apart.
    assert_eq!(
        ids_desc(&all, |e| e.status == EventStatus::Delivered).len(),
        16
    );
    assert_eq!(ids_desc(&all, |e| e.access_tag == "other").len(), 14);
    Ok(())
}

pub async fn list_pagination_has_no_gaps_or_duplicates(s: &dyn Store) -> Result<()> {
    let all = population(s).await?;
    for (filter, keep) in [
        (EventFilter::default(), None),
        (
            EventFilter {
                status: Some(EventStatus::Delivered),
                ..EventFilter::default()
            },
            Some(EventStatus::Delivered),
        ),
    ] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = list_ids(
                s,
                EventFilter {
                    before_id: cursor.clone(),
                    limit: 7,
                    ..filter.clone()
                },
            )
            .await?;
            assert!(page.len() <= 7);
            pages += 1;
            let Some(last) = page.last().cloned() else {
                break;
            };
            seen.extend(page);
            cursor = Some(last);
        }
        let want = ids_desc(&all, |e| keep.is_none_or(|k| e.status == k));
        assert_eq!(seen, want);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
        // Full pages, then the empty page that ends the walk.
        assert_eq!(pages, want.len().div_ceil(7) + 1);
    }
    Ok(())
}

pub async fn list_limit_is_defaulted_and_capped(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let events: Vec<Event> = (0..1005)
        .map(|i| {
            let mut e = event(&reg, EventStatus::Delivered, at(i));
            e.id = format!("evt_{i:05}");
            e
        })
        .collect();
    s.insert_events(&with_payloads(&events)).await?;

    let page = |limit| EventFilter {
        limit,
        ..EventFilter::default()
    };
    assert_eq!(s.list_events(&page(0)).await?.len(), 100);
    assert_eq!(s.list_events(&page(3)).await?.len(), 3);
    let capped = s.list_events(&page(5_000)).await?;
    assert_eq!(capped.len(), 1000);
    assert_eq!(capped[0].id, "evt_01004");
    assert_eq!(capped[999].id, "evt_00005");
    Ok(())
}

/// An id minted `skew_ms` away from `received_at`, as ingest mints them.
fn minted_id(received_at: hookline_core::time::Millis, skew_ms: i64, n: u128) -> String {
    let ms = u64::try_from(received_at.0 + skew_ms).expect("positive time");
    format!("evt_{}", ulid::Ulid::from_parts(ms, n))
}

pub async fn list_time_window_with_ids_minted_at_receipt(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let (since, until) = (at(10_000), at(20_000));
    let mut all = Vec::new();
    for i in 0..30i64 {
        let status = [EventStatus::Delivered, EventStatus::Failed][(i % 2) as usize];
        let mut e = event(&reg, status, at(i * 1_000));
        e.id = minted_id(e.received_at, 0, i as u128);
        all.push(e);
    }
    // At the edges, ids a few seconds off their receive time: the window is
    // about `received_at`, whatever the id says.
    for (received_at, skew, n) in [
        (until.0 - 1, 4_000, 100), // inside, id after the window
        (until.0, -4_000, 101),    // outside, id inside the window
        (since.0, -4_000, 102),    // inside, id before the window
        (since.0 - 1, 4_000, 103), // outside, id inside the window
    ] {
        let mut e = event(
            &reg,
            EventStatus::Failed,
            hookline_core::time::Millis(received_at),
        );
        e.id = minted_id(e.received_at, skew, n);
        all.push(e);
    }
    s.insert_events(&with_payloads(&all)).await?;

    let windows = |status| EventFilter {
        status,
        since: Some(since),
        until: Some(until),
        limit: 1000,
        ..EventFilter::default()
    };
    let in_window = |e: &Event| e.received_at >= since && e.received_at < until;
    let want_all = ids_desc(&all, in_window);
    assert_eq!(want_all.len(), 12);
    assert_eq!(list_ids(s, windows(None)).await?, want_all);
    let want_failed = ids_desc(&all, |e| in_window(e) && e.status == EventStatus::Failed);
    assert_eq!(
        list_ids(s, windows(Some(EventStatus::Failed))).await?,
        want_failed
    );
    let only_until = EventFilter {
        since: None,
        ..windows(None)
    };
    assert_eq!(
        list_ids(s, only_until).await?,
        ids_desc(&all, |e| e.received_at < until)
    );

    // One event whose id says nothing about its time: listings stay exact.
    let mut odd = event(&reg, EventStatus::Delivered, at(15_000));
    odd.id = "evt_legacy_1".into();
    insert_one(s, &odd).await?;
    all.push(odd.clone());
    let got = list_ids(s, windows(None)).await?;
    assert!(got.contains(&odd.id));
    assert_eq!(got, ids_desc(&all, in_window));
    Ok(())
}
