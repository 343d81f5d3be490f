//! Apps made from built-in presets ([`crate::presets`]): the app, then each
//! of its webhooks, through the same checked paths as hand-written ones.

use super::catalog::{NewApp, NewWebhook};
use super::Gateway;
use crate::error::{Error, Result};
use hookline_core::model::{App, AppEnv, AppWebhook};
use hookline_core::names::Tag;

pub struct PresetApp {
    pub preset: String,
    /// Default: the preset's name.
    pub tag: Option<Tag>,
    /// Default: the preset's display name.
    pub name: Option<String>,
    pub description: Option<String>,
    /// Default: the preset's envs. An env without `base_url` gets the
    /// preset's (the provider's real API).
    pub envs: Option<Vec<AppEnv>>,
}

impl Gateway {
    pub async fn create_app_from_preset(&self, input: PresetApp) -> Result<(App, Vec<AppWebhook>)> {
        let preset = crate::presets::get(&input.preset).ok_or_else(|| {
            Error::invalid(
                "unknown_preset",
                format!(
                    "there is no preset `{}`; the built-in presets are: {}",
                    input.preset,
                    crate::presets::names().join(", ")
                ),
            )
        })?;
        let tag = match input.tag {
            Some(t) => t,
            None => Tag::parse(preset.preset.clone())?,
        };
        let envs: Vec<AppEnv> = input
            .envs
            .unwrap_or_else(|| {
                preset
                    .envs
                    .iter()
                    .map(|slug| AppEnv {
                        slug: slug.clone(),
                        base_url: None,
                    })
                    .collect()
            })
            .into_iter()
            .map(|e| AppEnv {
                base_url: e.base_url.or_else(|| preset.base_url.clone()),
                slug: e.slug,
            })
            .collect();
        let slugs: Vec<_> = envs.iter().map(|e| e.slug.clone()).collect();
        let app = self
            .create_app(NewApp {
                tag,
                name: input.name.unwrap_or_else(|| preset.name.clone()),
                description: input
                    .description
                    .or_else(|| Some(preset.description.clone())),
                envs,
            })
            .await?;
        let mut webhooks = Vec::with_capacity(preset.webhooks.len());
        for w in &preset.webhooks {
            let made = self
                .create_webhook(
                    app.tag.as_str(),
                    NewWebhook {
                        tag: w.tag.clone(),
                        name: w.name.clone(),
                        description: w.description.clone(),
                        verification: w.verification.clone(),
                        envs: w.envs(&slugs),
                        events: w.event_defs(),
                    },
                )
                .await;
            match made {
                Ok(webhook) => webhooks.push(webhook),
                Err(e) => {
                    // Not half an app: take back what was made (deleting the
                    // app deletes its webhooks).
                    let undone = self.store.delete_app(&app.id).await;
                    self.config_changed();
                    if let Err(undo) = undone {
                        tracing::error!(app = %app.tag, error = %undo, "could not remove a half-made preset app");
                    }
                    return Err(e);
                }
            }
        }
        Ok((app, webhooks))
    }
}
