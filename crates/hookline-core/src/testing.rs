//! Builders of registrations, webhook envs, events and deliveries for tests
//! (feature `testing`): each starts from plausible defaults and a test sets
//! only what it is about, so a new field is added here and nowhere else.
//!
//! The defaults fit together: a [`RegistrationBuilder`]'s registration is of
//! product `p1` (`prd_1`), access tag `main`, app `stripe`, webhook
//! `payments` (`whk_1`), env `prd`, and an [`EventBuilder`] without a
//! registration names the same. Times default to [`T0`].

use crate::event::{Delivery, DeliveryStatus, Event, EventStatus, VerificationResult};
use crate::ids::{new_id, LinkId};
use crate::model::{
    Auth, HttpMethod, PreviousSecret, ProviderApi, ProviderRegistration, Receiver, Registration,
    RequestTemplate, WebhookEnv,
};
use crate::names::{EnvSlug, Tag};
use crate::retry::RetrySchedule;
use crate::time::Millis;

/// A fixed instant, the builders' default time.
pub const T0: Millis = Millis(1_700_000_000_000);

/// A tag; panics on an invalid one.
pub fn tag(s: &str) -> Tag {
    Tag::parse(s).unwrap_or_else(|e| panic!("tag `{s}`: {e}"))
}

/// An env slug; panics on an invalid one.
pub fn env(s: &str) -> EnvSlug {
    EnvSlug::parse(s).unwrap_or_else(|e| panic!("env slug `{s}`: {e}"))
}

/// A receiver called with `POST` and no auth.
pub fn receiver(url: &str) -> Receiver {
    Receiver {
        url: url.parse().unwrap_or_else(|e| panic!("url `{url}`: {e}")),
        method: HttpMethod::Post,
        auth: Auth::default(),
    }
}

/// A verification that passed under `scheme`.
pub fn verified(scheme: &str) -> VerificationResult {
    VerificationResult {
        scheme: scheme.into(),
        ok: true,
        code: None,
        message: None,
        received_body_bytes: None,
    }
}

/// Builds a [`Registration`]: active, with a fresh id and link id, forwarding
/// to `https://receiver.example/hook`, verified with `whsec_provider` and
/// signing with `whsec_signing`.
#[derive(Debug, Clone)]
pub struct RegistrationBuilder(Registration);

impl Default for RegistrationBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RegistrationBuilder {
    pub fn new() -> Self {
        RegistrationBuilder(Registration {
            id: new_id("reg"),
            product_id: "prd_1".into(),
            product_tag: tag("p1"),
            access_tag: tag("main"),
            app_tag: tag("stripe"),
            webhook_id: "whk_1".into(),
            webhook_tag: tag("payments"),
            event: None,
            env: env("prd"),
            app_env: env("prd"),
            link_id: LinkId::generate(),
            receiver: Some(receiver("https://receiver.example/hook")),
            verification_secret: Some("whsec_provider".into()),
            signing_secret: "whsec_signing".into(),
            previous_signing_secrets: Vec::new(),
            provider: ProviderRegistration::default(),
            retry_schedule: None,
            active: true,
            created_at: T0,
            updated_at: T0,
        })
    }

    pub fn id(mut self, id: &str) -> Self {
        self.0.id = id.into();
        self
    }

    pub fn product(mut self, id: &str, tag_: &str) -> Self {
        self.0.product_id = id.into();
        self.0.product_tag = tag(tag_);
        self
    }

    pub fn access_tag(mut self, tag_: &str) -> Self {
        self.0.access_tag = tag(tag_);
        self
    }

    pub fn app_tag(mut self, tag_: &str) -> Self {
        self.0.app_tag = tag(tag_);
        self
    }

    pub fn webhook(mut self, id: &str, tag_: &str) -> Self {
        self.0.webhook_id = id.into();
        self.0.webhook_tag = tag(tag_);
        self
    }

    pub fn event(mut self, event: Option<&str>) -> Self {
        self.0.event = event.map(tag);
        self
    }

    pub fn env(mut self, slug: &str) -> Self {
        self.0.env = env(slug);
        self
    }

    pub fn app_env(mut self, slug: &str) -> Self {
        self.0.app_env = env(slug);
        self
    }

    pub fn link_id(mut self, link: LinkId) -> Self {
        self.0.link_id = link;
        self
    }

    /// `None`: events are held until one is set.
    pub fn receiver(mut self, receiver: Option<Receiver>) -> Self {
        self.0.receiver = receiver;
        self
    }

    pub fn verification_secret(mut self, secret: Option<&str>) -> Self {
        self.0.verification_secret = secret.map(str::to_owned);
        self
    }

    pub fn signing_secret(mut self, secret: &str) -> Self {
        self.0.signing_secret = secret.into();
        self
    }

    pub fn previous_signing_secrets(mut self, secrets: Vec<PreviousSecret>) -> Self {
        self.0.previous_signing_secrets = secrets;
        self
    }

    pub fn provider(mut self, provider: ProviderRegistration) -> Self {
        self.0.provider = provider;
        self
    }

    pub fn retry_schedule(mut self, schedule: Option<RetrySchedule>) -> Self {
        self.0.retry_schedule = schedule;
        self
    }

    pub fn active(mut self, active: bool) -> Self {
        self.0.active = active;
        self
    }

    pub fn created_at(mut self, at: Millis) -> Self {
        self.0.created_at = at;
        self
    }

    pub fn updated_at(mut self, at: Millis) -> Self {
        self.0.updated_at = at;
        self
    }

    pub fn build(self) -> Registration {
        self.0
    }
}

/// Builds a [`WebhookEnv`]: link mode (no registration call) until
/// [`WebhookEnvBuilder::registration`] gives it one.
#[derive(Debug, Clone)]
pub struct WebhookEnvBuilder(WebhookEnv);

impl WebhookEnvBuilder {
    pub fn new(slug: &str) -> Self {
        WebhookEnvBuilder(WebhookEnv {
            slug: env(slug),
            registration_url: None,
            method: None,
            sample: None,
            provider_api: None,
        })
    }

    /// The call that creates the webhook at the provider.
    pub fn registration(mut self, url: &str, method: HttpMethod) -> Self {
        self.0.registration_url = Some(url.into());
        self.0.method = Some(method);
        self
    }

    pub fn sample(mut self, template: RequestTemplate) -> Self {
        self.0.sample = Some(template);
        self
    }

    pub fn provider_api(mut self, api: ProviderApi) -> Self {
        self.0.provider_api = Some(api);
        self
    }

    pub fn build(self) -> WebhookEnv {
        self.0
    }
}

/// Builds an [`Event`]: `received`, at [`T0`], not queued, never tried,
/// with no name, verification or provider event id.
#[derive(Debug, Clone)]
pub struct EventBuilder {
    event: Event,
    /// `None`: the receipt time.
    updated_at: Option<Millis>,
}

impl Default for EventBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts from `event`, every value kept (its `updated_at` too).
impl From<Event> for EventBuilder {
    fn from(event: Event) -> Self {
        let updated_at = Some(event.updated_at);
        EventBuilder { event, updated_at }
    }
}

impl EventBuilder {
    pub fn new() -> Self {
        EventBuilder {
            event: Event {
                id: new_id("evt"),
                registration_id: "reg_1".into(),
                product_tag: "p1".into(),
                access_tag: "main".into(),
                webhook_tag: "payments".into(),
                env: "prd".into(),
                event_type: None,
                status: EventStatus::Received,
                received_at: T0,
                updated_at: T0,
                verification: None,
                provider_event_id: None,
                attempts: 0,
                retry_base: 0,
                next_attempt_at: None,
                delivered_at: None,
                last_response_status: None,
                last_error: None,
            },
            updated_at: None,
        }
    }

    /// An event received for `reg`.
    pub fn for_registration(reg: &Registration) -> Self {
        Self::new().registration(reg)
    }

    /// Takes the registration's id, tags and env.
    pub fn registration(mut self, reg: &Registration) -> Self {
        let e = &mut self.event;
        e.registration_id = reg.id.clone();
        e.product_tag = reg.product_tag.to_string();
        e.access_tag = reg.access_tag.to_string();
        e.webhook_tag = reg.webhook_tag.to_string();
        e.env = reg.env.to_string();
        self
    }

    pub fn id(mut self, id: &str) -> Self {
        self.event.id = id.into();
        self
    }

    pub fn registration_id(mut self, id: &str) -> Self {
        self.event.registration_id = id.into();
        self
    }

    /// The product tag, access tag and webhook tag.
    pub fn tags(mut self, product: &str, access: &str, webhook: &str) -> Self {
        self.event.product_tag = product.into();
        self.event.access_tag = access.into();
        self.event.webhook_tag = webhook.into();
        self
    }

    pub fn env(mut self, slug: &str) -> Self {
        self.event.env = slug.into();
        self
    }

    pub fn event_type(mut self, name: Option<&str>) -> Self {
        self.event.event_type = name.map(str::to_owned);
        self
    }

    pub fn status(mut self, status: EventStatus) -> Self {
        self.event.status = status;
        self
    }

    /// Also its `updated_at`, unless that is set.
    pub fn received_at(mut self, at: Millis) -> Self {
        self.event.received_at = at;
        self
    }

    pub fn updated_at(mut self, at: Millis) -> Self {
        self.updated_at = Some(at);
        self
    }

    pub fn verification(mut self, verification: Option<VerificationResult>) -> Self {
        self.event.verification = verification;
        self
    }

    pub fn provider_event_id(mut self, id: Option<&str>) -> Self {
        self.event.provider_event_id = id.map(str::to_owned);
        self
    }

    pub fn attempts(mut self, attempts: u32) -> Self {
        self.event.attempts = attempts;
        self
    }

    pub fn retry_base(mut self, retry_base: u32) -> Self {
        self.event.retry_base = retry_base;
        self
    }

    /// Queued: its next attempt is due at `at`.
    pub fn due(self, at: Millis) -> Self {
        self.next_attempt_at(Some(at))
    }

    pub fn next_attempt_at(mut self, at: Option<Millis>) -> Self {
        self.event.next_attempt_at = at;
        self
    }

    pub fn delivered_at(mut self, at: Option<Millis>) -> Self {
        self.event.delivered_at = at;
        self
    }

    pub fn last_response_status(mut self, status: Option<u16>) -> Self {
        self.event.last_response_status = status;
        self
    }

    pub fn last_error(mut self, error: Option<&str>) -> Self {
        self.event.last_error = error.map(str::to_owned);
        self
    }

    pub fn build(self) -> Event {
        let mut event = self.event;
        event.updated_at = self.updated_at.unwrap_or(event.received_at);
        event
    }
}

/// Builds a [`Delivery`]: `dlv_1` of event `evt_1` (registration `reg_1`)
/// to destination `dst_1`, pending, never tried, not queued, at [`T0`].
#[derive(Debug, Clone)]
pub struct DeliveryBuilder(Delivery);

impl Default for DeliveryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl DeliveryBuilder {
    pub fn new() -> Self {
        DeliveryBuilder(Delivery {
            id: "dlv_1".into(),
            event_id: "evt_1".into(),
            registration_id: "reg_1".into(),
            destination_id: "dst_1".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            retry_base: 0,
            next_attempt_at: None,
            delivered_at: None,
            last_response_status: None,
            last_error: None,
            created_at: T0,
            updated_at: T0,
        })
    }

    pub fn id(mut self, id: &str) -> Self {
        self.0.id = id.into();
        self
    }

    pub fn event_id(mut self, id: &str) -> Self {
        self.0.event_id = id.into();
        self
    }

    pub fn registration_id(mut self, id: &str) -> Self {
        self.0.registration_id = id.into();
        self
    }

    pub fn destination_id(mut self, id: &str) -> Self {
        self.0.destination_id = id.into();
        self
    }

    pub fn status(mut self, status: DeliveryStatus) -> Self {
        self.0.status = status;
        self
    }

    pub fn attempts(mut self, attempts: u32) -> Self {
        self.0.attempts = attempts;
        self
    }

    pub fn retry_base(mut self, retry_base: u32) -> Self {
        self.0.retry_base = retry_base;
        self
    }

    pub fn next_attempt_at(mut self, at: Option<Millis>) -> Self {
        self.0.next_attempt_at = at;
        self
    }

    pub fn delivered_at(mut self, at: Option<Millis>) -> Self {
        self.0.delivered_at = at;
        self
    }

    pub fn last_response_status(mut self, status: Option<u16>) -> Self {
        self.0.last_response_status = status;
        self
    }

    pub fn last_error(mut self, error: Option<&str>) -> Self {
        self.0.last_error = error.map(str::to_owned);
        self
    }

    pub fn created_at(mut self, at: Millis) -> Self {
        self.0.created_at = at;
        self
    }

    pub fn updated_at(mut self, at: Millis) -> Self {
        self.0.updated_at = at;
        self
    }

    pub fn build(self) -> Delivery {
        self.0
    }
}
