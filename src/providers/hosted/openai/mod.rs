//! OpenAI Chat Completions, the wire format OpenAI-compatible servers (Ollama, vLLM,
//! LM Studio, llama.cpp's server, OpenRouter, Groq, Together) speak too.

mod embeddings;
mod wire;

use serde_json::Value;

use super::http::{self, from_error_object};
use super::lenient;
use super::sse::SseEvent;
use super::streaming::{self, Decoder, Step};
use super::Endpoint;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, Delta, DeltaStream, FinishReason, Message,
    OutputFormat, Provider, ProviderError, ProviderRequest, ProviderResponse, Role, Tool, ToolCall,
    ToolCallPiece, ToolChoice, Usage,
};
use crate::providers::{EmbedRequest, EmbedResponse};
use wire::{ChatChunk, ChatRequest, ChatResponse, ErrorBody, ErrorCode, OutputCap};

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

    fn post(&self, body: &ChatRequest<'_>) -> reqwest::RequestBuilder {
        let req = self
            .endpoint
            .request(reqwest::Method::POST, "/chat/completions")
            .json(body);
        match &self.endpoint.key {
            Some(k) => req.bearer_auth(k.expose()),
            None => req,
        }
    }

    fn body<'a>(&self, req: &'a ProviderRequest, stream: bool) -> ChatRequest<'a> {
        let compatible = self.flavour == Flavour::Compatible;
        ChatRequest {
            model: &req.model_id,
            messages: req.messages.iter().map(wire_message).collect(),
            temperature: f64::from(req.temperature),
            // OpenAI renamed the cap for its newer models; compatible servers know the old name.
            cap: match self.flavour {
                Flavour::OpenAi => OutputCap::MaxCompletionTokens(req.max_output_tokens),
                Flavour::Compatible => OutputCap::MaxTokens(req.max_output_tokens),
            },
            stream,
            top_p: req.top_p.map(f64::from),
            // OpenAI refuses parameters it does not know; llama.cpp's server, vLLM and
            // OpenRouter take these two.
            top_k: req.top_k.filter(|_| compatible),
            min_p: req.min_p.filter(|_| compatible).map(f64::from),
            stop: &req.stop,
            seed: req.seed,
            response_format: wire_format(&req.response_format),
            stream_options: stream.then_some(wire::StreamOptions {
                include_usage: true,
            }),
            tools: req.tools.tools.iter().map(tool_spec).collect(),
            tool_choice: req.tools.offered().then(|| tool_choice(&req.tools.choice)),
            parallel_tool_calls: req.tools.parallel.filter(|_| req.tools.offered()),
        }
    }
}

fn wire_format(f: &OutputFormat) -> Option<wire::ResponseFormat<'_>> {
    match f {
        OutputFormat::Text => None,
        OutputFormat::JsonObject => Some(wire::ResponseFormat::JsonObject),
        OutputFormat::JsonSchema(s) => Some(wire::ResponseFormat::JsonSchema {
            json_schema: wire::JsonSchema {
                name: &s.name,
                schema: &s.schema,
                strict: s.strict,
            },
        }),
    }
}

fn tool_spec(t: &Tool) -> wire::ToolSpec<'_> {
    wire::ToolSpec {
        kind: "function",
        function: wire::FunctionSpec {
            name: &t.name,
            description: t.description.as_deref(),
            parameters: &t.parameters,
            strict: t.strict,
        },
    }
}

fn tool_choice(c: &ToolChoice) -> wire::ToolChoiceWire<'_> {
    match c {
        ToolChoice::Auto => wire::ToolChoiceWire::Mode("auto"),
        ToolChoice::None => wire::ToolChoiceWire::Mode("none"),
        ToolChoice::Required => wire::ToolChoiceWire::Mode("required"),
        ToolChoice::Function(name) => wire::ToolChoiceWire::Named {
            kind: "function",
            function: wire::Named { name },
        },
    }
}

fn wire_message(m: &Message) -> wire::ChatMessage<'_> {
    let role = match m.role {
        Role::System => wire::ChatRole::System,
        // `ChatOnly` refuses raw text before any request is built.
        Role::User | Role::Text => wire::ChatRole::User,
        Role::Assistant => wire::ChatRole::Assistant,
        Role::Tool => wire::ChatRole::Tool,
    };
    let calls_only = m.content.is_empty() && !m.tool_calls.is_empty();
    wire::ChatMessage {
        role,
        content: (!calls_only).then_some(m.content.as_str()),
        tool_calls: m
            .tool_calls
            .iter()
            .map(|c| wire::CallOut {
                id: &c.id,
                kind: "function",
                function: wire::FunctionOut {
                    name: &c.name,
                    arguments: &c.arguments,
                },
            })
            .collect(),
        tool_call_id: m.tool_call_id.as_deref(),
    }
}

/// The calls of a whole answer; one without a name is not a call.
fn calls(wire: Vec<wire::CallIn>) -> Vec<ToolCall> {
    wire.into_iter()
        .filter_map(|c| {
            Some(ToolCall {
                id: c.id.unwrap_or_default(),
                name: c.function.name?,
                arguments: c.function.arguments.unwrap_or_default(),
            })
        })
        .collect()
}

fn finish_reason(s: Option<&str>) -> FinishReason {
    match s {
        Some("length") => FinishReason::Length,
        Some("content_filter") => FinishReason::ContentFilter,
        Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

fn usage(u: &wire::CompletionUsage) -> Usage {
    Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        cached_input_tokens: u.prompt_tokens_details.cached_tokens,
    }
}

/// The error an `{"error": {...}}` object stands for, which some servers send with a 200 or
/// inside a stream (`"error": null`, which some put in every chunk, is none). A numeric
/// `code` (OpenRouter, vLLM, llama.cpp) is the HTTP status the error stands for: it maps as
/// that status would, with `body`, the whole body or event, as the status's body.
fn embedded_error(e: &ErrorBody, body: &Value) -> ProviderError {
    if let Some(status) = error_status(e.code.as_ref()) {
        let no_headers = reqwest::header::HeaderMap::new();
        return http::from_status(status, &no_headers, &body.to_string());
    }
    let named = match &e.code {
        Some(ErrorCode::Name(name)) => Some(name.as_str()),
        _ => None,
    };
    let kind = e.kind.as_deref().or(named).unwrap_or("error");
    from_error_object(kind, e.message.as_deref().unwrap_or(""))
}

/// The HTTP error status a numeric `code` stands for; other numbers stand for none.
fn error_status(code: Option<&ErrorCode>) -> Option<reqwest::StatusCode> {
    let Some(ErrorCode::Status(code)) = code else {
        return None;
    };
    let status = reqwest::StatusCode::from_u16(u16::try_from(*code).ok()?).ok()?;
    (status.is_client_error() || status.is_server_error()).then_some(status)
}

/// The answer in a non-streamed response body.
fn response(v: &Value, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
    let body: ChatResponse = lenient::read(v);
    if let Some(e) = &body.error {
        return Err(embedded_error(e, v));
    }
    let choice =
        body.choices.into_iter().next().ok_or_else(|| {
            ProviderError::Unavailable("the provider's answer has no choices".into())
        })?;
    let text = choice.message.content.unwrap_or_default();
    let tool_calls = calls(choice.message.tool_calls);
    let usage = body.usage.as_ref().map(usage).unwrap_or(Usage {
        input_tokens: estimate_prompt_tokens(req),
        output_tokens: estimate_tokens(&text),
        cached_input_tokens: 0,
    });
    Ok(ProviderResponse {
        finish_reason: finish_reason(choice.finish_reason.as_deref()),
        text,
        usage,
        tool_calls,
    })
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let resp = http::send(self.post(&self.body(req, false))).await?;
        response(&http::json_body(resp).await?, req)
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

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        self.embeddings(req).await
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
        let chunk: ChatChunk = lenient::read(&v);
        if let Some(e) = &chunk.error {
            return Err(embedded_error(e, &v));
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(usage(u));
        }
        let mut deltas = Vec::new();
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(t) = choice.delta.content {
                self.text_chars.push_str(&t);
                deltas.push(Delta::Text(t));
            }
            for (i, c) in choice.delta.tool_calls.into_iter().enumerate() {
                let arguments = c.function.arguments.unwrap_or_default();
                self.text_chars.push_str(&arguments);
                deltas.push(Delta::ToolCall(ToolCallPiece {
                    index: c.index.unwrap_or(i as u32),
                    id: c.id,
                    name: c.function.name,
                    arguments,
                }));
            }
            if let Some(r) = choice.finish_reason {
                self.finish_reason = Some(finish_reason(Some(&r)));
            }
        }
        Ok(Step::Deltas(deltas))
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
