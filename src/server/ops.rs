//! Operations: `/health`, `/ready`, `/metrics`, `/audit`, and the JSON 404.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::extract::Query;
use super::wire::error::ErrorBody;
use super::wire::ops::{
    AuditPage, AuditParams, Health, ProviderHealth, Readiness, ReadinessChecks,
};
use super::{auth, AppState};
use crate::audit::AuditQuery;
use crate::error::Error;
use crate::resilience::BreakerState;
use crate::store;
use crate::workspace::Role;

#[utoipa::path(
    get,
    operation_id = "health",
    path = "/health",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The server runs", body = Health)),
)]
pub(super) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

pub(super) async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}

pub(super) async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// Ready when the database answers and every route has a provider that can take calls.
#[utoipa::path(
    get,
    operation_id = "ready",
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready, with the reasons", body = Readiness),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn ready(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    // Any live key may ask (the answer names providers and their health); the open demo may too.
    if !state.open_demo {
        auth::key_principal(&state, &headers).and_then(|p| p.ok_or(Error::Unauthorized))?;
    }
    let h = &state.hearth;
    let mut reasons = Vec::new();
    let database = h.store().ping().is_ok();
    if !database {
        reasons.push("the database does not answer".to_owned());
    }
    let policy = &h.config().policy;
    let mut providers = BTreeMap::new();
    for name in h.providers().names() {
        let view = h.breakers().view(name);
        let health = ProviderHealth {
            usable: h.providers().get(name).is_some_and(|p| p.is_usable()),
            breaker: view.state,
            consecutive_failures: view.consecutive_failures,
        };
        providers.insert(name.to_owned(), health);
    }
    for route in policy.routes.values() {
        let ok = route.chain().filter_map(|a| policy.models.get(a)).any(|m| {
            h.providers()
                .get(&m.provider)
                .is_some_and(|p| p.is_usable())
                && h.breakers().view(&m.provider).state != BreakerState::Open
        });
        if !ok {
            reasons.push(format!("route `{}` has no usable provider", route.task));
        }
    }
    let checks = ReadinessChecks {
        database,
        providers,
        local_models: h.providers().local_pool().status(),
    };
    Ok(if reasons.is_empty() {
        let body = Readiness {
            status: "ready",
            reasons: None,
            checks,
        };
        Json(body).into_response()
    } else {
        let body = Readiness {
            status: "not_ready",
            reasons: Some(reasons),
            checks,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    })
}

#[utoipa::path(
    get,
    operation_id = "metrics",
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text", content_type = "text/plain; version=0.0.4", body = String),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    if !state.metrics_public {
        auth::admin(&state, &headers)?;
    }
    let body = state.hearth.render_metrics();
    Ok(([("content-type", "text/plain; version=0.0.4")], body).into_response())
}

/// Parses RFC 3339 or unix milliseconds.
fn parse_time(s: &str) -> Result<i64, Error> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            Error::bad_request(
                "invalid_request",
                "since/until must be RFC 3339 or unix milliseconds",
            )
        })
}

/// Which workspace's events the caller may read: its own; an admin any (or all); in the
/// open demo without a key, the named one or (as the lab calls it) all of them.
fn audit_scope(
    state: &AppState,
    headers: &HeaderMap,
    tenant: Option<&str>,
) -> Result<Option<String>, Error> {
    let named = headers.contains_key("x-hearth-workspace");
    match auth::key_principal(state, headers)? {
        // An admin reads all workspaces, or the one named by `tenant_id` or the header.
        Some(p) if p.role == Role::Admin => Ok(tenant
            .map(str::to_owned)
            .or_else(|| named.then(|| p.workspace.as_str().to_owned()))),
        Some(p) => {
            if tenant.is_some_and(|t| t != p.workspace.as_str()) {
                return Err(Error::forbidden(
                    "forbidden",
                    "tenant_id does not match the key's workspace",
                ));
            }
            Ok(Some(p.workspace.as_str().to_owned()))
        }
        None if state.open_demo => Ok(tenant.map(str::to_owned)),
        None => Err(Error::Unauthorized),
    }
}

#[utoipa::path(
    get,
    operation_id = "audit",
    path = "/audit",
    tag = "operations",
    params(AuditParams),
    responses(
        (status = 200, description = "A page of audit events", body = AuditPage),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditParams>,
) -> Result<Json<AuditPage>, Error> {
    let tenant_id = audit_scope(&state, &headers, q.tenant_id.as_deref())?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let query = AuditQuery {
        tenant_id,
        since_ms: q.since.as_deref().map(parse_time).transpose()?,
        until_ms: q.until.as_deref().map(parse_time).transpose()?,
        task: q.task,
        model: q.model,
        status: q.status,
        before_id: q.cursor,
        limit,
    };
    // Every request answered before this read is in it.
    state.hearth.settle_writes().await?;
    let events = state
        .hearth
        .store()
        .with(|c| store::audit::query(c, &query))?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    Ok(Json(AuditPage {
        events,
        next_cursor: next,
    }))
}
