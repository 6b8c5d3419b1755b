//! `hearth workspaces`: the tenants, their tier and the limits that override the tier's.

use clap::{Args, Subcommand, ValueEnum};
use hearth::admin;
use hearth::store::workspaces;
use hearth::workspace::{DataPolicy, Workspace, WorkspaceId, WorkspacePatch};
use hearth::Hearth;

use super::output::{self, Table};
use super::CliError;

/// `hearth workspaces ...`
#[derive(Debug, Subcommand)]
pub enum WorkspacesCommand {
    /// Creates a workspace and prints it as JSON.
    Create {
        /// The new workspace's id.
        id: String,
        /// A tier of the policy [default: the best tier the policy has].
        #[arg(long)]
        tier: Option<String>,
        /// Where its text may be sent.
        #[arg(long, value_enum, default_value_t = DataPolicyArg::Any)]
        data_policy: DataPolicyArg,
    },
    /// Changes a workspace's settings and prints the result as JSON.
    Set(SetArgs),
    /// Lists every workspace.
    List,
    /// Prints one workspace as JSON.
    Show {
        /// The workspace id.
        id: String,
    },
}

/// Flags of `hearth workspaces set`; each one left out keeps its current value.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The workspace id.
    id: String,
    /// A tier of the policy.
    #[arg(long)]
    tier: Option<String>,
    /// USD a day.
    #[arg(long, value_name = "USD")]
    daily_budget_usd: Option<f64>,
    /// Tokens (input + output) a day.
    #[arg(long, value_name = "N")]
    daily_token_limit: Option<u64>,
    /// Requests a minute for the workspace.
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// Requests a minute for each user.
    #[arg(long, value_name = "N")]
    user_rpm: Option<u32>,
    /// Requests in flight at once.
    #[arg(long, value_name = "N")]
    max_concurrency: Option<u32>,
    /// Where its text may be sent.
    #[arg(long, value_enum)]
    data_policy: Option<DataPolicyArg>,
    /// Whether the exact cache serves and stores its answers.
    #[arg(long, value_enum)]
    cache: Option<Switch>,
    /// Share of the daily budget (0-1] at which an alert is raised.
    #[arg(long, value_name = "SHARE")]
    budget_alert_share: Option<f64>,
    /// A regex the PII guard treats as personal data, on top of the built-in detectors
    /// (repeatable; replaces the workspace's list).
    #[arg(long = "pii-pattern", value_name = "REGEX")]
    pii_patterns: Vec<String>,
    /// Removes the workspace's own PII patterns.
    #[arg(long, conflicts_with = "pii_patterns")]
    clear_pii_patterns: bool,
    /// A tool requests may offer: a name, or a prefix ending in `*`; `*` allows any, the
    /// default (repeatable; replaces the workspace's list).
    #[arg(long = "allowed-tool", value_name = "NAME")]
    allowed_tools: Vec<String>,
    /// Allows no tool at all.
    #[arg(long, conflicts_with = "allowed_tools")]
    no_tools: bool,
    /// Removes a limit set on the workspace, so the tier's applies again (repeatable).
    #[arg(long, value_enum, value_name = "LIMIT")]
    unset: Vec<LimitField>,
}

/// A workspace limit that `--unset` can remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum LimitField {
    /// `daily_budget_usd`.
    DailyBudgetUsd,
    /// `daily_token_limit`.
    DailyTokenLimit,
    /// `rpm`.
    Rpm,
    /// `user_rpm`.
    UserRpm,
}

/// A data policy as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum DataPolicyArg {
    /// Never to a hosted provider.
    LocalOnly,
    /// Requests with PII only to on-device models.
    PiiToLocalOnly,
    /// PII replaced by placeholders before a hosted provider sees the text.
    Redact,
    /// Any provider the tier allows.
    Any,
}

impl From<DataPolicyArg> for DataPolicy {
    fn from(p: DataPolicyArg) -> DataPolicy {
        match p {
            DataPolicyArg::LocalOnly => DataPolicy::LocalOnly,
            DataPolicyArg::PiiToLocalOnly => DataPolicy::PiiToLocalOnly,
            DataPolicyArg::Redact => DataPolicy::Redact,
            DataPolicyArg::Any => DataPolicy::Any,
        }
    }
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Runs a `workspaces` command.
pub fn run(hearth: &Hearth, cmd: WorkspacesCommand) -> Result<(), CliError> {
    match cmd {
        WorkspacesCommand::Create {
            id,
            tier,
            data_policy,
        } => create(hearth, &id, tier, data_policy.into()),
        WorkspacesCommand::Set(args) => set(hearth, args),
        WorkspacesCommand::List => list(hearth),
        WorkspacesCommand::Show { id } => output::json_pretty(&get(hearth, &id)?),
    }
}

fn create(
    hearth: &Hearth,
    id: &str,
    tier: Option<String>,
    policy: DataPolicy,
) -> Result<(), CliError> {
    let tier = tier.unwrap_or_else(|| hearth.best_tier());
    let ws = admin::create_workspace(hearth, id, &tier, policy, WorkspacePatch::default())?;
    output::json_pretty(&ws)
}

fn set(hearth: &Hearth, args: SetArgs) -> Result<(), CliError> {
    let id = WorkspaceId::parse(&args.id)?;
    let unset = |limit: LimitField, given: bool| -> Result<bool, CliError> {
        let unset = args.unset.contains(&limit);
        if unset && given {
            let name = limit.to_possible_value().map(|v| v.get_name().to_owned());
            return Err(CliError::Invalid(format!(
                "--unset {} contradicts the value given for it",
                name.unwrap_or_default()
            )));
        }
        Ok(unset)
    };
    let patch = WorkspacePatch {
        daily_budget_usd: change(
            args.daily_budget_usd,
            unset(LimitField::DailyBudgetUsd, args.daily_budget_usd.is_some())?,
        ),
        daily_token_limit: change(
            args.daily_token_limit,
            unset(
                LimitField::DailyTokenLimit,
                args.daily_token_limit.is_some(),
            )?,
        ),
        rpm: change(args.rpm, unset(LimitField::Rpm, args.rpm.is_some())?),
        user_rpm: change(
            args.user_rpm,
            unset(LimitField::UserRpm, args.user_rpm.is_some())?,
        ),
        tier: args.tier,
        data_policy: args.data_policy.map(DataPolicy::from),
        max_concurrency: args.max_concurrency,
        cache_enabled: args.cache.map(|s| matches!(s, Switch::On)),
        budget_alert_share: args.budget_alert_share,
        pii_patterns: if args.clear_pii_patterns {
            Some(Vec::new())
        } else {
            (!args.pii_patterns.is_empty()).then_some(args.pii_patterns)
        },
        allowed_tools: if args.no_tools {
            Some(Vec::new())
        } else {
            (!args.allowed_tools.is_empty()).then_some(args.allowed_tools)
        },
    };
    let ws = admin::update_workspace(hearth, &id, patch)?;
    output::json_pretty(&ws)
}

/// A patch field: `Some(None)` removes the limit, `None` leaves it as it is.
fn change<T>(value: Option<T>, unset: bool) -> Option<Option<T>> {
    if unset {
        Some(None)
    } else {
        value.map(Some)
    }
}

fn get(hearth: &Hearth, id: &str) -> Result<Workspace, CliError> {
    Ok(hearth.workspace(&WorkspaceId::parse(id)?)?)
}

fn list(hearth: &Hearth) -> Result<(), CliError> {
    let all = hearth.store().with(|c| workspaces::list(c))?;
    let mut table = Table::new(&[
        "id",
        "tier",
        "data_policy",
        "daily_budget_usd",
        "daily_token_limit",
        "rpm",
        "user_rpm",
        "max_concurrency",
        "cache",
    ]);
    for ws in all {
        table.push(vec![
            ws.id.to_string(),
            ws.tier,
            ws.data_policy.as_str().to_owned(),
            or_tier(ws.daily_budget_usd),
            or_tier(ws.daily_token_limit),
            or_tier(ws.rpm),
            or_tier(ws.user_rpm),
            ws.max_concurrency.to_string(),
            if ws.cache_enabled { "on" } else { "off" }.to_owned(),
        ]);
    }
    table.print()
}

/// An unset limit falls back to the tier (or to none), shown as `-`.
fn or_tier(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
