//! `POST /chat`: the seed's request and response, field for field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;

use super::idempotency;
use super::trace::{Arrived, TraceId};
use super::wire::chat::ChatBody;
use super::wire::error::ErrorBody;
use super::wire::to_json;
use super::{auth, body, AppState};
use crate::error::Error;
use crate::orchestrator::{CachePreference, ChatOutcome, ChatRequest, PromptRef};
use crate::providers::{Message, Role};

/// One message through the orchestrator: the seed's request and response.
#[utoipa::path(
    post,
    operation_id = "chat",
    path = "/chat",
    tag = "hearth",
    params(("Idempotency-Key" = Option<String>, Header, description = idempotency::KEY_DOC)),
    request_body = ChatBody,
    responses(
        (status = 200, description = "The answer and how it was reached", body = ChatOutcome),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn chat(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let limit = state.hearth.config().server.body_limit_bytes;
    let bytes = body::read(raw, limit)?;
    let b: ChatBody = body::parse(&headers, &bytes)?;
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
        messages: vec![Message::new(Role::User, b.message)],
        max_output_tokens: b.max_output_tokens,
        temperature,
        top_p: None,
        top_k: b.top_k,
        min_p: b.min_p,
        stop: Vec::new(),
        seed: None,
        response_format: None,
        tools: Default::default(),
        cache: match b.cache {
            None => CachePreference::Auto,
            Some(true) => CachePreference::Use,
            Some(false) => CachePreference::Bypass,
        },
        received_at: arrived.0,
    };
    let render = |out: &ChatOutcome| to_json(out);
    idempotency::whole_answer(&state, &headers, &bytes, req, trace.0.clone(), render).await
}
