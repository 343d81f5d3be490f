//! Monitoring: cursors over events, counts, queue gauges, traffic buckets,
//! health inputs and records, and bulk replay jobs.

use crate::fixtures::*;
use anyhow::Result;
use hookline_core::event::{EventStatus, NextStep};
use hookline_core::time::Millis;
use hookline_store::{
    EventFilter, Lease, RegistrationHealth, ReplayJob, ReplayStatus, Store, TrafficQuery,
};

pub async fn events_after_a_cursor_in_id_order(s: &dyn Store) -> Result<()> {
    let a = saved_registration(s, "alpha").await;
    let b = saved_registration(s, "beta").await;
    let mut ids = Vec::new();
    let mut batch = Vec::new();
    for i in 0..6 {
        let reg = if i % 2 == 0 { &a } else { &b };
        let e = event(reg, EventStatus::Delivered, at(i));
        ids.push(e.id.clone());
        batch.push(e);
        // Ids minted in one millisecond do not sort by creation.
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    s.insert_events(&with_payloads(&batch)).await?;

    let all = EventFilter::default();
    let got: Vec<String> = s
        .list_events_after(&all, None)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(got, ids);
    let got: Vec<String> = s
        .list_events_after(&all, Some(&ids[2]))
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(got, ids[3..]);

    let only_a = EventFilter {
        registration_id: Some(a.id.clone()),
        before_id: Some(ids[4].clone()),
        limit: 1,
        ..EventFilter::default()
    };
    let page = s.list_events_after(&only_a, Some(&ids[0])).await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, ids[2]);
    assert_eq!(
        s.count_events(&only_a).await?,
        2,
        "before_id bounds the count, the limit does not"
    );
    assert_eq!(s.count_events(&all).await?, 6);
    let window = EventFilter {
        since: Some(at(1)),
        until: Some(at(4)),
        ..EventFilter::default()
    };
    assert_eq!(s.count_events(&window).await?, 3);

    let mut wanted = vec![ids[5].clone(), ids[1].clone(), "evt_missing".to_owned()];
    let mut found: Vec<String> = s
        .get_events(&wanted)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    found.sort();
    wanted.truncate(2);
    wanted.sort();
    assert_eq!(found, wanted);
    assert!(s.get_events(&[]).await?.is_empty());
    Ok(())
}

pub async fn queue_stats_count_queued_and_held(s: &dyn Store) -> Result<()> {
    assert_eq!(s.queue_stats().await?.queued, 0);
    assert_eq!(s.queue_stats().await?.oldest_queued_received_at, None);
    let reg = saved_registration(s, "main").await;
    let events = vec![
        queued(&reg, at(-5_000)),
        queued(&reg, at(10_000)),
        event(&reg, EventStatus::Held, at(-9_000)),
        event(&reg, EventStatus::Delivered, at(-20_000)),
    ];
    s.insert_events(&with_payloads(&events)).await?;
    let q = s.queue_stats().await?;
    assert_eq!(q.queued, 2);
    assert_eq!(q.held, 1);
    assert_eq!(q.oldest_queued_received_at, Some(at(-5_000)));
    Ok(())
}

/// Claims `events` (due at `at(0)`) and completes each with the given
/// attempt status, started at the given offset.
async fn attempt_all(
    s: &dyn Store,
    outcomes: &[(i64, u16)],
    reg: &hookline_core::model::Registration,
) -> Result<Vec<String>> {
    let events: Vec<_> = outcomes.iter().map(|_| queued(reg, at(0))).collect();
    s.insert_events(&with_payloads(&events)).await?;
    let claimed = s
        .claim_due(Lease::new("W", at(0), at(600_000)), 100)
        .await?;
    assert_eq!(claimed.len(), events.len());
    let mut done = Vec::new();
    for (c, (offset, status)) in claimed.iter().zip(outcomes) {
        let a = attempt(&c.event.id, 1, at(*offset), *status);
        let next = if (200..300).contains(status) {
            NextStep::Delivered
        } else {
            NextStep::RetryAt(at(1_000_000))
        };
        done.push(completion("W", a, next));
    }
    s.complete(&done).await?;
    Ok(claimed.into_iter().map(|c| c.event.id).collect())
}

pub async fn traffic_counts_per_bucket_with_latencies(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let other = saved_registration(s, "other").await;
    // Received at at(0); attempts of 120 ms each.
    attempt_all(
        s,
        &[(1_000, 200), (61_000, 500), (62_000, 200), (130_000, 503)],
        &reg,
    )
    .await?;
    attempt_all(s, &[(1_000, 500)], &other).await?;
    s.insert_events(&with_payloads(&[
        event(&reg, EventStatus::Rejected, at(70_000)),
        event(&reg, EventStatus::Held, at(-1)),
    ]))
    .await?;

    let q = TrafficQuery {
        registration_id: Some(reg.id.clone()),
        since: at(0),
        until: at(180_000),
        bucket_ms: 60_000,
        max_latencies: 100,
    };
    let t = s.traffic(&q).await?;
    let counts: Vec<(Millis, u64, u64, u64, u64)> = t
        .buckets
        .iter()
        .map(|b| (b.start, b.received, b.rejected, b.delivered, b.failed))
        .collect();
    assert_eq!(
        counts,
        vec![
            (at(0), 4, 0, 1, 0),
            (at(60_000), 0, 1, 1, 1),
            (at(120_000), 0, 0, 0, 1),
        ]
    );
    let mut lat = t.latencies_ms.clone();
    lat.sort_unstable();
    assert_eq!(lat, vec![1_120, 62_120]);

    let all = s
        .traffic(&TrafficQuery {
            registration_id: None,
            max_latencies: 1,
            ..q
        })
        .await?;
    assert_eq!(all.buckets[0].received, 5);
    assert_eq!(all.buckets[0].failed, 1);
    assert_eq!(all.latencies_ms.len(), 1, "capped");
    Ok(())
}

pub async fn registration_loads_and_health_changes(s: &dyn Store) -> Result<()> {
    let reg = saved_registration(s, "main").await;
    let quiet = saved_registration(s, "quiet").await;
    attempt_all(
        s,
        &[(1_000, 500), (2_000, 500), (3_000, 200), (-10_000, 500)],
        &reg,
    )
    .await?;
    s.insert_events(&with_payloads(&[queued(&quiet, at(50_000))]))
        .await?;

    let loads = s.registration_loads(at(0)).await?;
    let of = |id: &str| loads.iter().find(|l| l.registration_id == id).cloned();
    let l = of(&reg.id).expect("busy registration has a load");
    assert_eq!(
        (l.attempts, l.failed_attempts),
        (3, 2),
        "only attempts since the window start"
    );
    // Two events wait for their retry.
    assert_eq!(l.backlog, 3);
    assert_eq!(l.oldest_backlog_received_at, Some(at(0)));
    let q = of(&quiet.id).expect("a backlog alone is a load");
    assert_eq!((q.attempts, q.backlog), (0, 1));
    assert_eq!(q.oldest_backlog_received_at, Some(at(50_000)));

    let judge = |healthy: bool, when: i64| RegistrationHealth {
        registration_id: reg.id.clone(),
        healthy,
        reasons: if healthy {
            vec![]
        } else {
            vec!["failure rate 67 %".into()]
        },
        since: at(when),
        checked_at: at(when),
        attempts: 3,
        failed_attempts: 2,
        backlog: 3,
        oldest_backlog_received_at: Some(at(0)),
    };
    assert!(
        !s.save_registration_health(&judge(true, 1)).await?,
        "no record counts as healthy"
    );
    assert!(s.save_registration_health(&judge(false, 2)).await?);
    assert!(
        !s.save_registration_health(&judge(false, 3)).await?,
        "no change"
    );
    let stored = s.list_registration_health().await?;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].since, at(2), "since is when it changed");
    assert_eq!(stored[0].checked_at, at(3));
    assert_eq!(stored[0].reasons, vec!["failure rate 67 %".to_owned()]);
    assert!(s.save_registration_health(&judge(true, 4)).await?);
    assert!(s.list_registration_health().await?[0].healthy);
    Ok(())
}

fn job(id: &str, created: Millis) -> ReplayJob {
    ReplayJob {
        id: id.into(),
        status: ReplayStatus::Running,
        filter: EventFilter {
            status: Some(EventStatus::Failed),
            product_tag: Some("shop".into()),
            until: Some(created),
            before_id: Some("evt_bound".into()),
            ..EventFilter::default()
        },
        rate: 10,
        total: 7,
        replayed: 0,
        skipped: 0,
        cursor: None,
        created_at: created,
        updated_at: created,
        finished_at: None,
        owner: None,
        lease_until: None,
    }
}

pub async fn replay_jobs_are_leased_fenced_and_cancelled(s: &dyn Store) -> Result<()> {
    let first = job("rpl_1", at(0));
    let second = job("rpl_2", at(1));
    s.insert_replay_job(&first).await?;
    s.insert_replay_job(&second).await?;
    assert!(s.insert_replay_job(&first).await.is_err(), "ids are unique");
    assert_eq!(s.get_replay_job("rpl_1").await?, Some(first.clone()));
    assert_eq!(s.get_replay_job("nope").await?, None);
    let listed: Vec<String> = s
        .list_replay_jobs(10)
        .await?
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(listed, ["rpl_2", "rpl_1"]);

    // The least recently progressed job first; a live lease is exclusive.
    let mut a = s
        .claim_replay_job("A", at(10), at(1_000))
        .await?
        .expect("a job");
    assert_eq!(a.id, "rpl_1");
    assert_eq!(a.owner.as_deref(), Some("A"));
    let b = s
        .claim_replay_job("B", at(20), at(1_000))
        .await?
        .expect("the other job");
    assert_eq!(b.id, "rpl_2");
    assert_eq!(s.claim_replay_job("C", at(30), at(1_000)).await?, None);

    a.replayed = 3;
    a.skipped = 1;
    a.cursor = Some("evt_3".into());
    a.updated_at = at(40);
    assert!(s.update_replay_job(&a, "A").await?);
    assert!(!s.update_replay_job(&a, "B").await?, "fenced by the owner");
    let stored = s.get_replay_job("rpl_1").await?.expect("job");
    assert_eq!(
        (stored.replayed, stored.skipped, stored.cursor.as_deref()),
        (3, 1, Some("evt_3"))
    );

    // The owner may claim again; an expired lease is taken over.
    assert_eq!(
        s.claim_replay_job("A", at(50), at(2_000))
            .await?
            .map(|j| j.id),
        Some("rpl_1".into())
    );
    let taken = s
        .claim_replay_job("C", at(1_500), at(3_000))
        .await?
        .expect("expired lease");
    assert_eq!(taken.id, "rpl_2");
    assert!(!s.update_replay_job(&b, "B").await?, "B lost its lease");

    // Release, then completion clears the job from claims.
    assert_eq!(s.release_replay_jobs("A").await?, 1);
    let mut a = s
        .claim_replay_job("D", at(60), at(2_000))
        .await?
        .expect("released job");
    assert_eq!(a.id, "rpl_1");
    a.status = ReplayStatus::Completed;
    a.finished_at = Some(at(70));
    a.owner = None;
    a.lease_until = None;
    assert!(s.update_replay_job(&a, "D").await?);
    assert!(
        !s.update_replay_job(&a, "D").await?,
        "a finished job takes no more progress"
    );

    let cancelled = s.cancel_replay_job("rpl_2", at(80)).await?.expect("job");
    assert_eq!(cancelled.status, ReplayStatus::Cancelled);
    assert_eq!(cancelled.finished_at, Some(at(80)));
    assert_eq!(cancelled.owner, None);
    assert!(
        !s.update_replay_job(&taken, "C").await?,
        "cancelled under its owner"
    );
    let again = s.cancel_replay_job("rpl_1", at(90)).await?.expect("job");
    assert_eq!(
        again.status,
        ReplayStatus::Completed,
        "a finished job stays finished"
    );
    assert_eq!(s.cancel_replay_job("nope", at(90)).await?, None);
    assert_eq!(
        s.claim_replay_job("E", at(100_000), at(200_000)).await?,
        None
    );
    Ok(())
}
