use serde::{Deserialize, Serialize};

use super::WorkspaceId;

/// Where a workspace's text may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataPolicy {
    /// Never to a hosted provider, not even as a fallback.
    LocalOnly,
    /// Requests that contain PII go only to on-device models.
    PiiToLocalOnly,
    /// PII is replaced by placeholders before a hosted provider sees the text.
    Redact,
    /// Any provider the tier allows.
    Any,
}

impl DataPolicy {
    /// The policy's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DataPolicy::LocalOnly => "local_only",
            DataPolicy::PiiToLocalOnly => "pii_to_local_only",
            DataPolicy::Redact => "redact",
            DataPolicy::Any => "any",
        }
    }

    /// Parses a policy name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "local_only" => Some(DataPolicy::LocalOnly),
            "pii_to_local_only" => Some(DataPolicy::PiiToLocalOnly),
            "redact" => Some(DataPolicy::Redact),
            "any" => Some(DataPolicy::Any),
            _ => None,
        }
    }
}

/// A workspace's stored settings. `None` limits fall back to the tier's.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Workspace {
    /// The workspace id.
    pub id: WorkspaceId,
    /// The tier name (a key of the policy's `tiers`).
    pub tier: String,
    /// Where its text may go.
    pub data_policy: DataPolicy,
    /// USD a day; the tier's budget when unset.
    #[schema(required = true)]
    pub daily_budget_usd: Option<f64>,
    /// Tokens (input + output) a day; unlimited when unset.
    #[schema(required = true)]
    pub daily_token_limit: Option<u64>,
    /// Requests a minute for the workspace; the tier's when unset.
    #[schema(required = true)]
    pub rpm: Option<u32>,
    /// Requests a minute for each user; unlimited when unset.
    #[schema(required = true)]
    pub user_rpm: Option<u32>,
    /// Requests in flight at once.
    pub max_concurrency: u32,
    /// Whether the exact cache serves and stores this workspace's answers.
    pub cache_enabled: bool,
    /// Share of the daily budget at which an alert is raised (0-1).
    pub budget_alert_share: f64,
    /// The workspace's own PII patterns (regexes), on top of the built-in detectors.
    pub pii_patterns: Vec<String>,
    /// The tools a request may offer: names, or prefixes ending in `*` (`["*"]`, the
    /// default, allows any; `[]` none).
    pub allowed_tools: Vec<String>,
}

impl Workspace {
    /// A workspace with the defaults a fresh install gives.
    pub fn new(id: WorkspaceId, tier: &str, data_policy: DataPolicy) -> Self {
        Workspace {
            id,
            tier: tier.to_owned(),
            data_policy,
            daily_budget_usd: None,
            daily_token_limit: None,
            rpm: None,
            user_rpm: None,
            max_concurrency: 64,
            cache_enabled: true,
            budget_alert_share: 0.8,
            pii_patterns: Vec::new(),
            allowed_tools: vec!["*".into()],
        }
    }
}

/// A partial update of a workspace's settings, as the admin API and CLI send it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    /// New tier.
    pub tier: Option<String>,
    /// New data policy.
    pub data_policy: Option<DataPolicy>,
    /// New daily USD budget; `Some(None)` (JSON `null`) falls back to the tier's.
    #[serde(default, deserialize_with = "nullable")]
    pub daily_budget_usd: Option<Option<f64>>,
    /// New daily token limit; `Some(None)` removes it.
    #[serde(default, deserialize_with = "nullable")]
    pub daily_token_limit: Option<Option<u64>>,
    /// New workspace requests per minute; `Some(None)` falls back to the tier's.
    #[serde(default, deserialize_with = "nullable")]
    pub rpm: Option<Option<u32>>,
    /// New per-user requests per minute; `Some(None)` falls back to the tier's.
    #[serde(default, deserialize_with = "nullable")]
    pub user_rpm: Option<Option<u32>>,
    /// New concurrency limit.
    pub max_concurrency: Option<u32>,
    /// Cache on or off.
    pub cache_enabled: Option<bool>,
    /// New alert share.
    pub budget_alert_share: Option<f64>,
    /// The workspace's own PII patterns, replacing the old list (`[]` clears it).
    pub pii_patterns: Option<Vec<String>>,
    /// The tools requests may offer, replacing the old list (`["*"]` any, `[]` none).
    pub allowed_tools: Option<Vec<String>>,
}

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// A value outside its field's range; the message names the field and the rule.
    #[error("{0}")]
    Invalid(&'static str),
    /// One of `pii_patterns` does not compile, or there are too many.
    #[error("{0}")]
    PiiPattern(String),
}

impl WorkspacePatch {
    /// Applies the patch, refusing values that make no sense.
    pub fn apply(self, ws: &mut Workspace) -> Result<(), PatchError> {
        if let Some(v) = self.daily_budget_usd {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                return Err(PatchError::Invalid(
                    "daily_budget_usd must be a non-negative number",
                ));
            }
            ws.daily_budget_usd = v;
        }
        if let Some(v) = self.budget_alert_share {
            if !(v > 0.0 && v <= 1.0) {
                return Err(PatchError::Invalid("budget_alert_share must be in (0, 1]"));
            }
            ws.budget_alert_share = v;
        }
        if let Some(v) = self.max_concurrency {
            if v == 0 {
                return Err(PatchError::Invalid("max_concurrency must be at least 1"));
            }
            ws.max_concurrency = v;
        }
        if let Some(v) = self.rpm {
            ws.rpm = v;
        }
        if let Some(v) = self.user_rpm {
            ws.user_rpm = v;
        }
        if let Some(v) = self.daily_token_limit {
            ws.daily_token_limit = v;
        }
        if let Some(v) = self.tier {
            ws.tier = v;
        }
        if let Some(v) = self.data_policy {
            ws.data_policy = v;
        }
        if let Some(v) = self.cache_enabled {
            ws.cache_enabled = v;
        }
        if let Some(v) = self.pii_patterns {
            crate::pii::validate_patterns(&v).map_err(PatchError::PiiPattern)?;
            ws.pii_patterns = v;
        }
        if let Some(v) = self.allowed_tools {
            if v.len() > MAX_ALLOWED_TOOLS || !v.iter().all(|t| valid_tool_entry(t)) {
                return Err(PatchError::Invalid(
                    "allowed_tools holds at most 256 tool names (1-64 of A-Z, a-z, 0-9, `_`, `-`), each maybe ending in `*` for a prefix",
                ));
            }
            ws.allowed_tools = v;
        }
        Ok(())
    }
}

/// Most entries of `allowed_tools`.
const MAX_ALLOWED_TOOLS: usize = 256;

/// A tool name, or a prefix of one ending in `*` (`*` alone is any tool).
fn valid_tool_entry(entry: &str) -> bool {
    let name = entry.strip_suffix('*').unwrap_or(entry);
    (name.is_empty() && entry == "*") || crate::providers::valid_name(name)
}

impl Workspace {
    /// Whether a request of this workspace may offer the tool `name`.
    pub fn allows_tool(&self, name: &str) -> bool {
        self.allowed_tools
            .iter()
            .any(|entry| match entry.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => entry == name,
            })
    }
}

/// A field that may be absent (leave it), `null` (clear it) or a value (set it), as in a
/// JSON merge patch.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
