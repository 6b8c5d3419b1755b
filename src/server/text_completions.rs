//! `POST /v1/completions`: OpenAI's text-completion format, whole and streamed, for base
//! models (which continue text rather than answer turns) and for callers that render their
//! own prompt. The prompt goes to the model as it is, with no chat template, as one
//! `Role::Text` message; only a model Hearth runs itself takes it (hosted chat APIs refuse).

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;

use super::error::error_body;
use super::openai::{sampled_request, set_headers, Input};
use super::trace::{Arrived, TraceId};
use super::wire::completions::{
    HearthExtension, Prompt, TextChoice, TextCompletion, TextCompletionRequest, Usage,
};
use super::wire::error::ErrorBody;
use super::wire::to_json;
use super::{auth, body, AppState};
use crate::error::Error;
use crate::orchestrator::{ChatOutcome, StreamEvent, StreamStart};
use crate::providers::{Message, Role};
use crate::store::now_ms;

/// The text-completion API's output cap when the body sets none.
const DEFAULT_MAX_TOKENS: u32 = 16;

fn refuse(message: &str) -> Error {
    Error::bad_request("invalid_request", message)
}

/// The one prompt, once every unsupported option is known to be unset.
fn prompt_text(b: &mut TextCompletionRequest) -> Result<String, Error> {
    if b.echo {
        return Err(refuse("echo is not supported"));
    }
    if b.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(refuse("suffix (fill-in-the-middle) is not supported"));
    }
    if b.logprobs.as_ref().is_some_and(|l| !l.is_null()) {
        return Err(refuse("logprobs are not supported"));
    }
    if b.best_of.is_some_and(|n| n != 1) {
        return Err(refuse("only best_of = 1 is supported"));
    }
    match &mut b.prompt {
        Prompt::One(text) => Ok(std::mem::take(text)),
        Prompt::Many(list) if list.len() == 1 => Ok(list.remove(0)),
        Prompt::Many(_) => Err(refuse("exactly one prompt per request is supported")),
    }
}

/// A text completion, whole or streamed (`stream: true`) as server-sent events ending in
/// `[DONE]`.
#[utoipa::path(
    post,
    operation_id = "create_completion",
    path = "/v1/completions",
    tag = "openai",
    request_body = TextCompletionRequest,
    responses(
        (status = 200, description = "The completion", content(
            (TextCompletion = "application/json"),
            (TextCompletion = "text/event-stream"),
        )),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn completions(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let limit = state.hearth.config().server.body_limit_bytes;
    let mut b: TextCompletionRequest = body::json(&headers, raw, limit)?;
    let text = prompt_text(&mut b)?;
    let stream = b.sampling.stream;
    let principal = auth::caller(&state, &headers, None, b.sampling.user.as_deref())?;
    let input = Input {
        endpoint: "/v1/completions",
        messages: vec![Message::new(Role::Text, text)],
        tools: Default::default(),
        default_max_tokens: Some(DEFAULT_MAX_TOKENS),
    };
    let (req, include_usage) = sampled_request(b.sampling, input, &headers, principal, arrived.0)?;
    if req.prompt.is_some() {
        let e = refuse("a text completion takes its whole prompt in `prompt`, not a prompt_id");
        return Err(e);
    }
    if stream {
        let start = state.hearth.chat_stream(req, trace.0.clone()).await?;
        return Ok(sse(start, include_usage));
    }
    let out = state.hearth.chat(req, trace.0.clone()).await?;
    let mut resp = Json(completion(&out)).into_response();
    set_headers(
        resp.headers_mut(),
        &out.provider,
        out.cache_hit,
        Some(out.estimated_cost_usd),
    );
    Ok(resp)
}

/// A `text_completion` of the stream `id` with one choice.
fn chunk(
    id: &str,
    model: &str,
    created: i64,
    text: String,
    finish: Option<&'static str>,
) -> TextCompletion {
    TextCompletion {
        id: id.to_owned(),
        object: "text_completion",
        created,
        model: model.to_owned(),
        choices: vec![TextChoice {
            text,
            index: 0,
            logprobs: None,
            finish_reason: finish,
        }],
        usage: None,
        hearth: None,
    }
}

fn completion(out: &ChatOutcome) -> TextCompletion {
    let mut whole = chunk(
        &format!("cmpl-{}", out.trace_id),
        &out.model,
        now_ms() / 1000,
        out.answer.clone(),
        Some(out.finish_reason.as_str()),
    );
    whole.usage = Some(Usage::of(out));
    whole.hearth = Some(HearthExtension::of(out, None));
    whole
}

fn sse(start: StreamStart, include_usage: bool) -> Response {
    let StreamStart {
        trace_id,
        provider,
        model,
        cache_hit,
        events,
    } = start;
    let id = format!("cmpl-{trace_id}");
    let created = now_ms() / 1000;
    let body = events.flat_map(move |ev| {
        let items: Vec<String> = match ev {
            // A text completion offers no tools: no call can come.
            StreamEvent::Delta(t) if t.is_empty() => vec![],
            StreamEvent::ToolCall(_) => vec![],
            StreamEvent::Delta(t) => vec![to_json(&chunk(&id, &model, created, t, None))],
            StreamEvent::Done(out) => {
                let finish = Some(out.finish_reason.as_str());
                let mut last = chunk(&id, &model, created, String::new(), finish);
                last.hearth = Some(HearthExtension::of(&out, None));
                let mut v = vec![to_json(&last)];
                if include_usage {
                    let mut tail = chunk(&id, &model, created, String::new(), None);
                    tail.choices.clear();
                    tail.usage = Some(Usage::of(&out));
                    v.push(to_json(&tail));
                }
                v
            }
            StreamEvent::Failed(e) => vec![to_json(&error_body(&e, &trace_id))],
        };
        futures::stream::iter(items)
    });
    let events = body
        .map(|v| Ok::<_, Infallible>(Event::default().data(v)))
        .chain(futures::stream::once(async {
            Ok(Event::default().data("[DONE]"))
        }));
    let mut resp = Sse::new(events).into_response();
    set_headers(resp.headers_mut(), &provider, cache_hit, None);
    resp
}
