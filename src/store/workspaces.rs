//! The `workspaces` table.

use rusqlite::{Connection, OptionalExtension, Row, ToSql};

use crate::error::{Error, Result};
use crate::workspace::{DataPolicy, Workspace, WorkspaceId};

fn from_row(r: &Row<'_>) -> rusqlite::Result<(String, Workspace)> {
    let id: String = r.get(0)?;
    let policy: String = r.get(2)?;
    let ws = Workspace {
        id: WorkspaceId::parse(&id).map_err(|_| rusqlite::Error::InvalidQuery)?,
        tier: r.get(1)?,
        data_policy: DataPolicy::parse(&policy).unwrap_or(DataPolicy::LocalOnly),
        daily_budget_usd: r.get(3)?,
        daily_token_limit: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u64),
        rpm: r.get(5)?,
        user_rpm: r.get(6)?,
        max_concurrency: r.get(7)?,
        cache_enabled: r.get(8)?,
        budget_alert_share: r.get(9)?,
        pii_patterns: serde_json::from_str(&r.get::<_, String>(10)?).unwrap_or_default(),
        // An unreadable list allows nothing rather than everything.
        allowed_tools: serde_json::from_str(&r.get::<_, String>(11)?).unwrap_or_default(),
    };
    Ok((id, ws))
}

const COLUMNS: &str = "id, tier, data_policy, daily_budget_usd, daily_token_limit, rpm, user_rpm, \
                       max_concurrency, cache_enabled, budget_alert_share, pii_patterns, \
                       allowed_tools";

/// One workspace.
pub fn get(c: &Connection, id: &WorkspaceId) -> Result<Option<Workspace>> {
    let sql = format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id.as_str()], from_row)
        .optional()?
        .map(|(_, w)| w))
}

/// Every workspace, by id.
pub fn list(c: &Connection) -> Result<Vec<Workspace>> {
    let sql = format!("SELECT {COLUMNS} FROM workspaces ORDER BY id");
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .map(|(_, w)| w)
        .collect())
}

/// Runs `sql` with the workspace's settings bound to ?1..?12 and returns how many rows
/// it changed.
fn write(c: &Connection, sql: &str, ws: &Workspace) -> Result<usize> {
    let token_limit = ws
        .daily_token_limit
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let patterns = serde_json::to_string(&ws.pii_patterns).unwrap_or_else(|_| "[]".into());
    let tools = serde_json::to_string(&ws.allowed_tools).unwrap_or_else(|_| "[]".into());
    let values: [&dyn ToSql; 12] = [
        &ws.id.as_str(),
        &ws.tier,
        &ws.data_policy.as_str(),
        &ws.daily_budget_usd,
        &token_limit,
        &ws.rpm,
        &ws.user_rpm,
        &ws.max_concurrency,
        &ws.cache_enabled,
        &ws.budget_alert_share,
        &patterns,
        &tools,
    ];
    Ok(c.execute(sql, values)?)
}

/// Creates a workspace; fails with `workspace_exists` when the id is taken.
pub fn insert(c: &Connection, ws: &Workspace) -> Result<()> {
    let sql = "INSERT OR IGNORE INTO workspaces (id, tier, data_policy, daily_budget_usd, daily_token_limit, \
               rpm, user_rpm, max_concurrency, cache_enabled, budget_alert_share, pii_patterns, allowed_tools, created_at_ms) \
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, CAST(unixepoch('subsec') * 1000 AS INTEGER))";
    if write(c, sql, ws)? == 0 {
        return Err(Error::unprocessable(
            "workspace_exists",
            format!("workspace `{}` already exists", ws.id),
        ));
    }
    super::directory::touch(c);
    Ok(())
}

/// Writes a workspace's settings back; `not_found` when it does not exist.
pub fn update(c: &Connection, ws: &Workspace) -> Result<()> {
    let sql = "UPDATE workspaces SET tier = ?2, data_policy = ?3, daily_budget_usd = ?4, daily_token_limit = ?5, \
               rpm = ?6, user_rpm = ?7, max_concurrency = ?8, cache_enabled = ?9, budget_alert_share = ?10, \
               pii_patterns = ?11, allowed_tools = ?12 \
               WHERE id = ?1";
    if write(c, sql, ws)? == 0 {
        return Err(Error::NotFound(format!("no workspace `{}`", ws.id)));
    }
    super::directory::touch(c);
    Ok(())
}
