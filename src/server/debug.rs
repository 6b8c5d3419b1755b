//! `POST /debug/provider/{name}/fail`: fault drills, mounted only with `--demo` or
//! `--debug-endpoints`. In the open demo no key is needed; otherwise an admin key is.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;

use super::extract::Path;
use super::{auth, body, AppState};
use crate::error::Error;
use crate::providers::fault::FaultMode;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FaultBody {
    fail: Option<bool>,
    mode: Option<String>,
    n: Option<u32>,
    retry_after_ms: Option<u64>,
    delay_ms: Option<u64>,
}

fn mode_of(b: &FaultBody) -> Result<FaultMode, Error> {
    let name = match (&b.mode, b.fail) {
        (Some(m), _) => m.as_str(),
        (None, Some(true)) => "fail",
        (None, Some(false)) => "off",
        (None, None) => {
            return Err(Error::bad_request(
                "invalid_request",
                "send {\"fail\": true|false} or {\"mode\": ...}",
            ))
        }
    };
    Ok(match name {
        "off" => FaultMode::Off,
        "fail" => FaultMode::Fail,
        "timeout" => FaultMode::Timeout,
        "rate_limit" => FaultMode::RateLimit(Duration::from_millis(b.retry_after_ms.unwrap_or(1000))),
        "fail_n_times" => FaultMode::FailNTimes(b.n.unwrap_or(1)),
        "break_mid_stream" => FaultMode::BreakMidStream,
        "slow" => FaultMode::Slow(Duration::from_millis(b.delay_ms.unwrap_or(200).min(10_000))),
        other => {
            return Err(Error::bad_request(
                "invalid_request",
                format!("unknown mode `{other}`: off, fail, timeout, rate_limit, fail_n_times, break_mid_stream, slow"),
            ))
        }
    })
}

pub(super) async fn provider_fault(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, Error> {
    if !state.open_demo || auth::key_principal(&state, &headers)?.is_some() {
        auth::admin(&state, &headers)?;
    }
    let b: FaultBody = body::json(&headers, raw, 4096)?;
    let mode = mode_of(&b)?;
    if !state.hearth.providers().set_fault(&name, mode) {
        return Err(Error::NotFound(format!("no provider `{name}`")));
    }
    // Ending a drill closes the breaker too, so the heal shows at once.
    if mode == FaultMode::Off {
        state.hearth.breakers().reset(&name);
    }
    tracing::warn!(provider = %name, mode = ?mode, "fault drill changed");
    Ok(Json(
        serde_json::json!({"provider": name, "mode": format!("{mode:?}"), "fail": mode != FaultMode::Off}),
    ))
}
