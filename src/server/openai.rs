//! The OpenAI-compatible API: `POST /v1/chat/completions` (whole and SSE) and `GET /v1/models`.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::error_body;
use super::threads::ThreadSink;
use super::trace::{Arrived, TraceId};
use super::{auth, body, AppState};
use crate::config::Locality;
use crate::error::Error;
use crate::orchestrator::{
    CachePreference, ChatOutcome, ChatRequest, PromptRef, StreamEvent, StreamStart,
};
use crate::providers::{Message, ResponseFormat, Role};
use crate::store::now_ms;
use crate::workspace::DataPolicy;

#[derive(Debug, Deserialize)]
struct WireMessage {
    role: String,
    content: Option<Content>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct WireFormat {
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /v1/chat/completions`: the conversation and the fields both completion endpoints read.
#[derive(Debug, Deserialize)]
pub(super) struct CompletionBody {
    messages: Vec<WireMessage>,
    #[serde(flatten)]
    pub(super) sampling: Sampling,
}

/// The request fields Hearth reads besides the input, in both completion endpoints; others
/// (penalties, logprobs...) are accepted and ignored.
#[derive(Debug, Deserialize)]
pub(super) struct Sampling {
    pub(super) model: String,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    // Not OpenAI's, but vLLM and llama.cpp's server take them in the same body.
    top_k: Option<u32>,
    min_p: Option<f32>,
    stop: Option<Stop>,
    seed: Option<u64>,
    pub(super) user: Option<String>,
    #[serde(default)]
    pub(super) stream: bool,
    stream_options: Option<StreamOptions>,
    response_format: Option<WireFormat>,
    n: Option<u32>,
    #[serde(default)]
    metadata: serde_json::Map<String, Value>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn meta<'a>(b: &'a Sampling, headers: &'a HeaderMap, key: &str) -> Option<String> {
    b.metadata
        .get(key)
        .and_then(Value::as_str)
        .or_else(|| header(headers, &format!("x-hearth-{}", key.replace('_', "-"))))
        .map(str::to_owned)
}

fn messages(wire: Vec<WireMessage>) -> Result<Vec<Message>, Error> {
    wire.into_iter()
        .map(|m| {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(Error::bad_request(
                        "invalid_request",
                        format!("messages with role `{other}` are not supported"),
                    ))
                }
            };
            let content = match m.content {
                None => String::new(),
                Some(Content::Text(t)) => t,
                Some(Content::Parts(parts)) => {
                    if parts.iter().any(|p| p.kind != "text") {
                        return Err(Error::bad_request(
                            "invalid_request",
                            "only text content parts are supported",
                        ));
                    }
                    parts
                        .into_iter()
                        .filter_map(|p| p.text)
                        .collect::<Vec<_>>()
                        .join("")
                }
            };
            Ok(Message { role, content })
        })
        .collect()
}

pub(super) fn to_request(
    b: CompletionBody,
    headers: &HeaderMap,
    principal: crate::workspace::Principal,
    received_at: std::time::Instant,
) -> Result<(ChatRequest, bool), Error> {
    let messages = messages(b.messages)?;
    let input = Input {
        endpoint: "/v1/chat/completions",
        messages,
        default_max_tokens: None,
    };
    sampled_request(b.sampling, input, headers, principal, received_at)
}

/// What an endpoint hands `sampled_request` besides the sampling fields.
pub(super) struct Input {
    pub(super) endpoint: &'static str,
    pub(super) messages: Vec<Message>,
    /// The output cap when the body sets none (the text-completion API's is 16).
    pub(super) default_max_tokens: Option<u32>,
}

/// The orchestrator's request for `input` under the body's sampling fields and metadata, and
/// whether the stream ends with a usage chunk.
pub(super) fn sampled_request(
    b: Sampling,
    input: Input,
    headers: &HeaderMap,
    principal: crate::workspace::Principal,
    received_at: std::time::Instant,
) -> Result<(ChatRequest, bool), Error> {
    if b.n.is_some_and(|n| n != 1) {
        return Err(Error::bad_request(
            "invalid_request",
            "only n = 1 is supported",
        ));
    }
    let temperature = b.temperature.unwrap_or(1.0);
    let (task, model) = match b.model.strip_prefix("hearth/") {
        Some(task) => (task.to_owned(), None),
        None => (
            meta(&b, headers, "task").unwrap_or_else(|| "chat".into()),
            Some(b.model.clone()),
        ),
    };
    let prompt = meta(&b, headers, "prompt_id").map(|id| PromptRef {
        id,
        version: meta(&b, headers, "prompt_version"),
    });
    let variables = b
        .metadata
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("var_")
                .map(|name| (name.to_owned(), v.clone()))
        })
        .collect();
    let cache = match header(headers, "x-hearth-cache") {
        Some("use") => CachePreference::Use,
        Some("bypass") => CachePreference::Bypass,
        _ => CachePreference::Auto,
    };
    let response_format = match b.response_format.as_ref().map(|f| f.kind.as_str()) {
        None | Some("text") => None,
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some(other) => {
            return Err(Error::bad_request(
                "invalid_request",
                format!("response_format `{other}` is not supported"),
            ))
        }
    };
    let include_usage = b.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let req = ChatRequest {
        principal,
        endpoint: input.endpoint,
        task,
        model,
        prompt,
        variables,
        messages: input.messages,
        max_output_tokens: b
            .max_completion_tokens
            .or(b.max_tokens)
            .or(input.default_max_tokens),
        temperature,
        top_p: b.top_p,
        top_k: b.top_k,
        min_p: b.min_p,
        stop: match b.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        seed: b.seed,
        response_format,
        cache,
        received_at,
    };
    Ok((req, include_usage))
}

pub(super) async fn completions(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let limit = state.hearth.config().server.body_limit_bytes;
    let b: CompletionBody = body::json(&headers, raw, limit)?;
    let stream = b.sampling.stream;
    let requested_model = b.sampling.model.clone();
    let principal = auth::caller(&state, &headers, None, b.sampling.user.as_deref())?;
    let (req, include_usage) = to_request(b, &headers, principal, arrived.0)?;
    let sink = ThreadSink::open(
        &state,
        &headers,
        &req.principal,
        &requested_model,
        &req.task,
    )?;
    if stream {
        let start = state.hearth.chat_stream(req, trace.0.clone()).await?;
        return Ok(sse(start, include_usage, sink, arrived.0));
    }
    let out = state.hearth.chat(req, trace.0.clone()).await?;
    let mut body = completion(&out);
    if let Some(id) = sink.and_then(|s| s.save(&out, None)) {
        body["hearth"]["thread_message_id"] = json!(id);
    }
    let mut resp = Json(body).into_response();
    set_headers(
        resp.headers_mut(),
        &out.provider,
        out.cache_hit,
        Some(out.estimated_cost_usd),
    );
    Ok(resp)
}

pub(super) fn set_headers(h: &mut HeaderMap, provider: &str, cache_hit: bool, cost: Option<f64>) {
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put("x-hearth-provider", provider.to_owned());
    put(
        "x-hearth-cache",
        if cache_hit { "hit" } else { "miss" }.to_owned(),
    );
    if let Some(c) = cost {
        put("x-hearth-cost-usd", format!("{c:.8}"));
    }
}

pub(super) fn usage(out: &ChatOutcome) -> Value {
    json!({
        "prompt_tokens": out.input_tokens,
        "completion_tokens": out.output_tokens,
        "total_tokens": out.input_tokens + out.output_tokens,
    })
}

pub(super) fn hearth_extension(out: &ChatOutcome) -> Value {
    json!({
        "trace_id": out.trace_id, "provider": out.provider, "cache_hit": out.cache_hit,
        "fallback_used": out.fallback_used, "retry_count": out.retry_count,
        "estimated_cost_usd": out.estimated_cost_usd, "latency_ms": out.latency_ms,
        "prompt_id": out.prompt_id, "prompt_version": out.prompt_version,
    })
}

fn completion(out: &ChatOutcome) -> Value {
    json!({
        "id": format!("chatcmpl-{}", out.trace_id),
        "object": "chat.completion",
        "created": now_ms() / 1000,
        "model": out.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": out.answer},
            "logprobs": null,
            "finish_reason": out.finish_reason.as_str(),
        }],
        "usage": usage(out),
        "hearth": hearth_extension(out),
    })
}

fn chunk(
    id: &str,
    model: &str,
    created: i64,
    delta: Value,
    finish: Option<&str>,
    include_usage: bool,
) -> Value {
    let mut c = json!({
        "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    if include_usage {
        c["usage"] = Value::Null;
    }
    c
}

fn sse(
    start: StreamStart,
    include_usage: bool,
    sink: Option<ThreadSink>,
    arrived: std::time::Instant,
) -> Response {
    let StreamStart {
        trace_id,
        provider,
        model,
        cache_hit,
        events,
    } = start;
    let id = format!("chatcmpl-{trace_id}");
    let created = now_ms() / 1000;
    let opening = chunk(
        &id,
        &model,
        created,
        json!({"role": "assistant", "content": ""}),
        None,
        include_usage,
    );
    let head = futures::stream::once(async move { opening });
    let mut first_text_ms = None;
    let body = events.flat_map(move |ev| {
        let items: Vec<Value> = match ev {
            StreamEvent::Delta(t) if t.is_empty() => vec![],
            StreamEvent::Delta(t) => {
                first_text_ms.get_or_insert_with(|| arrived.elapsed().as_millis() as u64);
                vec![chunk(&id, &model, created, json!({"content": t}), None, include_usage)]
            }
            StreamEvent::Done(out) => {
                let mut last = chunk(&id, &model, created, json!({}), Some(out.finish_reason.as_str()), include_usage);
                last["hearth"] = hearth_extension(&out);
                // Saved before the client hears the end, so what it saw is kept.
                if let Some(saved) = sink.as_ref().and_then(|s| s.save(&out, first_text_ms)) {
                    last["hearth"]["thread_message_id"] = json!(saved);
                }
                let mut v = vec![last];
                if include_usage {
                    v.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": usage(&out)}));
                }
                v
            }
            StreamEvent::Failed(e) => vec![error_body(&e, &trace_id)],
        };
        futures::stream::iter(items)
    });
    let events = head
        .chain(body)
        .map(|v| Ok::<_, Infallible>(Event::default().data(v.to_string())))
        .chain(futures::stream::once(async {
            Ok(Event::default().data("[DONE]"))
        }));
    let mut resp = Sse::new(events).into_response();
    set_headers(resp.headers_mut(), &provider, cache_hit, None);
    resp
}

/// The models and route aliases this workspace may call.
pub(super) async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, Error> {
    let p = auth::key_principal(&state, &headers)?.ok_or(Error::Unauthorized)?;
    let ws = state.hearth.workspace(&p.workspace)?;
    let policy = &state.hearth.config().policy;
    let Some(tier) = policy.tiers.get(&ws.tier) else {
        return Ok(Json(json!({"object": "list", "data": []})));
    };
    let allowed = |alias: &String| {
        let m = &policy.models[alias];
        tier.allows(m)
            && (ws.data_policy != DataPolicy::LocalOnly
                || policy.locality(&m.provider) == Some(Locality::OnDevice))
    };
    let mut data: Vec<Value> = policy
        .models
        .keys()
        .filter(|a| allowed(a))
        .map(|a| {
            let m = &policy.models[a];
            let locality = match policy.locality(&m.provider) {
                Some(Locality::OnDevice) => "on_device",
                _ => "hosted",
            };
            json!({"id": m.address, "object": "model", "created": 0, "owned_by": m.provider, "locality": locality})
        })
        .collect();
    for route in policy.routes.values() {
        if route.chain().any(&allowed)
            || tier.on_route_not_allowed == crate::config::RouteAction::Degrade
        {
            data.push(json!({"id": format!("hearth/{}", route.task), "object": "model", "created": 0, "owned_by": "hearth"}));
        }
    }
    Ok(Json(json!({"object": "list", "data": data})))
}
