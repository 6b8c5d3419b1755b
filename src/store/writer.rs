//! The group-commit writer: one thread owns a connection and writes every hot-path row
//! (audit events with their usage, budget alerts, cache entries). It drains whatever is
//! queued into one transaction, commits, then acknowledges, so many concurrent requests
//! share one commit and each learns when its audit event is durable.

use std::path::Path;
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::cache::CacheRow;
use super::usage::{BudgetAlert, UsageDelta};
use super::{audit, cache, connect, usage};
use crate::audit::AuditEvent;
use crate::error::{Error, Result};

/// Most jobs in one transaction.
const MAX_BATCH: usize = 2048;

/// How often the WAL is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// An audit event, the usage it adds and an alert it raised; `done` hears when it is durable.
pub struct AuditJob {
    /// The event.
    pub event: AuditEvent,
    /// Its time (unix ms).
    pub ts_ms: i64,
    /// Usage to add.
    pub usage: Option<UsageDelta>,
    /// A budget alert to record.
    pub alert: Option<BudgetAlert>,
    /// Told `true` once committed, `false` if the commit failed.
    pub done: Option<oneshot::Sender<bool>>,
}

/// One row (or group of rows) to write.
pub enum WriteJob {
    /// An audit event with what it adds.
    Audit(Box<AuditJob>),
    /// A cache entry (best effort, nobody waits).
    Cache(Box<CacheRow>),
}

/// The handle requests use to queue writes.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<WriteJob>,
}

impl Writer {
    /// Starts the writer thread on its own connection to `db`.
    pub fn start(db: &Path) -> Result<Writer> {
        let conn = connect(db)?;
        // Checkpoints run on their own connection and thread, so a commit never runs one.
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let checkpointer = connect(db)?;
        let alive = Arc::new(());
        let watch = Arc::downgrade(&alive);
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("hearth-writer".into())
            .spawn(move || {
                let _alive = alive;
                run(conn, &rx);
            })
            .map_err(|e| Error::Storage(format!("cannot start the writer thread: {e}")))?;
        std::thread::Builder::new()
            .name("hearth-checkpoint".into())
            .spawn(move || checkpoint_while(&checkpointer, &watch))
            .map_err(|e| Error::Storage(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Writer { tx })
    }

    /// Queues a job nobody waits for (a cache entry, a `cancelled` event).
    pub fn send(&self, job: WriteJob) {
        if self.tx.send(job).is_err() {
            tracing::warn!("the writer has stopped; a best-effort write was dropped");
        }
    }

    /// Queues an audit event and waits until it is committed.
    pub async fn audit_durable(
        &self,
        event: AuditEvent,
        ts_ms: i64,
        usage: Option<UsageDelta>,
        alert: Option<BudgetAlert>,
    ) -> Result<()> {
        let (done, heard) = oneshot::channel();
        let job = WriteJob::Audit(Box::new(AuditJob {
            event,
            ts_ms,
            usage,
            alert,
            done: Some(done),
        }));
        if self.tx.send(job).is_err() {
            return Err(Error::Storage("the audit writer has stopped".into()));
        }
        match heard.await {
            Ok(true) => Ok(()),
            _ => Err(Error::Storage(
                "the audit event could not be committed".into(),
            )),
        }
    }
}

/// Checkpoints the WAL every few seconds while the writer runs. PASSIVE never blocks the
/// writer or readers. Rare, because the first commit after a completed checkpoint reuses
/// the WAL and syncs its header, the slowest step a commit can meet.
fn checkpoint_while(conn: &Connection, writer: &Weak<()>) {
    while writer.upgrade().is_some() {
        std::thread::sleep(CHECKPOINT_EVERY);
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

fn run(mut conn: Connection, rx: &mpsc::Receiver<WriteJob>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let ok = match write_batch(&mut conn, &batch) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "audit.write failed");
                false
            }
        };
        for job in batch {
            if let WriteJob::Audit(job) = job {
                if let Some(done) = job.done {
                    // The request may have gone away; nothing to tell then.
                    let _ = done.send(ok);
                }
            }
        }
    }
}

fn write_batch(conn: &mut Connection, batch: &[WriteJob]) -> Result<()> {
    let _span = tracing::debug_span!("audit.write", jobs = batch.len()).entered();
    let tx = conn.transaction()?;
    for job in batch {
        match job {
            WriteJob::Audit(job) => {
                audit::insert(&tx, &job.event, job.ts_ms)?;
                if let Some(u) = &job.usage {
                    usage::add(&tx, u)?;
                }
                if let Some(a) = &job.alert {
                    usage::add_alert(&tx, a)?;
                    let event = job.event.budget_alert(a.spent_usd, a.budget_usd, a.share);
                    audit::insert(&tx, &event, job.ts_ms)?;
                }
            }
            WriteJob::Cache(row) => cache::put(&tx, row)?,
        }
    }
    tx.commit()?;
    Ok(())
}
