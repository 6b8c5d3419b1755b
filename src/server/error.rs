//! The one mapping from `Error` to HTTP: status, `Retry-After`, and the JSON body
//! `{"error":{"code","message","type","trace_id"}}`. Handlers and middleware return
//! `Error` as it is; the trace middleware writes the response with the request's trace id.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::trace::TraceId;
use super::wire::error::{ErrorBody, ErrorObject};
use crate::error::Error;

/// The HTTP status of an error.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
        Error::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Error::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Error::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
        Error::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        Error::TooManyConnections(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Unauthorized => StatusCode::UNAUTHORIZED,
        Error::Forbidden { .. } => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::LimitExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::ProvidersUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::Provider { .. } | Error::InvalidOutput { .. } => StatusCode::BAD_GATEWAY,
        Error::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::Storage(_)
        | Error::Config(_)
        | Error::Io(_)
        | Error::Bind(_)
        | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The OpenAI-style error type, so OpenAI SDKs classify our errors as they do theirs.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400 | 405 | 408 | 413 | 415 | 422 | 431 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The JSON body of an error.
pub fn error_body<'a>(e: &'a Error, trace_id: &'a str) -> ErrorBody<'a> {
    let message = match e {
        Error::Storage(_) => "internal storage error".to_owned(),
        Error::Internal(_) => "internal error".to_owned(),
        other => without_backtrace(&other.to_string()),
    };
    ErrorBody {
        error: ErrorObject {
            code: e.code(),
            message,
            kind: error_type(status_of(e)),
            trace_id,
            candidates: e.candidates(),
        },
    }
}

/// Longest error message sent, in characters.
const MAX_MESSAGE_CHARS: usize = 2000;

/// A message as clients get it: without a backtrace a library error wrapped in ours may
/// carry (candle's, with `RUST_BACKTRACE=1`), and cut to a bounded length. Lines before the
/// first frame stay: a policy error shows the offending line of TOML under its first line.
fn without_backtrace(message: &str) -> String {
    let is_frame = |line: &str| {
        let t = line.trim_start();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        (digits > 0 && t[digits..].starts_with(": "))
            || t.to_ascii_lowercase().starts_with("stack backtrace")
    };
    let kept: Vec<&str> = message.lines().take_while(|l| !is_frame(l)).collect();
    kept.join("\n")
        .trim_end()
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect()
}

/// A handler's error as it is, with no trace id at hand: only its status here. The trace
/// middleware (`trace::assign`), which gave the request its id and wraps every route, writes
/// the whole response once it has the id (`Untraced::respond`).
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let mut resp = status_of(&self).into_response();
        resp.extensions_mut().insert(Untraced(Arc::new(self)));
        resp
    }
}

/// An error whose response is still to be written with the request's trace id.
#[derive(Clone)]
pub(super) struct Untraced(Arc<Error>);

impl Untraced {
    /// The error's response with `trace_id` (a storage or internal error's detail, which the
    /// body leaves out, is logged under it).
    pub(super) fn respond(self, trace_id: &TraceId) -> Response {
        if let Error::Storage(detail) | Error::Internal(detail) = &*self.0 {
            tracing::error!(trace_id = %trace_id.0, detail = %detail, "internal error");
        }
        respond(&self.0, &trace_id.0)
    }
}

/// The response of an error: its status, its JSON body with `trace_id`, `Retry-After` for
/// the limits, and `Connection: close` where the request was not read to its end.
fn respond(error: &Error, trace_id: &str) -> Response {
    let status = status_of(error);
    let mut resp = (status, Json(error_body(error, trace_id))).into_response();
    // The rest of the request was not read (an oversized or stalled body, headers over
    // the bound), so the connection cannot be reused: say so, or a keep-alive client
    // sends its next request into a closed socket.
    if matches!(
        error,
        Error::PayloadTooLarge { .. } | Error::RequestTimeout(_) | Error::HeadersTooLarge { .. }
    ) {
        resp.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
    }
    let retry_after = match error {
        Error::LimitExceeded { retry_after, .. } => Some(*retry_after),
        Error::TooManyConnections(_) => Some(std::time::Duration::from_secs(1)),
        _ => None,
    };
    if let Some(retry_after) = retry_after {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("retry-after", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(e: &Error, trace_id: &str) -> serde_json::Value {
        serde_json::to_value(error_body(e, trace_id)).expect("an error body is JSON")
    }

    #[test]
    fn a_message_loses_its_backtrace_keeps_its_other_lines_and_is_bounded() {
        for with_frames in [
            "not a GGUF model\nStack backtrace:\n   0: candle_core::error::Error::bt",
            "not a GGUF model\n   0: candle_core::error::Error::bt\n             at src/error.rs:1",
        ] {
            let e = Error::bad_request("invalid_request", with_frames);
            let body = body_of(&e, "t");
            assert_eq!(body["error"]["message"], "not a GGUF model");
        }
        let policy =
            "policy: TOML parse error at line 3\n  |\n3 | bogus = 1\nunknown field `bogus`";
        let body = body_of(&Error::unprocessable("invalid_policy", policy), "t");
        assert_eq!(
            body["error"]["message"], policy,
            "lines that are not frames stay"
        );
        let long = Error::bad_request("invalid_request", "x".repeat(5000));
        let body = body_of(&long, "t");
        assert_eq!(
            body["error"]["message"].as_str().map(str::len),
            Some(MAX_MESSAGE_CHARS)
        );
    }

    #[test]
    fn a_bad_policy_an_io_failure_a_bind_failure_and_an_internal_one_are_told_apart() {
        let cases = [
            (
                Error::Config("tier `gold` has no default model".into()),
                "config_error",
            ),
            (
                Error::Io("/data/policy.toml: permission denied".into()),
                "io_error",
            ),
            (
                Error::Bind("cannot listen on 127.0.0.1:8000: in use".into()),
                "bind_error",
            ),
            (
                Error::Internal("the import stopped: task panicked".into()),
                "internal_error",
            ),
        ];
        for (e, code) in cases {
            assert_eq!(status_of(&e), StatusCode::INTERNAL_SERVER_ERROR);
            let body = body_of(&e, "t");
            assert_eq!(body["error"]["code"], code, "{body}");
        }
        let body = body_of(&Error::Internal("task panicked at src/x.rs".into()), "t");
        assert_eq!(
            body["error"]["message"], "internal error",
            "an internal failure's detail stays in the log"
        );
        let body = body_of(
            &Error::Io("/data/policy.toml: permission denied".into()),
            "t",
        );
        assert_eq!(
            body["error"]["message"], "/data/policy.toml: permission denied",
            "an I/O failure says which file"
        );
    }
}
