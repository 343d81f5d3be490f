//! Values that several routes read from a query or a body the same way:
//! RFC 3339 times and event statuses (the stream's and bulk replays'
//! filters).

use crate::error::Error;
use hookline_core::event::EventStatus;
use hookline_core::time::Millis;

pub fn parse_time(field: &str, v: Option<String>) -> Result<Option<Millis>, Error> {
    v.map(|s| {
        Millis::parse_rfc3339(&s).ok_or_else(|| {
            Error::invalid(
                "invalid_time",
                format!("`{field}` must be an RFC 3339 time, got `{s}`"),
            )
        })
    })
    .transpose()
}

pub fn parse_status(v: Option<String>) -> Result<Option<EventStatus>, Error> {
    v.map(|s| {
        EventStatus::parse(&s).ok_or_else(|| {
            Error::invalid(
                "invalid_status",
                format!("status `{s}` is not one of received, delivering, delivered, failed, rejected, held"),
            )
        })
    })
    .transpose()
}
