//! The OpenAI-compatible API's bodies: `/v1/chat/completions`, `/v1/completions` and
//! `/v1/models`, as OpenAI frames them, plus Hearth's `hearth` extension.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::config::Locality;
use crate::orchestrator::ChatOutcome;
use crate::providers::{ToolCall, ToolCallPiece};

/// A message of the conversation. Roles Hearth does not take are refused with a clear error
/// after parsing, so the role is a string here.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WireMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    pub content: Option<Content>,
    /// An assistant message's calls.
    pub tool_calls: Option<Vec<WireToolCall>>,
    /// A `tool` message's answer to this call.
    pub tool_call_id: Option<String>,
}

/// A call, as an assistant message carries it (request) or the answer gives it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct WireToolCall {
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: WireFunctionCall,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct WireFunctionCall {
    pub name: String,
    /// JSON text.
    pub arguments: String,
}

/// A tool offered to the model.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WireTool {
    /// Only `function`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WireFunction {
    /// 1-64 of `[A-Za-z0-9_-]`.
    pub name: String,
    pub description: Option<String>,
    /// A JSON Schema object; absent means no arguments.
    #[schema(value_type = Option<Object>)]
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

/// `auto`, `none`, `required`, or `{"type": "function", "function": {"name"}}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum WireToolChoice {
    Mode(String),
    Named(NamedToolChoice),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NamedToolChoice {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: ChosenFunction,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChosenFunction {
    pub name: String,
}

/// A message's content: a string, or text parts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

/// One content part; only `text` parts are taken.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

/// One stop sequence or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Whether the stream ends with a chunk holding the usage.
    #[serde(default)]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WireFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
    /// With `json_schema`: the schema the answer must validate against.
    pub json_schema: Option<WireJsonSchema>,
}

/// A named JSON Schema for structured output.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WireJsonSchema {
    /// 1-64 of `[A-Za-z0-9_-]`.
    pub name: String,
    /// A JSON Schema object; absent means any JSON object.
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Passed on to providers that take it; every answer is validated either way.
    pub strict: Option<bool>,
}

/// `POST /v1/chat/completions`: the conversation and the fields both completion endpoints
/// read.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    pub messages: Vec<WireMessage>,
    /// Functions the model may call (at most 128).
    pub tools: Option<Vec<WireTool>>,
    pub tool_choice: Option<WireToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// The request fields Hearth reads besides the input, in both completion endpoints; others
/// (penalties, logprobs...) are accepted and ignored.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Sampling {
    /// `PROVIDER/MODEL`, a model alias, or `hearth/<task>` to let the router choose.
    pub model: String,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    // Not OpenAI's, but vLLM and llama.cpp's server take them in the same body.
    pub top_k: Option<u32>,
    pub min_p: Option<f32>,
    pub stop: Option<Stop>,
    pub seed: Option<u64>,
    pub user: Option<String>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub response_format: Option<WireFormat>,
    /// Only 1.
    pub n: Option<u32>,
    /// `task`, `prompt_id`, `prompt_version`, and prompt variables as `var_<name>`.
    #[serde(default)]
    pub metadata: serde_json::Map<String, Value>,
}

/// A prompt for `/v1/completions`: one string or a list of exactly one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Prompt {
    One(String),
    Many(Vec<String>),
}

/// `POST /v1/completions`: raw text in, no chat template.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TextCompletionRequest {
    pub prompt: Prompt,
    /// Refused when true.
    #[serde(default)]
    pub echo: bool,
    /// Refused when not empty.
    pub suffix: Option<String>,
    /// Refused when set.
    pub logprobs: Option<Value>,
    /// Only 1.
    pub best_of: Option<u32>,
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// Token counts, as OpenAI names them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn of(out: &ChatOutcome) -> Self {
        Usage {
            prompt_tokens: out.input_tokens,
            completion_tokens: out.output_tokens,
            total_tokens: out.input_tokens + out.output_tokens,
        }
    }
}

/// What Hearth adds to an answer: where it came from and what it cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct HearthExtension {
    pub trace_id: String,
    pub provider: String,
    pub cache_hit: bool,
    pub fallback_used: bool,
    pub retry_count: u32,
    pub estimated_cost_usd: f64,
    pub latency_ms: f64,
    #[schema(required = true)]
    pub prompt_id: Option<String>,
    #[schema(required = true)]
    pub prompt_version: Option<String>,
    /// The thread message the answer was saved as, when the request named a thread
    /// (`x-hearth-thread-id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_message_id: Option<i64>,
}

impl HearthExtension {
    pub fn of(out: &ChatOutcome, thread_message_id: Option<i64>) -> Self {
        HearthExtension {
            trace_id: out.trace_id.clone(),
            provider: out.provider.clone(),
            cache_hit: out.cache_hit,
            fallback_used: out.fallback_used,
            retry_count: out.retry_count,
            estimated_cost_usd: out.estimated_cost_usd,
            latency_ms: out.latency_ms,
            prompt_id: out.prompt_id.clone(),
            prompt_version: out.prompt_version.clone(),
            thread_message_id,
        }
    }
}

/// The assistant's message in a whole answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// Null when the answer is only tool calls.
    #[schema(required = true)]
    pub content: Option<String>,
    /// The calls the model made, when it made any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall>,
}

impl WireToolCall {
    pub fn of(c: &ToolCall) -> Self {
        WireToolCall {
            id: c.id.clone(),
            kind: "function".into(),
            function: WireFunctionCall {
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Choice {
    pub index: u32,
    pub message: AnswerMessage,
    /// Always null: log probabilities are not returned.
    #[schema(required = true)]
    pub logprobs: Option<Value>,
    /// `stop`, `length` or `content_filter`.
    pub finish_reason: &'static str,
}

/// A whole answer of `/v1/chat/completions` (object `chat.completion`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    pub usage: Usage,
    pub hearth: HearthExtension,
}

impl ChatCompletion {
    pub fn of(out: &ChatOutcome, created: i64, thread_message_id: Option<i64>) -> Self {
        ChatCompletion {
            id: format!("chatcmpl-{}", out.trace_id),
            object: "chat.completion",
            created,
            model: out.model.clone(),
            choices: vec![Choice {
                index: 0,
                message: AnswerMessage {
                    role: "assistant",
                    content: (out.tool_calls.is_empty() || !out.answer.is_empty())
                        .then(|| out.answer.clone()),
                    tool_calls: out.tool_calls.iter().map(WireToolCall::of).collect(),
                },
                logprobs: None,
                finish_reason: out.finish_reason.as_str(),
            }],
            usage: Usage::of(out),
            hearth: HearthExtension::of(out, thread_message_id),
        }
    }
}

/// What a chunk adds to the answer.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Delta {
    /// `assistant`, on the first chunk only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ChunkToolCall>>,
}

/// A piece of a call in a chunk: `id`, `type` and the name on its first piece, then
/// arguments in pieces, as OpenAI streams them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkToolCall {
    pub index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: ChunkFunction,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkFunction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub arguments: String,
}

impl ChunkToolCall {
    pub fn of(p: ToolCallPiece) -> Self {
        ChunkToolCall {
            index: p.index,
            kind: p.id.as_ref().map(|_| "function"),
            id: p.id,
            function: ChunkFunction {
                name: p.name,
                arguments: p.arguments,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    #[schema(required = true)]
    pub logprobs: Option<Value>,
    /// Set on the last chunk with text.
    #[schema(required = true)]
    pub finish_reason: Option<&'static str>,
}

/// One event of a streamed `/v1/chat/completions` (object `chat.completion.chunk`). With
/// `stream_options.include_usage`, every chunk has `usage: null` and one more chunk with no
/// choices and the usage ends the stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatCompletionChunk {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<ChunkChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Usage>)]
    pub usage: Option<Option<Usage>>,
    /// On the finishing chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hearth: Option<HearthExtension>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TextChoice {
    pub text: String,
    pub index: u32,
    #[schema(required = true)]
    pub logprobs: Option<Value>,
    #[schema(required = true)]
    pub finish_reason: Option<&'static str>,
}

/// A whole answer or one streamed event of `/v1/completions` (object `text_completion`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TextCompletion {
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    pub model: String,
    pub choices: Vec<TextChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hearth: Option<HearthExtension>,
}

/// A model or route alias a workspace may call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelEntry {
    /// `PROVIDER/MODEL`, or `hearth/<task>` for a route.
    pub id: String,
    pub object: &'static str,
    pub created: i64,
    /// The provider, or `hearth` for a route.
    pub owned_by: String,
    /// Absent for a route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<Locality>,
    /// What it answers: chat (and text completions), or only `/v1/embeddings`.
    pub kind: ModelUse,
}

/// What a listed model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelUse {
    /// `/v1/chat/completions` and `/v1/completions`.
    Chat,
    /// `/v1/embeddings` only.
    Embedding,
}

/// `GET /v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}
