//! The command line: the clap types of every command, where the install lives, and the
//! dispatch to one module per command group. Every command opens the install itself, so
//! admin commands work on the same store as a running server, with no server needed.

mod audit;
mod chat;
mod error;
mod keys;
mod models;
mod output;
mod prompts;
mod providers;
mod serve;
mod usage;
mod workspaces;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use hearth::{Config, Hearth};

pub use error::CliError;

/// Hearth: one policy-enforcing gateway for every LLM call on this machine.
#[derive(Debug, Parser)]
#[command(name = "hearth", version, about)]
pub struct Cli {
    #[command(flatten)]
    install: InstallArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the install lives and which policy it runs; every command accepts these.
#[derive(Debug, Args)]
#[command(next_help_heading = "Install options")]
struct InstallArgs {
    /// The install's data directory [default: the platform data dir + `hearth`].
    #[arg(long, global = true, env = "HEARTH_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A policy file (TOML) [default: the policy last applied from the UI or the admin API
    /// (`policy.toml` in the data dir), else the built-in policy, the local model for every
    /// task; with `--demo`, the seed's lab].
    #[arg(long, global = true, env = "HEARTH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the HTTP gateway.
    Serve(serve::ServeArgs),
    /// Sends one message through the orchestrator, without a server.
    Chat(chat::ChatArgs),
    /// Creates, lists and revokes API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Creates, changes and shows workspaces.
    #[command(subcommand)]
    Workspaces(workspaces::WorkspacesCommand),
    /// Manages versioned prompts and their rollout.
    #[command(subcommand)]
    Prompts(prompts::PromptsCommand),
    /// Reads the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Shows usage and spend per workspace, day and model.
    Usage(usage::UsageArgs),
    /// Lists, pulls, inspects and removes on-device models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Adds, lists, tests and removes hosted providers and sets their keys.
    #[command(subcommand)]
    Providers(providers::ProvidersCommand),
    /// Prints the OpenAPI document of the HTTP API (as served at `/openapi.json`).
    Openapi,
}

impl InstallArgs {
    fn data_dir(&self) -> Result<PathBuf, CliError> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => dirs::data_dir().map(|d| d.join("hearth")).ok_or_else(|| {
                CliError::Invalid("no platform data directory here; pass --data-dir".into())
            }),
        }
    }

    fn config(&self, demo: bool) -> Result<Config, CliError> {
        Ok(Config::for_install(
            self.config.as_deref(),
            demo,
            &self.data_dir()?,
        )?)
    }

    /// The policy file this install runs and its text: `--config FILE`, else the saved
    /// policy, else (to be saved there) the built-in one.
    fn policy_text(&self) -> Result<(PathBuf, String), CliError> {
        let path = match &self.config {
            Some(p) => p.clone(),
            None => hearth::orchestrator::saved_policy_path(&self.data_dir()?),
        };
        let text = if path.is_file() {
            std::fs::read_to_string(&path)
                .map_err(|e| CliError::Invalid(format!("{}: {e}", path.display())))?
        } else {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| CliError::Invalid(format!("{}: {e}", dir.display())))?;
            }
            Config::builtin()?.source
        };
        Ok((path, text))
    }

    /// Opens the install, creating its database and `default` workspace on first use.
    fn open(&self) -> Result<Arc<Hearth>, CliError> {
        self.open_with(false)
    }

    /// Opens the install with the demo's policy when `demo` (and no `--config`).
    fn open_with(&self, demo: bool) -> Result<Arc<Hearth>, CliError> {
        Ok(Hearth::open(self.config(demo)?, &self.data_dir()?)?)
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let Cli { install, command } = cli;
    match command {
        Command::Serve(args) => serve::run(&install, args).await,
        Command::Chat(args) => chat::run(&install, args).await,
        Command::Keys(cmd) => keys::run(&*install.open()?, cmd),
        Command::Workspaces(cmd) => workspaces::run(&*install.open()?, cmd),
        Command::Prompts(cmd) => prompts::run(&*install.open()?, cmd),
        Command::Audit(cmd) => audit::run(&*install.open()?, cmd).await,
        Command::Usage(args) => usage::run(&*install.open()?, &args),
        Command::Models(cmd) => models::run(&install, cmd).await,
        Command::Providers(cmd) => providers::run(&install, cmd).await,
        Command::Openapi => {
            let doc = hearth::server::openapi::document();
            output::json_pretty(&doc)
        }
    }
}

/// Prints a failure as one line on stderr and picks the exit code.
pub fn report(e: &CliError) -> ExitCode {
    // A reader that stopped early (`| head`) is not a failure of this command.
    if e.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(std::io::stderr(), "error: {e}");
    ExitCode::FAILURE
}
