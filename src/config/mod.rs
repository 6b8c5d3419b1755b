//! Configuration: the server, resilience and cache settings and the routing policy, read
//! from one TOML file, parsed with unknown keys refused, then validated with the line of
//! every problem.

mod added;
mod hosted_defaults;
mod policy;
mod providers;
mod raw;
mod use_model;

use std::path::Path;
use std::time::Duration;

pub use added::{AddedProvider, AddedProviderError, DEFAULT_MAX_OUTPUT_TOKENS};
pub use policy::{
    BudgetAction, Locality, ModelSpec, Policy, Prices, ProviderConfig, Route, RouteAction, Tier,
};
pub(crate) use providers::kv_cache_type;
pub use providers::{
    HostedConfig, HostedKind, LocalConfig, MockConfig, PoolSettings, ProviderDataPolicy,
    SettingsError,
};
pub use use_model::{use_model, UseModelError};

use crate::error::Error;

/// The seed's lab (mock providers), used by `--demo`.
pub const DEMO_POLICY_TOML: &str = include_str!("demo.toml");

/// The built-in default: the on-device model serves every task.
pub const DEFAULT_POLICY_TOML: &str = include_str!("default.toml");

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Largest request body accepted; larger ones get 413.
    pub body_limit_bytes: usize,
    /// Whether `/metrics` answers without an admin key.
    pub metrics_public: bool,
    /// Connections open at once; more are answered 503 `too_many_connections` and closed.
    pub max_connections: usize,
    /// Time a connection has to send a whole request head, the first or the next one on a
    /// kept-alive connection (so it also closes idle connections).
    pub header_timeout: Duration,
    /// Time a request has to send its whole body.
    pub body_timeout: Duration,
}

/// Deadlines, retries and breaker settings.
#[derive(Debug, Clone)]
pub struct ResilienceSettings {
    /// The whole request's deadline.
    pub request_deadline: Duration,
    /// One provider attempt's timeout (below the deadline so a fallback still fits).
    pub attempt_timeout: Duration,
    /// Retries per candidate on transient errors.
    pub max_retries: u32,
    /// First backoff; doubles per retry, jittered.
    pub backoff_base: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// Consecutive failures that open a provider's breaker.
    pub breaker_failure_threshold: u32,
    /// How long an open breaker waits before a half-open probe.
    pub breaker_cooldown: Duration,
}

/// Exact-cache settings.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// How long an entry may be served.
    pub ttl: Duration,
}

/// Everything Hearth needs to start, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP server settings.
    pub server: ServerSettings,
    /// Resilience settings.
    pub resilience: ResilienceSettings,
    /// Cache settings.
    pub cache: CacheSettings,
    /// The on-device models' memory budget and idle time (`[local]`).
    pub local: PoolSettings,
    /// Providers, models, routes and tiers.
    pub policy: Policy,
    /// The TOML it was read from, as written (what the policy editor starts from).
    pub source: String,
}

impl Config {
    /// Parses and validates a config document; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, Error> {
        raw::parse(text).map_err(|e| Error::Config(format!("{origin}: {e}")))
    }

    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// The built-in default: the local model for every task, with hosted fallbacks for
    /// `chat` and `extract` from the providers whose API keys are in the environment.
    pub fn builtin() -> Result<Config, Error> {
        let text =
            hosted_defaults::with_hosted_fallbacks(DEFAULT_POLICY_TOML, |v| std::env::var(v).ok());
        Config::parse(&text, "built-in policy")
    }

    /// The config an install runs: the file given, else the demo's policy for the demo,
    /// else the policy an admin last applied (`policy.toml` in the data dir), else the
    /// built-in one.
    pub fn for_install(given: Option<&Path>, demo: bool, data_dir: &Path) -> Result<Config, Error> {
        let saved = crate::orchestrator::saved_policy_path(data_dir);
        match given {
            Some(path) => Config::load(path),
            None if demo => Config::demo(),
            None if saved.is_file() => Config::load(&saved),
            None => Config::builtin(),
        }
    }

    /// The demo's policy (the seed's lab).
    pub fn demo() -> Result<Config, Error> {
        Config::parse(DEMO_POLICY_TOML, "demo policy")
    }
}
