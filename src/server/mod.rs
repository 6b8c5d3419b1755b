//! The HTTP gateway (axum): routes, auth, the one mapping from errors to HTTP, and the
//! ops, admin and debug endpoints. It builds no prompts and calls no providers itself.

use std::net::SocketAddr;
use std::sync::Arc;

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

/// Binds, prints `hearth listening on http://ADDR` once ready, and serves until Ctrl-C or SIGTERM.
pub async fn serve(hearth: Arc<Hearth>, opts: ServeOptions) -> Result<()> {
    let _ = (hearth, opts);
    Err(Error::Config("not yet".into()))
}
