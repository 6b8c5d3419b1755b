//! OpenAI Chat Completions, the wire format OpenAI-compatible servers (Ollama, vLLM,
//! LM Studio, llama.cpp's server, OpenRouter, Groq, Together) speak too.

use serde_json::{json, Value};

use super::http::{self, from_error_object};
use super::sse::SseEvent;
use super::streaming::{self, Decoder, Step};
use super::Endpoint;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, DeltaStream, FinishReason, Message, Provider,
    ProviderError, ProviderRequest, ProviderResponse, ResponseFormat, Role, Usage,
};

/// OpenAI itself, or a server that copies its API (older field names, usage maybe absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    OpenAi,
    Compatible,
}

/// The adapter.
pub(crate) struct OpenAi {
    endpoint: Endpoint,
    flavour: Flavour,
}

impl OpenAi {
    pub(crate) fn new(endpoint: Endpoint, flavour: Flavour) -> Self {
        OpenAi { endpoint, flavour }
    }

    fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let req = self
            .endpoint
            .request(reqwest::Method::POST, "/chat/completions")
            .json(body);
        match &self.endpoint.key {
            Some(k) => req.bearer_auth(k.expose()),
            None => req,
        }
    }

    fn body(&self, req: &ProviderRequest, stream: bool) -> Value {
        let messages: Vec<Value> = req.messages.iter().map(wire_message).collect();
        // OpenAI renamed the cap for its newer models; compatible servers know the old name.
        let cap_field = match self.flavour {
            Flavour::OpenAi => "max_completion_tokens",
            Flavour::Compatible => "max_tokens",
        };
        let mut body = json!({
            "model": req.model_id,
            "messages": messages,
            "temperature": req.temperature,
            cap_field: req.max_output_tokens,
            "stream": stream,
        });
        if let Some(p) = req.top_p {
            body["top_p"] = json!(p);
        }
        // OpenAI refuses parameters it does not know; llama.cpp's server, vLLM and
        // OpenRouter take these two.
        if self.flavour == Flavour::Compatible {
            if let Some(k) = req.top_k {
                body["top_k"] = json!(k);
            }
            if let Some(p) = req.min_p {
                body["min_p"] = json!(p);
            }
        }
        if !req.stop.is_empty() {
            body["stop"] = json!(req.stop);
        }
        if let Some(seed) = req.seed {
            body["seed"] = json!(seed);
        }
        if req.response_format == ResponseFormat::JsonObject {
            body["response_format"] = json!({"type": "json_object"});
        }
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }
}

fn wire_message(m: &Message) -> Value {
    let role = match m.role {
        Role::System => "system",
        // `ChatOnly` refuses raw text before any request is built.
        Role::User | Role::Text => "user",
        Role::Assistant => "assistant",
    };
    json!({"role": role, "content": m.content})
}

fn finish_reason(s: Option<&str>) -> FinishReason {
    match s {
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |p: &str| u.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    Some(Usage {
        input_tokens: n("/prompt_tokens"),
        output_tokens: n("/completion_tokens"),
        cached_input_tokens: n("/prompt_tokens_details/cached_tokens"),
    })
}

/// An `{"error": {...}}` object, which some servers send with a 200 or inside a stream.
/// `"error": null` (some servers put it in every chunk) is no error; a numeric `code`
/// (OpenRouter, vLLM, llama.cpp) is the HTTP status the error stands for.
fn embedded_error(v: &Value) -> Option<ProviderError> {
    let e = v.get("error").filter(|e| !e.is_null())?;
    let status = e
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| reqwest::StatusCode::from_u16(c).ok())
        .filter(|s| s.is_client_error() || s.is_server_error());
    if let Some(status) = status {
        return Some(http::from_status(
            status,
            &reqwest::header::HeaderMap::new(),
            &v.to_string(),
        ));
    }
    let kind = e
        .get("type")
        .and_then(Value::as_str)
        .or_else(|| e.get("code").and_then(Value::as_str))
        .unwrap_or("error");
    let message = e.get("message").and_then(Value::as_str).unwrap_or("");
    Some(from_error_object(kind, message))
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let resp = http::send(self.post(&self.body(req, false))).await?;
        let v = http::json_body(resp).await?;
        if let Some(e) = embedded_error(&v) {
            return Err(e);
        }
        let choice = v.pointer("/choices/0").ok_or_else(|| {
            ProviderError::Unavailable("the provider's answer has no choices".into())
        })?;
        let text = choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let usage = usage(&v).unwrap_or(Usage {
            input_tokens: estimate_prompt_tokens(req),
            output_tokens: estimate_tokens(&text),
            cached_input_tokens: 0,
        });
        Ok(ProviderResponse {
            finish_reason: finish_reason(choice.get("finish_reason").and_then(Value::as_str)),
            text,
            usage,
        })
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        let resp = http::send(self.post(&self.body(req, true))).await?;
        Ok(streaming::deltas(
            resp,
            ChunkDecoder {
                prompt_estimate: estimate_prompt_tokens(req),
                text_chars: String::new(),
                usage: None,
                finish_reason: None,
            },
        ))
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        let mut req = self.endpoint.request(reqwest::Method::GET, "/models");
        if let Some(k) = &self.endpoint.key {
            req = req.bearer_auth(k.expose());
        }
        let v = http::json_body(http::send(req).await?).await?;
        Ok(http::model_ids(&v))
    }

    fn is_usable(&self) -> bool {
        // OpenAI itself needs a key; a compatible server on this machine usually needs none.
        self.flavour == Flavour::Compatible || self.endpoint.key.is_some()
    }
}

/// Reads `chat.completion.chunk` events up to `[DONE]`.
#[derive(Default)]
pub(super) struct ChunkDecoder {
    prompt_estimate: u64,
    text_chars: String,
    usage: Option<Usage>,
    finish_reason: Option<FinishReason>,
}

impl Decoder for ChunkDecoder {
    fn event(&mut self, ev: &SseEvent) -> Result<Step, ProviderError> {
        if ev.data.trim() == "[DONE]" {
            return Ok(Step::Done);
        }
        let v = streaming::json(ev)?;
        if let Some(e) = embedded_error(&v) {
            return Err(e);
        }
        if let Some(u) = usage(&v) {
            self.usage = Some(u);
        }
        let mut parts = Vec::new();
        if let Some(choice) = v.pointer("/choices/0") {
            if let Some(t) = choice.pointer("/delta/content").and_then(Value::as_str) {
                self.text_chars.push_str(t);
                parts.push(t.to_owned());
            }
            if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                self.finish_reason = Some(finish_reason(Some(r)));
            }
        }
        Ok(Step::Text(parts))
    }

    fn finish(&mut self) -> (Usage, FinishReason) {
        let usage = self.usage.unwrap_or(Usage {
            input_tokens: self.prompt_estimate,
            output_tokens: estimate_tokens(&self.text_chars),
            cached_input_tokens: 0,
        });
        (usage, self.finish_reason.unwrap_or(FinishReason::Stop))
    }

    fn complete_without_terminator(&self) -> bool {
        self.finish_reason.is_some()
    }
}
