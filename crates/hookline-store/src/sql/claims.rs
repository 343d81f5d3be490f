//! What a claim reads back about the deliveries it leased, decoded the same
//! way on both backends (each fetches with its own statement: SQLite in
//! `IN` chunks on its writer, PostgreSQL with one array parameter).

use crate::codec::{from_doc, DeliveryRow, EventRow, PayloadRow};
use crate::rules::assemble_claims;
use crate::{Claimed, Result};
use hookline_core::event::{Delivery, Event, Payload};
use hookline_core::model::Registration;
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};
use std::collections::HashMap;

/// How a backend reads what a claim needs after it leased deliveries, and
/// gives up on the ones that can never be made.
pub(crate) trait ClaimReads {
    /// Events with their payloads by id (see [`loaded_event`]).
    async fn events(&mut self, ids: &[&str]) -> Result<HashMap<String, LoadedEvent>>;
    /// Registrations by id (see [`loaded_registration`]).
    async fn registrations(
        &mut self,
        ids: &[&str],
    ) -> Result<HashMap<String, std::result::Result<Registration, String>>>;
    /// Marks claimed deliveries that can never be made as failed, with the
    /// reason, instead of returning an error: an error would leave them
    /// leased, to be claimed (and fail the whole batch) again and again.
    async fn fail_undeliverable(
        &mut self,
        owner: &str,
        failed: &[(Delivery, String)],
    ) -> Result<()>;
}

/// The claims of the deliveries a claim leased (`rows`, in any order): due
/// order, each with its event, payload and registration.
pub(crate) async fn claims(
    reads: &mut impl ClaimReads,
    owner: &str,
    rows: Vec<DeliveryRow>,
) -> Result<Vec<Claimed>> {
    let mut deliveries = rows
        .into_iter()
        .map(Delivery::try_from)
        .collect::<Result<Vec<_>>>()?;
    // RETURNING has no defined order.
    deliveries.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
    let distinct = |key: fn(&Delivery) -> &str| {
        let mut ids: Vec<&str> = deliveries.iter().map(key).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let events = reads.events(&distinct(|d| &d.event_id)).await?;
    let registrations = reads
        .registrations(&distinct(|d| &d.registration_id))
        .await?;
    let (claimed, undeliverable) = assemble_claims(deliveries, &events, &registrations);
    if !undeliverable.is_empty() {
        for (d, why) in &undeliverable {
            tracing::error!(
                event_id = %d.event_id, delivery_id = %d.id, reason = %why,
                "delivery cannot be made; marked failed"
            );
        }
        reads.fail_undeliverable(owner, &undeliverable).await?;
    }
    Ok(claimed)
}

/// An event with its payload, or why it cannot be read.
pub(crate) type LoadedEvent = std::result::Result<(Event, Payload), String>;

/// An event read with its payload (by `event_columns!()` and the payload's
/// columns), keyed by id; one that cannot be read is an `Err` with the
/// reason, so that one bad row does not stop the others from being
/// delivered.
pub(crate) fn loaded_event<'r, R>(row: &'r R) -> Result<(String, LoadedEvent)>
where
    R: Row,
    EventRow: FromRow<'r, R>,
    PayloadRow: FromRow<'r, R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    &'static str: ColumnIndex<R>,
{
    let id: String = row.try_get("id")?;
    let loaded = EventRow::from_row(row)
        .map_err(crate::StoreError::from)
        .and_then(Event::try_from)
        .and_then(|event| {
            let payload = PayloadRow::from_row(row)?.into_payload(&event.id)?;
            Ok((event, payload))
        })
        .map_err(|e| e.to_string());
    Ok((id, loaded))
}

/// A registration read as `(id, doc)`, keyed by id; an unreadable doc is an
/// `Err` with the reason.
pub(crate) fn loaded_registration(
    (id, doc): (String, String),
) -> (String, Result<Registration, String>) {
    let reg = from_doc("registration", &id, &doc).map_err(|e| e.to_string());
    (id, reg)
}
