//! Hosted providers over HTTP: OpenAI Chat Completions (and every OpenAI-compatible server),
//! Anthropic Messages and Google Gemini. Each adapter maps the normalised request onto its
//! wire format and its answers, streams and errors back; the shared HTTP client, error
//! mapping and SSE reader live beside them.

mod anthropic;
#[cfg(test)]
mod fuzz;
mod gemini;
mod http;
mod openai;
mod sse;
mod streaming;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

pub use http::build_client;

use super::{DeltaStream, Provider, ProviderError, ProviderRequest, ProviderResponse};
use crate::config::Locality;
use crate::secrets::{self, KeySource, Keychain, Secret};

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

fn hosted() -> Locality {
    Locality::Hosted
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
    pub fn base_url(&self, kind: HostedKind) -> Result<String, String> {
        let url = self
            .base_url
            .as_deref()
            .or(kind.default_base_url())
            .ok_or_else(|| format!("a provider of kind {} needs a base_url", kind.as_str()))?;
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("base_url `{url}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("base_url `{url}` must be http or https"));
        }
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// Checks what can be checked without calling the provider.
    pub fn validate(&self, kind: HostedKind) -> Result<(), String> {
        self.base_url(kind)?;
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header name `{name}` is not valid"))?;
            reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| format!("header `{name}` has a value that is not valid"))?;
        }
        if let Some(var) = &self.api_key_env {
            if var.is_empty() || var.contains('=') {
                return Err(format!("api_key_env `{var}` is not a variable name"));
            }
        }
        Ok(())
    }
}

/// The parts every adapter calls with: where, with which key, through which client.
#[derive(Clone)]
pub(crate) struct Endpoint {
    pub(crate) base_url: String,
    pub(crate) key: Option<Secret>,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) client: reqwest::Client,
}

/// A hosted provider ready to call, and where its key came from.
pub struct Built {
    /// The adapter.
    pub provider: Arc<dyn Provider>,
    /// Where the key was found; None when there is none.
    pub key_source: Option<KeySource>,
}

/// Builds the adapter for `kind`, reading its key from the environment or the keychain.
pub fn build(
    name: &str,
    kind: HostedKind,
    cfg: &HostedConfig,
    keychain: &Keychain,
    client: reqwest::Client,
) -> Result<Built, String> {
    cfg.validate(kind)?;
    let resolved = secrets::resolve(keychain, name, cfg.api_key_env.as_deref());
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &cfg.headers {
        if let (Ok(k), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(k.as_bytes()),
            reqwest::header::HeaderValue::from_str(v),
        ) {
            headers.insert(k, v);
        }
    }
    let endpoint = Endpoint {
        base_url: cfg.base_url(kind)?,
        key: resolved.as_ref().map(|(s, _)| s.clone()),
        headers,
        client,
    };
    let key = endpoint.key.clone();
    let mut provider: Arc<dyn Provider> = match kind {
        HostedKind::Openai => Arc::new(openai::OpenAi::new(endpoint, openai::Flavour::OpenAi)),
        HostedKind::OpenaiCompatible => {
            Arc::new(openai::OpenAi::new(endpoint, openai::Flavour::Compatible))
        }
        HostedKind::Anthropic => Arc::new(anthropic::Anthropic::new(endpoint)),
        HostedKind::Gemini => Arc::new(gemini::Gemini::new(endpoint)),
    };
    if let Some(key) = key {
        provider = Arc::new(KeyScrubbed {
            inner: provider,
            key,
        });
    }
    let provider = Arc::new(ChatOnly { inner: provider });
    Ok(Built {
        provider,
        key_source: resolved.map(|(_, src)| src),
    })
}

/// A hosted provider takes conversations only: the chat APIs have no raw-text form, and
/// wrapping a text completion in a user turn would answer it as a chat, silently. Such a
/// request is refused before anything is sent.
struct ChatOnly {
    inner: Arc<dyn Provider>,
}

impl ChatOnly {
    fn check(req: &ProviderRequest) -> Result<(), ProviderError> {
        match req.messages.iter().any(|m| m.role == crate::providers::Role::Text) {
            true => Err(ProviderError::Unsupported(
                "a text completion (/v1/completions) runs only on a local model; hosted providers take chat messages".into(),
            )),
            false => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Provider for ChatOnly {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        Self::check(req)?;
        self.inner.generate(req).await
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        Self::check(req)?;
        self.inner.stream(req).await
    }

    async fn warm(&self) -> Result<(), String> {
        self.inner.warm().await
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        self.inner.list_models().await
    }

    fn is_usable(&self) -> bool {
        self.inner.is_usable()
    }
}

/// A hosted provider whose errors never carry its key. A provider's error text is passed on
/// (to the client, the logs, `providers test`), and some servers quote the key they were
/// sent in it ("Incorrect API key provided: sk-..."): every occurrence becomes `***`.
struct KeyScrubbed {
    inner: Arc<dyn Provider>,
    key: Secret,
}

impl KeyScrubbed {
    fn scrub(key: &Secret, e: ProviderError) -> ProviderError {
        let clean = |m: String| m.replace(key.expose(), "***");
        match e {
            ProviderError::Unavailable(m) => ProviderError::Unavailable(clean(m)),
            ProviderError::InvalidRequest(m) => ProviderError::InvalidRequest(clean(m)),
            ProviderError::Unsupported(m) => ProviderError::Unsupported(clean(m)),
            ProviderError::ContextTooLong(m) => ProviderError::ContextTooLong(clean(m)),
            ProviderError::Malformed(m) => ProviderError::Malformed(clean(m)),
            ProviderError::NotLoadable(m) => ProviderError::NotLoadable(clean(m)),
            other @ (ProviderError::RateLimited { .. }
            | ProviderError::Timeout
            | ProviderError::Auth) => other,
        }
    }
}

#[async_trait::async_trait]
impl Provider for KeyScrubbed {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        self.inner
            .generate(req)
            .await
            .map_err(|e| Self::scrub(&self.key, e))
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        let deltas = self
            .inner
            .stream(req)
            .await
            .map_err(|e| Self::scrub(&self.key, e))?;
        let key = self.key.clone();
        Ok(Box::pin(
            deltas.map(move |d| d.map_err(|e| Self::scrub(&key, e))),
        ))
    }

    async fn warm(&self) -> Result<(), String> {
        self.inner
            .warm()
            .await
            .map_err(|m| m.replace(self.key.expose(), "***"))
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        self.inner
            .list_models()
            .await
            .map_err(|e| Self::scrub(&self.key, e))
    }

    fn is_usable(&self) -> bool {
        self.inner.is_usable()
    }
}
