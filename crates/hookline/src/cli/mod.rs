//! The `hookline` command line.
//!
//! # Layout
//! - [`server`]: `serve` and `migrate`, which run the gateway itself.
//! - [`manage`]: management commands (apps, presets, products, connections,
//!   registrations, links, enable/disable), thin over `hookline-client`.
//! - [`events`]: `events list|show|replay`.
//! - [`listen`]: streams a registration's events and forwards them to a
//!   local URL (the development loop).
//! - [`apply`]: declarative setup from a YAML file, idempotent.
//! - [`output`]: tables and `--json` printing shared by the above.
//!
//! Every command but `serve`, `migrate` and `openapi` talks to a running
//! gateway through the management API, as any other client would.

mod apply;
mod events;
mod listen;
mod manage;
mod output;
mod server;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::Path;

#[derive(Parser)]
#[command(name = "hookline", version, about = "Self-hosted webhook gateway")]
pub struct Cli {
    #[command(flatten)]
    remote: Remote,
    #[command(subcommand)]
    command: Command,
}

/// How client commands reach the gateway.
#[derive(Args)]
pub struct Remote {
    /// Where the gateway listens (client commands).
    #[arg(
        long,
        global = true,
        env = "HOOKLINE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// Management key (client commands); default: ./hookline-data/admin.key when present.
    #[arg(
        long,
        global = true,
        env = "HOOKLINE_ADMIN_KEY",
        hide_env_values = true
    )]
    key: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

/// Where `hookline serve` saves a generated key with the default data dir.
const DEFAULT_KEY_FILE: &str = "hookline-data/admin.key";

impl Remote {
    fn client(&self) -> anyhow::Result<hookline_client::Client> {
        let key = match &self.key {
            Some(k) => k.trim().to_owned(),
            None if Path::new(DEFAULT_KEY_FILE).exists() => {
                std::fs::read_to_string(DEFAULT_KEY_FILE)
                    .with_context(|| format!("reading {DEFAULT_KEY_FILE}"))?
                    .trim()
                    .to_owned()
            }
            None => anyhow::bail!(
                "no management key: pass --key, set HOOKLINE_ADMIN_KEY, or run from the folder that holds {DEFAULT_KEY_FILE}"
            ),
        };
        Ok(hookline_client::Client::new(&self.url, key)?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: management API, ingest links and delivery workers.
    Serve(server::ServerFlags),
    /// Apply database migrations and exit.
    Migrate(server::ServerFlags),
    /// Print the OpenAPI document of the management API.
    Openapi,
    /// Apps (providers) and their webhooks.
    #[command(subcommand)]
    Apps(manage::AppsCmd),
    /// Built-in provider definitions.
    #[command(subcommand)]
    Presets(manage::PresetsCmd),
    /// Products and their envs.
    #[command(subcommand)]
    Products(manage::ProductsCmd),
    /// Apps connected to a product under an access tag.
    #[command(subcommand)]
    Connections(manage::ConnectionsCmd),
    /// Registrations: links tied to receivers.
    #[command(subcommand)]
    Registrations(manage::RegistrationsCmd),
    /// Get a link to give a provider (`generateLink`, either form).
    Link(manage::LinkArgs),
    /// Register receivers for a webhook in several envs (`processor.webhook.enable`).
    Enable(manage::EnableArgs),
    /// Retire a webhook's links in some or all envs.
    Disable(manage::DisableArgs),
    /// Received events: search, inspect, replay.
    #[command(subcommand)]
    Events(events::EventsCmd),
    /// Stream a registration's events and forward each to a local URL.
    Listen(listen::ListenArgs),
    /// Create or update apps, products, connections and registrations from a YAML file.
    Apply(apply::ApplyArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let remote = cli.remote;
    let json = remote.json;
    match cli.command {
        Command::Serve(flags) => server::serve(flags).await,
        Command::Migrate(flags) => server::migrate(flags).await,
        Command::Openapi => {
            let doc = serde_json::to_string_pretty(&hookline::api::openapi())?;
            println!("{doc}");
            Ok(())
        }
        Command::Apps(c) => manage::apps(&remote.client()?, c, json).await,
        Command::Presets(c) => manage::presets(&remote.client()?, c, json).await,
        Command::Products(c) => manage::products(&remote.client()?, c, json).await,
        Command::Connections(c) => manage::connections(&remote.client()?, c, json).await,
        Command::Registrations(c) => manage::registrations(&remote.client()?, c, json).await,
        Command::Link(a) => manage::link(&remote.client()?, a, json).await,
        Command::Enable(a) => manage::enable(&remote.client()?, a, json).await,
        Command::Disable(a) => manage::disable(&remote.client()?, a, json).await,
        Command::Events(c) => events::run(&remote.client()?, c, json).await,
        Command::Listen(a) => listen::run(&remote.client()?, a, json).await,
        Command::Apply(a) => apply::run(&remote.client()?, a, json).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn receiver_flags_do_not_shadow_the_gateway_url() {
        let cli = Cli::try_parse_from([
            "hookline",
            "--url",
            "http://gw:1",
            "link",
            "--product",
            "p",
            "--access-tag",
            "a",
            "--webhook",
            "w",
            "--env",
            "prd",
            "--receiver",
            "http://rx:2",
        ])
        .unwrap();
        assert_eq!(cli.remote.url, "http://gw:1");
    }
}
