//! The `cache_entries` table. Every read and delete names the workspace as well as the
//! key, so an entry can never be served across workspaces even if two keys collided.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::error::Result;

/// A stored answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheRow {
    /// sha256 of the cache key fields.
    pub key_hash: String,
    /// Owning workspace.
    pub workspace_id: String,
    /// Provider that produced it.
    pub provider: String,
    /// `PROVIDER/MODEL`.
    pub model: String,
    /// The serialised provider response.
    pub response: String,
    /// What it cost when produced.
    pub cost_usd: f64,
    /// When it was stored.
    pub created_at_ms: i64,
    /// When it stops being served.
    pub expires_at_ms: i64,
}

/// An unexpired entry of this workspace with this key.
pub fn get(
    c: &Connection,
    workspace: &str,
    key_hash: &str,
    now_ms: i64,
) -> Result<Option<CacheRow>> {
    Ok(c.prepare_cached(
        "SELECT key_hash, workspace_id, provider, model, response, cost_usd, created_at_ms, expires_at_ms \
         FROM cache_entries WHERE key_hash = ?1 AND workspace_id = ?2 AND expires_at_ms > ?3",
    )?
    .query_row(params![key_hash, workspace, now_ms], |r| {
        Ok(CacheRow {
            key_hash: r.get(0)?,
            workspace_id: r.get(1)?,
            provider: r.get(2)?,
            model: r.get(3)?,
            response: r.get(4)?,
            cost_usd: r.get(5)?,
            created_at_ms: r.get(6)?,
            expires_at_ms: r.get(7)?,
        })
    })
    .optional()?)
}

/// Stores or replaces an entry (inside the writer's transaction).
pub fn put(tx: &Transaction<'_>, e: &CacheRow) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO cache_entries (key_hash, workspace_id, provider, model, response, cost_usd, created_at_ms, expires_at_ms) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
    )?
    .execute(params![
        e.key_hash,
        e.workspace_id,
        e.provider,
        e.model,
        e.response,
        e.cost_usd,
        e.created_at_ms,
        e.expires_at_ms
    ])?;
    Ok(())
}

/// Drops every entry of a workspace; returns how many.
pub fn purge_workspace(c: &Connection, workspace: &str) -> Result<usize> {
    Ok(c.execute(
        "DELETE FROM cache_entries WHERE workspace_id = ?1",
        [workspace],
    )?)
}

/// Drops expired entries; returns how many.
pub fn purge_expired(c: &Connection, now_ms: i64) -> Result<usize> {
    Ok(c.execute(
        "DELETE FROM cache_entries WHERE expires_at_ms <= ?1",
        [now_ms],
    )?)
}
