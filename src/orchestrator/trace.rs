//! What a request has done so far, collected stage by stage so the audit event and the
//! metrics are built from one place. A trace dropped before it is finished (the client
//! went away) still leaves a `cancelled` event.

use std::time::{Duration, Instant};

use crate::audit::{AuditEvent, EventStatus};
use crate::providers::Usage;
use crate::store::writer::Writer;
use crate::store::{audit::rfc3339, now_ms};

/// The audit context of one request.
pub struct Trace {
    pub(crate) trace_id: String,
    pub(crate) started: Instant,
    pub(crate) waiting: Duration,
    pub(crate) endpoint: &'static str,
    pub(crate) tenant_id: String,
    pub(crate) tier: String,
    pub(crate) user_id_hash: String,
    pub(crate) task: Option<String>,
    /// The tools the request offered, by name.
    pub(crate) tool_names: Vec<String>,
    /// The task as a metric label: a configured route, else `other`.
    pub(crate) task_label: String,
    pub(crate) prompt_id: Option<String>,
    pub(crate) prompt_version: Option<String>,
    pub(crate) schema_version: Option<String>,
    pub(crate) provider: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) usage: Usage,
    pub(crate) cost_usd: f64,
    pub(crate) cache_hit: bool,
    pub(crate) retry_count: u32,
    pub(crate) fallback_used: bool,
    pub(crate) decision: Vec<String>,
    writer: Writer,
    finished: bool,
}

impl Trace {
    pub(crate) fn new(
        started: Instant,
        trace_id: String,
        endpoint: &'static str,
        tenant_id: String,
        user_id_hash: String,
        writer: Writer,
    ) -> Self {
        Trace {
            trace_id,
            started,
            waiting: Duration::ZERO,
            endpoint,
            tenant_id,
            tier: String::new(),
            user_id_hash,
            task: None,
            task_label: crate::telemetry::OTHER.to_owned(),
            prompt_id: None,
            prompt_version: None,
            schema_version: None,
            provider: None,
            model: None,
            usage: Usage::default(),
            cost_usd: 0.0,
            cache_hit: false,
            retry_count: 0,
            fallback_used: false,
            decision: Vec::new(),
            tool_names: Vec::new(),
            writer,
            finished: false,
        }
    }

    /// Milliseconds since the request arrived.
    pub(crate) fn elapsed_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// Time spent in the gateway itself: elapsed minus time waiting on providers and backoff.
    pub(crate) fn overhead(&self) -> Duration {
        self.started.elapsed().saturating_sub(self.waiting)
    }

    /// The decision line for the audit log.
    pub(crate) fn policy_decision(&self, status: EventStatus) -> String {
        let head = match status {
            EventStatus::Rejected => "reject",
            EventStatus::Degraded => "degrade",
            _ => "allow",
        };
        if self.decision.is_empty() {
            head.to_owned()
        } else {
            format!("{head}; {}", self.decision.join("; "))
        }
    }

    /// The audit event for an ending with this status, and marks the trace finished.
    pub(crate) fn finish(&mut self, status: EventStatus, error_code: Option<&str>) -> AuditEvent {
        self.finished = true;
        self.event(status, error_code)
    }

    fn event(&self, status: EventStatus, error_code: Option<&str>) -> AuditEvent {
        let event_type = match status {
            EventStatus::Ok | EventStatus::Degraded => "llm_request_completed",
            EventStatus::Rejected => "llm_request_rejected",
            EventStatus::Error => "llm_request_failed",
            EventStatus::Cancelled => "llm_request_cancelled",
        };
        AuditEvent {
            id: 0,
            timestamp: rfc3339(now_ms()),
            event_type: event_type.into(),
            trace_id: self.trace_id.clone(),
            tenant_id: self.tenant_id.clone(),
            user_id_hash: self.user_id_hash.clone(),
            endpoint: self.endpoint.into(),
            task: self.task.clone(),
            prompt_id: self.prompt_id.clone(),
            prompt_version: self.prompt_version.clone(),
            schema_version: self.schema_version.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            estimated_cost_usd: self.cost_usd,
            latency_ms: self.elapsed_ms(),
            cache_hit: self.cache_hit,
            retry_count: self.retry_count,
            fallback_used: self.fallback_used,
            tool_names: self.tool_names.clone(),
            policy_decision: self.policy_decision(status),
            error_code: error_code.map(str::to_owned),
            status,
        }
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let event = self.event(EventStatus::Cancelled, Some("client_cancelled"));
        if let Err(e) = self.writer.audit(event, now_ms(), None, None) {
            tracing::error!(error = %e, trace_id = %self.trace_id, "a cancelled request's audit event was lost");
        }
    }
}
