//! Turns a provider's SSE events into Hearth's deltas. Each adapter supplies a decoder that
//! reads its own event shapes; this loop owns the order: text as it comes, one `Finish` once
//! the decoder says the answer is complete, an error when the body ends before that.

use std::collections::VecDeque;

use futures::StreamExt;

use super::sse::{self, SseEvent};
use crate::providers::{Delta, DeltaStream, FinishReason, ProviderError, Usage};

/// What an adapter's stream decoder learns from one event.
pub(crate) enum Step {
    /// Text and tool-call pieces to pass on, in order (possibly none, for pings and
    /// bookkeeping events; empty text is dropped).
    Deltas(Vec<Delta>),
    /// The answer is complete.
    Done,
}

/// An adapter's reading of its own stream events.
pub(crate) trait Decoder: Send + 'static {
    /// Reads one event.
    fn event(&mut self, ev: &SseEvent) -> Result<Step, ProviderError>;

    /// The usage and finish reason once the answer is complete.
    fn finish(&mut self) -> (Usage, FinishReason);

    /// Whether the answer may count as complete when the body ends without the provider's
    /// closing event (some OpenAI-compatible servers omit `[DONE]`).
    fn complete_without_terminator(&self) -> bool {
        false
    }
}

struct State<D> {
    events: std::pin::Pin<Box<dyn futures::Stream<Item = Result<SseEvent, ProviderError>> + Send>>,
    decoder: D,
    ready: VecDeque<Result<Delta, ProviderError>>,
    over: bool,
}

/// The deltas of a streamed response read by `decoder`.
pub(crate) fn deltas<D: Decoder>(resp: reqwest::Response, decoder: D) -> DeltaStream {
    let state = State {
        events: Box::pin(sse::events(resp)),
        decoder,
        ready: VecDeque::new(),
        over: false,
    };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.ready.pop_front() {
                return Some((item, st));
            }
            if st.over {
                return None;
            }
            st.over = pull(&mut st).await;
        }
    }))
}

/// Reads the next event into `ready`; true when the stream is over.
async fn pull<D: Decoder>(st: &mut State<D>) -> bool {
    match st.events.next().await {
        Some(Ok(ev)) => match st.decoder.event(&ev) {
            Ok(Step::Deltas(deltas)) => {
                st.ready.extend(
                    deltas
                        .into_iter()
                        .filter(|d| !matches!(d, Delta::Text(t) if t.is_empty()))
                        .map(Ok),
                );
                false
            }
            Ok(Step::Done) => {
                st.ready.push_back(Ok(finish(&mut st.decoder)));
                true
            }
            Err(e) => {
                st.ready.push_back(Err(e));
                true
            }
        },
        Some(Err(e)) => {
            st.ready.push_back(Err(e));
            true
        }
        None if st.decoder.complete_without_terminator() => {
            st.ready.push_back(Ok(finish(&mut st.decoder)));
            true
        }
        None => {
            st.ready.push_back(Err(ProviderError::Unavailable(
                "the stream ended before the answer was complete".into(),
            )));
            true
        }
    }
}

fn finish<D: Decoder>(d: &mut D) -> Delta {
    let (usage, finish_reason) = d.finish();
    Delta::Finish {
        usage,
        finish_reason,
    }
}

/// Parses an event's data as JSON, or says the provider broke its format.
pub(crate) fn json(ev: &SseEvent) -> Result<serde_json::Value, ProviderError> {
    serde_json::from_str(&ev.data).map_err(|e| {
        ProviderError::Unavailable(format!(
            "the provider sent a stream event that is not JSON ({e})"
        ))
    })
}
