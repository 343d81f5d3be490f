//! The `hookline` binary: parses the command line and runs one command.
//! The commands live in [`cli`]; the server itself lives in the library.

mod cli;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match cli::run(<cli::Cli as clap::Parser>::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line; no backtrace for a user's mistake.
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
