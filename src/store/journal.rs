//! The audit journal: a request's audit job is appended to a file with one `write(2)` before
//! its response is sent, and the writer thread commits it to SQLite shortly after. Bytes
//! handed to the kernel survive the process being killed, which is what a WAL commit with
//! `synchronous = NORMAL` promises too, so the request keeps that promise without waiting
//! for another thread.
//!
//! Each process has its own directory `journal/<run>/`, locked (`flock`) while the process
//! lives, holding segment files named after their first sequence number. The `meta` row
//! `journal:<run>` holds the last sequence number committed to SQLite, in the same
//! transaction as the rows. A directory whose lock is free belonged to a process that
//! died: the next start commits what it holds past that number, then removes it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::usage::{BudgetAlert, UsageDelta};
use crate::audit::AuditEvent;
use crate::error::{Error, Result};

/// A segment is sealed and a new one begun past this size.
const SEGMENT_BYTES: u64 = 4 << 20;

/// One audit event with the usage it adds and the alert it raised: what the writer commits
/// in one go, and one line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditJob {
    /// Its place in this process's journal.
    pub seq: u64,
    /// The event.
    pub event: AuditEvent,
    /// Its time (unix ms).
    pub ts_ms: i64,
    /// Usage to add.
    pub usage: Option<UsageDelta>,
    /// A budget alert to record.
    pub alert: Option<BudgetAlert>,
}

/// This process's journal. Its directory appears with the first event, so a process that
/// audits nothing leaves nothing behind.
pub struct Journal {
    run: String,
    dir: PathBuf,
    open: Mutex<Option<Segments>>,
}

struct Segments {
    file: File,
    /// The first sequence number of the open segment.
    first: u64,
    bytes: u64,
    next_seq: u64,
    /// Sealed segments and the last sequence number each holds.
    sealed: Vec<(PathBuf, u64)>,
    /// Held while the process lives: a free lock marks a dead process's journal.
    _lock: File,
}

impl Journal {
    /// This process's journal under `root`.
    pub fn new(root: &Path) -> Journal {
        let run = format!("{:016x}", rand::random::<u64>());
        Journal {
            dir: root.join(&run),
            run,
            open: Mutex::new(None),
        }
    }

    /// Creates the directory, locked before it takes its name, so `recover` in another
    /// process can never take it for a dead one's.
    fn begin(&self) -> Result<Segments> {
        let name = self
            .dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("run");
        let staging = self.dir.with_file_name(format!(".{name}"));
        fs::create_dir_all(&staging).map_err(|e| io_error(&staging, &e))?;
        let lock = lock_file(&staging).map_err(|e| io_error(&staging, &e))?;
        lock.try_lock()
            .map_err(|e| Error::Storage(format!("cannot lock {}: {e}", staging.display())))?;
        fs::rename(&staging, &self.dir).map_err(|e| io_error(&self.dir, &e))?;
        Ok(Segments {
            file: open_segment(&self.dir, 1)?,
            first: 1,
            bytes: 0,
            next_seq: 1,
            sealed: Vec::new(),
            _lock: lock,
        })
    }

    /// Appends the job made by `job` with the next sequence number, then hands it to
    /// `queue`, both under one lock, so the queue sees jobs in sequence order.
    pub fn append(
        &self,
        job: impl FnOnce(u64) -> AuditJob,
        queue: impl FnOnce(AuditJob),
    ) -> Result<()> {
        let mut guard = self.open.lock();
        let open = match &mut *guard {
            Some(open) => open,
            slot @ None => slot.insert(self.begin()?),
        };
        let job = job(open.next_seq);
        let mut line = serde_json::to_vec(&job)
            .map_err(|e| Error::Storage(format!("cannot encode an audit event: {e}")))?;
        line.push(b'\n');
        // One write(2) of the whole line: a killed process leaves whole lines only.
        open.file
            .write_all(&line)
            .map_err(|e| Error::Storage(format!("cannot append to the audit journal: {e}")))?;
        open.next_seq += 1;
        open.bytes += line.len() as u64;
        queue(job);
        if open.bytes > SEGMENT_BYTES {
            // The job is journaled and queued whatever happens here; a segment that cannot
            // be sealed just grows until the next try.
            if let Err(e) = self.seal(open) {
                tracing::warn!(error = %e, "cannot begin a new journal segment");
            }
        }
        Ok(())
    }

    fn seal(&self, open: &mut Segments) -> Result<()> {
        let next = open.next_seq;
        open.file = open_segment(&self.dir, next)?;
        let sealed = segment_path(&self.dir, open.first);
        open.sealed.push((sealed, next - 1));
        open.first = next;
        open.bytes = 0;
        Ok(())
    }

    /// Records, inside the writer's transaction, that every job up to `seq` is committed.
    pub fn mark_committed(&self, tx: &Transaction<'_>, seq: u64) -> Result<()> {
        set_committed(tx, &self.run, seq)
    }

    /// Removes the sealed segments whose jobs are all committed, once that commit is done.
    pub fn forget_through(&self, seq: u64) {
        let done: Vec<PathBuf> = {
            let mut guard = self.open.lock();
            let Some(open) = guard.as_mut() else {
                return;
            };
            let (done, kept) = open.sealed.drain(..).partition(|(_, last)| *last <= seq);
            open.sealed = kept;
            done.into_iter().map(|(path, _)| path).collect()
        };
        for path in done {
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(error = %e, path = %path.display(), "cannot remove a journal segment");
            }
        }
    }

    /// Removes this journal once everything in it is committed (a clean shutdown).
    pub fn remove(&self, conn: &Connection) {
        if self.open.lock().take().is_none() {
            return;
        }
        let _ = fs::remove_dir_all(&self.dir);
        let _ = conn.execute("DELETE FROM meta WHERE key = ?1", [meta_key(&self.run)]);
    }
}

/// Commits what the journals of dead processes under `root` hold beyond what they had
/// committed, then removes them. Journals of live processes are left alone. Returns the
/// number of jobs committed.
pub fn recover(
    root: &Path,
    conn: &mut Connection,
    write: impl Fn(&Transaction<'_>, &AuditJob) -> Result<()>,
) -> Result<usize> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(0);
    };
    let mut recovered = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let Some(run) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        // A name with a leading dot is a journal still being created.
        if !dir.is_dir() || run.starts_with('.') {
            continue;
        }
        match recover_one(&dir, &run, conn, &write) {
            Ok(n) => recovered += n,
            // Another process starting at the same moment recovered it first.
            Err(Recovery::Gone) => {}
            Err(Recovery::Failed(e)) => return Err(e),
        }
    }
    Ok(recovered)
}

enum Recovery {
    Gone,
    Failed(Error),
}

impl From<Error> for Recovery {
    fn from(e: Error) -> Self {
        Recovery::Failed(e)
    }
}

impl From<rusqlite::Error> for Recovery {
    fn from(e: rusqlite::Error) -> Self {
        Recovery::Failed(e.into())
    }
}

/// Commits one dead journal past its mark, moves the mark to its end in the same
/// transaction (so a crash before the files are gone replays nothing twice), then removes
/// the files and the mark.
fn recover_one(
    dir: &Path,
    run: &str,
    conn: &mut Connection,
    write: &impl Fn(&Transaction<'_>, &AuditJob) -> Result<()>,
) -> std::result::Result<usize, Recovery> {
    let gone_or = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => Recovery::Gone,
        _ => Recovery::Failed(io_error(dir, &e)),
    };
    let lock = lock_file(dir).map_err(gone_or)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(Recovery::Gone),
        Err(TryLockError::Error(e)) => return Err(gone_or(e)),
    }
    let jobs = read_jobs(dir).map_err(gone_or)?;
    let tx = conn.transaction()?;
    let committed = committed(&tx, run)?;
    let mut recovered = 0;
    for job in jobs.iter().filter(|j| j.seq > committed) {
        write(&tx, job)?;
        recovered += 1;
    }
    if let Some(last) = jobs.last() {
        set_committed(&tx, run, last.seq.max(committed))?;
    }
    tx.commit()?;
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Recovery::Failed(io_error(dir, &e))),
    }
    conn.execute("DELETE FROM meta WHERE key = ?1", [meta_key(run)])?;
    Ok(recovered)
}

/// Every whole line of a journal's segments, in order. A line that does not parse can only
/// be a tail torn by an OS crash; it is skipped with a warning.
fn read_jobs(dir: &Path) -> std::io::Result<Vec<AuditJob>> {
    let mut segments: Vec<(u64, PathBuf)> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let first = path.file_stem()?.to_str()?.parse().ok()?;
            (path.extension()? == "jsonl").then_some((first, path))
        })
        .collect();
    segments.sort();
    let mut jobs = Vec::new();
    for (_, path) in segments {
        for line in BufReader::new(File::open(&path)?).split(b'\n') {
            match serde_json::from_slice(&line?) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "skipped a torn journal line");
                }
            }
        }
    }
    Ok(jobs)
}

fn meta_key(run: &str) -> String {
    format!("journal:{run}")
}

fn committed(conn: &Connection, run: &str) -> Result<u64> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = ?1",
            [meta_key(run)],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

fn set_committed(conn: &Connection, run: &str, seq: u64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    )?
    .execute([meta_key(run), seq.to_string()])?;
    Ok(())
}

fn lock_file(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.jsonl"))
}

fn open_segment(dir: &Path, first: u64) -> Result<File> {
    let path = segment_path(dir, first);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| io_error(&path, &e))
}

fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Storage(format!("audit journal {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{self, sample_event};
    use crate::store::Store;

    fn job(seq: u64) -> AuditJob {
        AuditJob {
            seq,
            event: sample_event(&format!("t{seq}")),
            ts_ms: 1_000,
            usage: None,
            alert: None,
        }
    }

    fn append(j: &Journal, n: u64) {
        for _ in 0..n {
            j.append(job, |_| {}).unwrap();
        }
    }

    fn insert(tx: &Transaction<'_>, job: &AuditJob) -> Result<()> {
        audit::insert(tx, &job.event, job.ts_ms)
    }

    fn traces(store: &Store) -> Vec<String> {
        store
            .with(|c| {
                let mut stmt = c.prepare("SELECT trace_id FROM audit_events ORDER BY id")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
            })
            .unwrap()
    }

    /// A fresh install: its data dir (removed on drop), store and journal root.
    fn install() -> (tempfile::TempDir, Store, PathBuf) {
        let data = tempfile::tempdir().unwrap();
        let store = Store::open(data.path()).unwrap();
        let root = data.path().join("journal");
        (data, store, root)
    }

    fn entries(dir: &Path) -> usize {
        fs::read_dir(dir).map_or(0, |d| d.count())
    }

    #[test]
    fn a_dead_process_journal_is_committed_past_its_mark_and_then_removed() {
        let (_data, store, root) = install();
        let dead = Journal::new(&root);
        append(&dead, 3);
        store
            .with(|c| {
                let tx = c.transaction()?;
                insert(&tx, &job(1))?;
                dead.mark_committed(&tx, 1)?;
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        drop(dead);

        let recovered = store.with(|c| recover(&root, c, insert)).unwrap();
        assert_eq!(recovered, 2, "jobs 2 and 3 were never committed");
        assert_eq!(traces(&store), ["t1", "t2", "t3"]);
        assert_eq!(entries(&root), 0, "the dead journal is gone");
        let marks: i64 = store
            .with(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM meta WHERE key LIKE 'journal:%'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(marks, 0, "and so is its mark");
    }

    #[test]
    fn a_live_process_journal_is_left_alone() {
        let (_data, store, root) = install();
        let live = Journal::new(&root);
        append(&live, 2);
        let recovered = store.with(|c| recover(&root, c, insert)).unwrap();
        assert_eq!(recovered, 0);
        assert!(traces(&store).is_empty());
        assert_eq!(entries(&root), 1, "the live journal stays");
    }

    #[test]
    fn a_journal_another_process_just_recovered_and_removed_is_skipped() {
        let (_data, store, root) = install();
        let gone = root.join("0123456789abcdef");
        let outcome = store.with(|c| Ok(recover_one(&gone, "0123456789abcdef", c, &insert)));
        assert!(matches!(outcome, Ok(Err(Recovery::Gone))));
    }

    #[test]
    fn a_torn_last_line_is_skipped_and_the_whole_lines_before_it_are_kept() {
        let (_data, store, root) = install();
        let dead = Journal::new(&root);
        append(&dead, 2);
        let segment = segment_path(&dead.dir, 1);
        drop(dead);
        let mut f = OpenOptions::new().append(true).open(&segment).unwrap();
        f.write_all(br#"{"seq":3,"event":{"id":0,"#).unwrap();

        let recovered = store.with(|c| recover(&root, c, insert)).unwrap();
        assert_eq!(recovered, 2);
        assert_eq!(traces(&store), ["t1", "t2"]);
    }

    #[test]
    fn full_segments_are_sealed_and_removed_once_their_jobs_are_committed() {
        let data = tempfile::tempdir().unwrap();
        let j = Journal::new(&data.path().join("journal"));
        let line = serde_json::to_vec(&job(1)).unwrap().len() as u64 + 1;
        let n = SEGMENT_BYTES / line * 2 + 10;
        append(&j, n);
        let segments = || entries(&j.dir) - 1;
        assert_eq!(segments(), 3, "two sealed segments and the open one");

        j.forget_through(1);
        assert_eq!(segments(), 3, "nothing sealed is wholly committed yet");
        j.forget_through(n);
        assert_eq!(segments(), 1, "only the open segment is left");
        let data_dir = data.path().to_owned();
        drop(j);
        let store = Store::open(&data_dir).unwrap();
        let recovered = store
            .with(|c| recover(&data_dir.join("journal"), c, insert))
            .unwrap();
        assert!(recovered > 0 && (recovered as u64) < n, "{recovered}");
        assert_eq!(traces(&store).last().unwrap(), &format!("t{n}"));
    }
}
