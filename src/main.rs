//! The `hearth` command: parses the command line, runs one command, and turns a failure
//! into one `error:` line and exit code 1.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// glibc's malloc spent about 8% of the gateway's CPU at 1,000 req/s (consolidating fast bins
/// among it); mimalloc's thread-local free lists are cheaper for many small short-lived
/// allocations.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::report(&e),
    }
}
