//! The UI's saved work: chat threads with their messages, and side-by-side comparisons.
//! Each is kept for the caller's workspace and user; a key (or the UI's session token) is
//! always needed.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::extract::{Path, Query};
use super::wire::error::ErrorBody;
use super::wire::threads::{
    ComparisonList, MessageList, NewComparison, NewMessage, SearchParams, ThreadList, TitleBody,
};
use super::{auth, body, AppState};
use crate::config::Locality;
use crate::error::{Error, Result};
use crate::orchestrator::ChatOutcome;
use crate::store::comparisons::{self, Comparison};
use crate::store::threads::{self, Owner, Thread, ThreadMessage};
use crate::store::Store;
use crate::workspace::Principal;

/// Longest title kept, in characters.
const MAX_TITLE_CHARS: usize = 200;
/// Most threads or comparisons listed at once.
const LIST_LIMIT: u32 = 500;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/threads", get(list_threads).post(create_thread))
        .route(
            "/threads/{id}",
            get(show_thread).patch(rename_thread).delete(delete_thread),
        )
        .route(
            "/threads/{id}/messages",
            get(list_messages).post(add_message),
        )
        .route("/comparisons", get(list_comparisons).post(save_comparison))
        .route(
            "/comparisons/{id}",
            get(show_comparison).delete(delete_comparison),
        )
}

/// A caller with a key, extracted before the handler runs.
struct Caller {
    state: AppState,
    headers: HeaderMap,
    principal: Principal,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let principal = auth::key_principal(state, &parts.headers)
            .and_then(|p| p.ok_or(Error::Unauthorized))?;
        Ok(Caller {
            state: state.clone(),
            headers: parts.headers.clone(),
            principal,
        })
    }
}

impl Caller {
    fn owner(&self) -> Owner<'_> {
        Owner {
            workspace: self.principal.workspace.as_str(),
            user: self.principal.user.as_str(),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection, Owner<'_>) -> Result<T>,
    ) -> Result<T, Error> {
        let store: &Store = self.state.hearth.store();
        store.with(|c| f(c, self.owner()))
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        raw: Result<Bytes, BytesRejection>,
    ) -> Result<T, Error> {
        let limit = self.state.hearth.config().server.body_limit_bytes;
        body::json(&self.headers, raw, limit)
    }
}

fn title(raw: Option<String>, default: &str) -> Result<String> {
    let t = raw.unwrap_or_else(|| default.to_owned());
    let t = t.trim();
    if t.is_empty() {
        return Err(Error::bad_request(
            "invalid_request",
            "the title must not be empty",
        ));
    }
    Ok(t.chars().take(MAX_TITLE_CHARS).collect())
}

#[utoipa::path(
    get,
    operation_id = "list_threads",
    path = "/threads",
    tag = "threads",
    params(SearchParams),
    responses(
        (status = 200, description = "The caller's threads, newest first", body = ThreadList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_threads(c: Caller, Query(p): Query<SearchParams>) -> Result<Json<ThreadList>, Error> {
    let q = p.q.filter(|q| !q.trim().is_empty());
    let list = c.with(|conn, o| threads::list(conn, o, q.as_deref(), LIST_LIMIT))?;
    Ok(Json(ThreadList { threads: list }))
}

#[utoipa::path(
    post,
    operation_id = "create_thread",
    path = "/threads",
    tag = "threads",
    request_body = TitleBody,
    responses(
        (status = 201, description = "The new thread", body = Thread),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn create_thread(c: Caller, raw: Result<Bytes, BytesRejection>) -> Result<Response, Error> {
    let b: TitleBody = c.parse(raw)?;
    let t = title(b.title, "New chat")?;
    let thread = c.with(|conn, o| threads::create(conn, o, &t))?;
    Ok((StatusCode::CREATED, Json(thread)).into_response())
}

#[utoipa::path(
    get,
    operation_id = "show_thread",
    path = "/threads/{id}",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    responses(
        (status = 200, description = "The thread", body = Thread),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn show_thread(c: Caller, Path(id): Path<String>) -> Result<Json<threads::Thread>, Error> {
    c.with(|conn, o| threads::get(conn, o, &id)).map(Json)
}

#[utoipa::path(
    patch,
    operation_id = "rename_thread",
    path = "/threads/{id}",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    request_body = TitleBody,
    responses(
        (status = 200, description = "The renamed thread", body = Thread),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn rename_thread(
    c: Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<threads::Thread>, Error> {
    let b: TitleBody = c.parse(raw)?;
    let t = title(b.title, "")?;
    c.with(|conn, o| threads::rename(conn, o, &id, &t))
        .map(Json)
}

#[utoipa::path(
    delete,
    operation_id = "delete_thread",
    path = "/threads/{id}",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    responses(
        (status = 204, description = "Deleted with its messages"),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn delete_thread(c: Caller, Path(id): Path<String>) -> Result<StatusCode, Error> {
    c.with(|conn, o| threads::delete(conn, o, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    operation_id = "list_messages",
    path = "/threads/{id}/messages",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    responses(
        (status = 200, description = "The thread's messages, oldest first", body = MessageList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_messages(c: Caller, Path(id): Path<String>) -> Result<Json<MessageList>, Error> {
    let messages = c.with(|conn, o| threads::messages(conn, o, &id))?;
    Ok(Json(MessageList { messages }))
}

#[utoipa::path(
    post,
    operation_id = "add_message",
    path = "/threads/{id}/messages",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    request_body = NewMessage,
    responses(
        (status = 201, description = "The saved message", body = ThreadMessage),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn add_message(
    c: Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    let m: NewMessage = c.parse(raw)?;
    if !matches!(m.role.as_str(), "user" | "assistant") {
        return Err(Error::bad_request(
            "invalid_request",
            "role must be user or assistant",
        ));
    }
    let meta = if m.meta.is_null() { json!({}) } else { m.meta };
    let saved = c.with(|conn, o| threads::add_message(conn, o, &id, &m.role, &m.content, &meta))?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

#[utoipa::path(
    get,
    operation_id = "list_comparisons",
    path = "/comparisons",
    tag = "threads",
    responses(
        (status = 200, description = "The caller's saved comparisons, newest first", body = ComparisonList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_comparisons(c: Caller) -> Result<Json<ComparisonList>, Error> {
    let list = c.with(|conn, o| comparisons::list(conn, o, LIST_LIMIT))?;
    Ok(Json(ComparisonList { comparisons: list }))
}

#[utoipa::path(
    post,
    operation_id = "save_comparison",
    path = "/comparisons",
    tag = "threads",
    request_body = NewComparison,
    responses(
        (status = 201, description = "The saved comparison", body = Comparison),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn save_comparison(c: Caller, raw: Result<Bytes, BytesRejection>) -> Result<Response, Error> {
    let n: NewComparison = c.parse(raw)?;
    if n.models.is_empty() || n.models.len() > 4 {
        return Err(Error::bad_request(
            "invalid_request",
            "a comparison has 1 to 4 models",
        ));
    }
    let default_title: String = n.prompt.chars().take(60).collect();
    let t = title(n.title, &default_title)?;
    let body = comparisons::ComparisonBody {
        prompt: n.prompt,
        models: n.models,
        results: n.results,
    };
    let saved = c.with(|conn, o| comparisons::save(conn, o, &t, &body))?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

#[utoipa::path(
    get,
    operation_id = "show_comparison",
    path = "/comparisons/{id}",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    responses(
        (status = 200, description = "The comparison", body = Comparison),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn show_comparison(
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<comparisons::Comparison>, Error> {
    c.with(|conn, o| comparisons::get(conn, o, &id)).map(Json)
}

#[utoipa::path(
    delete,
    operation_id = "delete_comparison",
    path = "/comparisons/{id}",
    tag = "threads",
    params(("id" = String, Path, description = "Its id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn delete_comparison(c: Caller, Path(id): Path<String>) -> Result<StatusCode, Error> {
    c.with(|conn, o| comparisons::delete(conn, o, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where a model call's answer is saved as it completes: the caller's thread named by
/// `x-hearth-thread-id`. The server saves it, not the page, so an answer the client saw is
/// never lost to a save that fails after the stream (the server stopping, the page closing).
pub(super) struct ThreadSink {
    state: AppState,
    principal: Principal,
    thread: String,
    requested_model: String,
    task: String,
}

impl ThreadSink {
    /// The sink the request names, checked to be one of the caller's threads before any
    /// model runs (404 otherwise); None when it names none.
    pub(super) fn open(
        state: &AppState,
        headers: &HeaderMap,
        principal: &Principal,
        requested_model: &str,
        task: &str,
    ) -> Result<Option<ThreadSink>> {
        let Some(thread) = headers.get("x-hearth-thread-id") else {
            return Ok(None);
        };
        let thread = thread
            .to_str()
            .map_err(|_| Error::NotFound("no such thread".into()))?
            .to_owned();
        let sink = ThreadSink {
            state: state.clone(),
            principal: principal.clone(),
            thread,
            requested_model: requested_model.to_owned(),
            task: task.to_owned(),
        };
        sink.store()
            .with(|c| threads::get(c, sink.owner(), &sink.thread))?;
        Ok(Some(sink))
    }

    fn store(&self) -> &Store {
        self.state.hearth.store()
    }

    fn owner(&self) -> Owner<'_> {
        Owner {
            workspace: self.principal.workspace.as_str(),
            user: self.principal.user.as_str(),
        }
    }

    /// Saves a completed answer with what the UI shows of it; its message id, or None when
    /// it could not be saved (logged; the client then keeps it itself).
    pub(super) fn save(&self, out: &ChatOutcome, ttft_ms: Option<u64>) -> Option<i64> {
        let meta = self.meta(out, ttft_ms);
        let saved = self.store().with(|c| {
            threads::add_message(
                c,
                self.owner(),
                &self.thread,
                "assistant",
                &out.answer,
                &meta,
            )
        });
        match saved {
            Ok(m) => Some(m.id),
            Err(e) => {
                tracing::warn!(trace_id = %out.trace_id, error = %e, "an answer could not be saved to its thread");
                None
            }
        }
    }

    fn meta(&self, out: &ChatOutcome, ttft_ms: Option<u64>) -> Value {
        let policy = &self.state.hearth.config().policy;
        let locality = match policy.locality(&out.provider) {
            Some(Locality::OnDevice) => json!("on_device"),
            Some(Locality::Hosted) => json!("hosted"),
            None => Value::Null,
        };
        let mut meta = json!({
            "requested_model": self.requested_model, "task": self.task, "model": out.model,
            "provider": out.provider, "locality": locality, "cache_hit": out.cache_hit,
            "retry_count": out.retry_count, "fallback_used": out.fallback_used,
            "input_tokens": out.input_tokens, "output_tokens": out.output_tokens,
            "cost_usd": out.estimated_cost_usd, "latency_ms": out.latency_ms.round(),
            "trace_id": out.trace_id, "finish_reason": out.finish_reason.as_str(),
            "prompt_id": out.prompt_id, "prompt_version": out.prompt_version,
            "ttft_ms": ttft_ms,
        });
        if let Some(m) = meta.as_object_mut() {
            m.retain(|_, v| !v.is_null());
        }
        meta
    }
}
