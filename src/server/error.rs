//! The one mapping from `Error` to HTTP: status, `Retry-After`, and the JSON body
//! `{"error":{"code","message","type","trace_id"}}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::trace::TraceId;
use crate::error::Error;

/// An error on its way to the client, with the request's trace id.
#[derive(Debug)]
pub struct ApiError {
    /// What went wrong.
    pub error: Error,
    /// The request's trace id.
    pub trace_id: TraceId,
}

impl ApiError {
    /// Pairs an error with its trace id.
    pub fn new(error: Error, trace_id: &TraceId) -> Self {
        ApiError {
            error,
            trace_id: trace_id.clone(),
        }
    }
}

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
        Error::Provider { .. } => StatusCode::BAD_GATEWAY,
        Error::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::Storage(_) | Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
pub fn error_body(e: &Error, trace_id: &str) -> serde_json::Value {
    let message = match e {
        // Storage details stay in the log; the client gets the trace id to quote.
        Error::Storage(_) => "internal storage error".to_owned(),
        other => one_line(&other.to_string()),
    };
    serde_json::json!({"error": {
        "code": e.code(),
        "message": message,
        "type": error_type(status_of(e)),
        "trace_id": trace_id,
    }})
}

/// Longest error message sent, in characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// A message as clients get it: its first line, cut to a bounded length. A library error
/// wrapped in ours may carry a backtrace (`RUST_BACKTRACE=1`) or a long dump after it;
/// neither is for the client.
fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default().trim_end();
    first.chars().take(MAX_MESSAGE_CHARS).collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.error);
        if let Error::Storage(detail) = &self.error {
            tracing::error!(trace_id = %self.trace_id.0, detail = %detail, "storage error");
        }
        let mut resp = (status, Json(error_body(&self.error, &self.trace_id.0))).into_response();
        // The rest of the request was not read (an oversized or stalled body, headers over
        // the bound), so the connection cannot be reused: say so, or a keep-alive client
        // sends its next request into a closed socket.
        if matches!(
            self.error,
            Error::PayloadTooLarge { .. }
                | Error::RequestTimeout(_)
                | Error::HeadersTooLarge { .. }
        ) {
            resp.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
        }
        let retry_after = match &self.error {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_with_a_backtrace_or_a_dump_keeps_only_its_first_bounded_line() {
        let e = Error::bad_request(
            "invalid_request",
            "not a GGUF model\nStack backtrace:\n   0: candle_core::error::Error::bt",
        );
        let body = error_body(&e, "t");
        assert_eq!(body["error"]["message"], "not a GGUF model");
        let long = Error::bad_request("invalid_request", "x".repeat(5000));
        let body = error_body(&long, "t");
        assert_eq!(
            body["error"]["message"].as_str().map(str::len),
            Some(MAX_MESSAGE_CHARS)
        );
    }
}
