//! What the web UI needs from the server: its files at `/`, `GET /session`, and the guard
//! that keeps other sites and rebound host names away from a loopback API.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::json;
use tower::ServiceExt;

use super::error::ApiError;
use super::trace::TraceId;
use super::{auth, AppState};
use crate::error::Error;
use crate::workspace::Role;

/// The page served at `/` when no UI has been built.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Hearth</title>\
<p>The Hearth UI is not built. Build it with <code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build</code>, \
or point <code>--ui-dir</code> / <code>HEARTH_UI_DIR</code> at a built <code>dist</code> folder. \
The API is up: see <code>docs/API.md</code>.</p>";

/// Hosts a loopback server answers to, and origins it trusts.
#[derive(Clone)]
pub struct Guard {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Guard {
    /// For a server bound to `addr`; None when it is not on loopback (then the operator
    /// chose to expose it and no host check applies).
    pub fn for_addr(addr: std::net::SocketAddr) -> Option<Guard> {
        if !addr.ip().is_loopback() {
            return None;
        }
        let port = addr.port();
        let hosts: Vec<String> = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ]
        .into();
        let mut origins: Vec<String> = hosts.iter().map(|h| format!("http://{h}")).collect();
        // The desktop app's webview.
        origins.extend(["tauri://localhost".into(), "http://tauri.localhost".into()]);
        Some(Guard { hosts, origins })
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let value = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let host_ok = value(header::HOST).is_none_or(|h| self.hosts.iter().any(|a| a == h));
        let origin_ok = value(header::ORIGIN).is_none_or(|o| self.origins.iter().any(|a| a == o));
        host_ok && origin_ok
    }
}

/// Middleware: refuses a request naming a foreign `Host` (DNS rebinding) or sent by a page
/// of another origin. No CORS headers are ever sent, so browsers keep other sites out too.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let allowed = state.guard.as_ref().is_none_or(|g| g.allows(req.headers()));
    if allowed {
        return next.run(req).await;
    }
    let trace = req
        .extensions()
        .get::<TraceId>()
        .cloned()
        .unwrap_or_else(|| TraceId(String::new()));
    ApiError::new(
        Error::forbidden(
            "forbidden_origin",
            "this server answers only its own loopback address and its own pages",
        ),
        &trace,
    )
    .into_response()
}

/// `GET /session`: who the caller is; keyless in the open demo, also the per-launch token.
pub(super) async fn session(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fail = |e| ApiError::new(e, &trace);
    let (principal, token) = match auth::key_principal(&state, &headers).map_err(fail)? {
        Some(p) => (p, None),
        None => match (&state.session, state.open_demo) {
            (Some(s), true) => {
                let p = auth::key_principal(&state, &bearer_headers(s.token(), &headers))
                    .map_err(fail)?
                    .ok_or_else(|| fail(Error::Unauthorized))?;
                (p, Some(s.token().to_owned()))
            }
            _ => return Err(fail(Error::Unauthorized)),
        },
    };
    let ws = state.hearth.workspace(&principal.workspace).map_err(fail)?;
    let mut body = json!({
        "workspace": principal.workspace.as_str(),
        "user": principal.user.as_str(),
        "role": principal.role.as_str(),
        "tier": ws.tier,
        "data_policy": ws.data_policy.as_str(),
        "demo": state.open_demo,
    });
    if principal.role == Role::Admin {
        let all = state
            .hearth
            .store()
            .with(|c| crate::store::workspaces::list(c))
            .map_err(fail)?;
        body["workspaces"] = all.iter().map(|w| w.id.as_str()).collect();
    }
    if let Some(t) = token {
        body["token"] = json!(t);
    }
    Ok(Json(body))
}

/// The request's headers with `token` as its bearer (the demo's keyless session).
fn bearer_headers(token: &str, headers: &HeaderMap) -> HeaderMap {
    let mut h = headers.clone();
    if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
        h.insert(header::AUTHORIZATION, v);
    }
    h
}

/// Serves the UI's files, and `index.html` for any page path the UI routes itself.
pub(super) async fn files(State(state): State<AppState>, req: Request) -> Response {
    let Some(dir) = state.ui_dir.as_deref() else {
        return Html(NOT_BUILT).into_response();
    };
    if req.uri().path().starts_with("/assets/") {
        return serve_from(dir, req).await;
    }
    index(dir).await
}

async fn serve_from(dir: &Path, req: Request) -> Response {
    match tower_http::services::ServeDir::new(dir).oneshot(req).await {
        Ok(resp) => resp.into_response(),
        Err(never) => match never {},
    }
}

async fn index(dir: &Path) -> Response {
    match tokio::fs::read_to_string(dir.join("index.html")).await {
        Ok(html) => ([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response(),
        Err(_) => Html(NOT_BUILT).into_response(),
    }
}

/// Whether a request is a browser asking for a page (so the UI, not a JSON 404, answers).
pub(super) fn wants_page(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// The UI folder to serve: the one given, else `ui/dist` beside the sources when built.
pub fn default_ui_dir(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        let built = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ui")
            .join("dist");
        built.join("index.html").is_file().then_some(built)
    })
}
