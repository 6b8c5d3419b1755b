//! `Idempotency-Key` on `POST /v1/chat/completions` and `/chat`. A retry with the same key,
//! workspace and body within a day gets the answer already sent (`x-hearth-idempotent-replay:
//! true`), with no provider call and no charge; the same key with another body is refused.
//! Requests with one key at once make one provider call: the first leads, the others wait
//! for its answer. Only complete 200 answers are kept, so a request that failed can be
//! retried: a whole answer, or a stream that reached `[DONE]` without an error event (its
//! events are replayed at once, as one body).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::openai::set_headers;
use super::AppState;
use crate::error::Error;
use crate::orchestrator::{ChatOutcome, ChatRequest};
use crate::store::idempotency::{self, Kept};
use crate::store::{now_ms, Store};
use crate::workspace::WorkspaceId;

const HEADER: &str = "idempotency-key";
/// The header as the OpenAPI document describes it.
pub(super) const KEY_DOC: &str = "1-255 visible ASCII characters: a retry with the same key \
    and body within 24 h gets the answer already sent (header `x-hearth-idempotent-replay: \
    true`), a stream's events all at once";
const MAX_KEY_BYTES: usize = 255;
const REPLAY_HEADER: &str = "x-hearth-idempotent-replay";

type Slot = (String, String);

/// The requests leading for a key now, by workspace and key.
#[derive(Default)]
pub(super) struct Flights(Mutex<HashMap<Slot, Flight>>);

struct Flight {
    request_hash: String,
    // Closed when the leader is done, kept or not.
    done: watch::Receiver<()>,
}

/// What a request with its key is to do.
enum Claim {
    /// It has no key.
    Free,
    /// Answer this, already sent for the same request.
    Replay(Response),
    /// Run it, and keep the answer for the retries.
    Lead(Lead),
}

/// The request running for a key; the waiting ones wake when it is dropped.
struct Lead {
    flights: Arc<Flights>,
    store: Arc<Store>,
    slot: Slot,
    request_hash: String,
    _done: watch::Sender<()>,
}

/// The key of `headers`, checked: 1-255 visible ASCII characters.
fn key_of(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(v) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = v.to_str().ok().filter(|k| {
        !k.is_empty() && k.len() <= MAX_KEY_BYTES && k.bytes().all(|b| b.is_ascii_graphic())
    });
    match key {
        Some(k) => Ok(Some(k.to_owned())),
        None => Err(Error::bad_request(
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )),
    }
}

/// A stream `run` starts, under the request's `Idempotency-Key`: kept for the retries once
/// it completes, or the one already kept.
pub(super) async fn streamed_answer(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    workspace: &WorkspaceId,
    endpoint: &str,
    run: impl std::future::Future<Output = Result<Response, Error>>,
) -> Result<Response, Error> {
    let store = state.hearth.store();
    match claim(&state.flights, store, headers, workspace, endpoint, body).await? {
        Claim::Free => run.await,
        Claim::Replay(answer) => Ok(answer),
        Claim::Lead(lead) => Ok(lead.keep_stream(run.await?)),
    }
}

fn hash(endpoint: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(endpoint.as_bytes());
    h.update([0]);
    h.update(body);
    hex::encode(h.finalize())
}

fn reused() -> Error {
    Error::unprocessable(
        "idempotency_key_reused",
        "this Idempotency-Key was used with another request body",
    )
}

/// `req` answered whole by the orchestrator, its body written by `render`, with Hearth's
/// headers; or, for a retry under its `Idempotency-Key`, the answer already sent.
pub(super) async fn whole_answer(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    req: ChatRequest,
    trace_id: String,
    render: impl FnOnce(&ChatOutcome) -> String,
) -> Result<Response, Error> {
    let workspace = req.principal.workspace.clone();
    let store = state.hearth.store();
    let lead = match claim(
        &state.flights,
        store,
        headers,
        &workspace,
        req.endpoint,
        body,
    )
    .await?
    {
        Claim::Free => None,
        Claim::Replay(answer) => return Ok(answer),
        Claim::Lead(lead) => Some(lead),
    };
    let out = state.hearth.chat(req, trace_id).await?;
    let body = render(&out);
    let mut sent = HeaderMap::new();
    set_headers(
        &mut sent,
        &out.provider,
        out.cache_hit,
        Some(out.estimated_cost_usd),
    );
    if let Some(lead) = lead {
        // The answer was produced and charged: a failure to keep it costs only the replay.
        if let Err(e) = lead.keep(&sent, &body) {
            tracing::error!(error = %e, "an answer was not kept for its Idempotency-Key");
        }
    }
    sent.insert("content-type", HeaderValue::from_static("application/json"));
    Ok((sent, body).into_response())
}

/// What the request with `headers` and `body` to `endpoint` in `workspace` is to do; waits
/// while another request with the same key runs.
async fn claim(
    flights: &Arc<Flights>,
    store: &Arc<Store>,
    headers: &HeaderMap,
    workspace: &WorkspaceId,
    endpoint: &str,
    body: &[u8],
) -> Result<Claim, Error> {
    let Some(key) = key_of(headers)? else {
        return Ok(Claim::Free);
    };
    let request_hash = hash(endpoint, body);
    let slot = (workspace.as_str().to_owned(), key);
    loop {
        let mut done = {
            let mut map = flights.0.lock();
            match map.get(&slot) {
                Some(f) if f.request_hash != request_hash => return Err(reused()),
                Some(f) => f.done.clone(),
                None => {
                    // Read under the lock: a leader keeps its answer before it leaves the map.
                    let kept = store.with(|c| idempotency::get(c, &slot.0, &slot.1, now_ms()))?;
                    if let Some(kept) = kept {
                        if kept.request_hash != request_hash {
                            return Err(reused());
                        }
                        return Ok(Claim::Replay(replay(kept)));
                    }
                    let (tx, rx) = watch::channel(());
                    let flight = Flight {
                        request_hash: request_hash.clone(),
                        done: rx,
                    };
                    map.insert(slot.clone(), flight);
                    return Ok(Claim::Lead(Lead {
                        flights: flights.clone(),
                        store: store.clone(),
                        slot,
                        request_hash,
                        _done: tx,
                    }));
                }
            }
        };
        // Wakes when the leader is dropped; then its answer is kept, or none was.
        let _ = done.changed().await;
    }
}

impl Lead {
    /// Keeps a whole answer for the retries.
    fn keep(&self, headers: &HeaderMap, body: &str) -> Result<(), Error> {
        let kept = Kept {
            request_hash: self.request_hash.clone(),
            status: StatusCode::OK.as_u16(),
            headers: headers
                .iter()
                .filter(|(name, _)| {
                    name.as_str().starts_with("x-hearth-") || *name == header::CONTENT_TYPE
                })
                .filter_map(|(name, v)| Some((name.to_string(), v.to_str().ok()?.to_owned())))
                .collect(),
            body: body.to_owned(),
        };
        let (workspace, key) = &self.slot;
        self.store
            .with(|c| idempotency::put(c, workspace, key, &kept, now_ms()))
    }

    /// `resp`, a stream of server-sent events, recorded as it is sent and kept once it
    /// completes; the lead ends with it, so a stream the client drops keeps nothing.
    fn keep_stream(self, resp: Response) -> Response {
        let (parts, body) = resp.into_parts();
        let headers = parts.headers.clone();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let record = recorded.clone();
        let sent = body.into_data_stream().inspect(move |chunk| {
            if let Ok(bytes) = chunk {
                record.lock().extend_from_slice(bytes);
            }
        });
        let end = futures::stream::once(async move {
            let events = std::mem::take(&mut *recorded.lock());
            match String::from_utf8(events) {
                Ok(text) if complete(&text) => {
                    if let Err(e) = self.keep(&headers, &text) {
                        tracing::error!(error = %e, "a stream was not kept for its Idempotency-Key");
                    }
                }
                _ => {}
            }
            None
        })
        .filter_map(|last: Option<Result<Bytes, axum::Error>>| async move { last });
        Response::from_parts(parts, Body::from_stream(sent.chain(end)))
    }
}

/// Whether recorded server-sent events are a whole answer: they end in `[DONE]` and hold no
/// error event (whose data is `{"error": ...}`, where every chunk's starts with its `id`).
fn complete(events: &str) -> bool {
    let data = || events.lines().filter_map(|l| l.strip_prefix("data: "));
    data().next_back() == Some("[DONE]") && !data().any(|d| d.starts_with("{\"error\""))
}

impl Drop for Lead {
    fn drop(&mut self) {
        self.flights.0.lock().remove(&self.slot);
    }
}

/// The kept answer as it was sent, marked as a replay.
fn replay(kept: Kept) -> Response {
    let status = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, kept.body).into_response();
    let h = resp.headers_mut();
    // Answers kept before streams were kept carry no content type: they are JSON.
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in &kept.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    h.insert(REPLAY_HEADER, HeaderValue::from_static("true"));
    resp
}
