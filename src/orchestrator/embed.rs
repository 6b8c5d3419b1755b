//! Embeddings through the same stages as chat: the texts to embed travel as the request's
//! user messages, so the trace, validation, routing, data policy and PII guard, admission,
//! each candidate's gate (breaker, budget hold) with retries and fallback, and settlement
//! (charge, audit, metrics) are the ones every chat request goes through. Only the provider
//! call (`Embedded`) and the answer differ. Vectors are not cached.

use std::sync::Arc;

use super::attempt::{Chosen, Mode};
use super::run::Run;
use super::{CachePreference, ChatRequest, Hearth};
use crate::error::{Error, Result};
use crate::providers::{
    EmbedRequest, EmbedResponse, Message, Provider, ProviderError, ProviderRequest, Role,
};
use crate::workspace::Principal;

/// The endpoint an embeddings request is audited and counted under.
pub(super) const EMBEDDINGS_ENDPOINT: &str = "/v1/embeddings";

/// Most texts one request may embed (OpenAI's own bound).
pub(super) const MAX_INPUTS: usize = 2048;

/// The task an embeddings request runs as when it names a model rather than a route, and
/// its metric label.
pub(super) const EMBEDDINGS_TASK: &str = "embeddings";

/// An embeddings request as a front end hands it over.
#[derive(Debug, Clone)]
pub struct EmbeddingsRequest {
    /// Who is calling.
    pub principal: Principal,
    /// A model alias, `PROVIDER/MODEL`, or `hearth/<task>` for a route's candidates.
    pub model: String,
    /// The texts, each embedded on its own.
    pub inputs: Vec<String>,
    /// Fewer dimensions than the model's own.
    pub dimensions: Option<u32>,
    /// When the request arrived.
    pub received_at: std::time::Instant,
}

/// The vectors and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsOutcome {
    /// The request's trace id.
    pub trace_id: String,
    /// One vector per input, in order.
    pub vectors: Vec<Vec<f32>>,
    /// The provider that answered.
    pub provider: String,
    /// `PROVIDER/MODEL`.
    pub model: String,
    /// Tokens read.
    pub input_tokens: u64,
    /// USD charged for this request.
    pub estimated_cost_usd: f64,
    /// Time from arrival to answer.
    pub latency_ms: f64,
    /// Whether a model after the first candidate answered.
    pub fallback_used: bool,
    /// Retries over all candidates.
    pub retry_count: u32,
    /// The routing and policy decision.
    pub policy_decision: String,
}

impl EmbeddingsRequest {
    /// Refuses what no model could embed: no text, an empty text, too many texts.
    fn validate(&self) -> Result<()> {
        let refuse = |code: &'static str, m: String| Err(Error::bad_request(code, m));
        if self.inputs.is_empty() {
            return refuse("empty_input", "`input` holds no text to embed".into());
        }
        if self.inputs.len() > MAX_INPUTS {
            return refuse(
                "too_many_inputs",
                format!(
                    "`input` holds {} texts; at most {MAX_INPUTS} per request",
                    self.inputs.len()
                ),
            );
        }
        if let Some(i) = self.inputs.iter().position(|t| t.trim().is_empty()) {
            return refuse("empty_input", format!("input {i} is empty"));
        }
        if self.dimensions == Some(0) {
            return refuse("invalid_request", "dimensions must be at least 1".into());
        }
        Ok(())
    }

    /// The request as the chat stages take it: the texts as user messages, at temperature 0,
    /// past the cache, with an output hold of one token (nothing is generated).
    fn into_chat(self) -> ChatRequest {
        let (task, model) = match self.model.strip_prefix("hearth/") {
            Some(task) => (task.to_owned(), None),
            None => (EMBEDDINGS_TASK.to_owned(), Some(self.model)),
        };
        ChatRequest {
            principal: self.principal,
            endpoint: EMBEDDINGS_ENDPOINT,
            task,
            model,
            prompt: None,
            variables: serde_json::Map::new(),
            messages: self
                .inputs
                .into_iter()
                .map(|content| Message::new(Role::User, content))
                .collect(),
            max_output_tokens: Some(1),
            temperature: 0.0,
            top_p: None,
            top_k: None,
            min_p: None,
            stop: Vec::new(),
            seed: None,
            response_format: None,
            tools: Default::default(),
            cache: CachePreference::Bypass,
            received_at: self.received_at,
        }
    }
}

/// The embedding call of one candidate: its texts are the messages the gate let through
/// (placeholders in place of PII where the data policy says so).
pub(super) struct Embedded {
    dimensions: Option<u32>,
}

impl Mode for Embedded {
    type Answer = EmbedResponse;

    async fn attempt(
        &self,
        provider: &dyn Provider,
        request: &ProviderRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        let req = EmbedRequest {
            model_id: request.model_id.clone(),
            inputs: request.messages.iter().map(|m| m.content.clone()).collect(),
            dimensions: self.dimensions,
        };
        provider.embed(&req).await
    }
}

impl Hearth {
    /// Embeds the request's texts on the model it names, under the workspace's policy.
    pub async fn embed(
        self: &Arc<Self>,
        req: EmbeddingsRequest,
        trace_id: String,
    ) -> Result<EmbeddingsOutcome> {
        req.validate()?;
        let count = req.inputs.len();
        let mode = Embedded {
            dimensions: req.dimensions,
        };
        let mut run = Run::start(self, req.into_chat(), trace_id)?;
        // The count, never the texts: the audit event holds no content.
        run.trace.decision.push(format!("embed {count} inputs"));
        match run.embedded(&mode).await {
            Ok(out) => Ok(out),
            Err(e) => Err(run.fail(e)),
        }
    }
}

impl Run {
    async fn embedded(&mut self, mode: &Embedded) -> Result<EmbeddingsOutcome> {
        match self.choose(mode).await? {
            Chosen::Called {
                model,
                call,
                answer,
                first_choice,
            } => self.settle_embeddings(&model, *call, answer, first_choice),
            // The cache is bypassed, and a spent budget refuses an embedding (gate.rs).
            Chosen::Template | Chosen::Cached { .. } => Err(Error::Internal(
                "an embeddings request was answered from the cache or a template".into(),
            )),
        }
    }
}
