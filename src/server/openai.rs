//! The OpenAI-compatible API: `POST /v1/chat/completions` (whole and SSE) and `GET /v1/models`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde_json::{json, Value};

use super::error::error_body;
use super::idempotency;
use super::threads::ThreadSink;
use super::trace::{Arrived, TraceId};
use super::wire::completions::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChunkChoice, ChunkToolCall,
    Content, Delta, HearthExtension, ModelEntry, ModelList, ModelUse, Sampling, Stop, Usage,
    WireFormat, WireMessage, WireTool, WireToolCall, WireToolChoice,
};
use super::wire::error::ErrorBody;
use super::wire::to_json;
use super::{auth, body, AppState};
use crate::config::Locality;
use crate::error::{Error, Result};
use crate::orchestrator::{
    CachePreference, ChatOutcome, ChatRequest, PromptRef, StreamEvent, StreamStart,
};
use crate::providers::{
    JsonSchemaFormat, Message, OutputFormat, Role, Tool, ToolCall, ToolChoice, ToolError, Tools,
    MAX_CALLS, MAX_TOOLS,
};
use crate::store::now_ms;
use crate::workspace::DataPolicy;

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
    let mut calls_made = std::collections::HashSet::new();
    wire.into_iter()
        .map(|m| {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
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
            let tool_calls = tool_calls(role, m.tool_calls)?;
            calls_made.extend(tool_calls.iter().map(|c| c.id.clone()));
            let tool_call_id = match (role, m.tool_call_id) {
                (Role::Tool, Some(id)) if calls_made.contains(&id) => Some(id),
                (Role::Tool, _) => {
                    return Err(Error::bad_request(
                        "invalid_tool_call",
                        "a `tool` message needs the `tool_call_id` of a call an earlier assistant message made",
                    ))
                }
                (_, _) => None,
            };
            Ok(Message {
                tool_calls,
                tool_call_id,
                ..Message::new(role, content)
            })
        })
        .collect()
}

/// An assistant message's calls, each with an id and arguments that are JSON.
fn tool_calls(role: Role, wire: Option<Vec<WireToolCall>>) -> Result<Vec<ToolCall>, Error> {
    let wire = wire.unwrap_or_default();
    let bad = |m: &str| Error::bad_request("invalid_tool_call", m.to_owned());
    if !wire.is_empty() && role != Role::Assistant {
        return Err(bad("only assistant messages carry `tool_calls`"));
    }
    if wire.len() > MAX_CALLS {
        return Err(bad("an assistant message carries at most 128 tool calls"));
    }
    wire.into_iter()
        .map(|c| {
            if c.id.is_empty() || c.id.len() > 256 || c.kind != "function" {
                return Err(bad(
                    "a tool call needs an `id` (1-256 bytes) and `type` `function`",
                ));
            }
            if serde_json::from_str::<Value>(&c.function.arguments).is_err() {
                return Err(bad("a tool call's `arguments` must be JSON text"));
            }
            Ok(ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
            })
        })
        .collect()
}

/// The request's tools, checked.
fn tools(
    wire: Option<Vec<WireTool>>,
    choice: Option<WireToolChoice>,
    parallel: Option<bool>,
) -> Result<Tools, Error> {
    let invalid = |e: ToolError| Error::bad_request("invalid_tools", e.to_string());
    let wire = wire.unwrap_or_default();
    // Before each tool's schema is compiled: 10,000 tools are refused at once.
    if wire.len() > MAX_TOOLS {
        return Err(invalid(ToolError::TooMany(wire.len())));
    }
    let offered = wire
        .into_iter()
        .map(|t| {
            if t.kind != "function" {
                return Err(ToolError::NotAFunction(t.kind));
            }
            let f = t.function;
            Tool::new(f.name, f.description, f.parameters, f.strict)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let choice = match choice {
        None => ToolChoice::Auto,
        Some(WireToolChoice::Mode(m)) => match m.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => {
                return Err(Error::bad_request(
                    "invalid_tools",
                    "tool_choice must be `auto`, `none`, `required` or a named function",
                ))
            }
        },
        Some(WireToolChoice::Named(n)) if n.kind == "function" => {
            ToolChoice::Function(n.function.name)
        }
        Some(WireToolChoice::Named(n)) => return Err(invalid(ToolError::NotAFunction(n.kind))),
    };
    Tools::new(offered, choice, parallel).map_err(invalid)
}

pub(super) fn to_request(
    b: ChatCompletionRequest,
    headers: &HeaderMap,
    principal: crate::workspace::Principal,
    received_at: std::time::Instant,
) -> Result<(ChatRequest, bool), Error> {
    let messages = messages(b.messages)?;
    let tools = tools(b.tools, b.tool_choice, b.parallel_tool_calls)?;
    let input = Input {
        endpoint: "/v1/chat/completions",
        messages,
        tools,
        default_max_tokens: None,
    };
    sampled_request(b.sampling, input, headers, principal, received_at)
}

/// What an endpoint hands `sampled_request` besides the sampling fields.
pub(super) struct Input {
    pub(super) endpoint: &'static str,
    pub(super) messages: Vec<Message>,
    /// The functions offered (none for a text completion).
    pub(super) tools: Tools,
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
    let response_format = b.response_format.map(output_format).transpose()?.flatten();
    let include_usage = b.stream_options.as_ref().is_some_and(|o| o.include_usage);
    let req = ChatRequest {
        principal,
        endpoint: input.endpoint,
        task,
        model,
        prompt,
        variables,
        messages: input.messages,
        tools: input.tools,
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

/// The answer's shape from `response_format`: none for `text`, a checked schema for
/// `json_schema`.
fn output_format(f: WireFormat) -> Result<Option<OutputFormat>> {
    match (f.kind.as_str(), f.json_schema) {
        ("text", _) => Ok(None),
        ("json_object", _) => Ok(Some(OutputFormat::JsonObject)),
        ("json_schema", Some(s)) => {
            let schema = s.schema.unwrap_or_else(|| json!({"type": "object"}));
            JsonSchemaFormat::new(&s.name, schema, s.strict.unwrap_or(false))
                .map(|f| Some(OutputFormat::JsonSchema(Arc::new(f))))
                .map_err(|e| Error::bad_request("invalid_response_format", e.to_string()))
        }
        ("json_schema", None) => Err(Error::bad_request(
            "invalid_response_format",
            "response_format `json_schema` needs a `json_schema` object with a `name` and a `schema`",
        )),
        (other, _) => Err(Error::bad_request(
            "invalid_response_format",
            format!("response_format `{other}` is not supported: `text`, `json_object` or `json_schema`"),
        )),
    }
}

/// A chat answer, whole or streamed (`stream: true`) as server-sent events ending in `[DONE]`.
#[utoipa::path(
    post,
    operation_id = "create_chat_completion",
    path = "/v1/chat/completions",
    tag = "openai",
    params(("Idempotency-Key" = Option<String>, Header, description = idempotency::KEY_DOC)),
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "The answer", content(
            (ChatCompletion = "application/json"),
            (ChatCompletionChunk = "text/event-stream"),
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
    let bytes = body::read(raw, limit)?;
    let b: ChatCompletionRequest = body::parse(&headers, &bytes)?;
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
        let workspace = req.principal.workspace.clone();
        let endpoint = req.endpoint;
        let run = async {
            let start = state.hearth.chat_stream(req, trace.0.clone()).await?;
            Ok(sse(start, include_usage, sink, arrived.0))
        };
        return idempotency::streamed_answer(&state, &headers, &bytes, &workspace, endpoint, run)
            .await;
    }
    let render = |out: &ChatOutcome| {
        let saved = sink.and_then(|s| s.save(out, None));
        to_json(&ChatCompletion::of(out, now_ms() / 1000, saved))
    };
    idempotency::whole_answer(&state, &headers, &bytes, req, trace.0.clone(), render).await
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

/// A chunk of the stream `id` with one choice.
fn chunk(
    id: &str,
    model: &str,
    created: i64,
    delta: Delta,
    finish: Option<&'static str>,
    include_usage: bool,
) -> ChatCompletionChunk {
    ChatCompletionChunk {
        id: id.to_owned(),
        object: "chat.completion.chunk",
        created,
        model: model.to_owned(),
        choices: vec![ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        }],
        usage: include_usage.then_some(None),
        hearth: None,
    }
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
        Delta {
            role: Some("assistant"),
            content: Some(String::new()),
            tool_calls: None,
        },
        None,
        include_usage,
    );
    let head = futures::stream::once(async move { to_json(&opening) });
    let mut first_text_ms = None;
    let body = events.flat_map(move |ev| {
        let items: Vec<String> = match ev {
            StreamEvent::Delta(t) if t.is_empty() => vec![],
            StreamEvent::Delta(t) => {
                first_text_ms.get_or_insert_with(|| arrived.elapsed().as_millis() as u64);
                let delta = Delta {
                    content: Some(t),
                    ..Delta::default()
                };
                vec![to_json(&chunk(
                    &id,
                    &model,
                    created,
                    delta,
                    None,
                    include_usage,
                ))]
            }
            StreamEvent::ToolCall(piece) => {
                first_text_ms.get_or_insert_with(|| arrived.elapsed().as_millis() as u64);
                let delta = Delta {
                    tool_calls: Some(vec![ChunkToolCall::of(piece)]),
                    ..Delta::default()
                };
                vec![to_json(&chunk(
                    &id,
                    &model,
                    created,
                    delta,
                    None,
                    include_usage,
                ))]
            }
            StreamEvent::Done(out) => {
                let finish = Some(out.finish_reason.as_str());
                let mut last = chunk(
                    &id,
                    &model,
                    created,
                    Delta::default(),
                    finish,
                    include_usage,
                );
                // Saved before the client hears the end, so what it saw is kept.
                let saved = sink.as_ref().and_then(|s| s.save(&out, first_text_ms));
                last.hearth = Some(HearthExtension::of(&out, saved));
                let mut v = vec![to_json(&last)];
                if include_usage {
                    let mut tail = chunk(&id, &model, created, Delta::default(), None, false);
                    tail.choices.clear();
                    tail.usage = Some(Some(Usage::of(&out)));
                    v.push(to_json(&tail));
                }
                v
            }
            StreamEvent::Failed(e) => vec![to_json(&error_body(&e, &trace_id))],
        };
        futures::stream::iter(items)
    });
    let events = head
        .chain(body)
        .map(|v| Ok::<_, Infallible>(Event::default().data(v)))
        .chain(futures::stream::once(async {
            Ok(Event::default().data("[DONE]"))
        }));
    let mut resp = Sse::new(events).into_response();
    set_headers(resp.headers_mut(), &provider, cache_hit, None);
    resp
}

/// The models and route aliases this workspace may call.
#[utoipa::path(
    get,
    operation_id = "list_models",
    path = "/v1/models",
    tag = "openai",
    responses(
        (status = 200, description = "The models", body = ModelList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ModelList>, Error> {
    let p = auth::key_principal(&state, &headers)?.ok_or(Error::Unauthorized)?;
    let ws = state.hearth.workspace(&p.workspace)?;
    let policy = &state.hearth.config().policy;
    let list = |data| ModelList {
        object: "list",
        data,
    };
    let Some(tier) = policy.tiers.get(&ws.tier) else {
        return Ok(Json(list(Vec::new())));
    };
    let allowed = |alias: &String| {
        let m = &policy.models[alias];
        tier.allows(m)
            && (ws.data_policy != DataPolicy::LocalOnly
                || policy.locality(&m.provider) == Some(Locality::OnDevice))
    };
    let entry = |id: String, owned_by: &str, locality, kind| ModelEntry {
        id,
        object: "model",
        created: 0,
        owned_by: owned_by.to_owned(),
        locality,
        kind,
    };
    // An installed sentence encoder is listed too (it answers /v1/embeddings), marked so.
    let kind_of = |m: &crate::config::ModelSpec| {
        let local = matches!(
            policy.providers.get(&m.provider),
            Some(crate::config::ProviderConfig::Local(_))
        );
        match local && crate::models::catalog::is_embedding(&m.model_id) {
            true => ModelUse::Embedding,
            false => ModelUse::Chat,
        }
    };
    let mut data: Vec<ModelEntry> = policy
        .models
        .keys()
        .filter(|a| allowed(a))
        .map(|a| {
            let m = &policy.models[a];
            let locality = policy.locality(&m.provider).unwrap_or(Locality::Hosted);
            entry(m.address.clone(), &m.provider, Some(locality), kind_of(m))
        })
        .collect();
    for route in policy.routes.values() {
        if route.chain().any(&allowed)
            || tier.on_route_not_allowed == crate::config::RouteAction::Degrade
        {
            data.push(entry(
                format!("hearth/{}", route.task),
                "hearth",
                None,
                ModelUse::Chat,
            ));
        }
    }
    Ok(Json(list(data)))
}
