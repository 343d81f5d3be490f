//! The operations behind the API, in plain Rust: validation against the
//! stored model, the seed flows (`enable`, links, `disable`), event queries,
//! traffic statistics, the live stream's polling, bulk replay jobs and
//! registration health. The long-lived parts ([`ReplayJobs::run`],
//! [`HealthChecker::run`]) are started by [`crate::startup`], never here.
//! No HTTP types here; the [`crate::api`] layer parses wire JSON into the
//! inputs below and renders what comes back.

mod catalog;
mod events;
pub mod health;
pub mod links;
mod presets;
mod registry;
pub mod replay_jobs;
pub mod stats;
pub mod stream;

pub use catalog::{AppPatch, ConnectionInput, NewApp, NewProduct, NewWebhook, ProductPatch};
pub use events::EventDetail;
pub use health::HealthChecker;
pub use presets::PresetApp;
pub use registry::{EnableEnv, EnableInput, LinkInput, RegistrationPatch};
pub use replay_jobs::{NewReplay, ReplayJobs};
pub use stats::{Percentiles, Stats};
pub use stream::EventWatch;

use crate::error::{Error, Result};
use hookline_core::model::Receiver;
use hookline_core::retry::RetrySchedule;
use hookline_delivery::guard::{GuardError, OutboundGuard};
use hookline_store::DynStore;
use std::sync::Arc;
use tokio::sync::Notify;

/// Everything the operations need; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub store: DynStore,
    pub guard: Arc<OutboundGuard>,
    /// Base of ingest links.
    pub public_url: Arc<str>,
    /// Wakes idle delivery workers when work was queued.
    pub wake: Arc<Notify>,
    pub default_schedule: RetrySchedule,
    /// Calls to providers' registration APIs (`enable`, `disable`).
    pub providers: Arc<crate::providers::Providers>,
    /// How long a rotated-out signing secret keeps signing, by default.
    pub rotation_overlap: std::time::Duration,
    /// Link → registration and webhook, for ingest; cleared by every
    /// configuration write (see [`links`]).
    pub links: Arc<links::LinkCache>,
}

impl Gateway {
    pub fn link_url(&self, link: &hookline_core::ids::LinkId) -> String {
        hookline_core::ids::link_url(&self.public_url, link)
    }

    /// Refuses receivers the outbound guard would refuse at delivery time, so
    /// the mistake surfaces when it is made. A name that does not resolve
    /// now is accepted: it may resolve where and when Hookline delivers.
    pub async fn check_receiver(&self, receiver: &Receiver) -> Result<()> {
        match self.guard.check_url(&receiver.url).await {
            Ok(()) | Err(GuardError::Unresolvable { .. }) => Ok(()),
            Err(e @ GuardError::NotAllowed { .. }) => Err(Error::TargetNotAllowed(e.to_string())),
            Err(e) => Err(Error::invalid("invalid_receiver_url", e.to_string())),
        }
    }

    /// Called after every configuration write, so ingest stops answering
    /// from what the write changed.
    pub(crate) fn config_changed(&self) {
        self.links.clear();
    }

    pub(crate) fn wake_workers(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
    }
}
