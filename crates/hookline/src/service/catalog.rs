//! Apps, app webhooks, products and connected apps: create, read, update,
//! delete, with the cross-checks the store cannot express.

use super::Gateway;
use crate::error::{Error, Result};
use hookline_core::ids::new_id;
use hookline_core::model::{
    App, AppEnv, AppWebhook, Connection, ConnectionEnv, EventDef, Product, ProductEnv, WebhookEnv,
};
use hookline_core::names::{EnvSlug, Tag};
use hookline_core::time::Millis;
use hookline_core::verify::Verification;
use hookline_store::StoreError;
use std::collections::HashSet;

pub struct NewApp {
    pub tag: Tag,
    pub name: String,
    pub description: Option<String>,
    pub envs: Vec<AppEnv>,
}

#[derive(Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub envs: Option<Vec<AppEnv>>,
}

pub struct NewWebhook {
    pub tag: Tag,
    pub name: String,
    pub description: Option<String>,
    pub verification: Verification,
    pub envs: Vec<WebhookEnv>,
    pub events: Vec<EventDef>,
}

pub struct NewProduct {
    pub tag: Tag,
    pub name: String,
    pub envs: Vec<ProductEnv>,
}

#[derive(Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub envs: Option<Vec<ProductEnv>>,
}

pub struct ConnectionInput {
    pub app: Tag,
    pub access_tag: Option<Tag>,
    pub envs: Vec<ConnectionEnv>,
}

fn unique_slugs<'a>(what: &str, slugs: impl Iterator<Item = &'a EnvSlug>) -> Result<()> {
    let mut seen = HashSet::new();
    for s in slugs {
        if !seen.insert(s) {
            return Err(Error::invalid(
                "duplicate_env",
                format!("{what} lists env `{s}` twice"),
            ));
        }
    }
    Ok(())
}

fn conflict(e: StoreError, code: &'static str, message: String) -> Error {
    match e {
        StoreError::Conflict { .. } => Error::conflict(code, message),
        other => other.into(),
    }
}

impl Gateway {
    // --- apps -----------------------------------------------------------

    pub async fn create_app(&self, input: NewApp) -> Result<App> {
        unique_slugs("the app", input.envs.iter().map(|e| &e.slug))?;
        let now = Millis::now();
        let app = App {
            id: new_id("app"),
            tag: input.tag,
            name: input.name,
            description: input.description,
            envs: input.envs,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_app(&app).await.map_err(|e| {
            conflict(
                e,
                "app_exists",
                format!("an app tagged `{}` already exists", app.tag),
            )
        })?;
        Ok(app)
    }

    pub async fn app(&self, tag: &str) -> Result<App> {
        self.store
            .get_app(tag)
            .await?
            .ok_or_else(|| Error::not_found("app", tag))
    }

    pub async fn list_apps(&self) -> Result<Vec<App>> {
        Ok(self.store.list_apps().await?)
    }

    pub async fn update_app(&self, tag: &str, patch: AppPatch) -> Result<App> {
        let mut app = self.app(tag).await?;
        if let Some(name) = patch.name {
            app.name = name;
        }
        if let Some(d) = patch.description {
            app.description = d;
        }
        if let Some(envs) = patch.envs {
            unique_slugs("the app", envs.iter().map(|e| &e.slug))?;
            app.envs = envs;
        }
        app.updated_at = Millis::now();
        let saved = self.store.update_app(&app).await;
        self.config_changed();
        saved?;
        Ok(app)
    }

    pub async fn delete_app(&self, tag: &str) -> Result<()> {
        let app = self.app(tag).await?;
        let n = self.store.count_connections_for_app(&app.id).await?;
        if n > 0 {
            return Err(Error::conflict(
                "app_in_use",
                format!(
                    "app `{tag}` is connected to {n} product(s); remove those connections first"
                ),
            ));
        }
        let deleted = self.store.delete_app(&app.id).await;
        self.config_changed();
        Ok(deleted?)
    }

    // --- app webhooks ----------------------------------------------------

    fn check_webhook(app: &App, input: &NewWebhook) -> Result<()> {
        unique_slugs("the webhook", input.envs.iter().map(|e| &e.slug))?;
        for env in &input.envs {
            if app.env(&env.slug).is_none() {
                return Err(Error::invalid(
                    "unknown_env",
                    format!(
                        "app `{}` has no env `{}`; its envs are: {}",
                        app.tag,
                        env.slug,
                        env_list(app.envs.iter().map(|e| &e.slug))
                    ),
                ));
            }
            if let Some(u) = &env.registration_url {
                check_registration_url(app, &env.slug, u)?;
            }
        }
        let mut tags = HashSet::new();
        for ev in &input.events {
            if !tags.insert(&ev.tag) {
                return Err(Error::invalid(
                    "duplicate_event",
                    format!("event `{}` is listed twice", ev.tag),
                ));
            }
        }
        input
            .verification
            .validate()
            .map_err(|m| Error::invalid("invalid_verification", m))
    }

    pub async fn create_webhook(&self, app_tag: &str, input: NewWebhook) -> Result<AppWebhook> {
        let app = self.app(app_tag).await?;
        Self::check_webhook(&app, &input)?;
        let now = Millis::now();
        let webhook = AppWebhook {
            id: new_id("whk"),
            app_id: app.id,
            tag: input.tag,
            name: input.name,
            description: input.description,
            verification: input.verification,
            envs: input.envs,
            events: input.events,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_webhook(&webhook).await.map_err(|e| {
            conflict(
                e,
                "webhook_exists",
                format!("app `{app_tag}` already has a webhook `{}`", webhook.tag),
            )
        })?;
        Ok(webhook)
    }

    pub async fn webhook(&self, app_tag: &str, tag: &str) -> Result<(App, AppWebhook)> {
        let app = self.app(app_tag).await?;
        let w = self
            .store
            .get_webhook(&app.id, tag)
            .await?
            .ok_or_else(|| Error::not_found("webhook", format!("{app_tag}/{tag}")))?;
        Ok((app, w))
    }

    pub async fn list_webhooks(&self, app_tag: &str) -> Result<Vec<AppWebhook>> {
        let app = self.app(app_tag).await?;
        Ok(self.store.list_webhooks(&app.id).await?)
    }

    /// Replaces a webhook's definition; its id and tag stay.
    pub async fn replace_webhook(
        &self,
        app_tag: &str,
        tag: &str,
        input: NewWebhook,
    ) -> Result<AppWebhook> {
        let (app, mut w) = self.webhook(app_tag, tag).await?;
        if input.tag != w.tag {
            return Err(Error::invalid(
                "tag_immutable",
                "a webhook's tag cannot change",
            ));
        }
        Self::check_webhook(&app, &input)?;
        w.name = input.name;
        w.description = input.description;
        w.verification = input.verification;
        w.envs = input.envs;
        w.events = input.events;
        w.updated_at = Millis::now();
        let saved = self.store.update_webhook(&w).await;
        self.config_changed();
        saved?;
        Ok(w)
    }

    pub async fn delete_webhook(&self, app_tag: &str, tag: &str) -> Result<()> {
        let (_, w) = self.webhook(app_tag, tag).await?;
        let deleted = self.store.delete_webhook(&w.id).await;
        self.config_changed();
        Ok(deleted?)
    }

    // --- products --------------------------------------------------------

    pub async fn create_product(&self, input: NewProduct) -> Result<Product> {
        unique_slugs("the product", input.envs.iter().map(|e| &e.slug))?;
        let now = Millis::now();
        let p = Product {
            id: new_id("prd"),
            tag: input.tag,
            name: input.name,
            envs: input.envs,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_product(&p).await.map_err(|e| {
            conflict(
                e,
                "product_exists",
                format!("a product tagged `{}` already exists", p.tag),
            )
        })?;
        Ok(p)
    }

    pub async fn product(&self, tag: &str) -> Result<Product> {
        self.store
            .get_product(tag)
            .await?
            .ok_or_else(|| Error::not_found("product", tag))
    }

    pub async fn list_products(&self) -> Result<Vec<Product>> {
        Ok(self.store.list_products().await?)
    }

    pub async fn update_product(&self, tag: &str, patch: ProductPatch) -> Result<Product> {
        let mut p = self.product(tag).await?;
        if let Some(n) = patch.name {
            p.name = n;
        }
        if let Some(envs) = patch.envs {
            unique_slugs("the product", envs.iter().map(|e| &e.slug))?;
            p.envs = envs;
        }
        p.updated_at = Millis::now();
        let saved = self.store.update_product(&p).await;
        self.config_changed();
        saved?;
        Ok(p)
    }

    pub async fn delete_product(&self, tag: &str) -> Result<()> {
        let p = self.product(tag).await?;
        if !self.store.list_connections(&p.id).await?.is_empty() {
            return Err(Error::conflict(
                "product_in_use",
                format!("product `{tag}` has connected apps; remove them first"),
            ));
        }
        let deleted = self.store.delete_product(&p.id).await;
        self.config_changed();
        Ok(deleted?)
    }

    // --- connected apps --------------------------------------------------

    fn check_connection_envs(product: &Product, app: &App, envs: &[ConnectionEnv]) -> Result<()> {
        unique_slugs("the connection", envs.iter().map(|e| &e.product_env))?;
        for e in envs {
            if product.env(&e.product_env).is_none() {
                return Err(Error::invalid(
                    "unknown_env",
                    format!(
                        "product `{}` has no env `{}`; its envs are: {}",
                        product.tag,
                        e.product_env,
                        env_list(product.envs.iter().map(|e| &e.slug))
                    ),
                ));
            }
            if app.env(&e.app_env).is_none() {
                return Err(Error::invalid(
                    "unknown_env",
                    format!(
                        "app `{}` has no env `{}`; its envs are: {}",
                        app.tag,
                        e.app_env,
                        env_list(app.envs.iter().map(|e| &e.slug))
                    ),
                ));
            }
        }
        Ok(())
    }

    pub async fn connect_app(
        &self,
        product_tag: &str,
        input: ConnectionInput,
    ) -> Result<Connection> {
        let product = self.product(product_tag).await?;
        let app = self.app(input.app.as_str()).await?;
        Self::check_connection_envs(&product, &app, &input.envs)?;
        let access_tag = input.access_tag.unwrap_or_else(|| app.tag.clone());
        let now = Millis::now();
        let c = Connection {
            id: new_id("con"),
            product_id: product.id,
            app_id: app.id,
            access_tag,
            envs: input.envs,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_connection(&c).await.map_err(|e| {
            conflict(
                e,
                "access_tag_taken",
                format!("product `{product_tag}` already uses access tag `{}`; pass another `access_tag`", c.access_tag),
            )
        })?;
        Ok(c)
    }

    pub async fn connection(
        &self,
        product_tag: &str,
        access_tag: &str,
    ) -> Result<(Product, Connection, App)> {
        let product = self.product(product_tag).await?;
        let c = self
            .store
            .get_connection(&product.id, access_tag)
            .await?
            .ok_or_else(|| Error::not_found("connection", format!("{product_tag}/{access_tag}")))?;
        let app =
            self.store.get_app_by_id(&c.app_id).await?.ok_or_else(|| {
                Error::Internal(format!("connection {} names a missing app", c.id))
            })?;
        Ok((product, c, app))
    }

    pub async fn list_connections(&self, product_tag: &str) -> Result<Vec<(Connection, App)>> {
        let product = self.product(product_tag).await?;
        let mut out = Vec::new();
        for c in self.store.list_connections(&product.id).await? {
            if let Some(app) = self.store.get_app_by_id(&c.app_id).await? {
                out.push((c, app));
            }
        }
        Ok(out)
    }

    pub async fn update_connection_envs(
        &self,
        product_tag: &str,
        access_tag: &str,
        envs: Vec<ConnectionEnv>,
    ) -> Result<(Connection, App)> {
        let (product, mut c, app) = self.connection(product_tag, access_tag).await?;
        Self::check_connection_envs(&product, &app, &envs)?;
        c.envs = envs;
        c.updated_at = Millis::now();
        let saved = self.store.update_connection(&c).await;
        self.config_changed();
        saved?;
        Ok((c, app))
    }

    pub async fn delete_connection(&self, product_tag: &str, access_tag: &str) -> Result<()> {
        let (product, c, _) = self.connection(product_tag, access_tag).await?;
        let live = self
            .store
            .list_registrations(&product.id, Some(access_tag))
            .await?
            .into_iter()
            .filter(|r| r.active)
            .count();
        if live > 0 {
            return Err(Error::conflict(
                "connection_in_use",
                format!("{live} active registration(s) use access tag `{access_tag}`; disable them first"),
            ));
        }
        let deleted = self.store.delete_connection(&c.id).await;
        self.config_changed();
        Ok(deleted?)
    }
}

fn env_list<'a>(slugs: impl Iterator<Item = &'a EnvSlug>) -> String {
    let v: Vec<&str> = slugs.map(|s| s.as_str()).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

/// A registration URL is absolute, or relative to the app env's `base_url`.
fn check_registration_url(app: &App, env: &EnvSlug, u: &str) -> Result<()> {
    if url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https")) {
        return Ok(());
    }
    let base = app.env(env).and_then(|e| e.base_url.as_ref());
    match base {
        Some(b) if b.join(u).is_ok() => Ok(()),
        Some(_) => Err(Error::invalid(
            "invalid_registration_url",
            format!("registration_url `{u}` is not a valid path"),
        )),
        None => Err(Error::invalid(
            "invalid_registration_url",
            format!("registration_url `{u}` is relative but app env `{env}` has no base_url"),
        )),
    }
}
