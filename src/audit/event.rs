use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::workspace::UserId;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Answered (by a provider or the cache).
    Ok,
    /// Answered with the tier's template or a downgraded model.
    Degraded,
    /// Turned away before any provider call (quota, budget, validation of policy).
    Rejected,
    /// Every provider failed, or the deadline passed.
    Error,
    /// The client went away first.
    Cancelled,
}

impl EventStatus {
    /// The status name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Ok => "ok",
            EventStatus::Degraded => "degraded",
            EventStatus::Rejected => "rejected",
            EventStatus::Error => "error",
            EventStatus::Cancelled => "cancelled",
        }
    }
}

/// One audit event, field for field as `/audit` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Row id, the pagination cursor (0 until written).
    pub id: i64,
    /// RFC 3339 time of the event.
    pub timestamp: String,
    /// `llm_request_completed`, `llm_request_rejected`, `llm_request_failed`, `llm_request_cancelled`.
    pub event_type: String,
    /// The request's trace id.
    pub trace_id: String,
    /// The workspace.
    pub tenant_id: String,
    /// HMAC-SHA256 of the user id with the install's secret (hex prefix).
    pub user_id_hash: String,
    /// `/chat`, `/v1/chat/completions` or `cli`.
    pub endpoint: String,
    /// The task, when known.
    #[schema(required = true)]
    pub task: Option<String>,
    /// The prompt, when one was used.
    #[schema(required = true)]
    pub prompt_id: Option<String>,
    /// Its version.
    #[schema(required = true)]
    pub prompt_version: Option<String>,
    /// Its output schema version.
    #[schema(required = true)]
    pub schema_version: Option<String>,
    /// The provider that answered (or was last tried).
    #[schema(required = true)]
    pub provider: Option<String>,
    /// `PROVIDER/MODEL`.
    #[schema(required = true)]
    pub model: Option<String>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// USD charged to the workspace.
    pub estimated_cost_usd: f64,
    /// Time from arrival to answer.
    pub latency_ms: f64,
    /// Whether the exact cache answered.
    pub cache_hit: bool,
    /// Retries over all candidates.
    pub retry_count: u32,
    /// Whether a model after the first candidate answered.
    pub fallback_used: bool,
    /// Tools called (none yet).
    pub tool_names: Vec<String>,
    /// The routing and policy decision, with its reasons.
    pub policy_decision: String,
    /// The error code when it did not succeed.
    #[schema(required = true)]
    pub error_code: Option<String>,
    /// How it ended.
    pub status: EventStatus,
}

impl AuditEvent {
    /// An event of the install rather than of a request (an on-device model loaded or
    /// unloaded): no workspace (`tenant_id` is empty, which no workspace id can be), no
    /// trace, user, tokens or cost; `model` is `PROVIDER/MODEL`, `latency_ms` what it took.
    pub fn install_event(
        event_type: &str,
        timestamp: String,
        model: &str,
        decision: String,
        latency_ms: f64,
    ) -> AuditEvent {
        AuditEvent {
            id: 0,
            timestamp,
            event_type: event_type.into(),
            trace_id: String::new(),
            tenant_id: String::new(),
            user_id_hash: String::new(),
            endpoint: "local-engine".into(),
            task: None,
            prompt_id: None,
            prompt_version: None,
            schema_version: None,
            provider: model.split_once('/').map(|(p, _)| p.to_owned()),
            model: Some(model.to_owned()),
            input_tokens: 0,
            output_tokens: 0,
            estimated_cost_usd: 0.0,
            latency_ms,
            cache_hit: false,
            retry_count: 0,
            fallback_used: false,
            tool_names: Vec::new(),
            policy_decision: decision,
            error_code: None,
            status: EventStatus::Ok,
        }
    }

    /// The `budget_alert` event a request raises when it carries its workspace's spend past
    /// the alert share: same trace and workspace, no tokens or cost of its own.
    pub fn budget_alert(&self, spent_usd: f64, budget_usd: f64, share: f64) -> AuditEvent {
        AuditEvent {
            event_type: "budget_alert".into(),
            input_tokens: 0,
            output_tokens: 0,
            estimated_cost_usd: 0.0,
            policy_decision: format!(
                "alert: spent {spent_usd:.6} of {budget_usd:.6} USD today, past the {:.0}% alert share",
                share * 100.0
            ),
            ..self.clone()
        }
    }
}

/// Filters of `GET /audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only this workspace (None: every workspace, for the demo and the admin CLI).
    pub tenant_id: Option<String>,
    /// Events at or after (unix ms).
    pub since_ms: Option<i64>,
    /// Events before (unix ms).
    pub until_ms: Option<i64>,
    /// Only this task.
    pub task: Option<String>,
    /// Only this model.
    pub model: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Events with an id below this (the previous page's `next_cursor`).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u32,
}

/// Hashes user ids with the install's secret so the audit log never holds a raw id and
/// the hash cannot be reversed by guessing ids without the secret.
#[derive(Clone)]
pub struct UserHasher {
    key: Vec<u8>,
}

impl UserHasher {
    /// A hasher keyed with the install secret.
    pub fn new(secret: &[u8]) -> Self {
        UserHasher {
            key: secret.to_vec(),
        }
    }

    /// The keyed hash of a user id: `hmac-sha256:` and 16 hex digits.
    pub fn hash(&self, user: &UserId) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return "hmac-sha256:unavailable".into();
        };
        mac.update(user.as_str().as_bytes());
        let out = mac.finalize().into_bytes();
        format!("hmac-sha256:{}", hex::encode(&out[..8]))
    }
}

impl std::fmt::Debug for UserHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserHasher(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_hashes_are_keyed_stable_and_never_the_raw_id() {
        let a = UserHasher::new(b"secret-a");
        let b = UserHasher::new(b"secret-b");
        let u = UserId::parse("user_123").unwrap();
        assert_eq!(a.hash(&u), a.hash(&u));
        assert_ne!(a.hash(&u), b.hash(&u));
        assert!(!a.hash(&u).contains("user_123"));
    }
}
