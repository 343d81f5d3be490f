//! Event queries and replay.

use super::Gateway;
use crate::error::{Error, Result};
use hookline_core::event::{Attempt, Event, Payload};
use hookline_core::time::Millis;
use hookline_store::{EventFilter, Requeue};

pub struct EventDetail {
    pub event: Event,
    pub payload: Payload,
    pub attempts: Vec<Attempt>,
}

impl Gateway {
    pub async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        Ok(self.store.list_events(filter).await?)
    }

    pub async fn event(&self, id: &str) -> Result<EventDetail> {
        let (event, payload) = self
            .store
            .get_event(id)
            .await?
            .ok_or_else(|| Error::not_found("event", id))?;
        let attempts = self.store.list_attempts(id).await?;
        Ok(EventDetail {
            event,
            payload,
            attempts,
        })
    }

    pub async fn replay(&self, id: &str) -> Result<Event> {
        match self.store.requeue_event(id, Millis::now()).await? {
            Requeue::Queued(e) => {
                self.wake_workers();
                Ok(e)
            }
            Requeue::NotFound => Err(Error::not_found("event", id)),
            Requeue::NotAllowed(status) => Err(Error::conflict(
                "replay_not_allowed",
                format!(
                    "event `{id}` is {}; only delivered, failed or retry-waiting events can be replayed{}",
                    status.as_str(),
                    match status {
                        hookline_core::event::EventStatus::Held => " (set a receiver and held events go out by themselves)",
                        hookline_core::event::EventStatus::Rejected => " (it failed verification and is never forwarded)",
                        _ => "",
                    }
                ),
            )),
        }
    }
}
