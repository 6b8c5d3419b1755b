use serde::Serialize;

use crate::providers::{FinishReason, Message, OutputFormat, ToolCall, Tools};
use crate::workspace::Principal;

/// A prompt named by a request.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptRef {
    /// Prompt id.
    pub id: String,
    /// Version; the stable (or canary) one when absent.
    pub version: Option<String>,
}

/// Whether the exact cache may serve and store this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePreference {
    /// Only deterministic requests (temperature 0) use the cache.
    #[default]
    Auto,
    /// The caller opts in even when sampling.
    Use,
    /// Never from or into the cache.
    Bypass,
}

/// A request as every front end (HTTP, OpenAI wire format, CLI) hands it to the
/// orchestrator: parsed and shape-checked, not yet checked against policy.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Who is calling.
    pub principal: Principal,
    /// `/chat`, `/v1/chat/completions` or `cli`.
    pub endpoint: &'static str,
    /// The task (a route name).
    pub task: String,
    /// A model named by the caller instead of the route.
    pub model: Option<String>,
    /// The prompt to render as the system message.
    pub prompt: Option<PromptRef>,
    /// The prompt's variables.
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Requested output cap.
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature (0 = deterministic).
    pub temperature: f32,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Sample only among this many most likely tokens.
    pub top_k: Option<u32>,
    /// Drop tokens less likely than this share of the most likely token's probability.
    pub min_p: Option<f32>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Sampling seed.
    pub seed: Option<u64>,
    /// Answer format; the prompt's when absent.
    pub response_format: Option<OutputFormat>,
    /// The functions the model may call.
    pub tools: Tools,
    /// Cache use.
    pub cache: CachePreference,
    /// When the request arrived (latency and gateway overhead count from here).
    pub received_at: std::time::Instant,
}

/// The seed's `/chat` response, field for field, plus the usage and decision.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ChatOutcome {
    /// The request's trace id.
    pub trace_id: String,
    /// The answer text.
    pub answer: String,
    /// The provider that answered (`hearth` for a template answer).
    pub provider: String,
    /// `PROVIDER/MODEL`.
    pub model: String,
    /// Whether the exact cache answered.
    pub cache_hit: bool,
    /// Whether a model after the first candidate answered.
    pub fallback_used: bool,
    /// Retries over all candidates.
    pub retry_count: u32,
    /// Time from arrival to answer.
    pub latency_ms: f64,
    /// USD charged for this request.
    pub estimated_cost_usd: f64,
    /// The prompt used.
    #[schema(required = true)]
    pub prompt_id: Option<String>,
    /// Its version.
    #[schema(required = true)]
    pub prompt_version: Option<String>,
    /// Its output schema.
    #[schema(required = true)]
    pub schema_version: Option<String>,
    /// The task.
    pub task: String,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// The tools the model called (`finish_reason` `tool_calls`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The routing and policy decision.
    pub policy_decision: String,
}
