//! Every request gets a trace id before anything else runs; it is in every error body,
//! every audit event and the `x-hearth-trace-id` response header.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::error::Untraced;

/// A request's trace id (32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceId(pub String);

/// When the request arrived, so latency and overhead include auth and parsing.
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub std::time::Instant);

/// Middleware: assigns the trace id and echoes it in the response.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = TraceId(uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(id.clone());
    req.extensions_mut()
        .insert(Arrived(std::time::Instant::now()));
    let mut resp = next.run(req).await;
    if let Some(untraced) = resp.extensions_mut().remove::<Untraced>() {
        resp = untraced.respond(&id);
    }
    if let Ok(v) = HeaderValue::from_str(&id.0) {
        resp.headers_mut().insert("x-hearth-trace-id", v);
    }
    resp
}
