//! What every request meets before any handler sees it: bounded headers, and a body read
//! whole, within the body limit and the body timeout. Reading the body here, for every
//! route, means a handler that answers early (401, 403, 404, 405, `forbidden_origin`)
//! never leaves unread bytes on a kept-alive connection, which would make the server
//! drop the connection under the client's next request.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::AppState;
use crate::error::Error;

/// Most headers a request may carry.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of header names and values a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Middleware: refuses headers over the bounds, then reads the body whole.
pub async fn intake(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if headers_over_bounds(req.headers()) {
        let e = Error::HeadersTooLarge {
            count: MAX_HEADERS,
            bytes: MAX_HEADER_BYTES,
        };
        return e.into_response();
    }
    let server = &state.hearth.config().server;
    let (parts, body) = req.into_parts();
    match read_whole(body, server.body_limit_bytes, server.body_timeout).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}

fn headers_over_bounds(headers: &HeaderMap) -> bool {
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES
}

/// The whole body, or why it cannot be had: over `limit` (413), not within `timeout`
/// (408), or broken off (400).
async fn read_whole(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, Error> {
    use axum::body::HttpBody as _;
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    if body.size_hint().lower() > limit as u64 {
        return Err(Error::PayloadTooLarge { limit });
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Err(_) => Err(Error::RequestTimeout(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Error::PayloadTooLarge { limit })
        }
        Ok(Err(_)) => Err(Error::bad_request(
            "invalid_request",
            "the request body could not be read",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: Vec<&'static [u8]>) -> Body {
        let frames = parts
            .into_iter()
            .map(|p| Ok::<_, std::io::Error>(Bytes::from_static(p)));
        Body::from_stream(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_up_to_the_limit_and_refused_past_it() {
        let limit = 10;
        let at = read_whole(
            chunks(vec![b"01234", b"56789"]),
            limit,
            Duration::from_secs(1),
        );
        assert_eq!(at.await.ok(), Some(Bytes::from_static(b"0123456789")));
        let over = read_whole(
            chunks(vec![b"01234", b"567890"]),
            limit,
            Duration::from_secs(1),
        );
        assert!(matches!(
            over.await,
            Err(Error::PayloadTooLarge { limit: 10 })
        ));
        let declared = read_whole(Body::from(vec![0u8; 11]), limit, Duration::from_secs(1));
        assert!(matches!(declared.await, Err(Error::PayloadTooLarge { .. })));
    }

    #[tokio::test]
    async fn a_body_that_stalls_is_a_request_timeout() {
        let stalled =
            Body::from_stream(futures::stream::pending::<Result<Bytes, std::io::Error>>());
        let read = read_whole(stalled, 10, Duration::from_millis(20));
        assert!(matches!(read.await, Err(Error::RequestTimeout(_))));
    }

    #[test]
    fn headers_are_bounded_by_count_and_by_bytes() {
        let mut h = HeaderMap::new();
        for i in 0..MAX_HEADERS {
            h.insert(
                axum::http::HeaderName::try_from(format!("x-h{i}")).unwrap(),
                axum::http::HeaderValue::from_static("v"),
            );
        }
        assert!(!headers_over_bounds(&h));
        h.insert("x-one-more", axum::http::HeaderValue::from_static("v"));
        assert!(headers_over_bounds(&h));
        let mut big = HeaderMap::new();
        let value = "v".repeat(MAX_HEADER_BYTES);
        big.insert("x-big", axum::http::HeaderValue::from_str(&value).unwrap());
        assert!(headers_over_bounds(&big));
    }
}
