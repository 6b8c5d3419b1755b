//! `hearth serve`: opens the install and hands it to the HTTP gateway.

use std::net::{SocketAddr, ToSocketAddrs};

use clap::Args;
use hearth::server::{self, ServeOptions};
use hearth::telemetry;

use super::{CliError, InstallArgs};

/// Flags of `hearth serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Adds the seed's lab (three tenants, two prompts), keyless loopback requests,
    /// public metrics and the debug endpoints.
    #[arg(long)]
    demo: bool,
    /// Address to listen on (port 0 picks a free one).
    #[arg(
        long,
        env = "HEARTH_ADDR",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8000",
        value_parser = parse_addr
    )]
    addr: SocketAddr,
    /// Serves `/debug/*` without the demo.
    #[arg(long)]
    debug_endpoints: bool,
    /// The built web UI to serve at `/` [default: `ui/dist` of the source tree, when built].
    #[arg(long, env = "HEARTH_UI_DIR", value_name = "DIR")]
    ui_dir: Option<std::path::PathBuf>,
}

/// Accepts `IP:PORT` or `HOSTNAME:PORT` (the first address the name resolves to).
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    s.to_socket_addrs()
        .map_err(|e| format!("`{s}` is not a HOST:PORT address: {e}"))?
        .next()
        .ok_or_else(|| format!("`{s}` resolves to no address"))
}

/// Runs the gateway until Ctrl-C or SIGTERM.
pub async fn run(install: &InstallArgs, args: ServeArgs) -> Result<(), CliError> {
    telemetry::init_logging();
    let hearth = install.open_with(args.demo)?;
    if args.demo {
        hearth.seed_demo()?;
    }
    let progress: hearth::models::ProgressSink =
        std::sync::Arc::new(|line: &str| eprintln!("models: {line}"));
    hearth::models::install_configured(&hearth.config(), progress).await?;
    hearth.warm_providers().await;
    let opts = ServeOptions {
        addr: args.addr,
        demo: args.demo,
        debug_endpoints: args.debug_endpoints,
        ui_dir: server::ui::default_ui_dir(args.ui_dir),
        session_token: None,
    };
    server::serve(hearth, opts).await?;
    Ok(())
}
