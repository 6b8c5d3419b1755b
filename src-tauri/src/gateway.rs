//! The embedded gateway: `hearth::server`'s router on a random loopback port, with a
//! per-launch session token, and the providers warmed in the background.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use hearth::server::{self, ServeOptions};
use hearth::Hearth;

use crate::ShellError;

/// A running gateway: where it listens and the token its UI must present.
pub struct Gateway {
    /// The bound loopback address.
    pub addr: SocketAddr,
    /// The per-launch session token (an admin of the `default` workspace).
    pub token: String,
}

impl Gateway {
    /// `http://127.0.0.1:PORT`, the UI's origin and the API's base URL.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds 127.0.0.1:0, serves the gateway there on Tauri's runtime, and starts getting the
/// providers ready (pulling a missing local model, then loading it) without waiting for it,
/// so the window opens at once.
pub fn start(hearth: Arc<Hearth>, ui_dir: Option<PathBuf>) -> Result<Gateway, ShellError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| ShellError::Io("cannot listen on 127.0.0.1", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ShellError::Io("cannot configure the listener", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ShellError::Io("cannot read the bound address", e))?;
    let token = format!("hs_{}", hex::encode(rand::random::<[u8; 24]>()));
    let opts = ServeOptions {
        addr,
        // Never the open demo: every call needs the token, even with `--demo` seeded.
        demo: false,
        debug_endpoints: false,
        ui_dir,
        session_token: Some(token.clone()),
    };
    let app = server::router(hearth.clone(), &opts)?;
    let limits = server::ConnectionLimits::from(&hearth.config().server);
    tauri::async_runtime::spawn(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "the gateway cannot use its listener");
                return;
            }
        };
        server::serve_on(listener, app, limits, std::future::pending()).await;
    });
    tauri::async_runtime::spawn(async move { get_ready(&hearth).await });
    Ok(Gateway { addr, token })
}

/// Pulls the catalog models the policy's local providers name and lack (as `hearth serve`
/// does), then warms every provider. Failures are logged; `/ready` reports them.
async fn get_ready(hearth: &Hearth) {
    let progress: hearth::models::ProgressSink =
        Arc::new(|line: &str| tracing::info!(target: "hearth::models", "{line}"));
    if let Err(e) = hearth::models::install_configured(&hearth.config(), progress).await {
        tracing::error!(error = %e, "a configured model could not be installed");
    }
    hearth.warm_providers().await;
    tracing::info!("providers warmed");
}
