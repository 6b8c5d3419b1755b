//! `POST /v1/embeddings` as OpenAI frames it, plus Hearth's `hearth` extension.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The texts to embed: one string, or an array of strings. OpenAI also takes token ids
/// (an array of integers, or an array of such arrays); they are read so the refusal can say
/// what was sent, and refused: ids mean something only to the tokenizer that made them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

/// How the vectors are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    /// Arrays of numbers.
    #[default]
    Float,
    /// Each vector's little-endian f32 bytes, base64 (standard alphabet, padded).
    Base64,
}

/// `POST /v1/embeddings`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmbeddingsRequest {
    /// `PROVIDER/MODEL` or a model alias (`local/all-minilm-l6-v2`), or `hearth/<task>` for a
    /// route whose models embed.
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default)]
    pub encoding_format: EncodingFormat,
    /// Fewer dimensions than the model's own: a hosted model that supports it shortens its
    /// vectors itself; a local one is cut to the first `dimensions` values and scaled back to
    /// unit length.
    pub dimensions: Option<u32>,
    /// The end user, as in a chat request.
    pub user: Option<String>,
}

/// A vector: numbers, or base64 of its little-endian f32 bytes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

/// One input's vector (object `embedding`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Embedding {
    pub object: &'static str,
    /// The input's position in the request.
    pub index: usize,
    pub embedding: Vector,
}

/// Tokens read; nothing is generated.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingsUsage {
    pub prompt_tokens: u64,
    pub total_tokens: u64,
}

/// What Hearth adds: where the vectors came from and what they cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingsExtension {
    pub trace_id: String,
    pub provider: String,
    pub fallback_used: bool,
    pub retry_count: u32,
    pub estimated_cost_usd: f64,
    pub latency_ms: f64,
    /// The routing and policy decision.
    pub policy_decision: String,
}

/// The answer of `/v1/embeddings` (object `list`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EmbeddingList {
    pub object: &'static str,
    pub data: Vec<Embedding>,
    /// `PROVIDER/MODEL`.
    pub model: String,
    pub usage: EmbeddingsUsage,
    pub hearth: EmbeddingsExtension,
}
