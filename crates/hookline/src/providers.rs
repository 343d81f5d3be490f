//! Full registration: calls to providers' webhook-registration APIs.
//!
//! [`crate::service`]'s `enable` and `disable` decide *what* to call; this
//! module builds each call from the app webhook's template (with
//! [`hookline_core::provider`]), sends it through the outbound guard, and
//! turns the provider's answer into the registration's provider state.
//!
//! # Invariants
//! - Every call goes through the guarded client: the guard's resolver at
//!   connect time, and [`OutboundGuard::check_target`] for IP literals.
//! - No call is made while a store transaction is open: callers call first
//!   and save afterwards, in one transaction.
//! - An answer is read up to [`MAX_ANSWER_BYTES`]; what does not fit, or is
//!   not what the app webhook's paths expect, is a failure of that one env,
//!   never an error of the whole request.

use crate::locks::{KeyGuard, KeyedLocks};
use hookline_core::event::ErrorKind;
use hookline_core::model::{
    App, AppWebhook, Auth, HttpMethod, ProviderApi, ProviderStatus, Registration, RequestTemplate,
    WebhookEnv,
};
use hookline_core::outbound::ForwardRequest;
use hookline_core::provider::{self, CallSpec, TemplateError, Vars};
use hookline_core::time::Millis;
use hookline_delivery::client::{classify, SendError};
use hookline_delivery::guard::OutboundGuard;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

/// Largest provider answer read; a registration answer is a small JSON
/// object, so anything larger is not one.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The provider-calling side of a node.
pub struct Providers {
    /// Guarded like the delivery client (private targets refused at connect
    /// time, no redirects, no proxies), with its own connection pool.
    client: reqwest::Client,
    guard: Arc<OutboundGuard>,
    /// Per call.
    timeout: Duration,
    /// One `enable`/`disable` at a time per (product, access tag, webhook)
    /// on this node, so concurrent calls cannot both create a webhook at the
    /// provider for the same registration.
    locks: KeyedLocks,
}

/// A provider's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// The body was longer than [`MAX_ANSWER_BYTES`] and was cut there.
    pub truncated: bool,
}

impl Providers {
    pub fn new(guard: Arc<OutboundGuard>, timeout: Duration) -> Self {
        Providers {
            client: hookline_delivery::client::build_client(
                guard.clone(),
                concat!("Hookline/", env!("CARGO_PKG_VERSION")),
            ),
            guard,
            timeout,
            locks: KeyedLocks::default(),
        }
    }

    pub async fn lock(&self, product_id: &str, access_tag: &str, webhook_id: &str) -> KeyGuard {
        self.locks
            .lock(format!("{product_id}\n{access_tag}\n{webhook_id}"))
            .await
    }

    /// Sends one call and reads the answer (bounded by size and by the
    /// timeout, which covers the whole exchange).
    pub async fn send(&self, req: &ForwardRequest) -> Result<Reply, SendError> {
        self.guard.check_target(&req.url)?;
        // Built, and its errors classified, by the delivery client's own
        // functions: every error text is made without the URL (its query
        // and path carry the connection's auth) and without header values.
        let request = hookline_delivery::client::build_request(&self.client, req)?;
        let exchange = async {
            let mut response = self.client.execute(request).await?;
            let status = response.status().as_u16();
            let mut body = Vec::new();
            let mut truncated = false;
            while let Some(chunk) = response.chunk().await? {
                let room = MAX_ANSWER_BYTES - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>(Reply {
                status,
                body,
                truncated,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => Err(SendError {
                kind: ErrorKind::Timeout,
                message: format!("no complete answer within {:?}", self.timeout),
            }),
            Ok(Err(e)) => Err(classify(e)),
            Ok(Ok(reply)) => Ok(reply),
        }
    }
}

/// A secret for providers that take one from the subscriber (GitHub's
/// `config.secret`): 32 random bytes, hex.
pub fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::rngs::OsRng.gen();
    hex::encode(bytes)
}

/// Everything the calls for one registration are built from.
pub struct CallContext<'a> {
    pub app: &'a App,
    pub webhook: &'a AppWebhook,
    /// The webhook env of the registration's app env.
    pub env: &'a WebhookEnv,
    /// The ingest link.
    pub link: String,
    /// Connection env auth with the call's own provider auth on top.
    pub auth: Auth,
}

impl CallContext<'_> {
    fn events(&self) -> Vec<String> {
        self.webhook
            .events
            .iter()
            .map(|e| e.tag.to_string())
            .collect()
    }

    fn api(&self) -> ProviderApi {
        self.env.provider_api.clone().unwrap_or_default()
    }

    fn build(
        &self,
        reg: &Registration,
        url: &str,
        method: HttpMethod,
        template: Option<&RequestTemplate>,
        secret: Option<&str>,
    ) -> Result<ForwardRequest, TemplateError> {
        let events = self.events();
        let params = self.auth.params.clone();
        let vars = Vars {
            link: &self.link,
            events: &events,
            env: reg.env.as_str(),
            app_env: reg.app_env.as_str(),
            product: reg.product_tag.as_str(),
            access_tag: reg.access_tag.as_str(),
            webhook: reg.webhook_tag.as_str(),
            secret,
            provider_id: reg.provider.provider_id.as_deref(),
            params: &params,
        };
        let base_url = self.app.env(&reg.app_env).and_then(|e| e.base_url.as_ref());
        provider::build_call(
            &CallSpec {
                base_url,
                url,
                method,
                template,
                auth: &self.auth,
            },
            &vars,
        )
    }
}

/// What `enable` does at the provider for one registration.
pub struct Plan {
    /// Index of the registration in the call's list.
    pub index: usize,
    pub create: ForwardRequest,
    /// Sent instead of `create` when the provider already has the webhook;
    /// if it answers 404 or 410 (removed at the provider), `create` follows.
    pub update: Option<ForwardRequest>,
    /// The `{{secret}}` value the calls carry, if they carry one.
    pub secret: Option<String>,
    pub api: ProviderApi,
}

/// The calls to make for `reg`, or `None` when the webhook is already
/// registered and the app defines no update call (nothing to send).
/// `explicit_secret` is the `verification_secret` given to this `enable`.
pub fn plan_enable(
    ctx: &CallContext<'_>,
    index: usize,
    reg: &Registration,
    explicit_secret: Option<&str>,
) -> Result<Option<Plan>, TemplateError> {
    let api = ctx.api();
    let Some(url) = ctx.env.registration_url.as_deref() else {
        return Ok(None);
    };
    let method = ctx.env.method.unwrap_or(HttpMethod::Post);
    let create_template = ctx.env.sample.as_ref();
    let update_spec = api.update.as_ref().map(|u| {
        (
            u.url.as_str(),
            u.method,
            u.sample.as_ref().or(create_template),
        )
    });
    let known = reg.provider.provider_id.is_some();
    if known && update_spec.is_none() {
        return Ok(None);
    }
    let uses_secret = create_template.is_some_and(|t| provider::template_uses(t, "secret"))
        || update_spec
            .and_then(|(_, _, t)| t)
            .is_some_and(|t| provider::template_uses(t, "secret"));
    let secret = uses_secret.then(|| {
        explicit_secret
            .map(str::to_owned)
            .or_else(|| reg.verification_secret.clone())
            .unwrap_or_else(generate_secret)
    });
    // The create call never names an old provider id.
    let mut fresh = reg.clone();
    fresh.provider.provider_id = None;
    let create = ctx.build(&fresh, url, method, create_template, secret.as_deref())?;
    let update = match update_spec {
        Some((url, method, template)) if known => {
            Some(ctx.build(reg, url, method, template, secret.as_deref())?)
        }
        _ => None,
    };
    Ok(Some(Plan {
        index,
        create,
        update,
        secret,
        api,
    }))
}

/// What a plan's calls came to.
pub struct Outcome {
    pub updated: bool,
    pub result: Result<Reply, SendError>,
}

impl Providers {
    /// Update (falling back to create when the provider lost the webhook),
    /// or create.
    pub async fn run(&self, plan: &Plan) -> Outcome {
        if let Some(update) = &plan.update {
            let result = self.send(update).await;
            if !matches!(&result, Ok(r) if r.status == 404 || r.status == 410) {
                return Outcome {
                    updated: true,
                    result,
                };
            }
        }
        Outcome {
            updated: false,
            result: self.send(&plan.create).await,
        }
    }
}

/// Records what the provider answered in the registration. A failure keeps
/// the provider id of a webhook that still exists there (a failed update),
/// and drops a generated secret the provider never accepted.
pub fn apply_enable(reg: &mut Registration, plan: &Plan, outcome: Outcome, now: Millis) {
    let p = &mut reg.provider;
    p.updated_at = Some(now);
    if !outcome.updated {
        // A create: whatever id was stored is gone at the provider.
        p.provider_id = None;
    }
    let reply = match outcome.result {
        Err(e) => {
            p.status = ProviderStatus::Failed;
            p.http_status = None;
            p.message = Some(format!("could not reach the provider: {e}"));
            return;
        }
        Ok(r) => r,
    };
    p.http_status = Some(reply.status);
    if !(200..300).contains(&reply.status) {
        p.status = ProviderStatus::Failed;
        p.message = Some(format!(
            "the provider answered {}: {}",
            reply.status,
            describe(&reply.body)
        ));
        return;
    }
    let answer = if reply.truncated {
        None
    } else {
        provider::read_answer(&reply.body, &plan.api).ok()
    };
    let unreadable = || {
        if reply.truncated {
            format!("is over {} KiB", MAX_ANSWER_BYTES / 1024)
        } else {
            "is not JSON".to_owned()
        }
    };
    if outcome.updated {
        // The id is known; take a secret if the answer carries one.
        let id = p.provider_id.clone().unwrap_or_default();
        p.status = ProviderStatus::Registered;
        p.message = Some(format!("updated webhook {id}"));
        if let Some(secret) = answer
            .and_then(|a| a.secret)
            .or_else(|| plan.secret.clone())
        {
            reg.verification_secret = Some(secret);
        }
        return;
    }
    let Some(answer) = answer else {
        p.status = ProviderStatus::Failed;
        p.message = Some(format!(
            "the provider answered {} but its answer {}; it may have created the webhook \
             anyway: check at the provider, remove it there, and enable again",
            reply.status,
            unreadable()
        ));
        return;
    };
    if let (Some(path), None) = (&plan.api.id_path, &answer.provider_id) {
        p.status = ProviderStatus::Failed;
        p.message = Some(format!(
            "the provider answered {} without a webhook id at `{path}`; it may have created \
             the webhook anyway: check at the provider, remove it there, and enable again",
            reply.status
        ));
        return;
    }
    p.status = ProviderStatus::Registered;
    p.provider_id = answer.provider_id.clone();
    let mut message = match &answer.provider_id {
        Some(id) => format!("created webhook {id}"),
        None => "created (the app webhook names no id_path, so it cannot be updated or removed by Hookline)".to_owned(),
    };
    match answer.secret.or_else(|| plan.secret.clone()) {
        Some(secret) => reg.verification_secret = Some(secret),
        None => {
            if let Some(path) = &plan.api.secret_path {
                message.push_str(&format!(
                    "; no signing secret at `{path}`: set the registration's verification_secret"
                ));
            }
        }
    }
    p.message = Some(message);
}

/// Whether the provider still has a webhook Hookline created for `reg`.
pub fn still_registered(reg: &Registration) -> bool {
    reg.provider.provider_id.is_some() && reg.provider.status != ProviderStatus::Deregistered
}

/// The deregistration call for `reg`, if the provider has its webhook and
/// the app defines the call (else the registration says so, and keeps its
/// status: the webhook is still there). `Err` is why the call cannot be built.
pub fn plan_disable(
    ctx: &CallContext<'_>,
    reg: &mut Registration,
    now: Millis,
) -> Option<Result<ForwardRequest, String>> {
    if !still_registered(reg) {
        return None;
    }
    let api = ctx.api();
    let Some(call) = &api.deregister else {
        let id = reg.provider.provider_id.clone().unwrap_or_default();
        reg.provider.message = Some(format!(
            "the app defines no deregistration call: webhook {id} still exists at the provider; remove it there"
        ));
        reg.provider.updated_at = Some(now);
        return None;
    };
    Some(
        ctx.build(
            reg,
            &call.url,
            call.method,
            call.sample.as_ref(),
            reg.verification_secret.as_deref(),
        )
        .map_err(|e| format!("cannot build the deregistration call: {e}")),
    )
}

/// Records a deregistration's outcome. 404 and 410 count as done: the
/// webhook is gone either way.
pub fn apply_disable(reg: &mut Registration, result: Result<Reply, String>, now: Millis) {
    let p = &mut reg.provider;
    p.updated_at = Some(now);
    let id = p.provider_id.clone().unwrap_or_default();
    match result {
        Ok(r) if (200..300).contains(&r.status) || r.status == 404 || r.status == 410 => {
            p.status = ProviderStatus::Deregistered;
            p.http_status = Some(r.status);
            p.provider_id = None;
            p.message = Some(if r.status < 300 {
                format!("deregistered webhook {id}")
            } else {
                format!("webhook {id} was already gone at the provider")
            });
        }
        Ok(r) => {
            p.status = ProviderStatus::Failed;
            p.http_status = Some(r.status);
            p.message = Some(format!(
                "deregistering webhook {id} failed: the provider answered {}: {}; disable again to retry",
                r.status,
                describe(&r.body)
            ));
        }
        Err(message) => {
            p.status = ProviderStatus::Failed;
            p.http_status = None;
            p.message = Some(format!(
                "deregistering webhook {id} failed: {message}; disable again to retry"
            ));
        }
    }
}

/// A provider's error answer in a few words: its own message where it has
/// one, else the start of the body as text.
fn describe(body: &[u8]) -> String {
    if let Some(m) = provider::error_message(body) {
        return m;
    }
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    if text.trim().is_empty() {
        "(empty answer)".into()
    } else {
        text
    }
}
