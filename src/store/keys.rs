//! The `api_keys` table: hashes only, never a key.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::now_ms;
use crate::error::{Error, Result};
use crate::workspace::{Principal, Role, UserId, WorkspaceId};

/// A key as listed: never the key itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// The key's id (also its visible prefix).
    pub id: String,
    /// Its workspace.
    pub workspace: String,
    /// Its user.
    pub user: String,
    /// Its role.
    pub role: Role,
    /// When it was made.
    pub created_at_ms: i64,
    /// When it was revoked, if it was.
    #[schema(required = true)]
    pub revoked_at_ms: Option<i64>,
}

/// Stores a new key's hash.
pub fn insert(c: &Connection, id: &str, hash: &str, p: &Principal) -> Result<()> {
    c.execute(
        "INSERT INTO api_keys (id, key_hash, workspace_id, user_id, role, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            hash,
            p.workspace.as_str(),
            p.user.as_str(),
            p.role.as_str(),
            now_ms()
        ],
    )?;
    super::directory::touch(c);
    Ok(())
}

/// The principal of a live key with this hash.
pub fn resolve(c: &Connection, hash: &str) -> Result<Option<Principal>> {
    let row: Option<(String, String, String)> = c
        .prepare_cached(
            "SELECT workspace_id, user_id, role FROM api_keys WHERE key_hash = ?1 AND revoked_at_ms IS NULL",
        )?
        .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((ws, user, role)) = row else {
        return Ok(None);
    };
    Ok(Some(Principal {
        workspace: WorkspaceId::parse(&ws)?,
        user: UserId::parse(&user)?,
        role: Role::parse(&role).unwrap_or(Role::User),
    }))
}

/// Keys, optionally of one workspace.
pub fn list(c: &Connection, workspace: Option<&WorkspaceId>) -> Result<Vec<KeyInfo>> {
    let mut stmt = c.prepare(
        "SELECT id, workspace_id, user_id, role, created_at_ms, revoked_at_ms FROM api_keys \
         WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY created_at_ms, id",
    )?;
    let rows = stmt.query_map([workspace.map(WorkspaceId::as_str)], |r| {
        let role: String = r.get(3)?;
        Ok(KeyInfo {
            id: r.get(0)?,
            workspace: r.get(1)?,
            user: r.get(2)?,
            role: Role::parse(&role).unwrap_or(Role::User),
            created_at_ms: r.get(4)?,
            revoked_at_ms: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes a key by id.
pub fn revoke(c: &Connection, id: &str) -> Result<()> {
    let n = c.execute(
        "UPDATE api_keys SET revoked_at_ms = ?2 WHERE id = ?1 AND revoked_at_ms IS NULL",
        params![id, now_ms()],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no live key with id `{id}`")));
    }
    super::directory::touch(c);
    Ok(())
}
