//! The typed bodies of Hearth's own API. The OpenAPI document (`/openapi.json`) and the UI's
//! TypeScript types are generated from them, so the three cannot drift apart.

pub mod admin;
pub mod chat;
pub mod completions;
pub mod console;
pub mod embeddings;
pub mod error;
pub mod models;
pub mod ops;
pub mod session;
pub mod threads;

use serde::Serialize;

/// `v` as JSON text, for an SSE event or a raw body. These types serialise infallibly (string
/// keys, no fallible `Serialize` impls), so the empty fallback is never taken.
pub fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}
