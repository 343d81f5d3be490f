//! `hookline events list|show|replay`: search, inspect and replay received
//! events.

use super::output::{self, or_dash, Table};
use clap::{Args, Subcommand};
use hookline_client::{Client, EventDetail, EventQuery};

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Search events, newest first.
    List(Box<ListArgs>),
    /// Show one event: its request and every delivery attempt.
    Show {
        id: String,
        /// Leave the body out.
        #[arg(long)]
        no_body: bool,
    },
    /// Queue an event for delivery again (all its deliveries), or one delivery
    /// (`dlv_…`).
    Replay { id: String },
}

#[derive(Args)]
pub struct ListArgs {
    /// Product tag.
    #[arg(long)]
    product: Option<String>,
    #[arg(long)]
    access_tag: Option<String>,
    /// Webhook tag.
    #[arg(long)]
    webhook: Option<String>,
    /// Event name (e.g. order.created).
    #[arg(long)]
    event: Option<String>,
    /// Product env slug.
    #[arg(long)]
    env: Option<String>,
    /// received, delivering, delivered, failed, rejected or held.
    #[arg(long)]
    status: Option<String>,
    /// Registration id.
    #[arg(long)]
    registration: Option<String>,
    /// Received at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Received before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Page size, 1–500 (default 50).
    #[arg(long)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[arg(long)]
    cursor: Option<String>,
}

pub async fn run(c: &Client, cmd: EventsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        EventsCmd::List(a) => {
            let a = *a;
            let q = EventQuery {
                product: a.product,
                access_tag: a.access_tag,
                webhook: a.webhook,
                event: a.event,
                env: a.env,
                status: a.status,
                registration: a.registration,
                since: a.since,
                until: a.until,
                limit: a.limit,
                cursor: a.cursor,
            };
            let page = c.list_events(&q).await?;
            if json {
                return output::json(&page);
            }
            let mut t = Table::new(&[
                "RECEIVED",
                "ID",
                "STATUS",
                "EVENT",
                "PRODUCT/ACCESS/WEBHOOK",
                "ENV",
                "ATTEMPTS",
                "LAST",
            ]);
            for e in page.data {
                t.row(vec![
                    e.received_at,
                    e.id,
                    e.status,
                    or_dash(e.event),
                    format!("{}/{}/{}", e.product, e.access_tag, e.webhook),
                    e.env,
                    e.attempts.to_string(),
                    or_dash(e.last_response_status),
                ]);
            }
            t.print("no events");
            if let Some(c) = page.next_cursor {
                println!("more: --cursor {c}");
            }
        }
        EventsCmd::Show { id, no_body } => {
            let d = c.get_event(&id).await?;
            if json {
                return output::json(&d);
            }
            print_detail(&d, !no_body);
        }
        // A delivery id replays that delivery only.
        EventsCmd::Replay { id } if id.starts_with("dlv_") => {
            let d = c.replay_delivery(&id).await?;
            if json {
                return output::json(&d);
            }
            println!(
                "delivery {} of event {} queued ({})",
                d.id, d.event_id, d.status
            );
        }
        EventsCmd::Replay { id } => {
            let e = c.replay_event(&id).await?;
            if json {
                return output::json(&e);
            }
            println!("event {} queued for delivery ({})", e.id, e.status);
        }
    }
    Ok(())
}

fn print_detail(d: &EventDetail, body: bool) {
    let e = &d.event;
    println!("event {}", e.id);
    println!("  status        {}", e.status);
    println!("  event         {}", or_dash(e.event.as_deref()));
    println!(
        "  registration  {} ({}/{}/{} {})",
        e.registration_id, e.product, e.access_tag, e.webhook, e.env
    );
    println!("  received at   {}", e.received_at);
    if let Some(t) = &e.delivered_at {
        println!("  delivered at  {t}");
    }
    if let Some(t) = &e.next_attempt_at {
        println!("  next attempt  {t}");
    }
    if let Some(v) = &e.verification {
        println!("  verification  {v}");
    }
    let r = &d.request;
    let query = r
        .query
        .as_deref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    println!("request: {} {query} ({} bytes)", r.method, r.body_size);
    for (k, v) in &r.headers {
        println!("  {k}: {v}");
    }
    if body {
        match (&r.body, &r.body_base64) {
            (Some(text), _) => println!("\n{text}\n"),
            (None, Some(b64)) => println!("\n(binary, base64) {b64}\n"),
            _ => {}
        }
    }
    if !d.deliveries.is_empty() {
        let mut t = Table::new(&[
            "DELIVERY",
            "DESTINATION",
            "STATUS",
            "ATTEMPTS",
            "NEXT ATTEMPT",
        ]);
        for dl in &d.deliveries {
            t.row(vec![
                dl.id.clone(),
                dl.destination_id.clone(),
                dl.status.clone(),
                dl.attempts.len().to_string(),
                or_dash(dl.next_attempt_at.as_deref()),
            ]);
        }
        t.print("");
    }
    if d.attempt_log.is_empty() {
        println!("no delivery attempts");
        return;
    }
    let mut t = Table::new(&["#", "STARTED", "MS", "STATUS", "URL", "ERROR"]);
    for a in &d.attempt_log {
        t.row(vec![
            a.number.to_string(),
            a.started_at.clone(),
            a.duration_ms.to_string(),
            or_dash(a.response_status),
            a.request_url.clone(),
            match (&a.error_kind, &a.error) {
                (Some(k), Some(m)) => format!("{k}: {m}"),
                (None, Some(m)) => m.clone(),
                _ => String::new(),
            },
        ]);
    }
    t.print("");
}
