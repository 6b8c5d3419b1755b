//! What the web UI needs from the server: its files at `/`, `GET /session`, and the guard
//! that keeps other sites and rebound host names away from a loopback API.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use tower::ServiceExt;

use super::wire::error::ErrorBody;
use super::wire::session::Session;
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

    /// Whether a request names this server and comes from its own pages (or no page).
    /// What cannot be read is refused: a missing host, a header that is not plain ASCII,
    /// a `Host` that disagrees with the request line's or HTTP/2's `:authority`.
    fn allows(&self, req: &Request) -> bool {
        let headers = req.headers();
        let authority = req.uri().authority().map(|a| a.as_str());
        let host = match headers.get(header::HOST) {
            None => authority,
            Some(h) => match (h.to_str(), authority) {
                (Ok(h), None) => Some(h),
                (Ok(h), Some(a)) if h == a => Some(h),
                _ => None,
            },
        };
        let one_host = headers.get_all(header::HOST).iter().count() <= 1;
        let host_ok = one_host && host.is_some_and(|h| self.hosts.iter().any(|a| a == h));
        let origin_ok = headers.get_all(header::ORIGIN).iter().count() <= 1
            && headers.get(header::ORIGIN).is_none_or(|o| {
                o.to_str()
                    .is_ok_and(|o| self.origins.iter().any(|a| a == o))
            });
        host_ok && origin_ok
    }
}

/// Middleware: refuses a request naming a foreign `Host` (DNS rebinding) or sent by a page
/// of another origin. No CORS headers are ever sent, so browsers keep other sites out too.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let allowed = state.guard.as_ref().is_none_or(|g| g.allows(&req));
    if allowed {
        return next.run(req).await;
    }
    Error::forbidden(
        "forbidden_origin",
        "this server answers only its own loopback address and its own pages",
    )
    .into_response()
}

/// `GET /session`: who the caller is; keyless in the open demo, also the per-launch token.
#[utoipa::path(
    get,
    operation_id = "session",
    path = "/session",
    tag = "ui",
    responses(
        (status = 200, description = "The caller", body = Session),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
pub(super) async fn session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Session>, Error> {
    let (principal, token) = match auth::key_principal(&state, &headers)? {
        Some(p) => (p, None),
        None => match (&state.session, state.open_demo) {
            (Some(s), true) => {
                let p = auth::key_principal(&state, &bearer_headers(s.token(), &headers))?
                    .ok_or(Error::Unauthorized)?;
                (p, Some(s.token().to_owned()))
            }
            _ => return Err(Error::Unauthorized),
        },
    };
    let ws = state.hearth.workspace(&principal.workspace)?;
    let workspaces = if principal.role == Role::Admin {
        let all = state
            .hearth
            .store()
            .with(|c| crate::store::workspaces::list(c))?;
        Some(all.iter().map(|w| w.id.as_str().to_owned()).collect())
    } else {
        None
    };
    Ok(Json(Session {
        workspace: principal.workspace.as_str().to_owned(),
        user: principal.user.as_str().to_owned(),
        role: principal.role,
        tier: ws.tier,
        data_policy: ws.data_policy,
        demo: state.open_demo,
        workspaces,
        token,
    }))
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
    let asset = req.uri().path().starts_with("/assets/");
    match state.ui_dir.as_deref() {
        Some(dir) if asset => serve_from(dir, req).await,
        Some(dir) => index(dir).await,
        None if asset => not_found(),
        None => Html(NOT_BUILT).into_response(),
    }
}

fn not_found() -> Response {
    Error::NotFound("no such file".into()).into_response()
}

/// An asset, or the JSON 404 every other missing thing gets.
async fn serve_from(dir: &Path, req: Request) -> Response {
    match tower_http::services::ServeDir::new(dir).oneshot(req).await {
        Ok(resp) if resp.status() == axum::http::StatusCode::NOT_FOUND => not_found(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn guard() -> Guard {
        Guard::for_addr("127.0.0.1:8000".parse().unwrap()).unwrap()
    }

    type Headers<'a> = &'a [(&'a str, &'a [u8])];

    fn request(uri: &str, headers: Headers<'_>) -> Request {
        let mut b = Request::builder().uri(uri);
        for (name, value) in headers {
            b = b.header(*name, HeaderValue::from_bytes(value).unwrap());
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn the_servers_own_host_and_pages_pass() {
        let g = guard();
        assert!(g.allows(&request("/v1/models", &[("host", b"127.0.0.1:8000")])));
        assert!(g.allows(&request(
            "/v1/models",
            &[
                ("host", b"localhost:8000"),
                ("origin", b"http://localhost:8000")
            ]
        )));
        // HTTP/2 names the host in `:authority`, which becomes the URI's authority.
        assert!(g.allows(&request("http://127.0.0.1:8000/v1/models", &[])));
    }

    #[test]
    fn what_cannot_be_read_or_names_another_host_is_refused() {
        let g = guard();
        let refused: [(&str, Headers<'_>); 7] = [
            ("/v1/models", &[]),
            ("/v1/models", &[("host", b"127.0.0.1:8000\xff")]),
            ("/v1/models", &[("host", b"evil.example:8000")]),
            ("http://evil.example/v1/models", &[]),
            (
                "http://evil.example/v1/models",
                &[("host", b"127.0.0.1:8000")],
            ),
            (
                "/v1/models",
                &[
                    ("host", b"127.0.0.1:8000"),
                    ("origin", b"http://127.0.0.1:8000\xc3\xa9"),
                ],
            ),
            (
                "/v1/models",
                &[
                    ("host", b"127.0.0.1:8000"),
                    ("origin", b"http://evil.example"),
                ],
            ),
        ];
        for (uri, headers) in refused {
            assert!(!g.allows(&request(uri, headers)), "{uri} {headers:?}");
        }
        let mut twice = request("/v1/models", &[("host", b"127.0.0.1:8000")]);
        twice
            .headers_mut()
            .append("host", HeaderValue::from_static("evil.example"));
        assert!(!g.allows(&twice), "two Host headers");
    }
}
