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
        400 | 405 | 413 | 415 | 422 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The JSON body of an error.
pub fn error_body(e: &Error, trace_id: &str) -> serde_json::Value {
    let message = match e {
        // Storage details stay in the log; the client gets the trace id to quote.
        Error::Storage(_) => "internal storage error".to_owned(),
        other => other.to_string(),
    };
    serde_json::json!({"error": {
        "code": e.code(),
        "message": message,
        "type": error_type(status_of(e)),
        "trace_id": trace_id,
    }})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.error);
        if let Error::Storage(detail) = &self.error {
            tracing::error!(trace_id = %self.trace_id.0, detail = %detail, "storage error");
        }
        let mut resp = (status, Json(error_body(&self.error, &self.trace_id.0))).into_response();
        // The rest of an oversized body is never read, so the connection cannot be reused:
        // say so, or a keep-alive client sends its next request into a closed socket.
        if matches!(self.error, Error::PayloadTooLarge { .. }) {
            resp.headers_mut()
                .insert("connection", HeaderValue::from_static("close"));
        }
        if let Error::LimitExceeded { retry_after, .. } = &self.error {
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}
