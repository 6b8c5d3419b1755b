//! The group-commit writer: one thread owns a connection and writes every hot-path row
//! (audit events with their usage, budget alerts, cache entries). It drains whatever is
//! queued into one transaction and commits. An audit job is durable before it is queued:
//! the request appends it to this process's journal (`journal.rs`) first, so no request
//! waits for a commit; readers that must see every answered request wait on `settle`.

use std::path::Path;
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use prometheus::IntGauge;
use rusqlite::{Connection, Transaction};
use tokio::sync::oneshot;

use super::cache::CacheRow;
use super::journal::{self, Journal};
use super::usage::{BudgetAlert, UsageDelta};
use super::{audit, cache, connect, usage};
use crate::audit::AuditEvent;
use crate::error::{Error, Result};

pub use super::journal::AuditJob;

/// Most jobs in one transaction.
const MAX_BATCH: usize = 2048;

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// How long the writer, woken by a job, lets more gather before it commits. Nobody waits
/// on a commit (a `settle` cuts the wait short), so this costs no request time. Every
/// commit writes each page it changed to the WAL again, so at low load one commit per
/// request would write about 20 KB of WAL for a row of 1 KB; a batch shares the pages.
const LINGER: Duration = Duration::from_millis(10);

/// How long `settle` waits for the writer before it gives up.
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

/// A failed commit is retried after this pause, doubling up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// One row (or group of rows) to write.
enum WriteJob {
    /// An audit event with what it adds, already in the journal.
    Audit(Box<AuditJob>),
    /// A cache entry (best effort, nobody waits).
    Cache(Box<CacheRow>),
    /// Told once everything queued before it is committed.
    Settle(oneshot::Sender<()>),
}

/// The handle requests use to queue writes.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteJob>,
    hurry: Arc<Hurry>,
    journal: Arc<Journal>,
    pending: IntGauge,
}

/// Ends the writer's linger early when a reader waits on `settle`. Audit and cache jobs
/// never touch it, so queuing them wakes nobody while the writer lingers.
#[derive(Default)]
struct Hurry {
    asked: Mutex<bool>,
    woken: Condvar,
}

impl Hurry {
    fn ask(&self) {
        *self.asked.lock() = true;
        self.woken.notify_one();
    }

    /// Waits up to `linger`, less if asked to hurry meanwhile (or before).
    fn linger(&self, linger: Duration) {
        let mut asked = self.asked.lock();
        if !*asked {
            self.woken.wait_for(&mut asked, linger);
        }
        *asked = false;
    }
}

impl Writer {
    /// Commits what the journals of dead processes hold, then starts the writer thread on
    /// its own connection to `db`, journaling under `db`'s folder. `pending` counts the
    /// audit events journaled and not yet committed.
    pub fn start(db: &Path, pending: IntGauge) -> Result<Writer> {
        let mut conn = connect(db)?;
        // Checkpoints run on their own connection and thread, so a commit never runs one.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let root = db.with_file_name("journal");
        let recovered = journal::recover(&root, &mut conn, write_audit)?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "committed audit events a stopped process had journaled"
            );
        }
        let journal = Arc::new(Journal::new(&root));
        let checkpointer = connect(db)?;
        let alive = Arc::new(());
        let watch = Arc::downgrade(&alive);
        let (tx, rx) = mpsc::channel();
        let own = journal.clone();
        let committed = pending.clone();
        let hurry = Arc::new(Hurry::default());
        let hurried = hurry.clone();
        std::thread::Builder::new()
            .name("hearth-writer".into())
            .spawn(move || {
                let _alive = alive;
                run(conn, &rx, &hurried, &own, &committed);
            })
            .map_err(|e| Error::Storage(format!("cannot start the writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("hearth-checkpoint".into())
            .spawn(move || checkpoint_while(&checkpointer, &watch))
            .map_err(|e| Error::Storage(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Writer {
            tx,
            hurry,
            journal,
            pending,
        })
    }

    /// Queues a cache entry (best effort: a lost entry is only a future miss).
    pub fn cache(&self, row: CacheRow) {
        if self.tx.send(WriteJob::Cache(Box::new(row))).is_err() {
            tracing::warn!("the writer has stopped; a cache entry was dropped");
        }
    }

    /// Makes an audit event durable (journaled) and queues it for SQLite. When this
    /// returns `Ok`, a crash of the process can no longer lose the event.
    pub fn audit(
        &self,
        event: AuditEvent,
        ts_ms: i64,
        usage: Option<UsageDelta>,
        alert: Option<BudgetAlert>,
    ) -> Result<()> {
        let mut stopped = false;
        self.journal.append(
            |seq| AuditJob {
                seq,
                event,
                ts_ms,
                usage,
                alert,
            },
            |job| {
                // Counted before the writer can see it, so the gauge never dips below zero.
                self.pending.inc();
                stopped = self.tx.send(WriteJob::Audit(Box::new(job))).is_err();
            },
        )?;
        if stopped {
            self.pending.dec();
            // Journaled all the same: the next start commits it.
            tracing::warn!("the writer has stopped; an audit event waits in the journal");
        }
        Ok(())
    }

    /// Waits until every write queued before this call is committed to SQLite, so a read
    /// that follows sees every request answered so far.
    pub async fn settle(&self) -> Result<()> {
        let (done, heard) = oneshot::channel();
        let stopped = || Error::Storage("the audit writer has stopped".into());
        self.tx
            .send(WriteJob::Settle(done))
            .map_err(|_| stopped())?;
        self.hurry.ask();
        match tokio::time::timeout(SETTLE_WITHIN, heard).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(Error::Storage(
                "the audit writer is behind; try again".into(),
            )),
        }
    }
}

/// Checkpoints the WAL every few seconds while the writer runs. RESTART holds the writer
/// back while it copies, so the copy catches up and the next commit starts the WAL from
/// its beginning: a PASSIVE checkpoint never catches up with a writer that commits every
/// few milliseconds, and the WAL then grows without end (140 MB after 8 s at 1,000 req/s).
/// Requests never wait for the writer, and readers are not blocked.
fn checkpoint_while(conn: &Connection, writer: &Weak<()>) {
    while writer.upgrade().is_some() {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
}

fn run(
    mut conn: Connection,
    rx: &mpsc::Receiver<WriteJob>,
    hurry: &Hurry,
    journal: &Journal,
    pending: &IntGauge,
) {
    while let Ok(first) = rx.recv() {
        hurry.linger(LINGER);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let last_seq = commit_until_done(&mut conn, &batch, journal);
        let audits = batch
            .iter()
            .filter(|j| matches!(j, WriteJob::Audit(_)))
            .count();
        pending.sub(i64::try_from(audits).unwrap_or(i64::MAX));
        for job in batch {
            if let WriteJob::Settle(done) = job {
                // The reader may have gone away; nothing to tell then.
                let _ = done.send(());
            }
        }
        if let Some(seq) = last_seq {
            journal.forget_through(seq);
        }
    }
    // Every sender is gone and everything is committed.
    journal.remove(&conn);
}

/// Commits the batch, retrying with backoff while SQLite refuses (the jobs are safe in the
/// journal meanwhile, and later jobs wait behind them so commits stay in journal order).
/// Returns the batch's last journal sequence number.
fn commit_until_done(conn: &mut Connection, batch: &[WriteJob], journal: &Journal) -> Option<u64> {
    let mut pause = RETRY_FIRST;
    loop {
        match write_batch(conn, batch, journal) {
            Ok(last) => return last,
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), retry_in_ms = pause.as_millis() as u64, "audit.write failed");
                std::thread::sleep(pause);
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

fn write_batch(
    conn: &mut Connection,
    batch: &[WriteJob],
    journal: &Journal,
) -> Result<Option<u64>> {
    let _span = tracing::debug_span!("audit.write", jobs = batch.len()).entered();
    let tx = conn.transaction()?;
    let mut last_seq = None;
    for job in batch {
        match job {
            WriteJob::Audit(job) => {
                write_audit(&tx, job)?;
                last_seq = Some(job.seq);
            }
            WriteJob::Cache(row) => cache::put(&tx, row)?,
            WriteJob::Settle(_) => {}
        }
    }
    if let Some(seq) = last_seq {
        journal.mark_committed(&tx, seq)?;
    }
    tx.commit()?;
    Ok(last_seq)
}

/// The rows of one audit job: the event, the usage it adds, and an alert with its own event.
fn write_audit(tx: &Transaction<'_>, job: &AuditJob) -> Result<()> {
    audit::insert(tx, &job.event, job.ts_ms)?;
    if let Some(u) = &job.usage {
        usage::add(tx, u)?;
    }
    if let Some(a) = &job.alert {
        usage::add_alert(tx, a)?;
        let event = job.event.budget_alert(a.spent_usd, a.budget_usd, a.share);
        audit::insert(tx, &event, job.ts_ms)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn the_wal_starts_over_while_the_writer_keeps_committing() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hearth.db");
        let writer = connect(&db).unwrap();
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x BLOB);")
            .unwrap();
        let checkpointer = connect(&db).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let commits = std::thread::spawn(move || {
            let mut n = 0u64;
            while !stopped.load(Ordering::Relaxed) && n < 200_000 {
                writer
                    .execute("INSERT INTO t VALUES (randomblob(200))", [])
                    .unwrap();
                n += 1;
            }
            n
        });
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(100));
            checkpoint(&checkpointer).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let n = commits.join().unwrap();
        let wal = std::fs::metadata(db.with_extension("db-wal"))
            .unwrap()
            .len();
        // Each commit appends at least one 4 KiB page; a WAL that never starts over holds them all.
        assert!(
            wal < n * 4096 / 3,
            "the WAL holds {wal} bytes after {n} commits: it did not start over"
        );
    }
}
