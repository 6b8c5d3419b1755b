//! The `idempotent_answers` table: a whole answer kept for a day under the workspace and the
//! `Idempotency-Key` of the request it answered, with that request's hash.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

/// How long an answer is kept for retries.
pub const KEPT_FOR_MS: i64 = 24 * 60 * 60 * 1000;

/// An answer as it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// sha256 of the endpoint and the request body.
    pub request_hash: String,
    pub status: u16,
    /// The `x-hearth-*` headers it was sent with.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
}

/// The answer kept under `workspace` and `key` within the last day, if any.
pub fn get(c: &Connection, workspace: &str, key: &str, now_ms: i64) -> Result<Option<Kept>> {
    let row = c
        .query_row(
            "SELECT request_hash, status, headers, body FROM idempotent_answers \
             WHERE workspace_id = ?1 AND key = ?2 AND created_at_ms > ?3",
            params![workspace, key, now_ms - KEPT_FOR_MS],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u16>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            },
        )
        .optional()?;
    row.map(|(request_hash, status, headers, body)| {
        let headers = serde_json::from_str(&headers).map_err(|e| Error::Storage(e.to_string()))?;
        Ok(Kept {
            request_hash,
            status,
            headers,
            body,
        })
    })
    .transpose()
}

/// Keeps `kept` under `workspace` and `key` (replacing an expired one), and drops the
/// workspace's expired answers.
pub fn put(c: &Connection, workspace: &str, key: &str, kept: &Kept, now_ms: i64) -> Result<()> {
    let headers =
        serde_json::to_string(&kept.headers).map_err(|e| Error::Storage(e.to_string()))?;
    c.execute(
        "DELETE FROM idempotent_answers WHERE workspace_id = ?1 AND created_at_ms <= ?2",
        params![workspace, now_ms - KEPT_FOR_MS],
    )?;
    c.execute(
        "INSERT OR REPLACE INTO idempotent_answers \
         (workspace_id, key, request_hash, status, headers, body, created_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            workspace,
            key,
            kept.request_hash,
            kept.status,
            headers,
            kept.body,
            now_ms
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn kept(body: &str) -> Kept {
        Kept {
            request_hash: "h".into(),
            status: 200,
            headers: vec![("x-hearth-provider".into(), "mock-fast".into())],
            body: body.into(),
        }
    }

    #[test]
    fn an_answer_is_kept_per_workspace_for_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .with(|c| {
                put(c, "a", "k1", &kept("{}"), 1_000)?;
                assert_eq!(get(c, "a", "k1", 2_000)?, Some(kept("{}")));
                assert_eq!(get(c, "b", "k1", 2_000)?, None, "never across workspaces");
                let after_a_day = 1_000 + KEPT_FOR_MS;
                assert_eq!(get(c, "a", "k1", after_a_day)?, None, "gone after a day");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn an_expired_answer_is_dropped_when_the_workspace_keeps_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rows: i64 = store
            .with(|c| {
                put(c, "a", "old", &kept("{}"), 1_000)?;
                put(c, "a", "new", &kept("{}"), 1_000 + KEPT_FOR_MS)?;
                Ok(c.query_row("SELECT COUNT(*) FROM idempotent_answers", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(rows, 1);
    }
}
