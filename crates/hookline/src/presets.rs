//! Built-in provider definitions ("presets"): an app, its webhooks, their
//! verification, events and, where the provider has an API for it, the
//! registration call. They ship inside the binary as data: one JSON file per
//! provider under `crates/hookline/presets/`, embedded with `include_str!`
//! and parsed (so validated) on first use; a unit test parses them all.
//!
//! Registration URLs in a preset are relative to the app env's `base_url`,
//! whose default is the provider's real API ([`Preset::base_url`]); an app
//! created from a preset with another `base_url` (a sandbox, a test's stand-in
//! server) calls that instead.

use hookline_core::model::{
    EventDef, HttpMethod, ProviderApi, ProviderCall, RequestTemplate, WebhookEnv,
};
use hookline_core::names::{EnvSlug, Tag};
use hookline_core::selector::Selector;
use hookline_core::verify::Verification;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The embedded files, in the order `GET /api/v1/presets` lists them.
const SOURCES: &[(&str, &str)] = &[
    ("stripe", include_str!("../presets/stripe.json")),
    ("github", include_str!("../presets/github.json")),
    ("shopify", include_str!("../presets/shopify.json")),
    ("slack", include_str!("../presets/slack.json")),
    ("paystack", include_str!("../presets/paystack.json")),
    (
        "standard_webhooks",
        include_str!("../presets/standard_webhooks.json"),
    ),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// The name `POST /api/v1/apps {"preset": …}` takes; also the app's
    /// default tag.
    pub preset: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub docs_url: Option<String>,
    /// The provider's API: the default `base_url` of every app env.
    #[serde(default)]
    pub base_url: Option<url::Url>,
    /// Env slugs an app created from the preset gets when the call lists none.
    pub envs: Vec<EnvSlug>,
    pub webhooks: Vec<PresetWebhook>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetWebhook {
    pub tag: Tag,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub verification: Verification,
    /// What to do by hand: the credentials to connect with, or where to paste
    /// the link in link mode.
    #[serde(default)]
    pub setup: Option<String>,
    /// The registration call, the same for every env; absent in link mode.
    #[serde(default)]
    pub registration: Option<PresetRegistration>,
    pub events: Vec<PresetEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetRegistration {
    pub url: String,
    pub method: HttpMethod,
    #[serde(default)]
    pub sample: RequestTemplate,
    #[serde(default)]
    pub id_path: Option<String>,
    #[serde(default)]
    pub secret_path: Option<String>,
    #[serde(default)]
    pub update: Option<ProviderCall>,
    #[serde(default)]
    pub deregister: Option<ProviderCall>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresetEvent {
    pub tag: Tag,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub selector: Selector,
}

static PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(name, json)| {
            let p: Preset = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("built-in preset {name} does not parse: {e}"));
            assert_eq!(&p.preset, name, "preset file name and `preset` differ");
            p
        })
        .collect()
});

/// Every built-in preset.
pub fn all() -> &'static [Preset] {
    &PRESETS
}

pub fn get(name: &str) -> Option<&'static Preset> {
    all().iter().find(|p| p.preset == name)
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.preset.as_str()).collect()
}

impl PresetWebhook {
    /// Full registration (the provider has an API Hookline calls) or link mode.
    pub fn mode(&self) -> &'static str {
        if self.registration.is_some() {
            "full_registration"
        } else {
            "link"
        }
    }

    /// The webhook's env specs for an app with these envs: the same
    /// registration call in each.
    pub fn envs(&self, slugs: &[EnvSlug]) -> Vec<WebhookEnv> {
        slugs
            .iter()
            .map(|slug| match &self.registration {
                None => WebhookEnv {
                    slug: slug.clone(),
                    registration_url: None,
                    method: None,
                    sample: None,
                    provider_api: None,
                },
                Some(r) => {
                    let api = ProviderApi {
                        id_path: r.id_path.clone(),
                        secret_path: r.secret_path.clone(),
                        update: r.update.clone(),
                        deregister: r.deregister.clone(),
                    };
                    WebhookEnv {
                        slug: slug.clone(),
                        registration_url: Some(r.url.clone()),
                        method: Some(r.method),
                        sample: Some(r.sample.clone()),
                        provider_api: Some(api),
                    }
                }
            })
            .collect()
    }

    pub fn event_defs(&self) -> Vec<EventDef> {
        self.events
            .iter()
            .map(|e| EventDef {
                tag: e.tag.clone(),
                name: e.name.clone(),
                description: e.description.clone(),
                selector: e.selector.clone(),
                sample: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_is_consistent() {
        assert_eq!(all().len(), SOURCES.len());
        for p in all() {
            assert!(!p.envs.is_empty(), "{}", p.preset);
            for w in &p.webhooks {
                w.verification
                    .validate()
                    .unwrap_or_else(|e| panic!("{}: {e}", p.preset));
                assert!(!w.events.is_empty(), "{}/{}", p.preset, w.tag);
                if let Some(r) = &w.registration {
                    assert!(
                        p.base_url.is_some(),
                        "{} registers but has no base_url",
                        p.preset
                    );
                    let envs = w.envs(&p.envs);
                    let api = envs[0].provider_api.as_ref().expect("api kept");
                    hookline_core::provider::validate_api(api)
                        .unwrap_or_else(|e| panic!("{}: {e}", p.preset));
                    assert!(r.url.starts_with('/'), "{}: relative URL", p.preset);
                }
            }
        }
        for required in [
            "stripe",
            "github",
            "shopify",
            "slack",
            "paystack",
            "standard_webhooks",
        ] {
            assert!(get(required).is_some(), "{required}");
        }
        assert_eq!(
            get("github").unwrap().webhooks[0].mode(),
            "full_registration"
        );
        assert_eq!(get("paystack").unwrap().webhooks[0].mode(), "link");
    }
}
