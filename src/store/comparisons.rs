//! The `comparisons` table: side-by-side runs the UI saved, per workspace and user.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::now_ms;
use super::threads::Owner;
use crate::error::{Error, Result};

/// A saved comparison; `body` is what the UI sent (prompt, models, results).
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The prompt, the models and each column's result.
    pub body: serde_json::Value,
    /// When it was saved.
    pub created_at_ms: i64,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Comparison> {
    let body: String = r.get(2)?;
    Ok(Comparison {
        id: r.get(0)?,
        title: r.get(1)?,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        created_at_ms: r.get(3)?,
    })
}

/// Saves a comparison.
pub fn save(
    c: &Connection,
    owner: Owner<'_>,
    title: &str,
    body: &serde_json::Value,
) -> Result<Comparison> {
    let id = format!("cmp_{}", uuid::Uuid::new_v4().simple());
    let now = now_ms();
    c.execute(
        "INSERT INTO comparisons (id, workspace_id, user_id, title, body, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, owner.workspace, owner.user, title, body.to_string(), now],
    )?;
    Ok(Comparison {
        id,
        title: title.to_owned(),
        body: body.clone(),
        created_at_ms: now,
    })
}

/// The owner's comparisons, newest first.
pub fn list(c: &Connection, owner: Owner<'_>, limit: u32) -> Result<Vec<Comparison>> {
    let mut stmt = c.prepare(
        "SELECT id, title, body, created_at_ms FROM comparisons WHERE workspace_id = ?1 AND user_id = ?2 \
         ORDER BY created_at_ms DESC, id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![owner.workspace, owner.user, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One of the owner's comparisons.
pub fn get(c: &Connection, owner: Owner<'_>, id: &str) -> Result<Comparison> {
    c.query_row(
        "SELECT id, title, body, created_at_ms FROM comparisons WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
        params![id, owner.workspace, owner.user],
        from_row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no comparison `{id}`")))
}

/// Deletes one of the owner's comparisons.
pub fn delete(c: &Connection, owner: Owner<'_>, id: &str) -> Result<()> {
    let n = c.execute(
        "DELETE FROM comparisons WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
        params![id, owner.workspace, owner.user],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no comparison `{id}`")));
    }
    Ok(())
}
