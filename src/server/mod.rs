//! The HTTP gateway (axum): routes, auth, the one mapping from errors to HTTP, and the
//! ops, admin and debug endpoints. It builds no prompts and calls no providers itself.

mod admin;
mod auth;
mod body;
mod chat;
mod debug;
pub mod error;
mod openai;
mod ops;
pub mod trace;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

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
}

/// What every handler sees.
#[derive(Clone)]
pub struct AppState {
    hearth: Arc<Hearth>,
    /// Demo mode on a loopback address: keyless requests may name their workspace.
    open_demo: bool,
    /// Metrics answer without an admin key.
    metrics_public: bool,
}

/// The gateway's routes over an orchestrator.
pub fn router(hearth: Arc<Hearth>, opts: &ServeOptions) -> Router {
    let limit = hearth.config().server.body_limit_bytes;
    let state = AppState {
        open_demo: opts.demo && opts.addr.ip().is_loopback(),
        metrics_public: opts.demo || hearth.config().server.metrics_public,
        hearth,
    };
    let mut app = Router::new()
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/audit", get(ops::audit))
        .route("/chat", post(chat::chat))
        .route("/v1/chat/completions", post(openai::completions))
        .route("/v1/models", get(openai::models))
        .merge(admin::routes());
    if opts.demo || opts.debug_endpoints {
        app = app.route("/debug/provider/{name}/fail", post(debug::provider_fault));
    }
    app.fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(trace::assign))
        .with_state(state)
}

/// Binds, prints `hearth listening on http://ADDR` once ready, and serves until Ctrl-C or SIGTERM.
pub async fn serve(hearth: Arc<Hearth>, opts: ServeOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", opts.addr)))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the bound address: {e}")))?;
    let app = router(
        hearth,
        &ServeOptions {
            addr: local,
            ..opts
        },
    );
    println!("hearth listening on http://{local}");
    tracing::info!(addr = %local, "hearth listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::Config(format!("server error: {e}")))
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
