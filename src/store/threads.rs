//! The `threads` and `thread_messages` tables: the UI's chat history, always read and
//! written for one owner (workspace and user), so nobody sees another's threads.

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::now_ms;
use crate::error::{Error, Result};

/// Whose threads: every query is scoped by both.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// The workspace.
    pub workspace: &'a str,
    /// The user.
    pub user: &'a str,
}

/// A thread as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Thread {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// When it was made.
    pub created_at_ms: i64,
    /// When it last changed (a message or a rename).
    pub updated_at_ms: i64,
}

/// One message of a thread.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ThreadMessage {
    /// Its id (increasing within the install).
    pub id: i64,
    /// `user` or `assistant`.
    pub role: String,
    /// Its text.
    pub content: String,
    /// The UI's own data about it (model, provider, cost...).
    pub meta: serde_json::Value,
    /// When it was added.
    pub created_at_ms: i64,
}

fn thread_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<Thread> {
    Ok(Thread {
        id: r.get(0)?,
        title: r.get(1)?,
        created_at_ms: r.get(2)?,
        updated_at_ms: r.get(3)?,
    })
}

/// Creates a thread.
pub fn create(c: &Connection, owner: Owner<'_>, title: &str) -> Result<Thread> {
    let id = format!("th_{}", uuid::Uuid::new_v4().simple());
    let now = now_ms();
    c.execute(
        "INSERT INTO threads (id, workspace_id, user_id, title, created_at_ms, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![id, owner.workspace, owner.user, title, now],
    )?;
    Ok(Thread {
        id,
        title: title.to_owned(),
        created_at_ms: now,
        updated_at_ms: now,
    })
}

/// The owner's threads, newest first; `query` keeps those whose title or messages contain it.
pub fn list(
    c: &Connection,
    owner: Owner<'_>,
    query: Option<&str>,
    limit: u32,
) -> Result<Vec<Thread>> {
    let pattern = query.map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let mut stmt = c.prepare(
        "SELECT id, title, created_at_ms, updated_at_ms FROM threads t \
         WHERE workspace_id = ?1 AND user_id = ?2 AND (?3 IS NULL OR title LIKE ?3 ESCAPE '\\' \
           OR EXISTS (SELECT 1 FROM thread_messages m WHERE m.thread_id = t.id AND m.content LIKE ?3 ESCAPE '\\')) \
         ORDER BY updated_at_ms DESC, id LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![owner.workspace, owner.user, pattern, limit],
        thread_from,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One of the owner's threads.
pub fn get(c: &Connection, owner: Owner<'_>, id: &str) -> Result<Thread> {
    c.query_row(
        "SELECT id, title, created_at_ms, updated_at_ms FROM threads \
         WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
        params![id, owner.workspace, owner.user],
        thread_from,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no thread `{id}`")))
}

/// Renames one of the owner's threads.
pub fn rename(c: &Connection, owner: Owner<'_>, id: &str, title: &str) -> Result<Thread> {
    let n = c.execute(
        "UPDATE threads SET title = ?4, updated_at_ms = ?5 \
         WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
        params![id, owner.workspace, owner.user, title, now_ms()],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no thread `{id}`")));
    }
    get(c, owner, id)
}

/// Deletes one of the owner's threads with its messages.
pub fn delete(c: &Connection, owner: Owner<'_>, id: &str) -> Result<()> {
    let n = c.execute(
        "DELETE FROM threads WHERE id = ?1 AND workspace_id = ?2 AND user_id = ?3",
        params![id, owner.workspace, owner.user],
    )?;
    if n == 0 {
        return Err(Error::NotFound(format!("no thread `{id}`")));
    }
    Ok(())
}

/// The messages of one of the owner's threads, oldest first.
pub fn messages(c: &Connection, owner: Owner<'_>, id: &str) -> Result<Vec<ThreadMessage>> {
    get(c, owner, id)?;
    let mut stmt = c.prepare(
        "SELECT id, role, content, meta, created_at_ms FROM thread_messages WHERE thread_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([id], |r| {
        let meta: String = r.get(3)?;
        Ok(ThreadMessage {
            id: r.get(0)?,
            role: r.get(1)?,
            content: r.get(2)?,
            meta: serde_json::from_str(&meta).unwrap_or(serde_json::Value::Null),
            created_at_ms: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Adds a message to one of the owner's threads.
pub fn add_message(
    c: &mut Connection,
    owner: Owner<'_>,
    id: &str,
    role: &str,
    content: &str,
    meta: &serde_json::Value,
) -> Result<ThreadMessage> {
    let tx = c.transaction()?;
    get(&tx, owner, id)?;
    let now = now_ms();
    tx.execute(
        "INSERT INTO thread_messages (thread_id, role, content, meta, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, role, content, meta.to_string(), now],
    )?;
    let msg_id = tx.last_insert_rowid();
    tx.execute(
        "UPDATE threads SET updated_at_ms = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    tx.commit()?;
    Ok(ThreadMessage {
        id: msg_id,
        role: role.to_owned(),
        content: content.to_owned(),
        meta: meta.clone(),
        created_at_ms: now,
    })
}
