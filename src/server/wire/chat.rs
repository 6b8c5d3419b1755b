//! `POST /chat`: the seed's request, field for field.

use serde::Deserialize;
use utoipa::ToSchema;

/// The seed's `/chat` body, plus optional `variables`, `model`, `temperature`, `top_k`,
/// `min_p` and `cache`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    pub tenant_id: Option<String>,
    pub user_id: Option<String>,
    pub task: Option<String>,
    pub message: String,
    pub prompt_id: Option<String>,
    pub prompt_version: Option<String>,
    pub max_output_tokens: Option<u32>,
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
    pub model: Option<String>,
    pub temperature: Option<f32>,
    pub top_k: Option<u32>,
    pub min_p: Option<f32>,
    pub cache: Option<bool>,
}
