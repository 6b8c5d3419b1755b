//! `hearth usage`: requests, tokens and spend per workspace, day (UTC) and model.

use clap::Args;
use hearth::store::usage::{self, UsageRow};
use hearth::workspace::WorkspaceId;
use hearth::Hearth;

use super::output::{self, Table};
use super::CliError;

/// Flags of `hearth usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this workspace.
    #[arg(long)]
    workspace: Option<String>,
    /// First day, inclusive (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    from: Option<String>,
    /// Last day, inclusive (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    to: Option<String>,
    /// Prints the rows as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// Days are compared as text in the store, so anything but a real `YYYY-MM-DD` date
/// would filter silently wrong; refuse it instead.
fn parse_day(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not a YYYY-MM-DD date");
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    Ok(s.to_owned())
}

/// Prints the usage report.
pub fn run(hearth: &Hearth, args: &UsageArgs) -> Result<(), CliError> {
    let ws = args
        .workspace
        .as_deref()
        .map(WorkspaceId::parse)
        .transpose()?;
    let rows = hearth.store().with(|c| {
        usage::report(
            c,
            ws.as_ref().map(WorkspaceId::as_str),
            args.from.as_deref(),
            args.to.as_deref(),
        )
    })?;
    if args.json {
        output::json_pretty(&rows)
    } else {
        table(rows).print()
    }
}

fn table(rows: Vec<UsageRow>) -> Table {
    let mut table = Table::new(&[
        "day",
        "workspace",
        "model",
        "requests",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "cache_hits",
        "saved_usd",
    ]);
    for r in rows {
        table.push(vec![
            r.day,
            r.workspace_id,
            r.model,
            r.requests.to_string(),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            format!("{:.6}", r.cost_usd),
            r.cache_hits.to_string(),
            format!("{:.6}", r.saved_usd),
        ]);
    }
    table
}
