//! `hearth prompts`: immutable prompt versions and their rollout (canary, stable,
//! deprecated, rollback). Install-wide unless `--workspace` names an owner.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use hearth::prompts::{NewPrompt, PromptVersion, RolloutStatus};
use hearth::workspace::WorkspaceId;
use hearth::Hearth;

use super::output::{self, Table};
use super::CliError;

/// `hearth prompts ...`
#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// Lists prompt versions (a workspace sees its own and the install-wide ones).
    List {
        /// The workspace whose view to list [default: install-wide only].
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Prints a prompt's versions (or one version) as JSON.
    Show {
        /// The prompt, optionally with one version.
        #[arg(value_name = "ID[@VERSION]")]
        prompt: String,
        /// The workspace whose view to search [default: install-wide only].
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Creates a new immutable version from a JSON file and prints it.
    Create {
        /// A JSON object with `prompt_id`, `version`, `template`, `owner` and optionally
        /// `variables`, `compatible_models`, `schema_version`, `response_format`, `eval`,
        /// `changelog`, `status`, `workspace`.
        #[arg(long, value_name = "FILE.json")]
        file: PathBuf,
        /// The owning workspace (overrides the file's `workspace`).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Moves a version to canary, stable or deprecated.
    Promote {
        /// The prompt id.
        id: String,
        /// The version to move.
        version: String,
        /// Where it goes.
        #[arg(long, value_enum)]
        status: StatusArg,
        /// Share of users a canary serves (0-1).
        #[arg(long, default_value_t = 0.1, value_name = "SHARE")]
        canary_share: f64,
        /// The owning workspace [default: install-wide].
        #[arg(long)]
        workspace: Option<String>,
        /// Goes ahead even when the version's variables differ from the stable one's, which
        /// callers send (their requests will fail until they change).
        #[arg(long)]
        force: bool,
    },
    /// Makes an earlier version stable again.
    Rollback {
        /// The prompt id.
        id: String,
        /// The version to restore [default: the previous stable one].
        #[arg(long)]
        version: Option<String>,
        /// The owning workspace [default: install-wide].
        #[arg(long)]
        workspace: Option<String>,
    },
}

/// A rollout status a version can be promoted to.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Serves a share of users.
    Canary,
    /// Serves everyone else.
    Stable,
    /// Serves only when named explicitly.
    Deprecated,
}

impl From<StatusArg> for RolloutStatus {
    fn from(s: StatusArg) -> RolloutStatus {
        match s {
            StatusArg::Canary => RolloutStatus::Canary,
            StatusArg::Stable => RolloutStatus::Stable,
            StatusArg::Deprecated => RolloutStatus::Deprecated,
        }
    }
}

/// Runs a `prompts` command.
pub fn run(hearth: &Hearth, cmd: PromptsCommand) -> Result<(), CliError> {
    match cmd {
        PromptsCommand::List { workspace } => list(hearth, workspace.as_deref()),
        PromptsCommand::Show { prompt, workspace } => show(hearth, &prompt, workspace.as_deref()),
        PromptsCommand::Create { file, workspace } => create(hearth, &file, workspace),
        PromptsCommand::Promote {
            id,
            version,
            status,
            canary_share,
            workspace,
            force,
        } => {
            let scope = scope(workspace.as_deref())?;
            let registry = hearth.prompts();
            let p = registry.promote(&scope, &id, &version, status.into(), canary_share, force)?;
            output::json_pretty(&p)
        }
        PromptsCommand::Rollback {
            id,
            version,
            workspace,
        } => {
            let scope = scope(workspace.as_deref())?;
            let p = hearth.prompts().rollback(&scope, &id, version.as_deref())?;
            output::json_pretty(&p)
        }
    }
}

/// The registry's scope: `""` is install-wide, else a workspace id.
fn scope(workspace: Option<&str>) -> Result<String, CliError> {
    match workspace {
        Some(w) => Ok(WorkspaceId::parse(w)?.as_str().to_owned()),
        None => Ok(String::new()),
    }
}

fn visible(hearth: &Hearth, workspace: Option<&str>) -> Result<Vec<PromptVersion>, CliError> {
    let ws = workspace.map(WorkspaceId::parse).transpose()?;
    Ok(hearth.prompts().list(ws.as_ref())?)
}

fn list(hearth: &Hearth, workspace: Option<&str>) -> Result<(), CliError> {
    let mut table = Table::new(&[
        "scope", "id", "version", "status", "canary", "owner", "schema", "created",
    ]);
    for p in visible(hearth, workspace)? {
        table.push(vec![
            if p.scope.is_empty() {
                "*".into()
            } else {
                p.scope
            },
            p.prompt_id,
            p.version,
            p.status.as_str().to_owned(),
            format!("{}", p.canary_share),
            p.owner,
            p.schema_version.unwrap_or_default(),
            output::time(p.created_at_ms),
        ]);
    }
    table.print()
}

fn show(hearth: &Hearth, prompt: &str, workspace: Option<&str>) -> Result<(), CliError> {
    let (id, version) = match prompt.split_once('@') {
        Some((id, v)) => (id, Some(v)),
        None => (prompt, None),
    };
    let found: Vec<PromptVersion> = visible(hearth, workspace)?
        .into_iter()
        .filter(|p| p.prompt_id == id && version.is_none_or(|v| p.version == v))
        .collect();
    if found.is_empty() {
        let what = version.map_or_else(
            || format!("no prompt `{id}`"),
            |v| format!("prompt `{id}` has no version `{v}`"),
        );
        return Err(hearth::Error::NotFound(what).into());
    }
    output::json_pretty(&found)
}

fn create(hearth: &Hearth, file: &Path, workspace: Option<String>) -> Result<(), CliError> {
    let file_error = |message: String| CliError::File {
        path: file.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| file_error(e.to_string()))?;
    let mut new: NewPrompt = serde_json::from_str(&text).map_err(|e| file_error(e.to_string()))?;
    if workspace.is_some() {
        new.workspace = workspace;
    }
    output::json_pretty(&hearth.prompts().create(new)?)
}
