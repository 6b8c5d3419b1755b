//! Metrics under the seed's names (Prometheus text format) and the tracing setup. Labels
//! carry ids and names, never message text or keys.

mod metrics;

pub use metrics::{closed_label, Metrics, OTHER};

/// Logs as JSON lines on stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .try_init();
}
