//! The `audit_events` table: inserts and filtered, paged reads. The triggers in the schema
//! refuse UPDATE and DELETE; `purge_before` is the one logged way to drop old events.

use rusqlite::{params, Connection, Row, ToSql, Transaction};

use super::now_ms;
use crate::audit::{AuditEvent, AuditQuery, EventStatus};
use crate::error::Result;

const COLUMNS: &str = "id, ts_ms, event_type, trace_id, tenant_id, user_id_hash, endpoint, task, \
    prompt_id, prompt_version, schema_version, provider, model, input_tokens, output_tokens, \
    estimated_cost_usd, latency_ms, cache_hit, retry_count, fallback_used, tool_names, \
    policy_decision, error_code, status";

/// Appends one event (inside the writer's transaction).
pub fn insert(tx: &Transaction<'_>, e: &AuditEvent, ts_ms: i64) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit_events (ts_ms, event_type, trace_id, tenant_id, user_id_hash, endpoint, task, \
         prompt_id, prompt_version, schema_version, provider, model, input_tokens, output_tokens, \
         estimated_cost_usd, latency_ms, cache_hit, retry_count, fallback_used, tool_names, \
         policy_decision, error_code, status) \
         VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,?23)",
    )?;
    stmt.execute(params![
        ts_ms,
        e.event_type,
        e.trace_id,
        e.tenant_id,
        e.user_id_hash,
        e.endpoint,
        e.task,
        e.prompt_id,
        e.prompt_version,
        e.schema_version,
        e.provider,
        e.model,
        e.input_tokens as i64,
        e.output_tokens as i64,
        e.estimated_cost_usd,
        e.latency_ms,
        e.cache_hit,
        e.retry_count,
        e.fallback_used,
        serde_json::to_string(&e.tool_names).unwrap_or_else(|_| "[]".into()),
        e.policy_decision,
        e.error_code,
        e.status.as_str()
    ])?;
    Ok(())
}

fn status_of(s: &str) -> EventStatus {
    match s {
        "ok" => EventStatus::Ok,
        "degraded" => EventStatus::Degraded,
        "rejected" => EventStatus::Rejected,
        "cancelled" => EventStatus::Cancelled,
        _ => EventStatus::Error,
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    let ts: i64 = r.get(1)?;
    let tools: String = r.get(20)?;
    let status: String = r.get(23)?;
    Ok(AuditEvent {
        id: r.get(0)?,
        timestamp: rfc3339(ts),
        event_type: r.get(2)?,
        trace_id: r.get(3)?,
        tenant_id: r.get(4)?,
        user_id_hash: r.get(5)?,
        endpoint: r.get(6)?,
        task: r.get(7)?,
        prompt_id: r.get(8)?,
        prompt_version: r.get(9)?,
        schema_version: r.get(10)?,
        provider: r.get(11)?,
        model: r.get(12)?,
        input_tokens: r.get::<_, i64>(13)?.max(0) as u64,
        output_tokens: r.get::<_, i64>(14)?.max(0) as u64,
        estimated_cost_usd: r.get(15)?,
        latency_ms: r.get(16)?,
        cache_hit: r.get(17)?,
        retry_count: r.get(18)?,
        fallback_used: r.get(19)?,
        tool_names: serde_json::from_str(&tools).unwrap_or_default(),
        policy_decision: r.get(21)?,
        error_code: r.get(22)?,
        status: status_of(&status),
    })
}

/// A page of events, newest first.
pub fn query(c: &Connection, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1");
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let mut filter = |clause: &str, v: Box<dyn ToSql>| {
        args.push(v);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(t) = &q.tenant_id {
        filter("tenant_id =", Box::new(t.clone()));
    }
    if let Some(v) = q.since_ms {
        filter("ts_ms >=", Box::new(v));
    }
    if let Some(v) = q.until_ms {
        filter("ts_ms <", Box::new(v));
    }
    if let Some(v) = &q.task {
        filter("task =", Box::new(v.clone()));
    }
    if let Some(v) = &q.model {
        filter("model =", Box::new(v.clone()));
    }
    if let Some(v) = &q.status {
        filter("status =", Box::new(v.clone()));
    }
    if let Some(v) = q.before_id {
        filter("id <", Box::new(v));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", q.limit));
    let mut stmt = c.prepare(&sql)?;
    let refs: Vec<&dyn ToSql> = args.iter().map(|b| b.as_ref()).collect();
    let rows = stmt.query_map(refs.as_slice(), from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes events older than `before_ms` as a logged retention run; returns how many.
pub fn purge_before(c: &mut Connection, before_ms: i64) -> Result<usize> {
    let tx = c.transaction()?;
    tx.execute(
        "INSERT INTO audit_retention_runs (before_ms, at_ms, active) VALUES (?1, ?2, 1)",
        params![before_ms, now_ms()],
    )?;
    let run = tx.last_insert_rowid();
    let n = tx.execute("DELETE FROM audit_events WHERE ts_ms < ?1", [before_ms])?;
    tx.execute(
        "UPDATE audit_retention_runs SET active = 0, deleted = ?2 WHERE id = ?1",
        params![run, n as i64],
    )?;
    tx.commit()?;
    Ok(n)
}

/// Formats unix milliseconds as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A completed event of workspace `w` with this trace id, for tests.
#[cfg(test)]
pub(crate) fn sample_event(trace: &str) -> AuditEvent {
    AuditEvent {
        id: 0,
        timestamp: String::new(),
        event_type: "llm_request_completed".into(),
        trace_id: trace.into(),
        tenant_id: "w".into(),
        user_id_hash: "h".into(),
        endpoint: "/chat".into(),
        task: None,
        prompt_id: None,
        prompt_version: None,
        schema_version: None,
        provider: None,
        model: None,
        input_tokens: 0,
        output_tokens: 0,
        estimated_cost_usd: 0.0,
        latency_ms: 0.0,
        cache_hit: false,
        retry_count: 0,
        fallback_used: false,
        tool_names: vec![],
        policy_decision: "allow".into(),
        error_code: None,
        status: EventStatus::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_database_refuses_to_edit_or_delete_audit_events_except_by_a_logged_purge() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .with(|c| {
                let tx = c.transaction()?;
                insert(&tx, &sample_event("old"), 1_000)?;
                insert(&tx, &sample_event("new"), now_ms())?;
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        let edit = store.with(|c| Ok(c.execute("UPDATE audit_events SET status = 'ok'", [])?));
        assert!(edit.is_err());
        let delete = store.with(|c| Ok(c.execute("DELETE FROM audit_events", [])?));
        assert!(delete.is_err());
        assert_eq!(store.with(|c| purge_before(c, 2_000)).unwrap(), 1);
        let left = store
            .with(|c| {
                query(
                    c,
                    &AuditQuery {
                        limit: 10,
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].trace_id, "new");
        let runs: i64 = store
            .with(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM audit_retention_runs WHERE deleted = 1 AND active = 0",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(runs, 1, "the purge is logged");
    }
}
