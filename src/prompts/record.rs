use serde::{Deserialize, Serialize};

use crate::providers::ResponseFormat;

/// Where a version stands in its rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutStatus {
    /// Created, serves only when named explicitly.
    Draft,
    /// Serves a share of users.
    Canary,
    /// Serves everyone else.
    Stable,
    /// Retired; serves only when named explicitly.
    Deprecated,
}

impl RolloutStatus {
    /// The status name.
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutStatus::Draft => "draft",
            RolloutStatus::Canary => "canary",
            RolloutStatus::Stable => "stable",
            RolloutStatus::Deprecated => "deprecated",
        }
    }

    /// Parses a status name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(RolloutStatus::Draft),
            "canary" => Some(RolloutStatus::Canary),
            "stable" => Some(RolloutStatus::Stable),
            "deprecated" => Some(RolloutStatus::Deprecated),
            _ => None,
        }
    }
}

/// One immutable prompt version (the digest's registry record).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PromptVersion {
    /// `""` for install-wide, else the owning workspace.
    pub scope: String,
    /// Stable id, e.g. `support_triage`.
    pub prompt_id: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// The system prompt template (minijinja).
    pub template: String,
    /// Declared input variables.
    pub variables: Vec<String>,
    /// Owner or team.
    pub owner: String,
    /// Models (`PROVIDER/MODEL` or aliases) it was evaluated with; empty means any.
    pub compatible_models: Vec<String>,
    /// Output schema version, e.g. `ticket_triage.v1`.
    #[schema(required = true)]
    pub schema_version: Option<String>,
    /// Whether the answer must be JSON.
    pub response_format: ResponseFormat,
    /// Eval scores on the golden set, e.g. `{"exact_json_rate":0.992}`.
    #[schema(value_type = std::collections::HashMap<String, serde_json::Value>)]
    pub eval: serde_json::Value,
    /// What changed.
    pub changelog: String,
    /// Rollout status.
    pub status: RolloutStatus,
    /// Share of users a canary serves (0-1).
    pub canary_share: f64,
    /// Creation time (unix ms).
    pub created_at_ms: i64,
}

/// A new version as the admin API and CLI send it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrompt {
    /// Prompt id.
    pub prompt_id: String,
    /// Version.
    pub version: String,
    /// Template text.
    pub template: String,
    /// Declared variables.
    #[serde(default)]
    pub variables: Vec<String>,
    /// Owner or team.
    pub owner: String,
    /// Compatible models.
    #[serde(default)]
    pub compatible_models: Vec<String>,
    /// Output schema version.
    #[serde(default)]
    pub schema_version: Option<String>,
    /// Text or JSON answers.
    #[serde(default)]
    pub response_format: ResponseFormat,
    /// Eval metadata.
    #[serde(default)]
    pub eval: Option<serde_json::Value>,
    /// What changed.
    #[serde(default)]
    pub changelog: String,
    /// Initial status (default `draft`).
    #[serde(default)]
    pub status: Option<RolloutStatus>,
    /// The owning workspace; install-wide when absent.
    #[serde(default)]
    pub workspace: Option<String>,
}
