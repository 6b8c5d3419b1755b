//! Hearth's desktop shell: the orchestrator in process on the user's install, its HTTP
//! gateway on a random loopback port behind a per-launch token, and one window showing the
//! web UI from that gateway. The UI speaks the same HTTP API as in a browser against
//! `hearth serve`; the shell adds no IPC commands of its own.

mod gateway;
mod window;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hearth::{Config, Hearth};

/// Hearth's desktop app.
#[derive(Debug, Parser)]
#[command(name = "hearth-desktop", version, about)]
struct Args {
    /// The install's data directory [default: the platform data dir + `hearth`].
    #[arg(long, env = "HEARTH_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// A policy file (TOML) [default: the built-in policy; with `--demo`, the seed's lab].
    #[arg(long, env = "HEARTH_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Seeds the demo's lab (tenants, prompts, mock providers) into the install, as
    /// `hearth serve --demo` does; the API still requires the session token.
    #[arg(long)]
    demo: bool,
    /// The built web UI [default: `ui/dist` of the source tree, when built].
    #[arg(long, env = "HEARTH_UI_DIR", value_name = "DIR")]
    ui_dir: Option<PathBuf>,
}

/// Why the shell could not start.
#[derive(Debug, thiserror::Error)]
enum ShellError {
    #[error("no platform data directory here; pass --data-dir or set HEARTH_DATA_DIR")]
    NoDataDir,
    #[error(transparent)]
    Hearth(#[from] hearth::Error),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("the window: {0}")]
    Tauri(#[from] tauri::Error),
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hearth-desktop: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), ShellError> {
    hearth::telemetry::init_logging();
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => dirs_data_dir().ok_or(ShellError::NoDataDir)?,
    };
    let config = Config::for_install(args.config.as_deref(), args.demo, &data_dir)?;
    let hearth = Hearth::open(config, &data_dir)?;
    if args.demo {
        hearth.seed_demo()?;
    }
    let ui_dir = hearth::server::ui::default_ui_dir(args.ui_dir);
    if ui_dir.is_none() {
        tracing::warn!("no built UI: run `npm --prefix ui ci && npm --prefix ui run build` or set HEARTH_UI_DIR");
    }
    let gateway = gateway::start(hearth, ui_dir)?;
    tracing::info!(addr = %gateway.addr, data_dir = %data_dir.display(), "hearth desktop gateway listening");
    tauri::Builder::default()
        .setup(move |app| {
            window::open(app, &gateway)?;
            Ok(())
        })
        .run(tauri::generate_context!())?;
    Ok(())
}

/// The platform data dir + `hearth`, as the CLI uses.
fn dirs_data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("hearth"))
}
