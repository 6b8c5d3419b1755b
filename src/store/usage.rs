//! The `usage_daily` and `budget_alerts` tables.

use rusqlite::{params, Connection, Transaction};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What one request adds to a workspace's day on one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageDelta {
    /// Workspace.
    pub workspace_id: String,
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// `PROVIDER/MODEL`.
    pub model: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// USD charged.
    pub cost_usd: f64,
    /// Whether the cache answered.
    pub cache_hit: bool,
    /// USD the cache saved.
    pub saved_usd: f64,
}

/// A row of the usage report.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UsageRow {
    /// Workspace.
    pub workspace_id: String,
    /// Day.
    pub day: String,
    /// Model.
    pub model: String,
    /// Requests served.
    pub requests: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// USD charged.
    pub cost_usd: f64,
    /// Cache hits.
    pub cache_hits: u64,
    /// USD saved by the cache.
    pub saved_usd: f64,
}

/// Adds a request's usage (inside the writer's transaction).
pub fn add(tx: &Transaction<'_>, u: &UsageDelta) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO usage_daily (workspace_id, day, model, requests, input_tokens, output_tokens, cost_usd, cache_hits, saved_usd) \
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (workspace_id, day, model) DO UPDATE SET requests = requests + 1, \
         input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens, \
         cost_usd = cost_usd + excluded.cost_usd, cache_hits = cache_hits + excluded.cache_hits, \
         saved_usd = saved_usd + excluded.saved_usd",
    )?
    .execute(params![
        u.workspace_id,
        u.day,
        u.model,
        u.input_tokens as i64,
        u.output_tokens as i64,
        u.cost_usd,
        i64::from(u.cache_hit),
        u.saved_usd
    ])?;
    Ok(())
}

/// A workspace's spend and tokens on a day, over all models.
pub fn day_totals(c: &Connection, workspace: &str, day: &str) -> Result<(f64, u64)> {
    let (cost, tokens): (f64, i64) = c.query_row(
        "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens + output_tokens), 0) \
         FROM usage_daily WHERE workspace_id = ?1 AND day = ?2",
        [workspace, day],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((cost, tokens.max(0) as u64))
}

/// Usage rows, optionally of one workspace and a day range (inclusive).
pub fn report(
    c: &Connection,
    workspace: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<UsageRow>> {
    let mut stmt = c.prepare(
        "SELECT workspace_id, day, model, requests, input_tokens, output_tokens, cost_usd, cache_hits, saved_usd \
         FROM usage_daily WHERE (?1 IS NULL OR workspace_id = ?1) AND (?2 IS NULL OR day >= ?2) \
         AND (?3 IS NULL OR day <= ?3) ORDER BY day, workspace_id, model",
    )?;
    let rows = stmt.query_map(params![workspace, from, to], |r| {
        Ok(UsageRow {
            workspace_id: r.get(0)?,
            day: r.get(1)?,
            model: r.get(2)?,
            requests: r.get::<_, i64>(3)?.max(0) as u64,
            input_tokens: r.get::<_, i64>(4)?.max(0) as u64,
            output_tokens: r.get::<_, i64>(5)?.max(0) as u64,
            cost_usd: r.get(6)?,
            cache_hits: r.get::<_, i64>(7)?.max(0) as u64,
            saved_usd: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A raised budget alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct BudgetAlert {
    /// Workspace.
    pub workspace_id: String,
    /// Day.
    pub day: String,
    /// The share of the budget that was crossed.
    pub share: f64,
    /// Spend when it was crossed.
    pub spent_usd: f64,
    /// The budget.
    pub budget_usd: f64,
    /// When.
    pub at_ms: i64,
}

/// Records an alert once per workspace, day and share.
pub fn add_alert(tx: &Transaction<'_>, a: &BudgetAlert) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO budget_alerts (workspace_id, day, share, spent_usd, budget_usd, at_ms) VALUES (?1,?2,?3,?4,?5,?6)",
        params![a.workspace_id, a.day, a.share, a.spent_usd, a.budget_usd, a.at_ms],
    )?;
    Ok(())
}

/// Alerts, newest first.
pub fn alerts(c: &Connection, workspace: Option<&str>) -> Result<Vec<BudgetAlert>> {
    let mut stmt = c.prepare(
        "SELECT workspace_id, day, share, spent_usd, budget_usd, at_ms FROM budget_alerts \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY at_ms DESC",
    )?;
    let rows = stmt.query_map([workspace], |r| {
        Ok(BudgetAlert {
            workspace_id: r.get(0)?,
            day: r.get(1)?,
            share: r.get(2)?,
            spent_usd: r.get(3)?,
            budget_usd: r.get(4)?,
            at_ms: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
