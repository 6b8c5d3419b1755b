//! The UI's saved work: chat threads with their messages, and side-by-side comparisons.
//! Each is kept for the caller's workspace and user; a key (or the UI's session token) is
//! always needed.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::trace::TraceId;
use super::{auth, body, AppState};
use crate::error::{Error, Result};
use crate::store::threads::{self, Owner};
use crate::store::{comparisons, Store};
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
    trace: TraceId,
    headers: HeaderMap,
    principal: Principal,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let trace = TraceId::of(parts);
        let principal = auth::key_principal(state, &parts.headers)
            .and_then(|p| p.ok_or(Error::Unauthorized))
            .map_err(|e| ApiError::new(e, &trace))?;
        Ok(Caller {
            state: state.clone(),
            trace,
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
    ) -> Result<T, ApiError> {
        let store: &Store = self.state.hearth.store();
        store
            .with(|c| f(c, self.owner()))
            .map_err(|e| ApiError::new(e, &self.trace))
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        raw: Result<Bytes, BytesRejection>,
    ) -> Result<T, ApiError> {
        let limit = self.state.hearth.config().server.body_limit_bytes;
        body::json(&self.headers, raw, limit).map_err(|e| ApiError::new(e, &self.trace))
    }

    fn fail(&self, e: Error) -> ApiError {
        ApiError::new(e, &self.trace)
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TitleBody {
    title: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: Option<String>,
}

async fn list_threads(
    c: Caller,
    params: Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) =
        params.map_err(|e| c.fail(Error::bad_request("invalid_request", e.body_text())))?;
    let q = p.q.filter(|q| !q.trim().is_empty());
    let list = c.with(|conn, o| threads::list(conn, o, q.as_deref(), LIST_LIMIT))?;
    Ok(Json(json!({ "threads": list })))
}

async fn create_thread(
    c: Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: TitleBody = c.parse(raw)?;
    let t = title(b.title, "New chat").map_err(|e| c.fail(e))?;
    let thread = c.with(|conn, o| threads::create(conn, o, &t))?;
    Ok((StatusCode::CREATED, Json(thread)).into_response())
}

async fn show_thread(c: Caller, Path(id): Path<String>) -> Result<Json<threads::Thread>, ApiError> {
    c.with(|conn, o| threads::get(conn, o, &id)).map(Json)
}

async fn rename_thread(
    c: Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<threads::Thread>, ApiError> {
    let b: TitleBody = c.parse(raw)?;
    let t = title(b.title, "").map_err(|e| c.fail(e))?;
    c.with(|conn, o| threads::rename(conn, o, &id, &t))
        .map(Json)
}

async fn delete_thread(c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    c.with(|conn, o| threads::delete(conn, o, &id))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_messages(c: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let messages = c.with(|conn, o| threads::messages(conn, o, &id))?;
    Ok(Json(json!({ "messages": messages })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMessage {
    role: String,
    content: String,
    #[serde(default)]
    meta: Value,
}

async fn add_message(
    c: Caller,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m: NewMessage = c.parse(raw)?;
    if !matches!(m.role.as_str(), "user" | "assistant") {
        return Err(c.fail(Error::bad_request(
            "invalid_request",
            "role must be user or assistant",
        )));
    }
    let meta = if m.meta.is_null() { json!({}) } else { m.meta };
    let saved = c.with(|conn, o| threads::add_message(conn, o, &id, &m.role, &m.content, &meta))?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

#[derive(Deserialize)]
struct NewComparison {
    title: Option<String>,
    prompt: String,
    models: Vec<String>,
    #[serde(default)]
    results: Vec<Value>,
}

async fn list_comparisons(c: Caller) -> Result<Json<Value>, ApiError> {
    let list = c.with(|conn, o| comparisons::list(conn, o, LIST_LIMIT))?;
    Ok(Json(json!({ "comparisons": list })))
}

async fn save_comparison(
    c: Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let n: NewComparison = c.parse(raw)?;
    if n.models.is_empty() || n.models.len() > 4 {
        return Err(c.fail(Error::bad_request(
            "invalid_request",
            "a comparison has 1 to 4 models",
        )));
    }
    let default_title: String = n.prompt.chars().take(60).collect();
    let t = title(n.title, &default_title).map_err(|e| c.fail(e))?;
    let body = comparisons::ComparisonBody {
        prompt: n.prompt,
        models: n.models,
        results: n.results,
    };
    let saved = c.with(|conn, o| comparisons::save(conn, o, &t, &body))?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

async fn show_comparison(
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<comparisons::Comparison>, ApiError> {
    c.with(|conn, o| comparisons::get(conn, o, &id)).map(Json)
}

async fn delete_comparison(c: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    c.with(|conn, o| comparisons::delete(conn, o, &id))?;
    Ok(StatusCode::NO_CONTENT)
}
