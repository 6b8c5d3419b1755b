//! Anthropic Messages: system prompt as a top-level field, strictly alternating user and
//! assistant turns, a required `max_tokens`, and a stream of named SSE events.

use reqwest::header::HeaderValue;
use serde_json::{json, Value};

use super::http::{self, from_error_object};
use super::sse::SseEvent;
use super::streaming::{self, Decoder, Step};
use super::Endpoint;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, DeltaStream, FinishReason, Provider, ProviderError,
    ProviderRequest, ProviderResponse, ResponseFormat, Role, Usage,
};

/// The API version every call pins; a configured `anthropic-version` header wins.
const API_VERSION: &str = "2023-06-01";

/// Anthropic has no JSON mode; the orchestrator validates the answer itself.
const JSON_INSTRUCTION: &str = "Respond with a single JSON object and nothing else.";

/// Anthropic's temperature range is 0 to 1 (OpenAI's goes to 2).
const MAX_TEMPERATURE: f32 = 1.0;

/// The adapter.
pub(crate) struct Anthropic {
    endpoint: Endpoint,
}

impl Anthropic {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        Anthropic { endpoint }
    }

    /// A request to `path` with the key and version headers.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let mut req = self.endpoint.request(method, path);
        if !self.endpoint.headers.contains_key("anthropic-version") {
            req = req.header("anthropic-version", API_VERSION);
        }
        if let Some(k) = &self.endpoint.key {
            // A key that cannot be a header value is unusable; the value is never echoed.
            let mut value = HeaderValue::from_str(k.expose()).map_err(|_| ProviderError::Auth)?;
            value.set_sensitive(true);
            req = req.header("x-api-key", value);
        }
        Ok(req)
    }

    fn post(&self, body: &Value) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self.request(reqwest::Method::POST, "/messages")?.json(body))
    }
}

/// The wire body for `req`.
fn body(req: &ProviderRequest, stream: bool) -> Value {
    let mut system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    if req.response_format == ResponseFormat::JsonObject {
        system.push(JSON_INSTRUCTION);
    }
    let mut body = json!({
        "model": req.model_id,
        "max_tokens": req.max_output_tokens,
        "messages": turns(req),
        "temperature": req.temperature.clamp(0.0, MAX_TEMPERATURE),
        "stream": stream,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(p) = req.top_p {
        body["top_p"] = json!(p);
    }
    if let Some(k) = req.top_k {
        body["top_k"] = json!(k);
    }
    if !req.stop.is_empty() {
        body["stop_sequences"] = json!(req.stop);
    }
    // No seed and no min_p: the API has neither.
    body
}

/// The user and assistant messages, consecutive ones of the same role merged, since the
/// API wants the roles to alternate.
fn turns(req: &ProviderRequest) -> Vec<Value> {
    let mut turns: Vec<(&'static str, String)> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::System => continue,
            // `ChatOnly` refuses raw text before any request is built.
            Role::User | Role::Text => "user",
            Role::Assistant => "assistant",
        };
        match turns.last_mut() {
            Some((last, content)) if *last == role => {
                content.push_str("\n\n");
                content.push_str(&m.content);
            }
            _ => turns.push((role, m.content.clone())),
        }
    }
    turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

fn finish_reason(s: Option<&str>) -> FinishReason {
    match s {
        Some("max_tokens") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        // end_turn, stop_sequence, and the tool and pause reasons we never ask for.
        _ => FinishReason::Stop,
    }
}

/// Token counts as Anthropic reports them: `input_tokens` excludes the prompt tokens read
/// from or written to its cache, so they are added back.
#[derive(Debug, Clone, Copy, Default)]
struct WireUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl WireUsage {
    /// Takes every count `u` carries; absent ones keep their value (a stream's
    /// `message_delta` reports cumulative totals, often only `output_tokens`).
    fn update(&mut self, u: &Value) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        self.input = n("input_tokens").unwrap_or(self.input);
        self.output = n("output_tokens").unwrap_or(self.output);
        self.cache_read = n("cache_read_input_tokens").unwrap_or(self.cache_read);
        self.cache_creation = n("cache_creation_input_tokens").unwrap_or(self.cache_creation);
    }

    fn usage(self) -> Usage {
        Usage {
            input_tokens: self.input + self.cache_read + self.cache_creation,
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
        }
    }
}

/// An `{"type": "error", "error": {...}}` object, in a body or a stream event.
fn error_object(v: &Value) -> Option<ProviderError> {
    let e = v.get("error").filter(|e| e.is_object())?;
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
    Some(from_error_object(kind, message))
}

/// The answer in a non-streamed response body.
fn response(v: &Value, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
    if let Some(e) = error_object(v) {
        return Err(e);
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Unavailable("the provider's answer has no content".into()))?;
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let usage = match v.get("usage").filter(|u| u.is_object()) {
        Some(u) => {
            let mut w = WireUsage::default();
            w.update(u);
            w.usage()
        }
        None => Usage {
            input_tokens: estimate_prompt_tokens(req),
            output_tokens: estimate_tokens(&text),
            cached_input_tokens: 0,
        },
    };
    Ok(ProviderResponse {
        finish_reason: finish_reason(v.get("stop_reason").and_then(Value::as_str)),
        text,
        usage,
    })
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let resp = http::send(self.post(&body(req, false))?).await?;
        let v = http::json_body(resp).await?;
        response(&v, req)
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        let resp = http::send(self.post(&body(req, true))?).await?;
        Ok(streaming::deltas(
            resp,
            EventDecoder {
                prompt_estimate: estimate_prompt_tokens(req),
                text: String::new(),
                usage: None,
                finish_reason: None,
            },
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        // The list is paged (20 by default); one page of the largest size holds them all.
        let req = self.request(reqwest::Method::GET, "/models?limit=1000")?;
        let v = http::json_body(http::send(req).await?).await?;
        Ok(http::model_ids(&v))
    }

    fn is_usable(&self) -> bool {
        self.endpoint.key.is_some()
    }
}

/// Reads the Messages stream's named events up to `message_stop`.
#[derive(Default)]
pub(super) struct EventDecoder {
    prompt_estimate: u64,
    text: String,
    usage: Option<WireUsage>,
    finish_reason: Option<FinishReason>,
}

impl EventDecoder {
    fn usage(&mut self, u: Option<&Value>) {
        if let Some(u) = u.filter(|u| u.is_object()) {
            self.usage.get_or_insert_with(WireUsage::default).update(u);
        }
    }
}

impl Decoder for EventDecoder {
    fn event(&mut self, ev: &SseEvent) -> Result<Step, ProviderError> {
        let v = streaming::json(ev)?;
        let kind = ev
            .event
            .as_deref()
            .or_else(|| v.get("type").and_then(Value::as_str))
            .unwrap_or_default();
        let text = match kind {
            "message_start" => {
                self.usage(v.pointer("/message/usage"));
                None
            }
            "content_block_start" => v
                .get("content_block")
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .and_then(|b| b.get("text"))
                .and_then(Value::as_str),
            "content_block_delta" => v
                .get("delta")
                .filter(|d| d.get("type").and_then(Value::as_str) == Some("text_delta"))
                .and_then(|d| d.get("text"))
                .and_then(Value::as_str),
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.finish_reason = Some(finish_reason(Some(r)));
                }
                self.usage(v.get("usage"));
                None
            }
            "message_stop" => return Ok(Step::Done),
            "error" => {
                return Err(error_object(&v).unwrap_or_else(|| {
                    ProviderError::Unavailable("the provider sent an error event".into())
                }))
            }
            // ping, content_block_stop, and event types added after this was written.
            _ => None,
        };
        let parts = match text {
            Some(t) if !t.is_empty() => {
                self.text.push_str(t);
                vec![t.to_owned()]
            }
            _ => Vec::new(),
        };
        Ok(Step::Text(parts))
    }

    fn finish(&mut self) -> (Usage, FinishReason) {
        let usage = match self.usage {
            Some(w) => w.usage(),
            None => Usage {
                input_tokens: self.prompt_estimate,
                output_tokens: estimate_tokens(&self.text),
                cached_input_tokens: 0,
            },
        };
        (usage, self.finish_reason.unwrap_or(FinishReason::Stop))
    }
}
