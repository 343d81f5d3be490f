//! The seed flows: full registration (`enable`), registration links (both
//! forms), `disable`, and listing a connected app's registrations. Calling
//! `enable` or a link again for the same key updates the registration and
//! keeps its link.
//!
//! # Full registration and partial failure
//! `enable` checks everything it can first (envs, receivers, templates, the
//! outbound guard for provider URLs): any problem there is a 4xx and nothing
//! is called or saved. Then it calls the provider for every env that has a
//! `registration_url` (concurrently, outside any transaction), and then
//! saves every env in one transaction. An env whose provider call failed is
//! saved too, with `provider_registration.status = "failed"` and the
//! provider's status and message, next to the envs that succeeded: those
//! exist at the provider now, and forgetting them would leave webhooks there
//! pointing at links Hookline does not know. A failed env's link works (it
//! can be pasted by hand), and calling `enable` again retries its provider
//! call; a failed *update* keeps the provider id, so the retry updates.
//! If the save itself fails, webhooks created by this call are deregistered
//! again (best effort) before the error is returned.

use super::Gateway;
use crate::error::{Error, Result};
use crate::providers::{self, CallContext};
use hookline_core::ids::{new_id, new_signing_secret, LinkId};
use hookline_core::model::{
    App, AppWebhook, Auth, Connection, Product, ProviderRegistration, ProviderStatus, Receiver,
    Registration, RegistrationKey,
};
use hookline_core::names::{EnvSlug, Tag};
use hookline_core::retry::RetrySchedule;
use hookline_core::time::Millis;
use hookline_delivery::guard::GuardError;
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
    /// Credentials for the provider's registration API in this env, on top
    /// of the connection env's auth. (The receiver's `auth` is never sent to
    /// the provider.)
    pub provider_auth: Auth,
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
    /// The provider state says whether a provider call applies; `enable`
    /// then records the call's outcome over it.
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
            // The provider has a registration API, which only `enable` calls.
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
            previous_signing_secrets: Vec::new(),
            provider: ProviderRegistration::default(),
            retry_schedule: None,
            active: true,
            created_at: now,
            updated_at: now,
        });
        reg.app_env = app_env;
        reg.active = true;
        reg.updated_at = now;
        // A webhook the provider still has keeps its id (and its status);
        // otherwise the state is reset.
        if reg.provider.provider_id.is_none() {
            let p = &mut reg.provider;
            p.status = provider_status;
            p.http_status = None;
            p.message = None;
            p.updated_at = Some(now);
        }
        reg
    }

    /// What the provider calls for `reg` are built from.
    fn call_context(
        &self,
        gateway: &Gateway,
        reg: &Registration,
        extra: &Auth,
    ) -> Option<CallContext<'_>> {
        let env = self.webhook.env(&reg.app_env)?;
        let auth = self
            .connection
            .env(&reg.env)
            .map(|c| c.auth.clone())
            .unwrap_or_default()
            .merged_with(extra);
        Some(CallContext {
            app: self.app,
            webhook: self.webhook,
            env,
            link: gateway.link_url(&reg.link_id),
            auth,
        })
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
        let saved = self.store.save_registrations(regs).await;
        self.config_changed();
        match saved {
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

    /// Full registration: a receiver for every listed env at once, and the
    /// provider's registration API called for every env that has one (see
    /// the module docs for what is saved when some of those calls fail).
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
        // One enable or disable of this webhook at a time on this node: two
        // at once would both create a webhook at the provider.
        let _lock = self
            .providers
            .lock(&product.id, connection.access_tag.as_str(), &webhook.id)
            .await;
        let now = Millis::now();
        let mut regs = Vec::with_capacity(input.envs.len());
        let mut provider_auth = Vec::with_capacity(input.envs.len());
        let mut plans = Vec::new();
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
                reg.verification_secret = env.verification_secret.clone();
            }
            if let Some(ctx) = target.call_context(self, &reg, &env.provider_auth) {
                let plan = providers::plan_enable(
                    &ctx,
                    regs.len(),
                    &reg,
                    env.verification_secret.as_deref(),
                )
                .map_err(|e| {
                    Error::invalid(
                        "invalid_registration_call",
                        format!(
                            "the registration call for env `{}` cannot be built: {e}",
                            env.slug
                        ),
                    )
                })?;
                if let Some(plan) = plan {
                    for req in std::iter::once(&plan.create).chain(plan.update.as_ref()) {
                        self.check_provider_url(&req.url).await?;
                    }
                    plans.push(plan);
                }
            }
            regs.push(reg);
            provider_auth.push(env.provider_auth);
        }

        // Outside any transaction; every env's outcome is recorded below.
        let outcomes = futures::future::join_all(plans.iter().map(|p| self.providers.run(p))).await;
        let now = Millis::now();
        let mut created = Vec::new();
        for (plan, outcome) in plans.iter().zip(outcomes) {
            let updated = outcome.updated;
            let reg = &mut regs[plan.index];
            providers::apply_enable(reg, plan, outcome, now);
            if !updated && providers::still_registered(reg) {
                created.push(plan.index);
            }
            tracing::info!(
                registration_id = reg.id,
                env = %reg.env,
                status = reg.provider.status.as_str(),
                http_status = reg.provider.http_status,
                "provider registration"
            );
        }
        if let Err(e) = self.save(&regs).await {
            for i in created {
                self.undo_create(&target, &mut regs[i], &provider_auth[i])
                    .await;
            }
            return Err(e);
        }
        Ok(regs)
    }

    /// Refuses a provider URL the outbound guard would refuse, before any
    /// call is made (the client's resolver refuses it again at connect time).
    async fn check_provider_url(&self, url: &url::Url) -> Result<()> {
        match self.guard.check_url(url).await {
            Ok(()) | Err(GuardError::Unresolvable { .. }) => Ok(()),
            Err(e @ GuardError::NotAllowed { .. }) => Err(Error::TargetNotAllowed(format!(
                "the provider's registration API cannot be called: {e}"
            ))),
            Err(e) => Err(Error::invalid("invalid_registration_url", e.to_string())),
        }
    }

    /// Removes a webhook this call created at the provider but could not
    /// save, so it does not send to a link Hookline does not know. Best
    /// effort: a failure is logged.
    async fn undo_create(&self, target: &Target<'_>, reg: &mut Registration, auth: &Auth) {
        let Some(ctx) = target.call_context(self, reg, auth) else {
            return;
        };
        let id = reg.provider.provider_id.clone().unwrap_or_default();
        let result = match providers::plan_disable(&ctx, reg, Millis::now()) {
            Some(Ok(req)) => self.providers.send(&req).await.map_err(|e| e.to_string()),
            Some(Err(e)) => Err(e),
            None => Err("the app defines no deregistration call".into()),
        };
        match result {
            Ok(r) if r.status < 300 => {
                tracing::warn!(provider_id = id, "saving failed; removed the webhook created at the provider")
            }
            Ok(r) => tracing::error!(provider_id = id, status = r.status, "saving failed and removing the webhook created at the provider failed too; remove it there"),
            Err(e) => tracing::error!(provider_id = id, error = %e, "saving failed and removing the webhook created at the provider failed too; remove it there"),
        }
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
        // `enable` rewrites the same registrations; do not race it.
        let _lock = self
            .providers
            .lock(&product.id, connection.access_tag.as_str(), &webhook.id)
            .await;
        let app_env = target.app_env(&input.env)?;
        // A webhook-wide link (no event) carries every event; an event link
        // names one, whether or not the webhook was named to pick it.
        let event = input.event;
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
    /// listed envs, or in every env, and deregisters the provider's webhooks
    /// where the app defines how. A failed deregistration is recorded on the
    /// registration (the link is retired all the same); disabling again
    /// retries it.
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
        let target = Target {
            product: &product,
            connection: &connection,
            app: &app,
            webhook: &webhook,
        };
        let _lock = self
            .providers
            .lock(&product.id, connection.access_tag.as_str(), &webhook.id)
            .await;
        let now = Millis::now();
        let mut regs: Vec<Registration> = self
            .store
            .list_registrations(&product.id, Some(connection.access_tag.as_str()))
            .await?
            .into_iter()
            .filter(|r| r.webhook_id == webhook.id)
            .filter(|r| r.active || providers::still_registered(r))
            .filter(|r| envs.as_ref().is_none_or(|e| e.contains(&r.env)))
            .collect();
        let mut calls = Vec::new();
        for (i, r) in regs.iter_mut().enumerate() {
            let call = match target.call_context(self, r, &Auth::default()) {
                Some(ctx) => providers::plan_disable(&ctx, r, now),
                None if providers::still_registered(r) => Some(Err(format!(
                    "app env `{}` is no longer defined on the webhook, so its deregistration call is unknown",
                    r.app_env
                ))),
                None => None,
            };
            if let Some(call) = call {
                calls.push((i, call));
            }
        }
        let results = futures::future::join_all(calls.iter().map(|(_, call)| async move {
            match call {
                Ok(req) => self
                    .providers
                    .send(req)
                    .await
                    .map_err(|e| format!("could not reach the provider: {e}")),
                Err(message) => Err(message.clone()),
            }
        }))
        .await;
        let now = Millis::now();
        for ((i, _), result) in calls.iter().zip(results) {
            providers::apply_disable(&mut regs[*i], result, now);
        }
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

    /// Issues a new signing secret; the current one keeps signing alongside
    /// it until `now + overlap` (default: the configured rotation overlap),
    /// so receivers can switch over without rejecting anything.
    pub async fn rotate_signing_secret(
        &self,
        id: &str,
        overlap: Option<std::time::Duration>,
    ) -> Result<Registration> {
        let reg = self.registration(id).await?;
        // Serialised with enable/disable, which rewrite the same registration.
        let _lock = self
            .providers
            .lock(&reg.product_id, reg.access_tag.as_str(), &reg.webhook_id)
            .await;
        let mut reg = self.registration(id).await?;
        let now = Millis::now();
        reg.rotate_signing_secret(
            new_signing_secret(),
            now,
            overlap.unwrap_or(self.rotation_overlap),
        );
        reg.updated_at = now;
        self.save(std::slice::from_ref(&reg)).await?;
        Ok(reg)
    }

    pub async fn update_registration(
        &self,
        id: &str,
        patch: RegistrationPatch,
    ) -> Result<Registration> {
        let reg = self.registration(id).await?;
        let _lock = self
            .providers
            .lock(&reg.product_id, reg.access_tag.as_str(), &reg.webhook_id)
            .await;
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
