//! The seed flows: full registration (`enable`), registration links (both
//! forms), `disable`, and listing a connected app's registrations. Calling
//! `enable` or a link again for the same key updates the registration and
//! keeps its link.

use super::Gateway;
use crate::error::{Error, Result};
use hookline_core::ids::{new_id, new_signing_secret, LinkId};
use hookline_core::model::{
    App, AppWebhook, Connection, Product, ProviderRegistration, ProviderStatus, Receiver,
    Registration, RegistrationKey,
};
use hookline_core::names::{EnvSlug, Tag};
use hookline_core::retry::RetrySchedule;
use hookline_core::time::Millis;
use hookline_store::StoreError;
use std::collections::HashSet;

pub struct EnableInput {
    pub product_tag: Tag,
    pub access_tag: Tag,
    pub webhook_tag: Tag,
    pub envs: Vec<EnableEnv>,
}

pub struct EnableEnv {
    pub slug: EnvSlug,
    pub receiver: Receiver,
    pub verification_secret: Option<String>,
}

/// One registration link: `webhook` or `event` (or both) name what it carries.
pub struct LinkInput {
    pub product_tag: Tag,
    pub access_tag: Tag,
    pub webhook_tag: Option<Tag>,
    pub event: Option<Tag>,
    pub env: EnvSlug,
    /// `None` keeps the current receiver (or none: events are then held).
    pub receiver: Option<Receiver>,
    pub verification_secret: Option<String>,
}

#[derive(Default)]
pub struct RegistrationPatch {
    pub receiver: Option<Receiver>,
    pub verification_secret: Option<Option<String>>,
    pub retry_schedule: Option<Option<RetrySchedule>>,
    pub active: Option<bool>,
}

/// Everything one registration env resolves to.
struct Target<'a> {
    product: &'a Product,
    connection: &'a Connection,
    app: &'a App,
    webhook: &'a AppWebhook,
}

impl Target<'_> {
    fn app_env(&self, env: &EnvSlug) -> Result<EnvSlug> {
        if self.product.env(env).is_none() {
            return Err(Error::invalid(
                "unknown_env",
                format!("product `{}` has no env `{env}`", self.product.tag),
            ));
        }
        let c = self.connection.env(env).ok_or_else(|| {
            Error::invalid(
                "env_not_connected",
                format!(
                    "access tag `{}` maps no app env to product env `{env}`; add it to the connection's envs",
                    self.connection.access_tag
                ),
            )
        })?;
        Ok(c.app_env.clone())
    }

    /// A fresh registration, or the stored one for the same key updated.
    fn registration(
        &self,
        existing: Option<Registration>,
        event: Option<Tag>,
        env: &EnvSlug,
        app_env: EnvSlug,
        now: Millis,
    ) -> Registration {
        let provider_status = match self
            .webhook
            .env(&app_env)
            .and_then(|e| e.registration_url.as_ref())
        {
            // The provider has a registration API; calling it arrives with
            // the providers work, so the call is reported as not made.
            Some(_) => ProviderStatus::Skipped,
            None => ProviderStatus::NotApplicable,
        };
        let mut reg = existing.unwrap_or_else(|| Registration {
            id: new_id("reg"),
            product_id: self.product.id.clone(),
            product_tag: self.product.tag.clone(),
            access_tag: self.connection.access_tag.clone(),
            app_tag: self.app.tag.clone(),
            webhook_id: self.webhook.id.clone(),
            webhook_tag: self.webhook.tag.clone(),
            event,
            env: env.clone(),
            app_env: app_env.clone(),
            link_id: LinkId::generate(),
            receiver: None,
            verification_secret: None,
            signing_secret: new_signing_secret(),
            provider: ProviderRegistration::default(),
            retry_schedule: None,
            active: true,
            created_at: now,
            updated_at: now,
        });
        reg.app_env = app_env;
        reg.active = true;
        reg.updated_at = now;
        if reg.provider.status != ProviderStatus::Registered {
            reg.provider = ProviderRegistration {
                status: provider_status,
                updated_at: Some(now),
                ..ProviderRegistration::default()
            };
        }
        reg
    }
}

impl Gateway {
    async fn resolve(
        &self,
        product_tag: &str,
        access_tag: &str,
    ) -> Result<(Product, Connection, App)> {
        self.connection(product_tag, access_tag).await
    }

    async fn find_webhook(&self, app: &App, tag: &str) -> Result<AppWebhook> {
        self.store
            .get_webhook(&app.id, tag)
            .await?
            .ok_or_else(|| Error::not_found("webhook", format!("{}/{tag}", app.tag)))
    }

    /// Saves registrations; a concurrent first call for the same key loses
    /// the insert race with `Conflict`, and is answered as a conflict rather
    /// than creating a second link.
    async fn save(&self, regs: &[Registration]) -> Result<()> {
        match self.store.save_registrations(regs).await {
            Ok(()) => {
                if regs.iter().any(|r| r.receiver.is_some()) {
                    self.wake_workers();
                }
                Ok(())
            }
            Err(StoreError::Conflict { key, .. }) => Err(Error::conflict(
                "registration_conflict",
                format!("a registration for {key} was created at the same time; retry the call"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Full registration: a receiver for every listed env at once, all saved
    /// in one transaction or none.
    pub async fn enable(&self, input: EnableInput) -> Result<Vec<Registration>> {
        if input.envs.is_empty() {
            return Err(Error::invalid(
                "no_envs",
                "`envs` must list at least one env",
            ));
        }
        let mut seen = HashSet::new();
        for e in &input.envs {
            if !seen.insert(&e.slug) {
                return Err(Error::invalid(
                    "duplicate_env",
                    format!("env `{}` is listed twice", e.slug),
                ));
            }
        }
        let (product, connection, app) = self
            .resolve(input.product_tag.as_str(), input.access_tag.as_str())
            .await?;
        let webhook = self.find_webhook(&app, input.webhook_tag.as_str()).await?;
        let target = Target {
            product: &product,
            connection: &connection,
            app: &app,
            webhook: &webhook,
        };
        let now = Millis::now();
        let mut regs = Vec::with_capacity(input.envs.len());
        for env in input.envs {
            let app_env = target.app_env(&env.slug)?;
            self.check_receiver(&env.receiver).await?;
            let key = RegistrationKey {
                product_id: product.id.clone(),
                access_tag: connection.access_tag.clone(),
                webhook_id: webhook.id.clone(),
                event: None,
                env: env.slug.clone(),
            };
            let existing = self.store.get_registration_by_key(&key).await?;
            let mut reg = target.registration(existing, None, &env.slug, app_env, now);
            reg.receiver = Some(env.receiver);
            if env.verification_secret.is_some() {
                reg.verification_secret = env.verification_secret;
            }
            regs.push(reg);
        }
        self.save(&regs).await?;
        Ok(regs)
    }

    /// One env's link, for a webhook or for one of its events.
    pub async fn generate_link(&self, input: LinkInput) -> Result<Registration> {
        let (product, connection, app) = self
            .resolve(input.product_tag.as_str(), input.access_tag.as_str())
            .await?;
        let webhook = match (&input.webhook_tag, &input.event) {
            (Some(w), _) => {
                let w = self.find_webhook(&app, w.as_str()).await?;
                if let Some(ev) = &input.event {
                    if !w.events.is_empty() && w.event(ev).is_none() {
                        return Err(Error::invalid(
                            "unknown_event",
                            format!("webhook `{}` defines no event `{ev}`", w.tag),
                        ));
                    }
                }
                w
            }
            (None, Some(ev)) => self.webhook_for_event(&app, ev).await?,
            (None, None) => {
                return Err(Error::invalid(
                    "missing_field",
                    "name the `webhook_tag` or the `event` the link is for",
                ))
            }
        };
        if let Some(r) = &input.receiver {
            self.check_receiver(r).await?;
        }
        let target = Target {
            product: &product,
            connection: &connection,
            app: &app,
            webhook: &webhook,
        };
        let app_env = target.app_env(&input.env)?;
        // A webhook-wide link carries every event; an event link only names one.
        let event = if input.webhook_tag.is_some() {
            None
        } else {
            input.event
        };
        let key = RegistrationKey {
            product_id: product.id.clone(),
            access_tag: connection.access_tag.clone(),
            webhook_id: webhook.id.clone(),
            event: event.clone(),
            env: input.env.clone(),
        };
        let existing = self.store.get_registration_by_key(&key).await?;
        let mut reg = target.registration(existing, event, &input.env, app_env, Millis::now());
        if let Some(r) = input.receiver {
            reg.receiver = Some(r);
        }
        if input.verification_secret.is_some() {
            reg.verification_secret = input.verification_secret;
        }
        self.save(std::slice::from_ref(&reg)).await?;
        Ok(reg)
    }

    /// The app webhook that defines `event`; ambiguous when several do.
    async fn webhook_for_event(&self, app: &App, event: &Tag) -> Result<AppWebhook> {
        let mut hits: Vec<AppWebhook> = self
            .store
            .list_webhooks(&app.id)
            .await?
            .into_iter()
            .filter(|w| w.event(event).is_some())
            .collect();
        match hits.len() {
            1 => Ok(hits.remove(0)),
            0 => Err(Error::invalid(
                "unknown_event",
                format!("no webhook of app `{}` defines event `{event}`; add it to the webhook's `events`", app.tag),
            )),
            _ => Err(Error::invalid(
                "ambiguous_event",
                format!("several webhooks of app `{}` define event `{event}`; name one with `webhook`", app.tag),
            )),
        }
    }

    /// Retires the links of a webhook (all its event links too) in the
    /// listed envs, or in every env.
    pub async fn disable(
        &self,
        product_tag: &Tag,
        access_tag: &Tag,
        webhook_tag: &Tag,
        envs: Option<Vec<EnvSlug>>,
    ) -> Result<Vec<Registration>> {
        let (product, connection, app) = self
            .resolve(product_tag.as_str(), access_tag.as_str())
            .await?;
        let webhook = self.find_webhook(&app, webhook_tag.as_str()).await?;
        if let Some(envs) = &envs {
            for e in envs {
                if product.env(e).is_none() {
                    return Err(Error::invalid(
                        "unknown_env",
                        format!("product `{product_tag}` has no env `{e}`"),
                    ));
                }
            }
        }
        let now = Millis::now();
        let mut regs: Vec<Registration> = self
            .store
            .list_registrations(&product.id, Some(connection.access_tag.as_str()))
            .await?
            .into_iter()
            .filter(|r| r.webhook_id == webhook.id && r.active)
            .filter(|r| envs.as_ref().is_none_or(|e| e.contains(&r.env)))
            .collect();
        for r in &mut regs {
            r.active = false;
            r.updated_at = now;
        }
        self.save(&regs).await?;
        Ok(regs)
    }

    /// Every registration under a product's access tag (the seeds'
    /// `fetchAllForProductApp`).
    pub async fn registrations_for(
        &self,
        product_tag: &str,
        access_tag: &str,
    ) -> Result<Vec<Registration>> {
        let (product, connection, _) = self.resolve(product_tag, access_tag).await?;
        Ok(self
            .store
            .list_registrations(&product.id, Some(connection.access_tag.as_str()))
            .await?)
    }

    pub async fn registration(&self, id: &str) -> Result<Registration> {
        self.store
            .get_registration(id)
            .await?
            .ok_or_else(|| Error::not_found("registration", id))
    }

    pub async fn update_registration(
        &self,
        id: &str,
        patch: RegistrationPatch,
    ) -> Result<Registration> {
        let mut reg = self.registration(id).await?;
        if let Some(r) = patch.receiver {
            self.check_receiver(&r).await?;
            reg.receiver = Some(r);
        }
        if let Some(s) = patch.verification_secret {
            reg.verification_secret = s;
        }
        if let Some(s) = patch.retry_schedule {
            reg.retry_schedule = s;
        }
        if let Some(a) = patch.active {
            reg.active = a;
        }
        reg.updated_at = Millis::now();
        self.save(std::slice::from_ref(&reg)).await?;
        Ok(reg)
    }
}
