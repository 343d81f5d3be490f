//! The `hookline` binary: parses the command line and runs one command.
//! The commands live in [`cli`]; the server itself lives in the library.

mod cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::run(<cli::Cli as clap::Parser>::parse()).await
}
