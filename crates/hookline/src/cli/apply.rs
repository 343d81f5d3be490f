//! `hookline apply -f setup.yaml`: declarative setup. The file lists apps
//! (with webhooks, or from a preset), products (with connected apps) and
//! registrations (links or full registrations); each is read from the
//! gateway, compared, and created or updated only when it differs, so a
//! second run with the same file writes nothing. The links are printed at
//! the end.
//!
//! Comparison rules, kept simple on purpose:
//! - a field the file leaves out is not compared (and not changed); to
//!   clear one, set it explicitly;
//! - URLs compare by their parsed form, methods without case;
//! - secrets are never echoed by the API, so only their presence is
//!   compared (a connection's credentials, a receiver's auth header names,
//!   a registration's verification secret): changing a secret's value
//!   alone is not seen; use the registration and connection commands.
//!
//! `${NAME}` in the file is replaced by the environment variable `NAME`
//! (`$$` is a literal `$`), so secrets need not be written in it.

use super::manage::WebhookFile;
use super::output;
use anyhow::{bail, Context};
use clap::Args;
use hookline_client::{
    AppEnv, AppPatch, Auth, Client, ConnectionEnv, ConnectionEnvView, EnableEnv, EnableRequest,
    NewApp, NewConnection, NewProduct, PresetApp, ProcessorLinkRequest, ProductEnv,
    ProductLinkRequest, ProductPatch, Registration, RegistrationPatch,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Args)]
pub struct ApplyArgs {
    /// The setup file (YAML; `-` for standard input).
    #[arg(short, long)]
    file: PathBuf,
    /// Show what would change, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

// --- the file -----------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    #[serde(default)]
    apps: Vec<AppSpec>,
    #[serde(default)]
    products: Vec<ProductSpec>,
    #[serde(default)]
    registrations: Vec<RegistrationSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSpec {
    /// Required without `preset`; with it, defaults to the preset's name.
    #[serde(default)]
    tag: Option<String>,
    /// Create the app from this built-in preset.
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    envs: Option<Vec<AppEnv>>,
    #[serde(default)]
    webhooks: Vec<WebhookFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductSpec {
    tag: String,
    name: String,
    #[serde(default)]
    envs: Vec<ProductEnv>,
    #[serde(default)]
    connections: Vec<ConnectionSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionSpec {
    app: String,
    /// Defaults to the app's tag.
    #[serde(default)]
    access_tag: Option<String>,
    #[serde(default)]
    envs: Vec<ConnectionEnvSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectionEnvSpec {
    product_env: String,
    app_env: String,
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiverFile {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    auth: Option<Auth>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistrationSpec {
    product: String,
    access_tag: String,
    /// A link for all of this webhook's events.
    #[serde(default)]
    webhook: Option<String>,
    /// A link for one event (`product.webhook.generateLink`).
    #[serde(default)]
    event: Option<String>,
    /// One product env, or several with `envs`.
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    envs: Vec<String>,
    /// Register the link at the provider (`processor.webhook.enable`).
    #[serde(default)]
    enable: bool,
    #[serde(default)]
    receiver: Option<ReceiverFile>,
    #[serde(default)]
    verification_secret: Option<String>,
    /// Waits after each failed attempt, e.g. `[10s, 1m, 10m]`.
    #[serde(default)]
    retry_schedule: Option<Vec<String>>,
}

impl RegistrationSpec {
    fn envs(&self) -> Vec<String> {
        self.env.iter().chain(&self.envs).cloned().collect()
    }

    fn label(&self, env: &str) -> String {
        let what = match (&self.webhook, &self.event) {
            (Some(w), Some(e)) => format!("{w}:{e}"),
            (Some(w), None) => w.clone(),
            (None, Some(e)) => format!(":{e}"),
            (None, None) => String::new(),
        };
        format!("{}/{}/{what} {env}", self.product, self.access_tag)
    }

    fn check(&self, i: usize) -> anyhow::Result<()> {
        let at = || format!("registrations[{i}]");
        if self.webhook.is_none() && self.event.is_none() {
            bail!("{}: name a `webhook` or an `event`", at());
        }
        if self.envs().is_empty() {
            bail!("{}: name an `env` (or `envs`)", at());
        }
        if self.enable && (self.event.is_some() || self.webhook.is_none()) {
            bail!(
                "{}: `enable` registers a whole `webhook`, not an `event`",
                at()
            );
        }
        if self.event.is_none() && self.receiver.is_none() {
            bail!(
                "{}: a webhook link needs a `receiver` (only event links may be without one)",
                at()
            );
        }
        Ok(())
    }
}

// --- the run ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Serialize)]
struct Change {
    kind: &'static str,
    name: String,
    action: Action,
    /// What differed, for `updated`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
}

#[derive(Debug, Serialize)]
struct LinkLine {
    product: String,
    access_tag: String,
    webhook: Option<String>,
    event: Option<String>,
    env: String,
    /// `None` in a dry run, for a registration not created yet.
    link: Option<String>,
    registration: Option<String>,
}

#[derive(Serialize)]
struct Report<'a> {
    dry_run: bool,
    changes: &'a [Change],
    links: &'a [LinkLine],
}

struct Applier<'a> {
    c: &'a Client,
    dry_run: bool,
    json: bool,
    changes: Vec<Change>,
    links: Vec<LinkLine>,
    /// Registrations per (product, access tag), read once.
    registrations: HashMap<(String, String), Vec<Registration>>,
}

pub async fn run(c: &Client, a: ApplyArgs, json: bool) -> anyhow::Result<()> {
    let text = if a.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(&a.file).with_context(|| format!("reading {}", a.file.display()))?
    };
    let text = expand_env(&text, |k| std::env::var(k).ok())
        .with_context(|| format!("in {}", a.file.display()))?;
    let setup: Setup = serde_yaml_ng::from_str(&text)
        .with_context(|| format!("{} is not a valid setup file", a.file.display()))?;
    for (i, r) in setup.registrations.iter().enumerate() {
        r.check(i)?;
    }
    let mut ap = Applier {
        c,
        dry_run: a.dry_run,
        json,
        changes: Vec::new(),
        links: Vec::new(),
        registrations: HashMap::new(),
    };
    for app in &setup.apps {
        ap.app(app).await?;
    }
    for p in &setup.products {
        ap.product(p).await?;
    }
    for r in &setup.registrations {
        ap.registration(r).await?;
    }
    if json {
        return output::json(&Report {
            dry_run: a.dry_run,
            changes: &ap.changes,
            links: &ap.links,
        });
    }
    if !ap.links.is_empty() {
        println!("links:");
        let mut t = output::Table::new(&["  REGISTRATION", "ENV", "LINK"]);
        for l in &ap.links {
            let what = match (&l.webhook, &l.event) {
                (_, Some(e)) => format!("event {e}"),
                (Some(w), None) => w.clone(),
                (None, None) => String::new(),
            };
            t.row(vec![
                format!("  {}/{} {what}", l.product, l.access_tag),
                l.env.clone(),
                l.link.clone().unwrap_or_else(|| "(made on apply)".into()),
            ]);
        }
        t.print("");
    }
    Ok(())
}

/// `Ok(None)` for a 404.
async fn found<T>(
    r: impl std::future::Future<Output = Result<T, hookline_client::Error>>,
) -> anyhow::Result<Option<T>> {
    match r.await {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Applier<'_> {
    fn record(&mut self, kind: &'static str, name: String, action: Action, fields: Vec<String>) {
        if !self.json {
            let verb = match (action, self.dry_run) {
                (Action::Unchanged, _) => "no changes".to_owned(),
                (Action::Created, false) => "created".to_owned(),
                (Action::Created, true) => "would be created".to_owned(),
                (Action::Updated, false) => format!("updated ({})", fields.join(", ")),
                (Action::Updated, true) => format!("would be updated ({})", fields.join(", ")),
            };
            println!("{kind} {name}: {verb}");
        }
        self.changes.push(Change {
            kind,
            name,
            action,
            fields,
        });
    }

    async fn app(&mut self, spec: &AppSpec) -> anyhow::Result<()> {
        let Some(tag) = spec.tag.clone().or_else(|| spec.preset.clone()) else {
            bail!("an app needs a `tag` (or a `preset`)");
        };
        let existing = found(self.c.get_app(&tag)).await?;
        let exists = match existing {
            None => {
                match &spec.preset {
                    Some(preset) => {
                        if !self.dry_run {
                            let req = PresetApp {
                                preset: preset.clone(),
                                tag: spec.tag.clone(),
                                name: spec.name.clone(),
                                description: spec.description.clone(),
                                envs: spec.envs.clone(),
                            };
                            self.c.create_app_from_preset(&req).await?;
                        }
                    }
                    None => {
                        let Some(name) = spec.name.clone() else {
                            bail!("app `{tag}` needs a `name`");
                        };
                        if !self.dry_run {
                            let req = NewApp {
                                tag: tag.clone(),
                                name,
                                description: spec.description.clone(),
                                envs: spec.envs.clone().unwrap_or_default(),
                            };
                            self.c.create_app(&req).await?;
                        }
                    }
                }
                self.record("app", tag.clone(), Action::Created, vec![]);
                !self.dry_run
            }
            Some(app) => {
                let mut patch = AppPatch::default();
                let mut fields = Vec::new();
                if spec.name.as_ref().is_some_and(|n| n != &app.name) {
                    patch.name = spec.name.clone();
                    fields.push("name".to_owned());
                }
                if spec.description.is_some() && spec.description != app.description {
                    patch.description = spec.description.clone();
                    fields.push("description".to_owned());
                }
                if let Some(envs) = &spec.envs {
                    if !covers(
                        &serde_json::to_value(envs)?,
                        &serde_json::to_value(&app.envs)?,
                    ) {
                        patch.envs = Some(envs.clone());
                        fields.push("envs".to_owned());
                    }
                }
                if fields.is_empty() {
                    self.record("app", tag.clone(), Action::Unchanged, fields);
                } else {
                    if !self.dry_run {
                        self.c.update_app(&tag, &patch).await?;
                    }
                    self.record("app", tag.clone(), Action::Updated, fields);
                }
                true
            }
        };
        if spec.webhooks.is_empty() {
            return Ok(());
        }
        let have = if exists {
            self.c.list_webhooks(&tag).await?
        } else {
            Vec::new()
        };
        for w in &spec.webhooks {
            let def = w.clone().into_def();
            let name = format!("{tag}/{}", def.tag);
            match have.iter().find(|h| h.tag == def.tag) {
                None => {
                    if !self.dry_run {
                        self.c.create_webhook(&tag, &def).await?;
                    }
                    self.record("webhook", name, Action::Created, vec![]);
                }
                Some(h) => {
                    let want = serde_json::to_value(&def)?;
                    let have = serde_json::to_value(h)?;
                    let fields = differing_fields(&want, &have);
                    if fields.is_empty() {
                        self.record("webhook", name, Action::Unchanged, fields);
                    } else {
                        if !self.dry_run {
                            self.c.replace_webhook(&tag, &def.tag, &def).await?;
                        }
                        self.record("webhook", name, Action::Updated, fields);
                    }
                }
            }
        }
        Ok(())
    }

    async fn product(&mut self, spec: &ProductSpec) -> anyhow::Result<()> {
        let tag = &spec.tag;
        let exists = match found(self.c.get_product(tag)).await? {
            None => {
                if !self.dry_run {
                    let req = NewProduct {
                        tag: tag.clone(),
                        name: spec.name.clone(),
                        envs: spec.envs.clone(),
                    };
                    self.c.create_product(&req).await?;
                }
                self.record("product", tag.clone(), Action::Created, vec![]);
                !self.dry_run
            }
            Some(p) => {
                let mut patch = ProductPatch::default();
                let mut fields = Vec::new();
                if spec.name != p.name {
                    patch.name = Some(spec.name.clone());
                    fields.push("name".to_owned());
                }
                if !covers(
                    &serde_json::to_value(&spec.envs)?,
                    &serde_json::to_value(&p.envs)?,
                ) {
                    patch.envs = Some(spec.envs.clone());
                    fields.push("envs".to_owned());
                }
                if fields.is_empty() {
                    self.record("product", tag.clone(), Action::Unchanged, fields);
                } else {
                    if !self.dry_run {
                        self.c.update_product(tag, &patch).await?;
                    }
                    self.record("product", tag.clone(), Action::Updated, fields);
                }
                true
            }
        };
        for conn in &spec.connections {
            let access = conn.access_tag.clone().unwrap_or_else(|| conn.app.clone());
            let name = format!("{tag}/{access}");
            let envs: Vec<ConnectionEnv> = conn
                .envs
                .iter()
                .map(|e| ConnectionEnv {
                    product_env: e.product_env.clone(),
                    app_env: e.app_env.clone(),
                    auth: e.auth.clone().filter(|a| !a.is_empty()),
                })
                .collect();
            let existing = if exists {
                found(self.c.get_connection(tag, &access)).await?
            } else {
                None
            };
            match existing {
                None => {
                    if !self.dry_run {
                        let req = NewConnection {
                            app: conn.app.clone(),
                            access_tag: Some(access.clone()),
                            envs,
                        };
                        self.c.connect_app(tag, &req).await?;
                    }
                    self.record("connection", name, Action::Created, vec![]);
                }
                Some(have) => {
                    if have.app != conn.app {
                        bail!(
                            "connection {name} is of app `{}`, not `{}`; delete it first (hookline connections delete {tag} {access})",
                            have.app,
                            conn.app
                        );
                    }
                    let want: Vec<ConnectionEnvView> = envs
                        .iter()
                        .map(|e| ConnectionEnvView {
                            product_env: e.product_env.clone(),
                            app_env: e.app_env.clone(),
                            has_auth: e.auth.is_some(),
                        })
                        .collect();
                    if want == have.envs {
                        self.record("connection", name, Action::Unchanged, vec![]);
                    } else {
                        if !self.dry_run {
                            self.c.update_connection(tag, &access, &envs).await?;
                        }
                        self.record("connection", name, Action::Updated, vec!["envs".into()]);
                    }
                }
            }
        }
        Ok(())
    }

    async fn existing_registrations(
        &mut self,
        product: &str,
        access: &str,
    ) -> anyhow::Result<&mut Vec<Registration>> {
        let key = (product.to_owned(), access.to_owned());
        if !self.registrations.contains_key(&key) {
            let list = found(self.c.fetch_all_for_product_app(product, access))
                .await?
                .unwrap_or_default();
            self.registrations.insert(key.clone(), list);
        }
        Ok(self.registrations.get_mut(&key).expect("just inserted"))
    }

    async fn registration(&mut self, spec: &RegistrationSpec) -> anyhow::Result<()> {
        for env in spec.envs() {
            let name = spec.label(&env);
            let have = self
                .existing_registrations(&spec.product, &spec.access_tag)
                .await?
                .iter()
                .find(|r| {
                    r.env == env
                        && match &spec.event {
                            Some(ev) => {
                                r.event.as_ref() == Some(ev)
                                    && spec.webhook.as_ref().is_none_or(|w| &r.webhook == w)
                            }
                            None => r.event.is_none() && Some(&r.webhook) == spec.webhook.as_ref(),
                        }
                })
                .cloned();
            let mut fields = match &have {
                None => vec![],
                Some(r) => registration_diff(r, spec),
            };
            let mut reg = have.clone();
            if (have.is_none() || !fields.is_empty()) && !self.dry_run {
                reg = Some(self.register(spec, &env).await?);
            }
            if let Some(want) = &spec.retry_schedule {
                let current = reg.as_ref().and_then(|r| r.retry_schedule.clone());
                if !same_schedule(want, current.as_deref()) {
                    if !self.dry_run {
                        if let Some(r) = &reg {
                            let patch = RegistrationPatch {
                                retry_schedule: Some(Some(want.clone())),
                                ..RegistrationPatch::default()
                            };
                            reg = Some(self.c.update_registration(&r.id, &patch).await?);
                        }
                    }
                    if have.is_some() {
                        fields.push("retry_schedule".into());
                    }
                }
            }
            let action = match (&have, fields.is_empty()) {
                (None, _) => Action::Created,
                (Some(_), true) => Action::Unchanged,
                (Some(_), false) => Action::Updated,
            };
            self.record("registration", name, action, fields);
            self.links.push(LinkLine {
                product: spec.product.clone(),
                access_tag: spec.access_tag.clone(),
                webhook: reg
                    .as_ref()
                    .map(|r| r.webhook.clone())
                    .or_else(|| spec.webhook.clone()),
                event: spec.event.clone(),
                env: env.clone(),
                link: reg.as_ref().map(|r| r.link.clone()),
                registration: reg.as_ref().map(|r| r.id.clone()),
            });
        }
        Ok(())
    }

    /// The seed call that creates or updates this registration (it keeps its link).
    async fn register(&self, spec: &RegistrationSpec, env: &str) -> anyhow::Result<Registration> {
        let receiver = spec.receiver.clone();
        let method = receiver
            .as_ref()
            .and_then(|r| r.method.as_ref())
            .map(|m| m.to_ascii_uppercase());
        let auth = receiver
            .as_ref()
            .and_then(|r| r.auth.clone())
            .filter(|a| !a.is_empty());
        if spec.enable {
            let r = receiver.expect("checked: enable has a receiver");
            let req = EnableRequest {
                product_tag: spec.product.clone(),
                access_tag: spec.access_tag.clone(),
                webhook_tag: spec.webhook.clone().unwrap_or_default(),
                envs: vec![EnableEnv {
                    slug: env.to_owned(),
                    url: r.url,
                    method,
                    auth,
                    verification_secret: spec.verification_secret.clone(),
                }],
            };
            let mut resp = self.c.enable(&req).await?;
            if resp.registrations.is_empty() {
                bail!("enable answered no registration for {}", spec.label(env));
            }
            return Ok(resp.registrations.remove(0));
        }
        if let Some(event) = &spec.event {
            let req = ProductLinkRequest {
                app: spec.access_tag.clone(),
                event: event.clone(),
                env: env.to_owned(),
                webhook: None,
                url: receiver.map(|r| r.url),
                method,
                auth,
                verification_secret: spec.verification_secret.clone(),
            };
            return Ok(self
                .c
                .generate_event_link(&spec.product, &req)
                .await?
                .registration);
        }
        let r = receiver.expect("checked: a webhook link has a receiver");
        let req = ProcessorLinkRequest {
            product_tag: spec.product.clone(),
            access_tag: spec.access_tag.clone(),
            webhook_tag: spec.webhook.clone().unwrap_or_default(),
            product_env: env.to_owned(),
            url: r.url,
            method,
            auth,
            verification_secret: spec.verification_secret.clone(),
        };
        Ok(self.c.generate_link(&req).await?.registration)
    }
}

/// Why an existing registration needs the seed call again (empty: it does not).
fn registration_diff(r: &Registration, spec: &RegistrationSpec) -> Vec<String> {
    let mut out = Vec::new();
    if !r.active {
        out.push("active".to_owned());
    }
    if spec.enable && r.provider_registration.status == "failed" {
        out.push("provider_registration".to_owned());
    }
    if let Some(want) = &spec.receiver {
        let same = r.receiver.as_ref().is_some_and(|have| {
            let method = want.method.as_deref().unwrap_or("POST");
            let mut want_headers: Vec<String> = want
                .auth
                .as_ref()
                .map(|a| a.headers.keys().map(|k| k.to_ascii_lowercase()).collect())
                .unwrap_or_default();
            let mut have_headers: Vec<String> = have
                .auth_headers
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect();
            want_headers.sort();
            have_headers.sort();
            same_url(&want.url, &have.url)
                && have.method.eq_ignore_ascii_case(method)
                && want_headers == have_headers
        });
        if !same {
            out.push("receiver".to_owned());
        }
    }
    if spec.verification_secret.is_some() && !r.has_verification_secret {
        out.push("verification_secret".to_owned());
    }
    out
}

fn same_schedule(want: &[String], have: Option<&[String]>) -> bool {
    let parse = |list: &[String]| -> Option<Vec<std::time::Duration>> {
        list.iter()
            .map(|d| humantime::parse_duration(d.trim()).ok())
            .collect()
    };
    match (parse(want), have.map(parse)) {
        (Some(w), Some(Some(h))) => w == h,
        _ => false,
    }
}

fn same_url(a: &str, b: &str) -> bool {
    a == b
        || match (url::Url::parse(a), url::Url::parse(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

/// Whether `have` already says everything `want` says: every field `want`
/// sets (not null) is equal in `have`, recursively; arrays match item by
/// item; URLs compare parsed.
fn covers(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Null, _) => true,
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, wv)| covers(wv, h.get(k).unwrap_or(&Value::Null))),
        (Value::Object(w), Value::Null) => w.values().all(|v| covers(v, &Value::Null)),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(a, b)| covers(a, b))
        }
        (Value::Array(w), Value::Null) => w.is_empty(),
        (Value::String(w), Value::String(h)) => same_url(w, h),
        (w, h) => w == h,
    }
}

/// The top-level fields of `want` that `have` does not cover.
fn differing_fields(want: &Value, have: &Value) -> Vec<String> {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .filter(|(k, wv)| !covers(wv, h.get(*k).unwrap_or(&Value::Null)))
            .map(|(k, _)| k.clone())
            .collect(),
        _ if covers(want, have) => vec![],
        _ => vec!["value".into()],
    }
}

/// Replaces `${NAME}` with `lookup(NAME)`, except on comment lines; `$$`
/// is a literal `$`.
fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
        } else {
            expand_line(line, &lookup, &mut out).with_context(|| format!("line {}", i + 1))?;
        }
    }
    Ok(out)
}

fn expand_line(
    line: &str,
    lookup: &impl Fn(&str) -> Option<String>,
    out: &mut String,
) -> anyhow::Result<()> {
    let mut rest = line;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').context("`${` without a closing `}`")?;
            let name = &r[..end];
            let value = lookup(name)
                .with_context(|| format!("the environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn covers_compares_what_is_set() {
        assert!(covers(
            &json!({"tag": "a", "envs": [{"slug": "live", "base_url": "https://x.test"}], "d": null}),
            &json!({"tag": "a", "envs": [{"slug": "live", "base_url": "https://x.test/"}], "d": "z", "id": 1})
        ));
        assert!(!covers(
            &json!({"envs": [{"slug": "live"}]}),
            &json!({"envs": [{"slug": "live"}, {"slug": "test"}]})
        ));
        assert!(!covers(&json!({"name": "A"}), &json!({"name": "B"})));
        assert!(covers(&json!({"sample": {}}), &json!({"sample": null})));
        assert!(!covers(&json!({"sample": {"a": 1}}), &json!({})));
        assert_eq!(
            differing_fields(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3})),
            vec!["b"]
        );
    }

    #[test]
    fn schedules_compare_as_durations() {
        assert!(same_schedule(&["60s".into()], Some(&["1m".into()])));
        assert!(!same_schedule(&["60s".into()], None));
        assert!(!same_schedule(&["1s".into()], Some(&["2s".into()])));
    }

    #[test]
    fn expands_environment_variables() {
        let env = |k: &str| (k == "T").then(|| "tok".to_owned());
        assert_eq!(expand_env("a: ${T} $$5 $x", env).unwrap(), "a: tok $5 $x");
        assert!(expand_env("${NOPE}", env).is_err());
        assert_eq!(
            expand_env("  # ${NOPE} in a comment\nk: ${T}\n", env).unwrap(),
            "  # ${NOPE} in a comment\nk: tok\n"
        );
        assert!(expand_env("${T", env).is_err());
    }

    #[test]
    fn the_example_parses() {
        let text = include_str!("../../../../examples/setup.yaml");
        let text = expand_env(text, |_| Some("x".into())).unwrap();
        let setup: Setup = serde_yaml_ng::from_str(&text).unwrap();
        assert!(!setup.apps.is_empty() && !setup.registrations.is_empty());
        for (i, r) in setup.registrations.iter().enumerate() {
            r.check(i).unwrap();
        }
    }
}
