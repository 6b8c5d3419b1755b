//! The one provider interface every adapter implements (mock, local, hosted), with its
//! normalised request, response, usage, stream of deltas and typed errors. Nothing above
//! this module knows a wire format.

mod embed;
pub mod fault;
pub(crate) mod format;
pub mod hosted;
pub mod local;
pub mod mock;
mod registry;
mod tools;

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};

pub use embed::{shorten, unit, EmbedRequest, EmbedResponse};
pub use format::{valid_name, JsonSchemaFormat, OutputFormat, SchemaError};
pub use registry::{BuildError, Providers};
pub use tools::{
    Tool, ToolCall, ToolCallPiece, ToolChoice, ToolError, Tools, MAX_CALLS, MAX_TOOLS,
};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions from the prompt or the app.
    System,
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// A tool's answer to one of the model's calls.
    Tool,
    /// Raw text for the model to continue, with no chat template around it: the one message
    /// of a `/v1/completions` request. Only a model Hearth runs itself takes it.
    Text,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text.
    pub content: String,
    /// The calls an assistant message made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a `Tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A message of plain text.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// Whether the answer must be a JSON object: a prompt version's setting (a request may also
/// give a schema, `OutputFormat`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// Free text.
    #[default]
    Text,
    /// One JSON object.
    JsonObject,
}

/// A normalised generation request, as every provider receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRequest {
    /// The provider's own model id.
    pub model_id: String,
    /// The conversation, system prompt first.
    pub messages: Vec<Message>,
    /// Largest number of tokens to generate.
    pub max_output_tokens: u32,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Nucleus sampling share.
    pub top_p: Option<f32>,
    /// Sample only among this many most likely tokens (at least 1).
    pub top_k: Option<u32>,
    /// Drop tokens less likely than this share (0 to 1) of the most likely token's probability.
    pub min_p: Option<f32>,
    /// Sequences that end the answer.
    pub stop: Vec<String>,
    /// Seed for reproducible sampling.
    pub seed: Option<u64>,
    /// Text, any JSON object, or JSON valid against a schema.
    pub response_format: OutputFormat,
    /// The functions the model may call.
    pub tools: Tools,
}

impl ProviderRequest {
    /// A greedy text request (temperature 0, no sampling options, stop sequences or seed);
    /// set other fields with struct update syntax.
    pub fn greedy(model_id: &str, messages: Vec<Message>, max_output_tokens: u32) -> Self {
        ProviderRequest {
            model_id: model_id.to_owned(),
            messages,
            max_output_tokens,
            temperature: 0.0,
            top_p: None,
            top_k: None,
            min_p: None,
            stop: vec![],
            seed: None,
            response_format: OutputFormat::Text,
            tools: Tools::default(),
        }
    }
}

/// Tokens a call consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens the provider served from its own prompt cache (billed at its cached
    /// price), where it reports them.
    #[serde(default)]
    pub cached_input_tokens: u64,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended or a stop sequence was hit.
    Stop,
    /// `max_output_tokens` was reached.
    Length,
    /// The provider withheld the rest for its content policy.
    ContentFilter,
    /// The model called tools and waits for their answers.
    ToolCalls,
}

impl FinishReason {
    /// The OpenAI wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
        }
    }
}

/// A whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderResponse {
    /// The answer text.
    pub text: String,
    /// Tokens used.
    pub usage: Usage,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// The tools it called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta {
    /// More answer text.
    Text(String),
    /// A piece of a tool call.
    ToolCall(ToolCallPiece),
    /// What the call has used so far, sent before the text it counts by a provider that
    /// knows (the local model, the mocks): a stream stopped midway is charged that.
    Progress(Usage),
    /// The end, with the usage of the whole call.
    Finish {
        /// Tokens used.
        usage: Usage,
        /// Why it ended.
        finish_reason: FinishReason,
    },
}

/// A streamed answer; dropping it cancels the call.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<Delta, ProviderError>> + Send>>;

/// How a provider call failed, normalised across providers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider asked us to slow down.
    #[error("rate limited by the provider")]
    RateLimited {
        /// When it said to come back, if it did.
        retry_after: Option<Duration>,
    },
    /// No answer within the attempt's timeout.
    #[error("the provider did not answer in time")]
    Timeout,
    /// Down, overloaded, 5xx, connection failure or a broken stream.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The request is wrong for this provider; retrying cannot help.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The caller asked for something this provider cannot do at all (raw text for a chat
    /// API); nothing was sent. The caller's to fix, not the gateway's.
    #[error("{0}")]
    Unsupported(String),
    /// The prompt does not fit the model's context; the text says by how much when known.
    #[error("the prompt does not fit the model's context: {0}")]
    ContextTooLong(String),
    /// The provider refused our credentials.
    #[error("the provider refused the credentials")]
    Auth,
    /// The provider's answer could not be read (a body or event that is not its wire
    /// format).
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer is not in the shape asked for (not a JSON object, not valid against the
    /// schema); another candidate may do better, the same one likely not. The text says
    /// which rule failed, never what the answer said.
    #[error("{0}")]
    InvalidOutput(String),
    /// A local model that cannot be loaded (over the memory budget, a damaged file): the
    /// text is Hearth's own and names the model and the numbers. Another candidate may
    /// answer; the provider's other models are not affected, so its breaker is not.
    #[error("the model cannot be loaded: {0}")]
    NotLoadable(String),
}

impl ProviderError {
    /// Whether another attempt at the same provider may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Timeout
                | ProviderError::Unavailable(_)
        )
    }

    /// Whether it counts against the provider's health (opens the breaker).
    pub fn counts_against_provider(&self) -> bool {
        self.is_transient() || matches!(self, ProviderError::Auth)
    }

    /// The label used in metrics and the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Timeout => "timeout",
            ProviderError::Unavailable(_) => "unavailable",
            ProviderError::InvalidRequest(_) => "invalid_request",
            ProviderError::Unsupported(_) => "unsupported",
            ProviderError::ContextTooLong { .. } => "context_too_long",
            ProviderError::Auth => "auth",
            ProviderError::Malformed(_) => "malformed_output",
            ProviderError::InvalidOutput(_) => "invalid_output",
            ProviderError::NotLoadable(_) => "model_not_loadable",
        }
    }
}

/// A rough token count, four characters a token (at least one): what mocks report, and
/// what a provider that reports no usage is charged, so budgets still move.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// `estimate_tokens` over every message of a request.
pub fn estimate_prompt_tokens(req: &ProviderRequest) -> u64 {
    req.messages
        .iter()
        .map(|m| estimate_tokens(&m.content))
        .sum()
}

/// The contract every adapter meets. Cancellation is by dropping the future or stream.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// A whole answer.
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError>;

    /// A streamed answer: `Text` deltas, then one `Finish`.
    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError>;

    /// Gets ready to serve (loads a local model); called once at server start.
    async fn warm(&self) -> Result<(), ProviderError> {
        Ok(())
    }

    /// The model ids the provider offers, by one cheap call (`hearth providers test`).
    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }

    /// Whether it can take requests now (loaded, reachable, key present).
    fn is_usable(&self) -> bool {
        true
    }

    /// One vector per input; a provider or model without embeddings refuses before
    /// anything is sent.
    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "`{}` has no embeddings",
            req.model_id
        )))
    }
}
