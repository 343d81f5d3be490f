//! What a claim reads back about the deliveries it leased, decoded the same
//! way on both backends (each fetches with its own statement: SQLite in
//! `IN` chunks on its writer, PostgreSQL with one array parameter).

use crate::codec::{from_doc, EventRow, PayloadRow};
use crate::Result;
use hookline_core::event::{Event, Payload};
use hookline_core::model::Registration;
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};

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
