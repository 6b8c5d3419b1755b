//! The operations endpoints' bodies: liveness, readiness and the audit log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::AuditEvent;
use crate::providers::local::LoadedModel;
use crate::resilience::BreakerState;

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// One provider as readiness sees it.
#[derive(Serialize, ToSchema)]
pub struct ProviderHealth {
    pub usable: bool,
    pub breaker: BreakerState,
    pub consecutive_failures: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: bool,
    pub providers: BTreeMap<String, ProviderHealth>,
    pub local_models: Vec<LoadedModel>,
}

/// `GET /ready`: 200 `ready`, or 503 `not_ready` with the reasons.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// What is wrong, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    pub checks: ReadinessChecks,
}

/// `GET /audit?...`, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// One workspace (an admin's key reads every one by default).
    pub tenant_id: Option<String>,
    /// RFC 3339 or unix milliseconds.
    pub since: Option<String>,
    pub until: Option<String>,
    pub task: Option<String>,
    pub model: Option<String>,
    pub status: Option<String>,
    /// 1 to 500; 100 by default.
    pub limit: Option<u32>,
    /// The `next_cursor` of the page before.
    pub cursor: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Where the next page starts; null on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<i64>,
}
