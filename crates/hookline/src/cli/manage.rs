//! Management commands: one subcommand per API call, text output for
//! people and the API's JSON with `--json`.

use super::output::{self, Table};
use clap::{Args, Subcommand};
use hookline_client::{
    App, AppEnv, Auth, Client, ConnectionEnv, DisableRequest, EnableEnv, EnableRequest,
    LinkResponse, NewApp, NewConnection, NewProduct, PresetApp, ProcessorLinkRequest, ProductEnv,
    ProductLinkRequest, ReceiverSpec, Registration, RegistrationPatch, WebhookDef,
};
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AppsCmd {
    /// List apps.
    List,
    /// Show an app and its webhooks.
    Get { tag: String },
    /// Create an app, or one from a preset with --preset.
    Create(CreateApp),
    /// Delete an app and its webhooks.
    Delete { tag: String },
    /// List an app's webhooks.
    Webhooks { app: String },
    /// Define a webhook from a JSON or YAML file in the API's shape (`-` for stdin).
    AddWebhook {
        app: String,
        #[arg(short, long)]
        file: PathBuf,
        /// Replace the webhook of the same tag instead of creating one.
        #[arg(long)]
        replace: bool,
    },
    /// Delete a webhook; its links answer 410 from then on.
    DeleteWebhook { app: String, tag: String },
}

#[derive(Args)]
pub struct CreateApp {
    /// App tag (default with --preset: the preset's).
    #[arg(long, required_unless_present = "preset")]
    tag: Option<String>,
    #[arg(long, required_unless_present = "preset")]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// An env, `SLUG` or `SLUG=BASE_URL` (repeatable).
    #[arg(long = "env")]
    envs: Vec<String>,
    /// Create the app from a built-in preset (see `hookline presets list`).
    #[arg(long)]
    preset: Option<String>,
}

fn app_envs(list: &[String]) -> Vec<AppEnv> {
    list.iter()
        .map(|e| match e.split_once('=') {
            Some((slug, url)) => AppEnv {
                slug: slug.into(),
                base_url: Some(url.into()),
            },
            None => AppEnv {
                slug: e.clone(),
                base_url: None,
            },
        })
        .collect()
}

fn print_app(a: &App) {
    println!("app {} ({})  {}", a.tag, a.id, a.name);
    if let Some(d) = &a.description {
        println!("  {d}");
    }
    for e in &a.envs {
        match &e.base_url {
            Some(u) => println!("  env {}  {u}", e.slug),
            None => println!("  env {}", e.slug),
        }
    }
}

pub async fn apps(c: &Client, cmd: AppsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        AppsCmd::List => {
            let list = c.list_apps().await?;
            if json {
                return output::json(&list);
            }
            let mut t = Table::new(&["TAG", "NAME", "ENVS", "ID"]);
            for a in list {
                let envs: Vec<_> = a.envs.iter().map(|e| e.slug.as_str()).collect();
                t.row(vec![a.tag, a.name, envs.join(","), a.id]);
            }
            t.print("no apps");
        }
        AppsCmd::Get { tag } => {
            let app = c.get_app(&tag).await?;
            let hooks = c.list_webhooks(&tag).await?;
            if json {
                let mut v = serde_json::to_value(&app)?;
                v["webhooks"] = serde_json::to_value(&hooks)?;
                return output::json(&v);
            }
            print_app(&app);
            for w in hooks {
                print_webhook(&w);
            }
        }
        AppsCmd::Create(a) => {
            let envs = app_envs(&a.envs);
            let app = match a.preset {
                Some(preset) => {
                    let req = PresetApp {
                        preset,
                        tag: a.tag,
                        name: a.name,
                        description: a.description,
                        envs: (!envs.is_empty()).then_some(envs),
                    };
                    c.create_app_from_preset(&req).await?
                }
                None => {
                    let req = NewApp {
                        tag: a.tag.unwrap_or_default(),
                        name: a.name.unwrap_or_default(),
                        description: a.description,
                        envs,
                    };
                    c.create_app(&req).await?
                }
            };
            if json {
                return output::json(&app);
            }
            println!("created app {}", app.tag);
        }
        AppsCmd::Delete { tag } => {
            c.delete_app(&tag).await?;
            if !json {
                println!("deleted app {tag}");
            }
        }
        AppsCmd::Webhooks { app } => {
            let list = c.list_webhooks(&app).await?;
            if json {
                return output::json(&list);
            }
            let mut t = Table::new(&["TAG", "NAME", "VERIFICATION", "ENVS", "EVENTS"]);
            for w in list {
                let envs: Vec<_> = w.envs.iter().map(|e| e.slug.as_str()).collect();
                let events: Vec<_> = w.events.iter().map(|e| e.tag.as_str()).collect();
                t.row(vec![
                    w.tag,
                    w.name,
                    scheme(&w.verification),
                    envs.join(","),
                    events.join(","),
                ]);
            }
            t.print("no webhooks");
        }
        AppsCmd::AddWebhook { app, file, replace } => {
            let def: WebhookFile = output::read_document(&file)?;
            let def = def.into_def();
            let w = if replace {
                c.replace_webhook(&app, &def.tag, &def).await?
            } else {
                c.create_webhook(&app, &def).await?
            };
            if json {
                return output::json(&w);
            }
            let verb = if replace { "replaced" } else { "created" };
            println!("{verb} webhook {}/{}", app, w.tag);
        }
        AppsCmd::DeleteWebhook { app, tag } => {
            c.delete_webhook(&app, &tag).await?;
            if !json {
                println!("deleted webhook {app}/{tag}");
            }
        }
    }
    Ok(())
}

/// A webhook definition as written in a file (the API's request shape).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    pub tag: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub verification: Option<Value>,
    #[serde(default)]
    pub envs: Vec<hookline_client::WebhookEnv>,
    #[serde(default)]
    pub events: Vec<hookline_client::EventDef>,
}

impl WebhookFile {
    pub fn into_def(self) -> WebhookDef {
        WebhookDef {
            tag: self.tag,
            name: self.name,
            description: self.description,
            verification: self.verification,
            envs: self
                .envs
                .into_iter()
                .map(|mut e| {
                    e.method = e.method.map(|m| m.to_ascii_uppercase());
                    e
                })
                .collect(),
            events: self.events,
        }
    }
}

fn scheme(v: &Value) -> String {
    v.get("scheme")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_owned()
}

fn print_webhook(w: &hookline_client::Webhook) {
    println!(
        "  webhook {}  {}  (verification: {})",
        w.tag,
        w.name,
        scheme(&w.verification)
    );
    for e in &w.envs {
        match &e.registration_url {
            Some(u) => println!(
                "    env {}  registers with {} {u}",
                e.slug,
                e.method.as_deref().unwrap_or("POST")
            ),
            None => println!("    env {}  (link mode)", e.slug),
        }
    }
    for e in &w.events {
        println!("    event {}  {}  {}", e.tag, e.name, e.selector);
    }
}

#[derive(Subcommand)]
pub enum PresetsCmd {
    /// List the built-in provider definitions.
    List,
    /// Show one preset: its webhooks, verification, events and setup notes.
    Get { name: String },
}

pub async fn presets(c: &Client, cmd: PresetsCmd, json: bool) -> anyhow::Result<()> {
    if let PresetsCmd::Get { name } = cmd {
        let p = c.get_preset(&name).await?;
        if json {
            return output::json(&p);
        }
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        println!("preset {}  {}", s(&p, "preset"), s(&p, "name"));
        for k in ["description", "docs_url", "base_url"] {
            if !s(&p, k).is_empty() {
                println!("  {k}: {}", s(&p, k));
            }
        }
        for w in p
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            println!(
                "  webhook {}  {}  ({}, verification: {})",
                s(w, "tag"),
                s(w, "name"),
                s(w, "mode"),
                w.get("verification")
                    .map(scheme)
                    .unwrap_or_else(|| "none".into())
            );
            if !s(w, "setup").is_empty() {
                println!("    setup: {}", s(w, "setup"));
            }
            for e in w
                .get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!("    event {}  {}", s(e, "tag"), s(e, "name"));
            }
        }
        return Ok(());
    }
    let list = c.list_presets().await?;
    if json {
        return output::json(&list);
    }
    let text = |v: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_owned()
    };
    let mut t = Table::new(&["PRESET", "NAME", "WEBHOOKS"]);
    for p in &list {
        let hooks = p
            .get("webhooks")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|w| w.get("tag").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        t.row(vec![
            text(p, &["preset", "id", "tag", "name"]),
            text(p, &["name", "title"]),
            hooks,
        ]);
    }
    t.print("no presets");
    Ok(())
}

#[derive(Subcommand)]
pub enum ProductsCmd {
    /// List products.
    List,
    /// Show a product, its envs and connected apps.
    Get { tag: String },
    /// Create a product.
    Create {
        #[arg(long)]
        tag: String,
        #[arg(long)]
        name: String,
        /// An env, `SLUG` or `SLUG=NAME` (repeatable).
        #[arg(long = "env")]
        envs: Vec<String>,
    },
    /// Delete a product (refused while apps are connected to it).
    Delete { tag: String },
}

pub async fn products(c: &Client, cmd: ProductsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ProductsCmd::List => {
            let list = c.list_products().await?;
            if json {
                return output::json(&list);
            }
            let mut t = Table::new(&["TAG", "NAME", "ENVS", "ID"]);
            for p in list {
                let envs: Vec<_> = p.envs.iter().map(|e| e.slug.as_str()).collect();
                t.row(vec![p.tag, p.name, envs.join(","), p.id]);
            }
            t.print("no products");
        }
        ProductsCmd::Get { tag } => {
            let p = c.get_product(&tag).await?;
            let conns = c.list_connections(&tag).await?;
            if json {
                let mut v = serde_json::to_value(&p)?;
                v["connections"] = serde_json::to_value(&conns)?;
                return output::json(&v);
            }
            println!("product {} ({})  {}", p.tag, p.id, p.name);
            for e in &p.envs {
                println!("  env {}  {}", e.slug, e.name.as_deref().unwrap_or(""));
            }
            for conn in &conns {
                print_connection(conn);
            }
        }
        ProductsCmd::Create { tag, name, envs } => {
            let envs = envs
                .iter()
                .map(|e| match e.split_once('=') {
                    Some((slug, name)) => ProductEnv {
                        slug: slug.into(),
                        name: Some(name.into()),
                    },
                    None => ProductEnv {
                        slug: e.clone(),
                        name: None,
                    },
                })
                .collect();
            let p = c.create_product(&NewProduct { tag, name, envs }).await?;
            if json {
                return output::json(&p);
            }
            println!("created product {}", p.tag);
        }
        ProductsCmd::Delete { tag } => {
            c.delete_product(&tag).await?;
            if !json {
                println!("deleted product {tag}");
            }
        }
    }
    Ok(())
}

fn print_connection(conn: &hookline_client::Connection) {
    let envs: Vec<String> = conn
        .envs
        .iter()
        .map(|e| {
            let auth = if e.has_auth { " (auth)" } else { "" };
            format!("{}→{}{auth}", e.product_env, e.app_env)
        })
        .collect();
    println!(
        "  connection {}  app {}  envs {}",
        conn.access_tag,
        conn.app,
        envs.join(", ")
    );
}

#[derive(Subcommand)]
pub enum ConnectionsCmd {
    /// List a product's connected apps.
    List { product: String },
    /// Show one connected app.
    Get { product: String, access_tag: String },
    /// Connect an app to a product.
    Create {
        product: String,
        /// App tag.
        #[arg(long)]
        app: String,
        /// Access tag (default: the app's tag).
        #[arg(long)]
        access_tag: Option<String>,
        /// `PRODUCT_ENV=APP_ENV` (repeatable).
        #[arg(long = "env", required = true)]
        envs: Vec<String>,
        /// Provider API credential header for every env, `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
    },
    /// Disconnect an app (refused while it has active registrations).
    Delete { product: String, access_tag: String },
}

pub async fn connections(c: &Client, cmd: ConnectionsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ConnectionsCmd::List { product } => {
            let list = c.list_connections(&product).await?;
            if json {
                return output::json(&list);
            }
            let mut t = Table::new(&["ACCESS TAG", "APP", "ENVS (PRODUCT→APP)"]);
            for conn in list {
                let envs: Vec<String> = conn
                    .envs
                    .iter()
                    .map(|e| format!("{}→{}", e.product_env, e.app_env))
                    .collect();
                t.row(vec![conn.access_tag, conn.app, envs.join(", ")]);
            }
            t.print("no connected apps");
        }
        ConnectionsCmd::Get {
            product,
            access_tag,
        } => {
            let conn = c.get_connection(&product, &access_tag).await?;
            if json {
                return output::json(&conn);
            }
            println!("product {product}");
            print_connection(&conn);
        }
        ConnectionsCmd::Create {
            product,
            app,
            access_tag,
            envs,
            headers,
        } => {
            let headers = output::headers(&headers)?;
            let envs = envs
                .iter()
                .map(|e| {
                    let (product_env, app_env) = output::key_value(e)?;
                    Ok(ConnectionEnv {
                        product_env,
                        app_env,
                        auth: (!headers.is_empty()).then(|| Auth {
                            headers: headers.clone(),
                            ..Auth::default()
                        }),
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            let conn = c
                .connect_app(
                    &product,
                    &NewConnection {
                        app,
                        access_tag,
                        envs,
                    },
                )
                .await?;
            if json {
                return output::json(&conn);
            }
            println!(
                "connected app {} to {product} as {}",
                conn.app, conn.access_tag
            );
        }
        ConnectionsCmd::Delete {
            product,
            access_tag,
        } => {
            c.delete_connection(&product, &access_tag).await?;
            if !json {
                println!("disconnected {product}/{access_tag}");
            }
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum RegistrationsCmd {
    /// List a product's registrations.
    List {
        #[arg(long)]
        product: String,
        #[arg(long)]
        access_tag: Option<String>,
    },
    /// Show one registration.
    Get { id: String },
    /// Point a registration at a receiver (held events go out once one is set).
    SetReceiver {
        id: String,
        /// Receiver URL.
        #[arg(long, value_name = "URL")]
        receiver: String,
        #[arg(long)]
        method: Option<String>,
        /// Auth header added to every forwarded request, `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
    },
}

fn receiver_text(r: &Registration) -> String {
    r.receiver
        .as_ref()
        .map(|x| format!("{} {}", x.method, x.url))
        .unwrap_or_else(|| "(none: events held)".into())
}

fn carries(r: &Registration) -> String {
    match &r.event {
        Some(e) => format!("{}:{e}", r.webhook),
        None => r.webhook.clone(),
    }
}

pub fn registration_table(list: &[Registration]) -> Table {
    let mut t = Table::new(&[
        "ID", "ACCESS", "WEBHOOK", "ENV", "ACTIVE", "RECEIVER", "LINK",
    ]);
    for r in list {
        t.row(vec![
            r.id.clone(),
            r.access_tag.clone(),
            carries(r),
            r.env.clone(),
            if r.active { "yes" } else { "no" }.into(),
            receiver_text(r),
            r.link.clone(),
        ]);
    }
    t
}

fn print_registration(r: &Registration) {
    println!("registration {}", r.id);
    println!(
        "  {}/{} {}  env {} (app env {})",
        r.product,
        r.access_tag,
        carries(r),
        r.env,
        r.app_env
    );
    println!("  link            {}", r.link);
    println!("  receiver        {}", receiver_text(r));
    println!("  active          {}", r.active);
    println!("  provider        {}", r.provider_registration.status);
    println!("  signing secret  {}", r.signing_secret);
    if let Some(s) = &r.retry_schedule {
        println!("  retry schedule  {}", s.join(", "));
    }
}

pub async fn registrations(c: &Client, cmd: RegistrationsCmd, json: bool) -> anyhow::Result<()> {
    let r = match cmd {
        RegistrationsCmd::List {
            product,
            access_tag,
        } => {
            let list = c
                .list_registrations(&product, access_tag.as_deref())
                .await?;
            if json {
                return output::json(&list);
            }
            registration_table(&list).print("no registrations");
            return Ok(());
        }
        RegistrationsCmd::Get { id } => c.get_registration(&id).await?,
        RegistrationsCmd::SetReceiver {
            id,
            receiver: url,
            method,
            headers,
        } => {
            let headers = output::headers(&headers)?;
            let patch = RegistrationPatch {
                receiver: Some(ReceiverSpec {
                    url,
                    method,
                    auth: (!headers.is_empty()).then(|| Auth {
                        headers,
                        ..Auth::default()
                    }),
                }),
                ..RegistrationPatch::default()
            };
            c.update_registration(&id, &patch).await?
        }
    };
    if json {
        return output::json(&r);
    }
    print_registration(&r);
    Ok(())
}

#[derive(Args)]
pub struct LinkArgs {
    #[arg(long)]
    product: String,
    #[arg(long)]
    access_tag: String,
    /// Webhook tag: a link for all its events (`processor.webhook.generateLink`).
    #[arg(long, required_unless_present = "event")]
    webhook: Option<String>,
    /// Event tag: a link for that event only (`product.webhook.generateLink`).
    #[arg(long, conflicts_with = "webhook")]
    event: Option<String>,
    /// Product env slug.
    #[arg(long)]
    env: String,
    /// Receiver URL (needed with --webhook; with --event, events are held until one is set).
    #[arg(long, value_name = "URL", required_unless_present = "event")]
    receiver: Option<String>,
    #[arg(long)]
    method: Option<String>,
    /// Auth header added to every forwarded request, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Secret inbound calls are verified against.
    #[arg(long)]
    verification_secret: Option<String>,
}

fn auth_from(headers: &[String]) -> anyhow::Result<Option<Auth>> {
    let headers = output::headers(headers)?;
    Ok((!headers.is_empty()).then(|| Auth {
        headers,
        ..Auth::default()
    }))
}

pub async fn link(c: &Client, a: LinkArgs, json: bool) -> anyhow::Result<()> {
    let auth = auth_from(&a.headers)?;
    let resp: LinkResponse = match (a.webhook, a.event) {
        (_, Some(event)) => {
            let req = ProductLinkRequest {
                app: a.access_tag,
                event,
                env: a.env,
                webhook: None,
                url: a.receiver,
                method: a.method,
                auth,
                verification_secret: a.verification_secret,
            };
            c.generate_event_link(&a.product, &req).await?
        }
        (webhook, None) => {
            let req = ProcessorLinkRequest {
                product_tag: a.product,
                access_tag: a.access_tag,
                webhook_tag: webhook.unwrap_or_default(),
                product_env: a.env,
                url: a.receiver.unwrap_or_default(),
                method: a.method,
                auth,
                verification_secret: a.verification_secret,
            };
            c.generate_link(&req).await?
        }
    };
    if json {
        return output::json(&resp);
    }
    println!("{}", resp.link);
    eprintln!(
        "registration {}; forwarded requests are signed with {}",
        resp.registration.id, resp.signing_secret
    );
    Ok(())
}

#[derive(Args)]
pub struct EnableArgs {
    #[arg(long)]
    product: String,
    #[arg(long)]
    access_tag: String,
    #[arg(long)]
    webhook: String,
    /// `ENV=RECEIVER_URL` (repeatable).
    #[arg(long = "env", required = true)]
    envs: Vec<String>,
    /// Method of every receiver (default POST).
    #[arg(long)]
    method: Option<String>,
    /// Auth header added to every forwarded request, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    #[arg(long)]
    verification_secret: Option<String>,
}

pub async fn enable(c: &Client, a: EnableArgs, json: bool) -> anyhow::Result<()> {
    let auth = auth_from(&a.headers)?;
    let envs = a
        .envs
        .iter()
        .map(|e| {
            let (slug, url) = output::key_value(e)?;
            Ok(EnableEnv {
                slug,
                url,
                method: a.method.clone(),
                auth: auth.clone(),
                verification_secret: a.verification_secret.clone(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let req = EnableRequest {
        product_tag: a.product,
        access_tag: a.access_tag,
        webhook_tag: a.webhook,
        envs,
    };
    let resp = c.enable(&req).await?;
    if json {
        return output::json(&resp);
    }
    let mut t = Table::new(&["ENV", "LINK", "RECEIVER", "PROVIDER"]);
    for r in &resp.registrations {
        t.row(vec![
            r.env.clone(),
            r.link.clone(),
            receiver_text(r),
            r.provider_registration.status.clone(),
        ]);
    }
    t.print("no registrations");
    Ok(())
}

#[derive(Args)]
pub struct DisableArgs {
    #[arg(long)]
    product: String,
    #[arg(long)]
    access_tag: String,
    #[arg(long)]
    webhook: String,
    /// Product env slug (repeatable; every env when omitted).
    #[arg(long = "env")]
    envs: Vec<String>,
}

pub async fn disable(c: &Client, a: DisableArgs, json: bool) -> anyhow::Result<()> {
    let req = DisableRequest {
        product_tag: a.product,
        access_tag: a.access_tag,
        webhook_tag: a.webhook,
        envs: (!a.envs.is_empty()).then_some(a.envs),
    };
    let resp = c.disable(&req).await?;
    if json {
        return output::json(&resp);
    }
    for r in &resp.registrations {
        println!("retired {} ({} {})", r.link, carries(r), r.env);
    }
    if resp.registrations.is_empty() {
        println!("nothing to retire");
    }
    Ok(())
}
