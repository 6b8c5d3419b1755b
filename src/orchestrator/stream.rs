//! The streamed path: the same stages as the whole one, but the answer is held back until
//! its first real content arrives, so a provider that fails early is replaced by the next
//! candidate without the client seeing a broken stream. Once content has been sent, a
//! failure ends the stream with an error event, never a silent clean end. Usage, budget
//! and audit settle when the stream ends; a client that goes away cancels the provider call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::attempt::{Chosen, Streamed};
use super::gate::Call;
use super::run::Run;
use super::settle::Served;
use super::{ChatOutcome, ChatRequest, Hearth};
use crate::config::ModelSpec;
use crate::error::{CandidateOutcome, Error, Result};
use crate::providers::{
    Delta, DeltaStream, ProviderError, ProviderResponse, ToolCall, ToolCallPiece,
};

/// One event of a streamed answer as the front ends see it.
#[derive(Debug)]
pub enum StreamEvent {
    /// More answer text.
    Delta(String),
    /// A piece of a tool call.
    ToolCall(ToolCallPiece),
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
        let mut run = Run::start(self, req, trace_id)?;
        let opened = match run.open_stream().await {
            Ok(opened) => opened,
            Err(e) => return Err(run.fail(e)),
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
            trace_id: run.trace.trace_id.clone(),
            provider,
            model,
            cache_hit,
            events: ChatStream { rx },
        };
        tokio::spawn(async move { run.drive(opened, tx).await });
        Ok(start)
    }
}

impl Run {
    async fn open_stream(&mut self) -> Result<Opened> {
        let opened = match self.choose(&Streamed).await? {
            Chosen::Template => Opened::Template,
            Chosen::Cached {
                model,
                hit,
                first_choice,
            } => Opened::Whole {
                model,
                response: hit.response,
                cached: Some(hit.cost_usd),
                first_choice,
            },
            Chosen::Called {
                model,
                call,
                answer: (first, rest),
                first_choice,
            } => Opened::Live {
                model,
                call,
                first,
                rest,
                first_choice,
            },
        };
        Ok(opened)
    }

    async fn drive(mut self, opened: Opened, tx: mpsc::Sender<StreamEvent>) {
        let result = match opened {
            Opened::Template => self.settle_template(),
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
                self.settle(served)
            }
            Opened::Live {
                model,
                call,
                first,
                rest,
                first_choice,
            } => match self.relay(&model, first, rest, &tx).await {
                Relayed::Finished(response) => {
                    let served = Served {
                        model: &model,
                        response: &response,
                        call: Some(*call),
                        first_choice,
                        cached: None,
                    };
                    match self.settle(served) {
                        Ok(out) => {
                            let _ = tx.send(StreamEvent::Done(Box::new(out))).await;
                            return;
                        }
                        Err(e) => Err(e),
                    }
                }
                Relayed::Broken(e) => Err(e),
                Relayed::ClientGone(partial) => {
                    self.settle_stopped(&model, *call, &partial);
                    return;
                }
            },
        };
        let event = match result {
            Ok(out) => {
                let pieces = (out.tool_calls.iter().cloned().enumerate())
                    .map(|(i, c)| StreamEvent::ToolCall(ToolCallPiece::whole(i, c)));
                let events = std::iter::once(StreamEvent::Delta(out.answer.clone())).chain(pieces);
                for event in events {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                StreamEvent::Done(Box::new(out))
            }
            Err(e) => StreamEvent::Failed(self.fail(e)),
        };
        let _ = tx.send(event).await;
    }

    /// Forwards deltas to the client until the provider finishes, breaks or the client leaves.
    async fn relay(
        &mut self,
        model: &ModelSpec,
        first: String,
        mut rest: DeltaStream,
        tx: &mpsc::Sender<StreamEvent>,
    ) -> Relayed {
        let mut text = first.clone();
        let mut calls = Calls::default();
        let mut so_far = None;
        if tx.send(StreamEvent::Delta(first)).await.is_err() {
            return Relayed::ClientGone(Partial { text, so_far });
        }
        loop {
            let Some(budget) = self.plan.attempt_budget() else {
                return Relayed::Broken(Error::DeadlineExceeded(
                    self.plan.snap.config.resilience.request_deadline,
                ));
            };
            let started = Instant::now();
            let next = tokio::time::timeout(budget, rest.next()).await;
            self.trace.waiting += started.elapsed();
            let err = match next {
                Ok(Some(Ok(Delta::Text(t)))) => {
                    text.push_str(&t);
                    if tx.send(StreamEvent::Delta(t)).await.is_err() {
                        return Relayed::ClientGone(Partial { text, so_far });
                    }
                    continue;
                }
                Ok(Some(Ok(Delta::ToolCall(piece)))) => {
                    calls.add(&piece);
                    if tx.send(StreamEvent::ToolCall(piece)).await.is_err() {
                        return Relayed::ClientGone(Partial { text, so_far });
                    }
                    continue;
                }
                Ok(Some(Ok(Delta::Progress(u)))) => {
                    so_far = Some(u);
                    continue;
                }
                Ok(Some(Ok(Delta::Finish {
                    usage,
                    finish_reason,
                }))) => {
                    // Sent text cannot be taken back: a stream without the shape asked for
                    // ends in an error event instead of a clean finish.
                    let tool_calls = calls.done();
                    if tool_calls.is_empty() {
                        if let Err(m) = self.plan.response_format.check(&text) {
                            return self.invalid_stream(model, m);
                        }
                    }
                    return Relayed::Finished(ProviderResponse {
                        text,
                        usage,
                        finish_reason,
                        tool_calls,
                    });
                }
                Ok(Some(Err(e))) => e,
                Ok(None) => ProviderError::Unavailable("the stream ended without finishing".into()),
                Err(_) => ProviderError::Timeout,
            };
            self.note_failure(model, &err);
            self.trace.provider = Some(model.provider.clone());
            self.trace.model = Some(model.address.clone());
            self.trace.decision.push(format!(
                "{} broke mid-stream ({})",
                model.address,
                err.kind()
            ));
            return Relayed::Broken(Error::ProvidersUnavailable {
                message: format!(
                    "the provider's stream broke after content was sent: {}",
                    err.kind()
                ),
                candidates: vec![CandidateOutcome::failed(&model.address, err.kind())],
            });
        }
    }

    fn invalid_stream(&mut self, model: &ModelSpec, message: String) -> Relayed {
        let err = ProviderError::InvalidOutput(message);
        self.trace.provider = Some(model.provider.clone());
        self.trace.model = Some(model.address.clone());
        self.trace
            .decision
            .push(format!("{} streamed an invalid answer", model.address));
        Relayed::Broken(Error::InvalidOutput {
            message: err.to_string(),
            candidates: vec![CandidateOutcome::failed(&model.address, err.kind())],
        })
    }
}

/// Tool calls put together from their streamed pieces, by index.
#[derive(Default)]
struct Calls(Vec<ToolCall>);

impl Calls {
    fn add(&mut self, piece: &ToolCallPiece) {
        let i = piece.index as usize;
        // Indexes come from the provider: a gap is filled, never trusted to be small.
        if i >= self.0.len() && i < crate::providers::MAX_CALLS {
            self.0.resize_with(i + 1, || ToolCall {
                id: String::new(),
                name: String::new(),
                arguments: String::new(),
            });
        }
        if let Some(call) = self.0.get_mut(i) {
            if let Some(id) = &piece.id {
                call.id.clone_from(id);
            }
            if let Some(name) = &piece.name {
                call.name.clone_from(name);
            }
            call.arguments.push_str(&piece.arguments);
        }
    }

    fn done(self) -> Vec<ToolCall> {
        self.0.into_iter().filter(|c| !c.name.is_empty()).collect()
    }
}

enum Relayed {
    Finished(ProviderResponse),
    Broken(Error),
    /// The client went away; what had been generated until then.
    ClientGone(Partial),
}

/// The part of an answer generated before its client went away.
pub(super) struct Partial {
    /// The text sent.
    pub text: String,
    /// The provider's own count up to that text, when it sends one.
    pub so_far: Option<crate::providers::Usage>,
}
