//! `hookline events list|show|replay`: search, inspect and replay received
//! events.

use super::output::{self, or_dash, Table};
use clap::{Args, Subcommand};
use hookline_client::{Client, EventDetail, EventFilter, EventQuery};

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
                filter: EventFilter {
                    product: a.product,
                    access_tag: a.access_tag,
                    webhook: a.webhook,
                    event: a.event,
                    env: a.env,
                    status: a.status,
                    registration: a.registration,
                    since: a.since,
                    until: a.until,
                },
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
            // The request came in on the registration's link; the event
            // does not repeat the path, so it is read from there.
            let path = c
                .get_registration(&d.event.registration_id)
                .await
                .ok()
                .and_then(|r| link_path(&r.link));
            print_detail(&d, path.as_deref(), !no_body);
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

/// The path of an ingest link (`/webhooks/v1/process/lnk_…`).
fn link_path(link: &str) -> Option<String> {
    url::Url::parse(link).ok().map(|u| u.path().to_owned())
}

/// `POST /webhooks/v1/process/lnk_…?a=1 (49 bytes)`: the request line as
/// the provider sent it, `?` for a path that cannot be known (the
/// registration is gone).
fn request_line(method: &str, path: Option<&str>, query: Option<&str>, size: usize) -> String {
    let query = query
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    format!(
        "{method} {}{query} ({size} bytes)",
        path.unwrap_or("(link path unknown)")
    )
}

fn print_detail(d: &EventDetail, path: Option<&str>, body: bool) {
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
    println!(
        "request: {}",
        request_line(&r.method, path, r.query.as_deref(), r.body_size)
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_line_shows_path_and_query() {
        let path = link_path("https://hooks.example.com/webhooks/v1/process/lnk_1");
        assert_eq!(path.as_deref(), Some("/webhooks/v1/process/lnk_1"));
        assert_eq!(
            request_line("POST", path.as_deref(), Some("a=1&b=2"), 49),
            "POST /webhooks/v1/process/lnk_1?a=1&b=2 (49 bytes)"
        );
        assert_eq!(
            request_line("GET", path.as_deref(), Some(""), 0),
            "GET /webhooks/v1/process/lnk_1 (0 bytes)"
        );
        assert_eq!(
            request_line("POST", None, None, 2),
            "POST (link path unknown) (2 bytes)"
        );
    }
}
