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
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge { limit }
        } else {
            Error::bad_request("invalid_request", "the request body could not be read")
        }
    })?;
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json") || v.contains("+json"));
    if !is_json {
        return Err(Error::bad_request(
            "invalid_request",
            "the body must be application/json",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid_request"
        } else {
            "invalid_json"
        };
        Error::bad_request(code, describe(&e))
    })
}

/// serde's message with quoted values blanked, so no caller text is echoed.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let blanked: String = text
        .split('"')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { "\"…\"" } else { part })
        .collect();
    let prefix = if e.is_data() {
        "invalid field"
    } else {
        "malformed JSON"
    };
    format!("{prefix}: {blanked}")
}
