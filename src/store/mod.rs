//! SQLite: one file per install (WAL), the schema, and one module per table. Only this
//! module knows SQL.

pub mod audit;
pub mod cache;
pub mod comparisons;
pub mod costs;
pub mod directory;
pub mod idempotency;
pub mod journal;
pub mod keys;
pub mod prompts;
pub mod providers;
pub mod threads;
pub mod usage;
pub mod workspaces;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension};

use crate::error::{Error, Result};
use crate::workspace::{Principal, Workspace, WorkspaceId};
use directory::Directory;

const SCHEMA: &str = include_str!("schema.sql");
const POOL_SIZE: usize = 4;

/// The install's database: a small pool of connections to one SQLite file.
pub struct Store {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
    directory: Directory,
}

/// Opens a connection with the pragmas every connection needs.
pub fn connect(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Every transaction here writes. Begun DEFERRED, one that reads first fails at its first
    // write with SQLITE_BUSY, without waiting, whenever another connection holds the write
    // lock (the writer's commit, a checkpoint); begun IMMEDIATE it waits its turn.
    conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
    // NORMAL in WAL mode survives a process crash (kill -9): a committed transaction is in
    // the WAL file before COMMIT returns. Only an OS crash can lose the last commits.
    // A WAL that grew under load is cut back to this size when it next starts over.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA journal_size_limit = 16777216;",
    )?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) `hearth.db` in `data_dir` and applies the schema.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            Error::Io(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("hearth.db");
        let conn = connect(&path)?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(Store {
            directory: Directory::new(&path),
            path,
            pool: Mutex::new(vec![conn]),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a pooled connection.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let out = f(&mut conn);
        let mut pool = self.pool.lock();
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
        out
    }

    /// The principal of the live key with this SHA-256 hash (hex); remembered between
    /// calls, and read again once any Hearth process changes a key or a workspace.
    pub fn principal_of_key(&self, hash: &str) -> Result<Option<Principal>> {
        self.directory
            .principal(hash, || self.with(|c| keys::resolve(c, hash)))
    }

    /// The workspace with this id; remembered like `principal_of_key`.
    pub fn workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        self.directory
            .workspace(id, || self.with(|c| workspaces::get(c, id)))
    }

    /// A value of the `meta` table, created by `init` when missing.
    pub fn meta_or_init(&self, key: &str, init: impl FnOnce() -> String) -> Result<String> {
        self.with(|c| {
            let found: Option<String> = c
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            if let Some(v) = found {
                return Ok(v);
            }
            let value = init();
            c.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
                [key, value.as_str()],
            )?;
            let v = c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))?;
            Ok(v)
        })
    }

    /// Whether the database answers.
    pub fn ping(&self) -> Result<()> {
        self.with(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

/// Brings a database made by an older version up to the schema: columns added since.
fn migrate(conn: &Connection) -> Result<()> {
    let has_patterns: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('workspaces') WHERE name = 'pii_patterns'",
        [],
        |r| r.get(0),
    )?;
    if !has_patterns {
        conn.execute_batch(
            "ALTER TABLE workspaces ADD COLUMN pii_patterns TEXT NOT NULL DEFAULT '[]'",
        )?;
    }
    let has_tools: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('workspaces') WHERE name = 'allowed_tools'",
        [],
        |r| r.get(0),
    )?;
    if !has_tools {
        conn.execute_batch(
            "ALTER TABLE workspaces ADD COLUMN allowed_tools TEXT NOT NULL DEFAULT '[\"*\"]'",
        )?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Today's UTC date as `YYYY-MM-DD`, the key of daily budgets and usage.
pub fn today() -> String {
    day_of(now_ms())
}

/// The UTC date of a unix-millisecond time.
pub fn day_of(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_that_reads_then_writes_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let other = connect(store.path()).unwrap();
        other
            .execute_batch("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('a', '1');")
            .unwrap();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.execute_batch("COMMIT").unwrap();
        });
        let written = store.with(|c| {
            let tx = c.transaction()?;
            let n: i64 = tx.query_row("SELECT COUNT(*) FROM meta", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('b', ?1)",
                [n.to_string()],
            )?;
            tx.commit()?;
            Ok(())
        });
        holder.join().unwrap();
        written.unwrap();
    }
}
