//! Request bodies: JSON parsed here, with errors that name the problem (and its place)
//! without echoing the caller's text back.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Parses a JSON body, turning every failure into a typed error.
pub fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, Error> {
    parse(headers, &read(body, limit)?)
}

/// The body's bytes, or why they could not be read.
pub fn read(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, Error> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge { limit }
        } else {
            Error::bad_request("invalid_request", "the request body could not be read")
        }
    })
}

/// Parses JSON `bytes` sent with `headers`.
pub fn parse<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, Error> {
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json") || v.contains("+json"));
    if !is_json {
        return Err(Error::UnsupportedMediaType);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid_request"
        } else {
            "invalid_json"
        };
        Error::bad_request(code, describe(&e))
    })
}

/// serde's message without the offending value, so no caller text is echoed: for a wrong
/// type or value only what was expected is kept (serde's own suffix is the last
/// ", expected"), with the place.
fn describe(e: &serde_json::Error) -> String {
    if !e.is_data() {
        return format!("malformed JSON at line {} column {}", e.line(), e.column());
    }
    let text = e.to_string();
    let wrong = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|p| text.starts_with(p));
    match text.rfind(", expected ") {
        Some(at) if wrong => format!(
            "invalid field: a value of the wrong type or range; expected {}",
            &text[at + ", expected ".len()..]
        ),
        _ if wrong => format!("invalid field at line {} column {}", e.line(), e.column()),
        _ => format!("invalid field: {text}"),
    }
}
