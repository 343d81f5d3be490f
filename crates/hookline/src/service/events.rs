//! Event queries and replay (of an event's deliveries, or of one).

use super::Gateway;
use crate::error::{Error, Result};
use hookline_core::event::{Attempt, Delivery, DeliveryStatus, Event, Payload};
use hookline_core::time::Millis;
use hookline_store::{DeliveryRequeue, EventFilter, Requeue};

pub struct EventDetail {
    pub event: Event,
    pub payload: Payload,
    /// Every attempt of every delivery, first to last.
    pub attempts: Vec<Attempt>,
    pub deliveries: Vec<Delivery>,
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
        let deliveries = self.store.list_deliveries(id).await?;
        Ok(EventDetail {
            event,
            payload,
            attempts,
            deliveries,
        })
    }

    /// Queues one delivery again; returns it with its attempts so far.
    pub async fn replay_delivery(&self, id: &str) -> Result<(Delivery, Vec<Attempt>)> {
        match self.store.requeue_delivery(id, Millis::now()).await? {
            DeliveryRequeue::Queued(d) => {
                self.wake_workers();
                let mut attempts = self.store.list_attempts(&d.event_id).await?;
                attempts.retain(|a| a.delivery_id == d.id);
                Ok((d, attempts))
            }
            DeliveryRequeue::NotFound => Err(Error::not_found("delivery", id)),
            DeliveryRequeue::NotAllowed(status) => Err(Error::conflict(
                "replay_not_allowed",
                format!(
                    "delivery `{id}` is {}; only delivered, failed or retry-waiting deliveries can be replayed{}",
                    status.as_str(),
                    match status {
                        DeliveryStatus::Held => " (set a receiver and held deliveries go out by themselves)",
                        DeliveryStatus::Pending => " (it is queued already)",
                        DeliveryStatus::Delivering => " (a worker is calling its destination right now)",
                        _ => "",
                    }
                ),
            )),
        }
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
