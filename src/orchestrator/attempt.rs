//! Trying the route's candidates in order, for the whole and the streamed paths alike: each
//! candidate through the gate (`gate.rs`), then the provider with a per-attempt timeout and
//! bounded retries inside the deadline, then the next candidate; and the error when none
//! answered.

use std::collections::VecDeque;
use std::future::Future;

use futures::StreamExt;
use tokio::time::Instant;

use super::gate::{Call, Step};
use super::run::Run;
use crate::cache::CachedAnswer;
use crate::config::ModelSpec;
use crate::error::{CandidateOutcome, Error, Result};
use crate::providers::{
    Delta, DeltaStream, Provider, ProviderError, ProviderRequest, ProviderResponse,
};
use crate::resilience::{retry_delay, Admission};

/// How the answer is wanted: whole, streamed or as vectors. A type, so each path gets its
/// own answer type and cannot be handed another's.
pub(super) trait Mode: Sync {
    /// What one successful attempt yields.
    type Answer: Send;

    /// One provider call.
    fn attempt(
        &self,
        provider: &dyn Provider,
        request: &ProviderRequest,
    ) -> impl Future<Output = Result<Self::Answer, ProviderError>> + Send;
}

/// A whole response, checked against the required format.
pub(super) struct Whole;

/// A stream held until its first real content: that content and the rest of the stream.
pub(super) struct Streamed;

impl Mode for Whole {
    type Answer = ProviderResponse;

    async fn attempt(
        &self,
        provider: &dyn Provider,
        request: &ProviderRequest,
    ) -> Result<ProviderResponse, ProviderError> {
        let response = provider.generate(request).await?;
        // An answer of tool calls has no text to hold to the format.
        if response.tool_calls.is_empty() {
            request
                .response_format
                .check(&response.text)
                .map_err(ProviderError::InvalidOutput)?;
        }
        Ok(response)
    }
}

impl Mode for Streamed {
    type Answer = (String, DeltaStream);

    async fn attempt(
        &self,
        provider: &dyn Provider,
        request: &ProviderRequest,
    ) -> Result<(String, DeltaStream), ProviderError> {
        first_content(provider, request).await
    }
}

/// Which candidate answered, and how.
pub(super) enum Chosen<A> {
    /// The tier's template (its budget is spent).
    Template,
    /// The exact cache.
    Cached {
        /// The model whose cached answer it is.
        model: ModelSpec,
        /// The cached answer.
        hit: CachedAnswer,
        /// Whether it was the first candidate.
        first_choice: bool,
    },
    /// A provider.
    Called {
        /// The model that answered.
        model: ModelSpec,
        /// Its reservation and cache key.
        call: Box<Call>,
        /// The answer.
        answer: A,
        /// Whether it was the first candidate.
        first_choice: bool,
    },
}

impl Run {
    /// Tries the candidates in order until one answers.
    pub(super) async fn choose<M: Mode>(&mut self, mode: &M) -> Result<Chosen<M::Answer>> {
        let first_address = self
            .plan
            .candidates
            .front()
            .map(|m| m.address.clone())
            .unwrap_or_default();
        let mut first_choice = true;
        let mut last_err = None;
        let mut outcomes = Vec::new();
        while let Some(model) = self.plan.candidates.pop_front() {
            let call = match self.begin(&model)? {
                Step::Skip(reason) => {
                    outcomes.push(CandidateOutcome::skipped(&model.address, reason));
                    first_choice = false;
                    continue;
                }
                Step::Template => return Ok(Chosen::Template),
                Step::Downgrade(d) => {
                    self.plan.candidates = VecDeque::from([d]);
                    self.plan.degraded = true;
                    continue;
                }
                Step::Cached(hit) => {
                    return Ok(Chosen::Cached {
                        model,
                        hit,
                        first_choice,
                    })
                }
                Step::Call(call) => call,
            };
            let attempt = self.with_retries(mode, &model, &call.request);
            match attempt.await {
                Ok(answer) => {
                    if !first_choice {
                        self.note_fallback(&first_address, &model.address);
                    }
                    return Ok(Chosen::Called {
                        model,
                        call,
                        answer,
                        first_choice,
                    });
                }
                Err(e) => {
                    self.trace
                        .decision
                        .push(format!("{} failed ({})", model.address, e.kind()));
                    outcomes.push(CandidateOutcome::failed(&model.address, e.kind()));
                    last_err = Some(e);
                }
            }
            first_choice = false;
            if Instant::now() >= self.plan.deadline {
                return Err(Error::DeadlineExceeded(
                    self.plan.snap.config.resilience.request_deadline,
                ));
            }
        }
        Err(all_failed(last_err, outcomes))
    }

    /// One candidate with a per-attempt timeout and bounded, jittered retries inside the
    /// deadline, keeping the breaker's books.
    async fn with_retries<M: Mode>(
        &mut self,
        mode: &M,
        m: &ModelSpec,
        request: &ProviderRequest,
    ) -> Result<M::Answer, ProviderError> {
        let provider =
            self.plan.snap.providers.get(&m.provider).ok_or_else(|| {
                ProviderError::Unavailable(format!("no provider `{}`", m.provider))
            })?;
        let mut retry = 0;
        loop {
            let Some(budget) = self.plan.attempt_budget() else {
                return Err(ProviderError::Timeout);
            };
            let started = Instant::now();
            let span = tracing::info_span!("provider.generate", trace_id = %self.trace.trace_id, provider = %m.provider);
            let once = tokio::time::timeout(budget, mode.attempt(provider.as_ref(), request));
            let outcome = tracing::Instrument::instrument(once, span).await;
            self.trace.waiting += started.elapsed();
            let err = match outcome {
                Ok(Ok(answer)) => {
                    self.hearth.breakers.record_success(&m.provider);
                    return Ok(answer);
                }
                Ok(Err(e)) => e,
                Err(_) => ProviderError::Timeout,
            };
            self.note_failure(m, &err);
            if !self.should_retry(m, &err, retry).await {
                return Err(err);
            }
            retry += 1;
        }
    }
}

/// Opens a stream and reads up to its first non-empty text (or its finish).
async fn first_content(
    provider: &dyn Provider,
    request: &ProviderRequest,
) -> Result<(String, DeltaStream), ProviderError> {
    let mut s = provider.stream(request).await?;
    let mut progress = None;
    loop {
        match s.next().await {
            Some(Ok(Delta::Text(t))) if t.is_empty() => continue,
            Some(Ok(Delta::Progress(u))) => progress = Some(u),
            // The count of the first piece goes on ahead of the rest, for the relay.
            Some(Ok(Delta::Text(first))) => {
                let ahead = futures::stream::iter(progress.map(|u| Ok(Delta::Progress(u))));
                return Ok((first, Box::pin(ahead.chain(s))));
            }
            // A call is content: the stream commits to this candidate.
            Some(Ok(call @ Delta::ToolCall(_))) => {
                let ahead = progress.map(Delta::Progress).into_iter().chain([call]);
                let ahead = futures::stream::iter(ahead.map(Ok));
                return Ok((String::new(), Box::pin(ahead.chain(s))));
            }
            Some(Ok(finish @ Delta::Finish { .. })) => {
                let rest = Box::pin(futures::stream::iter([Ok(finish)]));
                return Ok((String::new(), rest));
            }
            Some(Err(e)) => return Err(e),
            None => {
                return Err(ProviderError::Unavailable(
                    "the stream ended before any content".into(),
                ))
            }
        }
    }
}

impl Run {
    pub(super) fn note_failure(&mut self, m: &ModelSpec, err: &ProviderError) {
        self.hearth
            .metrics
            .provider_errors
            .with_label_values(&[&m.provider, err.kind()])
            .inc();
        // A refused key will not heal within a cool-down's retries: open at once.
        let opened = match err {
            ProviderError::Auth => self.hearth.breakers.open_now(&m.provider),
            e if e.counts_against_provider() => self.hearth.breakers.record_failure(&m.provider),
            _ => false,
        };
        if opened {
            self.trace
                .decision
                .push(format!("breaker opened for {}", m.provider));
        }
    }

    /// Waits out the backoff and returns true when another attempt is worth making.
    pub(super) async fn should_retry(
        &mut self,
        m: &ModelSpec,
        err: &ProviderError,
        retry: u32,
    ) -> bool {
        let r = &self.plan.snap.config.resilience;
        if !err.is_transient() || retry >= r.max_retries {
            return false;
        }
        let retry_after = match err {
            ProviderError::RateLimited { retry_after } => *retry_after,
            _ => None,
        };
        let delay = retry_delay(retry, r.backoff_base, r.backoff_max, retry_after);
        if Instant::now() + delay >= self.plan.deadline
            || self.hearth.breakers.admit(&m.provider) == Admission::Rejected
        {
            return false;
        }
        tokio::time::sleep(delay).await;
        self.trace.waiting += delay;
        self.trace.retry_count += 1;
        self.hearth
            .metrics
            .retries
            .with_label_values(&[&m.provider, &self.trace.task_label])
            .inc();
        true
    }

    /// Records the fallback metric when a later candidate answered.
    pub(super) fn note_fallback(&self, from: &str, to: &str) {
        if from != to {
            self.hearth
                .metrics
                .fallbacks
                .with_label_values(&[&self.trace.task_label, from, to])
                .inc();
        }
    }
}

/// The error when no candidate answered: `last` is the last failure, `candidates` what
/// became of each candidate in order.
pub(super) fn all_failed(last: Option<ProviderError>, candidates: Vec<CandidateOutcome>) -> Error {
    match last {
        // Nothing was sent: the request asked for what the model cannot do.
        Some(ProviderError::Unsupported(m)) => Error::bad_request("unsupported_by_model", m),
        // Hearth's own words with the numbers (what the model needs, the budget).
        Some(ProviderError::InvalidOutput(m)) => Error::InvalidOutput {
            message: format!("no candidate's answer had the shape asked for; last: {m}"),
            candidates,
        },
        Some(e @ ProviderError::NotLoadable(_)) => Error::ProvidersUnavailable {
            message: format!("every candidate model failed; last error: {e}"),
            candidates,
        },
        Some(e) if !e.is_transient() && !matches!(e, ProviderError::Auth) => Error::Provider {
            message: format!("the provider refused the request: {e}"),
            candidates,
        },
        Some(e) => Error::ProvidersUnavailable {
            message: format!("every candidate model failed; last error: {}", e.kind()),
            candidates,
        },
        None => Error::ProvidersUnavailable {
            message: "no candidate model could be tried: each was skipped (a circuit breaker open, its provider not ready, or the data policy)".into(),
            candidates,
        },
    }
}
