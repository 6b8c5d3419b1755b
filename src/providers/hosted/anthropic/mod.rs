//! Anthropic Messages: system prompt as a top-level field, strictly alternating user and
//! assistant turns, a required `max_tokens`, and a stream of named SSE events.

mod wire;

use reqwest::header::HeaderValue;
use serde_json::Value;

use super::http::{self, from_error_object};
use super::lenient;
use super::sse::SseEvent;
use super::streaming::{self, Decoder, Step};
use super::Endpoint;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, Delta, DeltaStream, FinishReason, Message,
    OutputFormat, Provider, ProviderError, ProviderRequest, ProviderResponse, Role, ToolCall,
    ToolCallPiece, ToolChoice, Tools, Usage, MAX_CALLS,
};
use wire::{
    BlockOut, MessageResponse, MessagesRequest, StreamEvent, ToolChoiceWire, ToolSpec, Turn,
    TurnContent, TurnRole,
};

/// The API version every call pins; a configured `anthropic-version` header wins.
const API_VERSION: &str = "2023-06-01";

/// Anthropic has no JSON mode; the orchestrator validates the answer itself.
const JSON_INSTRUCTION: &str = "Respond with a single JSON object and nothing else.";
const SCHEMA_INSTRUCTION: &str =
    "Respond with a single JSON value, and nothing else, that validates against this JSON Schema:";

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

    fn post(&self, body: &MessagesRequest<'_>) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self.request(reqwest::Method::POST, "/messages")?.json(body))
    }
}

/// The wire body for `req`.
fn body(req: &ProviderRequest, stream: bool) -> MessagesRequest<'_> {
    let mut system: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let instruction = json_instruction(&req.response_format);
    system.extend(instruction.as_deref());
    MessagesRequest {
        model: &req.model_id,
        max_tokens: req.max_output_tokens,
        messages: turns(req),
        temperature: f64::from(req.temperature.clamp(0.0, MAX_TEMPERATURE)),
        stream,
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        top_p: req.top_p.map(f64::from),
        top_k: req.top_k,
        stop_sequences: &req.stop,
        // No seed and no min_p: the API has neither.
        tools: tool_specs(req),
        tool_choice: tool_choice(&req.tools),
    }
}

/// The API has no JSON mode: the instruction asks for one, and Hearth validates the answer.
fn json_instruction(format: &OutputFormat) -> Option<String> {
    match format {
        OutputFormat::Text => None,
        OutputFormat::JsonObject => Some(JSON_INSTRUCTION.to_owned()),
        OutputFormat::JsonSchema(s) => Some(format!("{SCHEMA_INSTRUCTION}\n{}", s.schema)),
    }
}

/// The user and assistant messages, consecutive ones of the same role merged, since the
/// API wants the roles to alternate.
fn turns(req: &ProviderRequest) -> Vec<Turn> {
    let mut turns: Vec<(TurnRole, Vec<BlockOut>)> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::System => continue,
            // `ChatOnly` refuses raw text before any request is built; a tool's answer is
            // a user turn's `tool_result` block.
            Role::User | Role::Text | Role::Tool => TurnRole::User,
            Role::Assistant => TurnRole::Assistant,
        };
        let blocks = blocks(m);
        match turns.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, blocks)| Turn {
            role,
            content: content(blocks),
        })
        .collect()
}

/// A message's blocks: its text, its calls, or its answer to a call.
fn blocks(m: &Message) -> Vec<BlockOut> {
    if let Some(id) = &m.tool_call_id {
        return vec![BlockOut::ToolResult {
            tool_use_id: id.clone(),
            content: m.content.clone(),
        }];
    }
    let text = (!m.content.is_empty() || m.tool_calls.is_empty()).then(|| BlockOut::Text {
        text: m.content.clone(),
    });
    let calls = m.tool_calls.iter().map(|c| BlockOut::ToolUse {
        id: c.id.clone(),
        name: c.name.clone(),
        // Checked to be JSON where the request entered.
        input: serde_json::from_str(&c.arguments).unwrap_or_else(|_| serde_json::json!({})),
    });
    text.into_iter().chain(calls).collect()
}

/// Plain text when a turn is only text (joined as before), else its blocks.
fn content(blocks: Vec<BlockOut>) -> TurnContent {
    let texts: Option<Vec<String>> = blocks
        .iter()
        .map(|b| match b {
            BlockOut::Text { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    match texts {
        Some(t) => TurnContent::Text(t.join("\n\n")),
        None => TurnContent::Blocks(blocks),
    }
}

fn tool_specs(req: &ProviderRequest) -> Vec<ToolSpec<'_>> {
    req.tools
        .tools
        .iter()
        .map(|t| ToolSpec {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: &t.parameters,
        })
        .collect()
}

fn tool_choice(tools: &Tools) -> Option<ToolChoiceWire<'_>> {
    if !tools.offered() {
        return None;
    }
    let (kind, name) = match &tools.choice {
        ToolChoice::Auto => ("auto", None),
        ToolChoice::None => ("none", None),
        ToolChoice::Required => ("any", None),
        ToolChoice::Function(n) => ("tool", Some(n.as_str())),
    };
    let one_at_a_time = tools.parallel == Some(false) && kind != "none";
    Some(ToolChoiceWire {
        kind,
        name,
        disable_parallel_tool_use: one_at_a_time.then_some(true),
    })
}

fn finish_reason(s: Option<&str>) -> FinishReason {
    match s {
        Some("max_tokens") => FinishReason::Length,
        Some("refusal") => FinishReason::ContentFilter,
        Some("tool_use") => FinishReason::ToolCalls,
        // end_turn, stop_sequence, and the pause reasons we never ask for.
        _ => FinishReason::Stop,
    }
}

/// Token counts as Anthropic reports them: `input_tokens` excludes the prompt tokens read
/// from or written to its cache, so they are added back.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_creation: u64,
}

impl Counts {
    /// Takes every count `u` carries; absent ones keep their value (a stream's
    /// `message_delta` reports cumulative totals, often only `output_tokens`).
    fn update(&mut self, u: &wire::Usage) {
        self.input = u.input_tokens.unwrap_or(self.input);
        self.output = u.output_tokens.unwrap_or(self.output);
        self.cache_read = u.cache_read_input_tokens.unwrap_or(self.cache_read);
        self.cache_creation = u.cache_creation_input_tokens.unwrap_or(self.cache_creation);
    }

    fn usage(self) -> Usage {
        Usage {
            input_tokens: self.input + self.cache_read + self.cache_creation,
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
        }
    }
}

/// The error an `{"type": "error", "error": {...}}` object stands for, in a body or a
/// stream event.
fn error_object(e: &wire::ErrorBody) -> ProviderError {
    let kind = e.kind.as_deref().unwrap_or("error");
    from_error_object(kind, e.message.as_deref().unwrap_or(""))
}

/// The answer in a non-streamed response body.
fn response(v: &Value, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
    let body: MessageResponse = lenient::read(v);
    if let Some(e) = &body.error {
        return Err(error_object(e));
    }
    let blocks = body
        .content
        .ok_or_else(|| ProviderError::Unavailable("the provider's answer has no content".into()))?;
    let text: String = blocks.iter().filter_map(wire::Block::text).collect();
    let tool_calls: Vec<ToolCall> = blocks.iter().filter_map(wire::Block::call).collect();
    let usage = match &body.usage {
        Some(u) => {
            let mut counts = Counts::default();
            counts.update(u);
            counts.usage()
        }
        None => Usage {
            input_tokens: estimate_prompt_tokens(req),
            output_tokens: estimate_tokens(&text),
            cached_input_tokens: 0,
        },
    };
    Ok(ProviderResponse {
        finish_reason: finish_reason(body.stop_reason.as_deref()),
        text,
        usage,
        tool_calls,
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
                call_blocks: Vec::new(),
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
    usage: Option<Counts>,
    finish_reason: Option<FinishReason>,
    /// The content-block index of each tool call so far; a call's place here is its index.
    call_blocks: Vec<Option<u64>>,
}

impl EventDecoder {
    /// A `tool_use` block's start: the call's id and name.
    fn call_started(&mut self, block: Option<u64>, b: &wire::Block) -> Option<Delta> {
        let call = b.call()?;
        if self.call_blocks.len() >= MAX_CALLS {
            return None;
        }
        self.call_blocks.push(block);
        Some(Delta::ToolCall(ToolCallPiece {
            index: self.call_blocks.len() as u32 - 1,
            id: Some(call.id),
            name: Some(call.name),
            arguments: String::new(),
        }))
    }

    /// More of a call's input, in the block its start named.
    fn call_input(&mut self, block: Option<u64>, json: String) -> Option<Delta> {
        let index = self.call_blocks.iter().rposition(|b| *b == block)?;
        self.text.push_str(&json);
        Some(Delta::ToolCall(ToolCallPiece {
            index: index as u32,
            id: None,
            name: None,
            arguments: json,
        }))
    }

    fn usage(&mut self, u: Option<wire::Usage>) {
        if let Some(u) = u {
            self.usage.get_or_insert_with(Counts::default).update(&u);
        }
    }
}

impl Decoder for EventDecoder {
    fn event(&mut self, ev: &SseEvent) -> Result<Step, ProviderError> {
        let v = streaming::json(ev)?;
        let text = match StreamEvent::read(ev.event.as_deref(), &v) {
            StreamEvent::MessageStart(e) => {
                self.usage(e.message.usage);
                None
            }
            StreamEvent::ContentBlockStart(e) => {
                if let Some(call) = self.call_started(e.index, &e.content_block) {
                    return Ok(Step::Deltas(vec![call]));
                }
                e.content_block.text().map(str::to_owned)
            }
            StreamEvent::ContentBlockDelta(e) => match e.delta {
                wire::BlockDelta::InputJsonDelta { partial_json } => {
                    let piece = self.call_input(e.index, partial_json.unwrap_or_default());
                    return Ok(Step::Deltas(piece.into_iter().collect()));
                }
                other => other.text(),
            },
            StreamEvent::MessageDelta(e) => {
                if let Some(r) = e.delta.stop_reason {
                    self.finish_reason = Some(finish_reason(Some(&r)));
                }
                self.usage(e.usage);
                None
            }
            StreamEvent::MessageStop => return Ok(Step::Done),
            StreamEvent::Error(e) => {
                return Err(e.error.as_ref().map(error_object).unwrap_or_else(|| {
                    ProviderError::Unavailable("the provider sent an error event".into())
                }))
            }
            StreamEvent::Other => None,
        };
        let text = text.unwrap_or_default();
        self.text.push_str(&text);
        Ok(Step::Deltas(vec![Delta::Text(text)]))
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
