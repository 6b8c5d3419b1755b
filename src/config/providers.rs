//! Each provider kind's settings as the policy file gives them (a mock's, a hosted API's,
//! the on-device engine's) and the budget the on-device models share. Parsed and checked
//! here; `providers/` builds the providers from them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use hearth_quant::attention::KvCacheType;
use serde::{Deserialize, Serialize};

use super::Locality;
use crate::models::catalog::CatalogEntry;

/// A mock provider's settings (demo mode, fault drills, benchmarks).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Simulated time to the full answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// Where the mock claims to run.
    #[serde(default = "hosted")]
    pub locality: Locality,
}

fn hosted() -> Locality {
    Locality::Hosted
}

/// Which wire format a hosted provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostedKind {
    /// OpenAI's own API.
    Openai,
    /// Any server speaking OpenAI Chat Completions (Ollama, vLLM, LM Studio, llama.cpp...).
    OpenaiCompatible,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
}

impl HostedKind {
    /// The kind's name in the config and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            HostedKind::Openai => "openai",
            HostedKind::OpenaiCompatible => "openai_compatible",
            HostedKind::Anthropic => "anthropic",
            HostedKind::Gemini => "gemini",
        }
    }

    /// Where the provider's API lives unless the config says otherwise.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            HostedKind::Openai => Some("https://api.openai.com/v1"),
            HostedKind::OpenaiCompatible => None,
            HostedKind::Anthropic => Some("https://api.anthropic.com/v1"),
            HostedKind::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
        }
    }
}

/// What a provider promises about the data it receives; the router and the PII guard read it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDataPolicy {
    /// Where it runs; a server on this machine (Ollama, llama.cpp) may say `on_device`.
    #[serde(default = "hosted")]
    pub locality: Locality,
    /// Where a hosted provider processes data, as its contract says.
    #[serde(default)]
    pub region: Option<String>,
    /// How many days it keeps prompts and answers.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Whether text with personal data may be sent to it unredacted.
    #[serde(default)]
    pub pii_allowed: bool,
}

impl Default for ProviderDataPolicy {
    fn default() -> Self {
        ProviderDataPolicy {
            locality: Locality::Hosted,
            region: None,
            retention_days: None,
            pii_allowed: false,
        }
    }
}

/// A hosted provider's settings. The key is never here: it comes from `api_key_env` or the
/// OS keychain.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostedConfig {
    /// The API's base URL (up to and including the version segment, e.g. `.../v1`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Model ids it serves, each addressable as `PROVIDER/MODEL`.
    #[serde(default)]
    pub models: Vec<String>,
    /// Extra headers sent with every call (e.g. OpenRouter's `HTTP-Referer`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// What it promises about data.
    #[serde(default)]
    pub data_policy: ProviderDataPolicy,
}

impl HostedConfig {
    /// The base URL to call, without a trailing slash.
    pub fn base_url(&self, kind: HostedKind) -> Result<String, SettingsError> {
        let url = self
            .base_url
            .as_deref()
            .or(kind.default_base_url())
            .ok_or(SettingsError::NoBaseUrl(kind.as_str()))?;
        let parsed = reqwest::Url::parse(url).map_err(|e| SettingsError::BaseUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SettingsError::NotHttp(url.to_owned()));
        }
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// Checks what can be checked without calling the provider.
    pub fn validate(&self, kind: HostedKind) -> Result<(), SettingsError> {
        self.base_url(kind)?;
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SettingsError::HeaderName(name.clone()))?;
            reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| SettingsError::HeaderValue(name.clone()))?;
        }
        if let Some(var) = &self.api_key_env {
            if var.is_empty() || var.contains('=') {
                return Err(SettingsError::KeyEnv(var.clone()));
            }
        }
        Ok(())
    }
}

/// Why a provider's settings cannot be used, found before the provider is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A hosted kind with no default URL was given none.
    #[error("a provider of kind {0} needs a base_url")]
    NoBaseUrl(&'static str),
    /// The base URL does not parse.
    #[error("base_url `{url}`: {reason}")]
    BaseUrl {
        /// The URL as given.
        url: String,
        /// The parser's reason.
        reason: String,
    },
    /// The base URL is not http or https.
    #[error("base_url `{0}` must be http or https")]
    NotHttp(String),
    /// An extra header's name is not one.
    #[error("header name `{0}` is not valid")]
    HeaderName(String),
    /// An extra header's value is not one (the value is not repeated: it may be a secret).
    #[error("header `{0}` has a value that is not valid")]
    HeaderValue(String),
    /// `api_key_env` cannot name an environment variable.
    #[error("api_key_env `{0}` is not a variable name")]
    KeyEnv(String),
    /// A local provider named both a catalog model and a file.
    #[error("name one of `model` (a catalog id) or `path` (a GGUF file), not both")]
    ModelAndPath,
    /// A local provider named a model the catalog lacks (the catalog's own words).
    #[error("{0}")]
    UnknownModel(String),
}

/// `[providers.local]` in the config: a catalog model by id, or a GGUF file by path, as the
/// model it loads at start; requests may name any installed model by id (`local/<id>`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// A catalog model id (`hearth models list`), installed in the models dir.
    #[serde(default)]
    pub model: Option<String>,
    /// A GGUF file.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// CPU threads for candle (default: the physical cores, at most 4).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Requests that may wait for the engine; more get `Unavailable`.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
    /// How long a request may wait for the engine.
    #[serde(default = "default_queue_wait_ms")]
    pub queue_wait_ms: u64,
    /// A chat template replacing the file's own.
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Penalty on recently seen tokens (1.0 is off); small models loop without one.
    #[serde(default = "default_repeat_penalty")]
    pub repeat_penalty: f32,
    /// How many recent tokens the penalty looks at.
    #[serde(default = "default_repeat_last_n")]
    pub repeat_last_n: usize,
    /// Tokens of context (prompt plus answer); default 8,192, never more than the file's own.
    /// The key/value cache grows as a conversation uses it, up to this.
    #[serde(default)]
    pub context_length: Option<usize>,
    /// How the key/value cache stores keys and values: `f16` (the default) or `q8_0` (blocks
    /// of 32 with an f16 scale: 53% of f16's memory; bench/README.md has what it costs in
    /// quality and speed).
    #[serde(default, with = "kv_cache_type")]
    pub kv_cache_type: KvCacheType,
    /// Refuse to load a model whose estimated memory (weights, KV cache at the whole context,
    /// scratch) exceeds this; default: what the system has available at load.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
}

impl LocalConfig {
    /// Checks what can be checked before the provider is built: one of `model` or `path`
    /// at most, and a `model` the catalog has.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.catalog_entry().map(drop)
    }

    /// The catalog entry of the `model` it names (None when it names a `path`, or nothing);
    /// an error for an id the catalog lacks, or for naming both.
    pub fn catalog_entry(&self) -> Result<Option<CatalogEntry>, SettingsError> {
        match (&self.model, &self.path) {
            (Some(_), Some(_)) => Err(SettingsError::ModelAndPath),
            (Some(id), None) => crate::models::catalog::entry(id)
                .map(Some)
                .map_err(|e| SettingsError::UnknownModel(e.to_string())),
            (None, _) => Ok(None),
        }
    }
}

/// `kv_cache_type` in the config by its name; another name is a config error listing the
/// choices.
pub(crate) mod kv_cache_type {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::KvCacheType;

    pub fn serialize<S: Serializer>(kv: &KvCacheType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kv.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KvCacheType, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|e: String| serde::de::Error::custom(format!("kv_cache_type: {e}")))
    }
}

fn default_repeat_penalty() -> f32 {
    1.1
}

fn default_repeat_last_n() -> usize {
    64
}

fn default_queue_depth() -> usize {
    8
}

fn default_queue_wait_ms() -> u64 {
    30_000
}

/// How much the loaded models may take together, and when an idle one goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// The sum of the loaded models' estimates may not exceed this.
    pub budget_bytes: u64,
    /// A model unused this long is unloaded; None keeps it until the budget needs the room.
    pub idle_unload: Option<Duration>,
}

impl PoolSettings {
    /// Half the machine's memory (the rest is for the system, the UI and the user's other
    /// programs), or 4 GiB where the system does not say.
    pub fn default_budget_bytes() -> u64 {
        crate::machine::memory_total().map_or(4 << 30, |t| t / 2)
    }
}
