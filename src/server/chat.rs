//! `POST /chat`: the seed's request and response, field for field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::trace::{Arrived, TraceId};
use super::{auth, body, AppState};
use crate::error::Error;
use crate::orchestrator::{CachePreference, ChatRequest, PromptRef};
use crate::providers::{Message, Role};

/// The seed's `/chat` body, plus optional `variables`, `model`, `temperature`, `top_k`,
/// `min_p` and `cache`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatBody {
    tenant_id: Option<String>,
    user_id: Option<String>,
    task: Option<String>,
    message: String,
    prompt_id: Option<String>,
    prompt_version: Option<String>,
    max_output_tokens: Option<u32>,
    #[serde(default)]
    variables: serde_json::Map<String, serde_json::Value>,
    model: Option<String>,
    temperature: Option<f32>,
    top_k: Option<u32>,
    min_p: Option<f32>,
    cache: Option<bool>,
}

pub(super) async fn chat(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let limit = state.hearth.config().server.body_limit_bytes;
    let b: ChatBody = body::json(&headers, raw, limit)?;
    let principal = auth::caller(
        &state,
        &headers,
        b.tenant_id.as_deref(),
        b.user_id.as_deref(),
    )?;
    let temperature = b.temperature.unwrap_or(0.0);
    let req = ChatRequest {
        principal,
        endpoint: "/chat",
        task: b.task.unwrap_or_else(|| "chat".into()),
        model: b.model,
        prompt: b.prompt_id.map(|id| PromptRef {
            id,
            version: b.prompt_version,
        }),
        variables: b.variables,
        messages: vec![Message {
            role: Role::User,
            content: b.message,
        }],
        max_output_tokens: b.max_output_tokens,
        temperature,
        top_p: None,
        top_k: b.top_k,
        min_p: b.min_p,
        stop: Vec::new(),
        seed: None,
        response_format: None,
        cache: match b.cache {
            None => CachePreference::Auto,
            Some(true) => CachePreference::Use,
            Some(false) => CachePreference::Bypass,
        },
        received_at: arrived.0,
    };
    let out = state.hearth.chat(req, trace.0.clone()).await?;
    Ok(Json(out).into_response())
}
