//! The `providers` table: hosted providers added from the command line, as JSON specs.

use rusqlite::{params, Connection};

use super::now_ms;
use crate::config::AddedProvider;
use crate::error::{Error, Result};

/// Stores a new provider; its name must be free.
pub fn insert(c: &Connection, p: &AddedProvider) -> Result<()> {
    let spec = serde_json::to_string(p).map_err(|e| Error::Storage(e.to_string()))?;
    let n = c.execute(
        "INSERT OR IGNORE INTO providers (name, spec, created_at_ms) VALUES (?1, ?2, ?3)",
        params![p.name, spec, now_ms()],
    )?;
    if n == 0 {
        return Err(Error::unprocessable(
            "provider_exists",
            format!("a provider named `{}` was already added", p.name),
        ));
    }
    Ok(())
}

/// Every added provider, by name.
pub fn list(c: &Connection) -> Result<Vec<AddedProvider>> {
    let mut stmt = c.prepare("SELECT spec FROM providers ORDER BY name")?;
    let specs = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    specs
        .iter()
        .map(|s| {
            serde_json::from_str(s)
                .map_err(|e| Error::Storage(format!("a stored provider does not parse: {e}")))
        })
        .collect()
}

/// Removes an added provider; false when there was none by that name.
pub fn remove(c: &Connection, name: &str) -> Result<bool> {
    Ok(c.execute("DELETE FROM providers WHERE name = ?1", [name])? > 0)
}
