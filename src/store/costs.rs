//! Spend broken down for the costs view: per day, workspace, model and task, from the audit
//! log (one event per request, so every request counts once), plus what the cache saved.

use rusqlite::{params, Connection};
use serde::Serialize;

use crate::error::Result;

/// One group's totals.
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Totals {
    /// The group's key (a day, workspace, model or task); empty for the grand total.
    pub key: String,
    /// Requests that reached a model or the cache.
    pub requests: u64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// USD spent.
    pub cost_usd: f64,
    /// Requests answered from the exact cache.
    pub cache_hits: u64,
}

/// The whole breakdown of a period.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Breakdown {
    /// Everything in the period.
    pub total: Totals,
    /// Per UTC day, oldest first.
    pub by_day: Vec<Totals>,
    /// Per workspace, most expensive first.
    pub by_workspace: Vec<Totals>,
    /// Per model, most expensive first.
    pub by_model: Vec<Totals>,
    /// Per task, most expensive first.
    pub by_task: Vec<Totals>,
    /// USD the cache saved (what its hits would have cost).
    pub cache_saved_usd: f64,
}

/// Which events count.
#[derive(Debug, Clone, Copy)]
pub struct Period<'a> {
    /// From this unix millisecond, inclusive.
    pub from_ms: i64,
    /// Until this unix millisecond, exclusive.
    pub to_ms: i64,
    /// Only this workspace, or all.
    pub workspace: Option<&'a str>,
}

fn group(c: &Connection, p: Period<'_>, key: &str, order: &str) -> Result<Vec<Totals>> {
    let sql = format!(
        "SELECT {key} AS k, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(estimated_cost_usd), SUM(cache_hit) \
         FROM audit_events WHERE event_type = 'llm_request_completed' AND ts_ms >= ?1 AND ts_ms < ?2 \
         AND (?3 IS NULL OR tenant_id = ?3) GROUP BY k ORDER BY {order}"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![p.from_ms, p.to_ms, p.workspace], |r| {
        Ok(Totals {
            key: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
            requests: r.get::<_, i64>(1)?.max(0) as u64,
            input_tokens: r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
            output_tokens: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
            cost_usd: r.get::<_, Option<f64>>(4)?.unwrap_or(0.0),
            cache_hits: r.get::<_, Option<i64>>(5)?.unwrap_or(0).max(0) as u64,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The breakdown of a period.
pub fn breakdown(c: &Connection, p: Period<'_>) -> Result<Breakdown> {
    const DAY: &str = "strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch')";
    let total = group(c, p, "''", "k")?
        .into_iter()
        .next()
        .unwrap_or_default();
    let saved: f64 = c.query_row(
        "SELECT COALESCE(SUM(saved_usd), 0) FROM usage_daily WHERE day >= ?1 AND day <= ?2 \
         AND (?3 IS NULL OR workspace_id = ?3)",
        params![
            super::day_of(p.from_ms),
            super::day_of(p.to_ms - 1),
            p.workspace
        ],
        |r| r.get(0),
    )?;
    Ok(Breakdown {
        total,
        by_day: group(c, p, DAY, "k")?,
        by_workspace: group(c, p, "tenant_id", "5 DESC, k")?,
        by_model: group(c, p, "model", "5 DESC, k")?,
        by_task: group(c, p, "task", "5 DESC, k")?,
        cache_saved_usd: saved,
    })
}
