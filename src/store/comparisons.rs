//! The `comparisons` table: side-by-side runs the UI saved, per workspace and user.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::now_ms;
use super::threads::Owner;
use crate::error::{Error, Result};

/// What a comparison holds: the prompt, the models and each column's result (the UI's JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComparisonBody {
    /// The prompt sent to every model.
    pub prompt: String,
    /// The models compared, in column order.
    pub models: Vec<String>,
    /// Each column's result as the UI recorded it.
    #[serde(default)]
    pub results: Vec<serde_json::Value>,
}

/// A saved comparison.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The prompt, models and results, at the top level as they were sent.
    #[serde(flatten)]
    pub body: ComparisonBody,
    /// When it was saved.
    pub created_at_ms: i64,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Comparison> {
    let body: String = r.get(2)?;
    Ok(Comparison {
        id: r.get(0)?,
        title: r.get(1)?,
        body: serde_json::from_str(&body).unwrap_or_default(),
        created_at_ms: r.get(3)?,
    })
}

/// Saves a comparison.
pub fn save(
    c: &Connection,
    owner: Owner<'_>,
    title: &str,
    body: &ComparisonBody,
) -> Result<Comparison> {
    let text = serde_json::to_string(body).map_err(|e| Error::Storage(e.to_string()))?;
    let id = format!("cmp_{}", uuid::Uuid::new_v4().simple());
    let now = now_ms();
    c.execute(
        "INSERT INTO comparisons (id, workspace_id, user_id, title, body, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, owner.workspace, owner.user, title, text, now],
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
