//! The streamed path: the same stages as the whole one, but the answer is held back until
//! its first real content arrives, so a provider that fails early is replaced by the next
//! candidate without the client seeing a broken stream. Once content has been sent, a
//! failure ends the stream with an error event, never a silent clean end. Usage, budget
//! and audit settle when the stream ends; a client that goes away cancels the provider call.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::pipeline::{all_failed, Call, Prepared, Served, Step};
use super::trace::Trace;
use super::{ChatOutcome, ChatRequest, Hearth};
use crate::config::ModelSpec;
use crate::error::{Error, Result};
use crate::providers::{Delta, DeltaStream, ProviderError, ProviderRequest, ProviderResponse};
use crate::workspace::Workspace;

/// One event of a streamed answer as the front ends see it.
#[derive(Debug)]
pub enum StreamEvent {
    /// More answer text.
    Delta(String),
    /// The end: the whole outcome, already audited.
    Done(Box<ChatOutcome>),
    /// The stream broke after content was sent.
    Failed(Error),
}

/// The events of a streamed answer.
pub struct ChatStream {
    rx: mpsc::Receiver<StreamEvent>,
}

impl Stream for ChatStream {
    type Item = StreamEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// A stream that has committed to a model.
pub struct StreamStart {
    /// The request's trace id.
    pub trace_id: String,
    /// The provider answering.
    pub provider: String,
    /// `PROVIDER/MODEL` answering.
    pub model: String,
    /// Whether the cache answers.
    pub cache_hit: bool,
    /// The events.
    pub events: ChatStream,
}

enum Opened {
    Whole {
        model: ModelSpec,
        response: ProviderResponse,
        cached: Option<f64>,
        first_choice: bool,
    },
    Template,
    Live {
        model: ModelSpec,
        call: Box<Call>,
        first: String,
        rest: DeltaStream,
        first_choice: bool,
    },
}

impl Hearth {
    /// Serves a request as a stream of events.
    pub async fn chat_stream(
        self: &Arc<Self>,
        req: ChatRequest,
        trace_id: String,
    ) -> Result<StreamStart> {
        let (mut trace, ws) = self.new_trace(&req, trace_id)?;
        let (p, opened) = match self.open_stream(&req, ws, &mut trace).await {
            Ok(v) => v,
            Err(e) => return Err(self.fail(&mut trace, e).await),
        };
        let (provider, model, cache_hit) = match &opened {
            Opened::Whole { model, cached, .. } => (
                model.provider.clone(),
                model.address.clone(),
                cached.is_some(),
            ),
            Opened::Live { model, .. } => (model.provider.clone(), model.address.clone(), false),
            Opened::Template => ("hearth".into(), "hearth/budget-template".into(), false),
        };
        let (tx, rx) = mpsc::channel(64);
        let start = StreamStart {
            trace_id: trace.trace_id.clone(),
            provider,
            model,
            cache_hit,
            events: ChatStream { rx },
        };
        let hearth = Arc::clone(self);
        tokio::spawn(async move { hearth.drive(trace, p, opened, tx).await });
        Ok(start)
    }

    async fn open_stream(
        &self,
        req: &ChatRequest,
        ws: Workspace,
        trace: &mut Trace,
    ) -> Result<(Prepared, Opened)> {
        let mut p = self.prepare(req, ws, trace)?;
        let first_address = p
            .candidates
            .front()
            .map(|m| m.address.clone())
            .unwrap_or_default();
        let mut first_choice = true;
        let mut last_err = None;
        while let Some(m) = p.candidates.pop_front() {
            let call = match self.begin(req, &p, &m, trace)? {
                Step::Skip => {
                    first_choice = false;
                    continue;
                }
                Step::Template => return Ok((p, Opened::Template)),
                Step::Downgrade(d) => {
                    p.candidates = VecDeque::from([d]);
                    p.degraded = true;
                    continue;
                }
                Step::Cached(hit) => {
                    let opened = Opened::Whole {
                        model: m,
                        response: hit.response,
                        cached: Some(hit.cost_usd),
                        first_choice,
                    };
                    return Ok((p, opened));
                }
                Step::Call(call) => call,
            };
            match self
                .open_with_retries(&m, &call.request, p.deadline, trace)
                .await
            {
                Ok((first, rest)) => {
                    if !first_choice {
                        self.note_fallback(trace, &first_address, &m.address);
                    }
                    return Ok((
                        p,
                        Opened::Live {
                            model: m,
                            call,
                            first,
                            rest,
                            first_choice,
                        },
                    ));
                }
                Err(e) => {
                    trace.decision.push(format!(
                        "{} failed before content ({})",
                        m.address,
                        e.kind()
                    ));
                    last_err = Some(e);
                }
            }
            first_choice = false;
            if Instant::now() >= p.deadline {
                return Err(Error::DeadlineExceeded(
                    self.config.resilience.request_deadline,
                ));
            }
        }
        Err(all_failed(last_err))
    }

    /// Opens a provider stream and waits for its first real content, retrying like a whole call.
    async fn open_with_retries(
        &self,
        m: &ModelSpec,
        request: &ProviderRequest,
        deadline: Instant,
        trace: &mut Trace,
    ) -> Result<(String, DeltaStream), ProviderError> {
        let provider = self
            .providers
            .get(&m.provider)
            .ok_or_else(|| ProviderError::Unavailable(format!("no provider `{}`", m.provider)))?;
        let mut retry = 0;
        loop {
            let Some(budget) = self.attempt_budget(deadline) else {
                return Err(ProviderError::Timeout);
            };
            let started = Instant::now();
            let outcome =
                tokio::time::timeout(budget, first_content(provider.as_ref(), request)).await;
            trace.waiting += started.elapsed();
            let err = match outcome {
                Ok(Ok(opened)) => {
                    self.breakers.record_success(&m.provider);
                    return Ok(opened);
                }
                Ok(Err(e)) => e,
                Err(_) => ProviderError::Timeout,
            };
            self.note_failure(m, &err, trace);
            if !self.should_retry(m, &err, retry, deadline, trace).await {
                return Err(err);
            }
            retry += 1;
        }
    }

    async fn drive(
        self: Arc<Self>,
        mut trace: Trace,
        p: Prepared,
        opened: Opened,
        tx: mpsc::Sender<StreamEvent>,
    ) {
        let result = match opened {
            Opened::Template => self.settle_template(&mut trace).await,
            Opened::Whole {
                model,
                response,
                cached,
                first_choice,
            } => {
                let served = Served {
                    model: &model,
                    response: &response,
                    call: None,
                    first_choice,
                    cached,
                };
                self.settle(&mut trace, &p, served).await
            }
            Opened::Live {
                model,
                call,
                first,
                rest,
                first_choice,
            } => match self.relay(&mut trace, &p, &model, first, rest, &tx).await {
                Relayed::Finished(response) => {
                    let served = Served {
                        model: &model,
                        response: &response,
                        call: Some(*call),
                        first_choice,
                        cached: None,
                    };
                    match self.settle(&mut trace, &p, served).await {
                        Ok(out) => {
                            let _ = tx.send(StreamEvent::Done(Box::new(out))).await;
                            return;
                        }
                        Err(e) => Err(e),
                    }
                }
                Relayed::Broken(e) => Err(e),
                Relayed::ClientGone => return,
            },
        };
        let event = match result {
            Ok(out) => {
                if tx
                    .send(StreamEvent::Delta(out.answer.clone()))
                    .await
                    .is_err()
                {
                    return;
                }
                StreamEvent::Done(Box::new(out))
            }
            Err(e) => StreamEvent::Failed(self.fail(&mut trace, e).await),
        };
        let _ = tx.send(event).await;
    }

    /// Forwards deltas to the client until the provider finishes, breaks or the client leaves.
    async fn relay(
        &self,
        trace: &mut Trace,
        p: &Prepared,
        model: &ModelSpec,
        first: String,
        mut rest: DeltaStream,
        tx: &mpsc::Sender<StreamEvent>,
    ) -> Relayed {
        let mut text = first.clone();
        if tx.send(StreamEvent::Delta(first)).await.is_err() {
            return Relayed::ClientGone;
        }
        loop {
            let Some(budget) = self.attempt_budget(p.deadline) else {
                return Relayed::Broken(Error::DeadlineExceeded(
                    self.config.resilience.request_deadline,
                ));
            };
            let started = Instant::now();
            let next = tokio::time::timeout(budget, rest.next()).await;
            trace.waiting += started.elapsed();
            let err = match next {
                Ok(Some(Ok(Delta::Text(t)))) => {
                    text.push_str(&t);
                    if tx.send(StreamEvent::Delta(t)).await.is_err() {
                        return Relayed::ClientGone;
                    }
                    continue;
                }
                Ok(Some(Ok(Delta::Finish {
                    usage,
                    finish_reason,
                }))) => {
                    return Relayed::Finished(ProviderResponse {
                        text,
                        usage,
                        finish_reason,
                    });
                }
                Ok(Some(Err(e))) => e,
                Ok(None) => ProviderError::Unavailable("the stream ended without finishing".into()),
                Err(_) => ProviderError::Timeout,
            };
            self.note_failure(model, &err, trace);
            trace.provider = Some(model.provider.clone());
            trace.model = Some(model.address.clone());
            trace.decision.push(format!(
                "{} broke mid-stream ({})",
                model.address,
                err.kind()
            ));
            return Relayed::Broken(Error::ProvidersUnavailable {
                message: format!(
                    "the provider's stream broke after content was sent: {}",
                    err.kind()
                ),
            });
        }
    }
}

enum Relayed {
    Finished(ProviderResponse),
    Broken(Error),
    ClientGone,
}

/// Opens a stream and reads up to its first non-empty text (or its finish).
async fn first_content(
    provider: &dyn crate::providers::Provider,
    request: &ProviderRequest,
) -> Result<(String, DeltaStream), ProviderError> {
    let mut s = provider.stream(request).await?;
    loop {
        match s.next().await {
            Some(Ok(Delta::Text(t))) if t.is_empty() => continue,
            Some(Ok(Delta::Text(t))) => return Ok((t, s)),
            Some(Ok(finish @ Delta::Finish { .. })) => {
                let rest = futures::stream::iter([Ok(finish)]);
                return Ok((String::new(), Box::pin(rest)));
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
