//! `hearth audit`: the audit log as JSON lines, across every workspace unless one is named.

use std::time::Duration;

use clap::Subcommand;
use hearth::audit::{AuditEvent, AuditQuery};
use hearth::store;
use hearth::workspace::WorkspaceId;
use hearth::Hearth;

use super::{output, CliError};

/// Events read per query while catching up.
const PAGE: u32 = 500;

/// `hearth audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Prints the newest events as JSON lines, oldest of them first.
    Tail {
        /// Only this workspace's events.
        #[arg(long)]
        workspace: Option<String>,
        /// How many events to print.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Keeps printing new events as they are written (until Ctrl-C).
        #[arg(long)]
        follow: bool,
    },
    /// Deletes events older than N days as one logged retention run (the only way
    /// events ever leave the append-only log).
    Purge {
        /// Age in days of the oldest events kept.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        older_than_days: u32,
    },
}

/// Runs an `audit` command.
pub async fn run(hearth: &Hearth, cmd: AuditCommand) -> Result<(), CliError> {
    let (workspace, limit, follow) = match cmd {
        AuditCommand::Tail {
            workspace,
            limit,
            follow,
        } => (workspace, limit, follow),
        AuditCommand::Purge { older_than_days } => return purge(hearth, older_than_days),
    };
    let tenant = workspace
        .map(|w| WorkspaceId::parse(&w).map(|id| id.as_str().to_owned()))
        .transpose()?;
    let newest = page(hearth, tenant.as_deref(), None, limit)?;
    let mut last = newest.first().map_or(0, |e| e.id);
    print_oldest_first(newest)?;
    if !follow {
        return Ok(());
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let fresh = newer_than(hearth, tenant.as_deref(), last)?;
        if let Some(e) = fresh.first() {
            last = e.id;
        }
        print_oldest_first(fresh)?;
    }
}

/// Events newest first, below `before_id` when given.
fn page(
    hearth: &Hearth,
    tenant: Option<&str>,
    before_id: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEvent>, CliError> {
    let q = AuditQuery {
        tenant_id: tenant.map(str::to_owned),
        before_id,
        limit,
        ..AuditQuery::default()
    };
    Ok(hearth.store().with(|c| store::audit::query(c, &q))?)
}

/// Every event with an id above `last`, newest first, however many arrived since.
fn newer_than(
    hearth: &Hearth,
    tenant: Option<&str>,
    last: i64,
) -> Result<Vec<AuditEvent>, CliError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let events = page(hearth, tenant, before, PAGE)?;
        let exhausted = events.len() < PAGE as usize || events.last().is_none_or(|e| e.id <= last);
        before = events.last().map(|e| e.id);
        out.extend(events.into_iter().take_while(|e| e.id > last));
        if exhausted {
            return Ok(out);
        }
    }
}

fn print_oldest_first(newest_first: Vec<AuditEvent>) -> Result<(), CliError> {
    for e in newest_first.iter().rev() {
        output::json_line(e)?;
    }
    Ok(())
}

/// One logged retention run.
fn purge(hearth: &Hearth, days: u32) -> Result<(), CliError> {
    let before = store::now_ms() - i64::from(days) * 86_400_000;
    let n = hearth
        .store()
        .with(|c| store::audit::purge_before(c, before))?;
    output::line(&format!("purged {n} audit events older than {days} days"))?;
    Ok(())
}
