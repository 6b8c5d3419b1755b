//! The `prompts` table (immutable versions; only status and canary share move) and its
//! rollout log.

use rusqlite::{params, Connection, Row};

use super::now_ms;
use crate::error::{Error, Result};
use crate::prompts::{PromptVersion, RolloutStatus};
use crate::providers::ResponseFormat;

const COLUMNS: &str = "scope, prompt_id, version, template, variables, owner, compatible_models, \
    schema_version, response_format, eval, changelog, status, canary_share, created_at_ms";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PromptVersion> {
    let json = |i: usize| -> rusqlite::Result<serde_json::Value> {
        let s: String = r.get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or(serde_json::Value::Null))
    };
    let strings =
        |v: serde_json::Value| -> Vec<String> { serde_json::from_value(v).unwrap_or_default() };
    let format: String = r.get(8)?;
    let status: String = r.get(11)?;
    Ok(PromptVersion {
        scope: r.get(0)?,
        prompt_id: r.get(1)?,
        version: r.get(2)?,
        template: r.get(3)?,
        variables: strings(json(4)?),
        owner: r.get(5)?,
        compatible_models: strings(json(6)?),
        schema_version: r.get(7)?,
        response_format: if format == "json_object" {
            ResponseFormat::JsonObject
        } else {
            ResponseFormat::Text
        },
        eval: json(9)?,
        changelog: r.get(10)?,
        status: RolloutStatus::parse(&status).unwrap_or(RolloutStatus::Draft),
        canary_share: r.get(12)?,
        created_at_ms: r.get(13)?,
    })
}

/// Writes a new version; `prompt_exists` when that version is already there.
pub fn insert(c: &Connection, p: &PromptVersion) -> Result<()> {
    let n = c.execute(
        &format!("INSERT OR IGNORE INTO prompts ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"),
        params![
            p.scope,
            p.prompt_id,
            p.version,
            p.template,
            serde_json::to_string(&p.variables).unwrap_or_default(),
            p.owner,
            serde_json::to_string(&p.compatible_models).unwrap_or_default(),
            p.schema_version,
            match p.response_format {
                ResponseFormat::JsonObject => "json_object",
                ResponseFormat::Text => "text",
            },
            p.eval.to_string(),
            p.changelog,
            p.status.as_str(),
            p.canary_share,
            p.created_at_ms
        ],
    )?;
    if n == 0 {
        return Err(Error::unprocessable(
            "prompt_exists",
            format!(
                "{} {} already exists; versions are immutable, create a new one",
                p.prompt_id, p.version
            ),
        ));
    }
    log(c, &p.scope, &p.prompt_id, &p.version, "create")
}

/// Every version of a prompt visible in `scope` ('' = install-wide), oldest first.
pub fn versions(c: &Connection, scope: &str, prompt_id: &str) -> Result<Vec<PromptVersion>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM prompts WHERE scope = ?1 AND prompt_id = ?2 ORDER BY created_at_ms, rowid"
    ))?;
    let rows = stmt.query_map([scope, prompt_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every version in the given scopes, by prompt then age.
pub fn list(c: &Connection, scopes: &[&str]) -> Result<Vec<PromptVersion>> {
    let mut out = Vec::new();
    let mut stmt = c.prepare(&format!(
        "SELECT {COLUMNS} FROM prompts WHERE scope = ?1 ORDER BY prompt_id, created_at_ms, rowid"
    ))?;
    for scope in scopes {
        let rows = stmt.query_map([scope], from_row)?;
        out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
    }
    Ok(out)
}

/// Sets one version's rollout status and canary share, logging the action.
pub fn set_status(
    c: &Connection,
    scope: &str,
    prompt_id: &str,
    version: &str,
    status: RolloutStatus,
    canary_share: f64,
    action: &str,
) -> Result<()> {
    c.execute(
        "UPDATE prompts SET status = ?4, canary_share = ?5 WHERE scope = ?1 AND prompt_id = ?2 AND version = ?3",
        params![scope, prompt_id, version, status.as_str(), canary_share],
    )?;
    log(c, scope, prompt_id, version, action)
}

/// Versions that were once stable, most recent promotion first.
pub fn stable_history(c: &Connection, scope: &str, prompt_id: &str) -> Result<Vec<String>> {
    let mut stmt = c.prepare(
        "SELECT version FROM prompt_rollout_log WHERE scope = ?1 AND prompt_id = ?2 \
         AND action IN ('promote_stable', 'rollback') ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([scope, prompt_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn log(c: &Connection, scope: &str, prompt_id: &str, version: &str, action: &str) -> Result<()> {
    c.execute(
        "INSERT INTO prompt_rollout_log (scope, prompt_id, version, action, at_ms) VALUES (?1,?2,?3,?4,?5)",
        params![scope, prompt_id, version, action, now_ms()],
    )?;
    Ok(())
}
