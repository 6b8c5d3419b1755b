//! Hosted providers over HTTP: OpenAI Chat Completions (and every OpenAI-compatible server),
//! Anthropic Messages and Google Gemini. Each adapter maps the normalised request onto its
//! wire format and its answers, streams and errors back; each states that format as types
//! in its `wire` module, read leniently (`lenient`). The shared HTTP client, error mapping
//! and SSE reader live beside them.

mod anthropic;
#[cfg(test)]
mod fuzz;
mod gemini;
mod http;
mod lenient;
mod openai;
mod sse;
mod streaming;

use std::sync::Arc;

use futures::StreamExt;

pub use http::build_client;

use super::{
    DeltaStream, EmbedRequest, EmbedResponse, Provider, ProviderError, ProviderRequest,
    ProviderResponse,
};
use crate::config::{HostedConfig, HostedKind, SettingsError};
use crate::secrets::{self, KeySource, Keychain, Secret};

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
) -> Result<Built, SettingsError> {
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

    async fn warm(&self) -> Result<(), ProviderError> {
        self.inner.warm().await
    }

    async fn list_models(&self) -> Result<Vec<String>, ProviderError> {
        self.inner.list_models().await
    }

    fn is_usable(&self) -> bool {
        self.inner.is_usable()
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        self.inner.embed(req).await
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
            ProviderError::InvalidOutput(m) => ProviderError::InvalidOutput(clean(m)),
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

    async fn warm(&self) -> Result<(), ProviderError> {
        self.inner
            .warm()
            .await
            .map_err(|e| Self::scrub(&self.key, e))
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

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        self.inner
            .embed(req)
            .await
            .map_err(|e| Self::scrub(&self.key, e))
    }
}
