//! Who is who, remembered between requests: live keys (by hash) and workspaces, read from
//! SQLite once and then served from memory.
//!
//! Every commit of the audit writer makes SQLite drop each reader connection's page cache,
//! so a lookup on the hot path would re-read its pages from the file on every request.
//! Instead, whatever writes `api_keys` or `workspaces` appends a byte to a stamp file beside
//! the database (`touch`), in whichever Hearth process it runs; a lookup compares that
//! file's length (one `fstat`) with the one it last saw and forgets everything when it
//! moved. A change made outside Hearth (say, with the `sqlite3` shell) is seen within
//! `MAX_AGE`, when the stamp file is also opened afresh.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::workspace::{Principal, Workspace, WorkspaceId};

/// The stamp file's name, beside the database file. It grows by a byte per change to a
/// key or a workspace (a megabyte after a million changes).
const STAMP_FILE: &str = "directory.stamp";

/// The longest a remembered entry is served without a fresh read.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Records that `api_keys` or `workspaces` changed through `c`. Call it after the change
/// is committed (outside a transaction), so a process that sees the new stamp also sees
/// the new rows.
pub(super) fn touch(c: &Connection) {
    debug_assert!(c.is_autocommit(), "touch after the commit, not inside it");
    let Some(db) = c.path().filter(|p| !p.is_empty()) else {
        return;
    };
    let path = Path::new(db).with_file_name(STAMP_FILE);
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(b"."));
    if let Err(e) = appended {
        // Other processes then see the change within MAX_AGE instead of at once.
        tracing::warn!(error = %e, path = %path.display(), "cannot touch the directory stamp");
    }
}

/// Keys and workspaces remembered since the stamp last moved.
#[derive(Default)]
struct Remembered {
    /// The stamp file, open since `since` (none while it does not exist).
    file: Option<File>,
    /// Its length when the entries were read.
    stamp: Option<u64>,
    since: Option<Instant>,
    principals: HashMap<String, Principal>,
    workspaces: HashMap<WorkspaceId, Workspace>,
}

impl Remembered {
    /// Forgets everything when the stamp moved or the entries are too old, and returns the
    /// stamp the entries now belong to.
    fn refresh(&mut self, path: &Path, now: Instant) -> Option<u64> {
        let expired = self.since.is_none_or(|t| now.duration_since(t) > MAX_AGE);
        if expired || self.file.is_none() {
            // Opened afresh: the file may have been created, removed or replaced meanwhile.
            self.file = File::open(path).ok();
        }
        let stamp = self
            .file
            .as_ref()
            .and_then(|f| Some(f.metadata().ok()?.len()));
        if expired || self.stamp != stamp {
            self.principals.clear();
            self.workspaces.clear();
            self.stamp = stamp;
            self.since = Some(now);
        }
        stamp
    }
}

/// The memory of keys and workspaces for one database.
pub struct Directory {
    stamp_path: PathBuf,
    remembered: Mutex<Remembered>,
}

impl Directory {
    /// A directory for the database at `db` (empty until the first lookups).
    pub fn new(db: &Path) -> Directory {
        Directory {
            stamp_path: db.with_file_name(STAMP_FILE),
            remembered: Mutex::new(Remembered::default()),
        }
    }

    /// The principal of the live key with this hash: remembered, or read by `read` (a miss
    /// is not remembered, so unknown keys cannot fill memory).
    pub fn principal<E>(
        &self,
        hash: &str,
        read: impl FnOnce() -> Result<Option<Principal>, E>,
    ) -> Result<Option<Principal>, E> {
        self.lookup(|r| &mut r.principals, hash, read)
    }

    /// The workspace with this id: remembered, or read by `read`.
    pub fn workspace<E>(
        &self,
        id: &WorkspaceId,
        read: impl FnOnce() -> Result<Option<Workspace>, E>,
    ) -> Result<Option<Workspace>, E> {
        self.lookup(|r| &mut r.workspaces, id, read)
    }

    fn lookup<K, V, Q, E>(
        &self,
        map: impl Fn(&mut Remembered) -> &mut HashMap<K, V>,
        key: &Q,
        read: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<V>, E>
    where
        K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
        Q: ToOwned<Owned = K> + std::hash::Hash + Eq + ?Sized,
        V: Clone,
    {
        // Taken before the read: a change committed after it moves the stamp again.
        let stamp = {
            let mut r = self.remembered.lock();
            let stamp = r.refresh(&self.stamp_path, Instant::now());
            if let Some(v) = map(&mut r).get(key) {
                return Ok(Some(v.clone()));
            }
            stamp
        };
        let found = read()?;
        if let Some(v) = &found {
            let mut r = self.remembered.lock();
            // Someone saw a newer stamp meanwhile: what was read may be older than that.
            if r.stamp == stamp {
                map(&mut r).insert(key.to_owned(), v.clone());
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{Role, UserId};

    fn principal(ws: &str) -> Principal {
        Principal {
            workspace: WorkspaceId::parse(ws).unwrap(),
            user: UserId::parse("u").unwrap(),
            role: Role::User,
        }
    }

    fn lookup(d: &Directory, reads: &mut u32, answer: &str) -> Option<Principal> {
        d.principal::<()>("h", || {
            *reads += 1;
            Ok(Some(principal(answer)))
        })
        .unwrap()
    }

    fn db_in(dir: &Path) -> Connection {
        Connection::open(dir.join("hearth.db")).unwrap()
    }

    #[test]
    fn a_remembered_key_is_not_read_again_until_the_stamp_moves() {
        let dir = tempfile::tempdir().unwrap();
        let c = db_in(dir.path());
        let d = Directory::new(&dir.path().join("hearth.db"));
        let mut reads = 0;
        assert_eq!(lookup(&d, &mut reads, "a").unwrap().workspace.as_str(), "a");
        assert_eq!(lookup(&d, &mut reads, "b").unwrap().workspace.as_str(), "a");
        assert_eq!(reads, 1);
        touch(&c);
        assert_eq!(lookup(&d, &mut reads, "b").unwrap().workspace.as_str(), "b");
        assert_eq!(reads, 2);
    }

    #[test]
    fn a_key_changed_by_another_process_is_read_again_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = Directory::new(&dir.path().join("hearth.db"));
        let mut reads = 0;
        lookup(&d, &mut reads, "a");
        for round in 2..=4 {
            // What another process's `touch` does: the stamp file was created or grew.
            touch(&db_in(dir.path()));
            assert_eq!(lookup(&d, &mut reads, "b").unwrap().workspace.as_str(), "b");
            assert_eq!(reads, round);
        }
    }

    #[test]
    fn a_removed_stamp_file_is_noticed_within_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STAMP_FILE);
        touch(&db_in(dir.path()));
        let mut r = Remembered::default();
        let t0 = Instant::now();
        assert_eq!(r.refresh(&path, t0), Some(1));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(r.refresh(&path, t0), Some(1), "the open file still answers");
        assert_eq!(r.refresh(&path, t0 + MAX_AGE * 2), None);
    }

    #[test]
    fn a_missing_key_is_not_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let d = Directory::new(&dir.path().join("hearth.db"));
        let mut reads = 0;
        for _ in 0..3 {
            let found = d
                .principal::<()>("nobody", || {
                    reads += 1;
                    Ok(None)
                })
                .unwrap();
            assert!(found.is_none());
        }
        assert_eq!(reads, 3);
    }

    #[test]
    fn remembered_entries_are_read_again_after_max_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STAMP_FILE);
        let mut r = Remembered::default();
        let t0 = Instant::now();
        r.refresh(&path, t0);
        r.principals.insert("h".into(), principal("a"));
        r.refresh(&path, t0 + MAX_AGE / 2);
        assert!(r.principals.contains_key("h"));
        r.refresh(&path, t0 + MAX_AGE * 2);
        assert!(r.principals.is_empty());
    }
}
