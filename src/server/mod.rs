//! The HTTP gateway (axum): routes, auth, the one mapping from errors to HTTP, and the
//! ops, admin and debug endpoints. It builds no prompts and calls no providers itself.

mod admin;
mod auth;
mod body;
mod chat;
mod console;
mod debug;
mod embeddings;
pub mod error;
mod extract;
#[cfg(test)]
mod fuzz;
mod idempotency;
mod intake;
mod listen;
mod openai;
pub mod openapi;
mod ops;
mod text_completions;
mod threads;
mod wire;

pub mod trace;
pub mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use listen::{serve_on, ConnectionLimits};

use crate::error::{Error, Result};
use crate::orchestrator::Hearth;

/// How `hearth serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind (127.0.0.1 by default; port 0 picks a free one).
    pub addr: SocketAddr,
    /// The seed's lab: keyless requests naming `tenant_id` on loopback, public metrics
    /// and audit, debug endpoints.
    pub demo: bool,
    /// `/debug/*` without the demo.
    pub debug_endpoints: bool,
    /// The built web UI served at `/`; None serves a page saying how to build it.
    pub ui_dir: Option<std::path::PathBuf>,
    /// The UI's per-launch token (the desktop app makes one); the open demo makes its own.
    pub session_token: Option<String>,
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    hearth: Arc<Hearth>,
    /// Demo mode on a loopback address: keyless requests may name their workspace.
    open_demo: bool,
    /// Metrics answer without an admin key.
    metrics_public: bool,
    /// The UI's per-launch token, if any.
    session: Option<auth::SessionToken>,
    /// The UI's files.
    ui_dir: Option<std::path::PathBuf>,
    /// Host and origin checks of a loopback server.
    guard: Option<ui::Guard>,
    /// The requests leading for an `Idempotency-Key` now.
    flights: Arc<idempotency::Flights>,
}

/// The gateway's routes over an orchestrator.
pub fn router(hearth: Arc<Hearth>, opts: &ServeOptions) -> Result<Router> {
    let limit = hearth.config().server.body_limit_bytes;
    let open_demo = opts.demo && opts.addr.ip().is_loopback();
    let session = match (&opts.session_token, open_demo) {
        (Some(t), _) => Some(auth::SessionToken::new(t.clone())?),
        (None, true) => Some(auth::SessionToken::random()?),
        (None, false) => None,
    };
    let state = AppState {
        open_demo,
        metrics_public: opts.demo || hearth.config().server.metrics_public,
        session,
        ui_dir: opts.ui_dir.clone(),
        guard: ui::Guard::for_addr(opts.addr),
        flights: Arc::default(),
        hearth,
    };
    let mut app = Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/audit", get(ops::audit))
        .route("/chat", post(chat::chat))
        .route("/v1/chat/completions", post(openai::completions))
        .route("/v1/completions", post(text_completions::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/openapi.json", get(openapi::serve))
        .route("/session", get(ui::session))
        .route("/assets/{*path}", get(ui::files))
        .merge(threads::routes())
        .merge(admin::routes());
    if opts.demo || opts.debug_endpoints {
        app = app.route("/debug/provider/{name}/fail", post(debug::provider_fault));
    }
    Ok(app
        .fallback(page_or_not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ui::guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            intake::intake,
        ))
        .layer(axum::middleware::from_fn(trace::assign))
        .with_state(state))
}

/// A browser asking for a page gets the UI (which routes itself); anything else a JSON 404.
async fn page_or_not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if ui::wants_page(&req) {
        return ui::files(axum::extract::State(state), req).await;
    }
    ops::not_found().await.into_response()
}

/// Binds, prints `hearth listening on http://ADDR` once ready, and serves until Ctrl-C or SIGTERM.
pub async fn serve(hearth: Arc<Hearth>, opts: ServeOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| Error::Bind(format!("cannot listen on {}: {e}", opts.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Bind(format!("cannot read the bound address: {e}")))?;
    let limits = ConnectionLimits::from(&hearth.config().server);
    let writes = hearth.clone();
    let app = router(
        hearth,
        &ServeOptions {
            addr: local,
            ..opts
        },
    )?;
    crate::pii::PiiDetector::warm();
    println!("hearth listening on http://{local}");
    tracing::info!(addr = %local, "hearth listening");
    serve_on(listener, app, limits, shutdown_signal()).await;
    // Left in the journal they would be safe, but committed now they are readable at once.
    writes.settle_writes().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
