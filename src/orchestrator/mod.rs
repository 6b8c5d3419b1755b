//! The orchestrator: every LLM call goes through `Hearth::chat` or `Hearth::chat_stream`,
//! which run the pipeline (principal -> validate -> admit -> prompt -> route -> per
//! candidate: cache, budget, provider with retries and breaker -> settle -> audit). It owns
//! the order of stages, not their details.

mod candidates;
mod pipeline;
mod privacy;
mod request;
mod seed;
mod stream;
mod trace;

use std::path::Path;
use std::sync::Arc;

pub use request::{CachePreference, ChatOutcome, ChatRequest, PromptRef};
pub use stream::{ChatStream, StreamEvent, StreamStart};

use crate::audit::UserHasher;
use crate::cache::ExactCache;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::prompts::Registry;
use crate::providers::Providers;
use crate::quota::{BudgetLedger, Bulkhead, RateLimiter};
use crate::resilience::Breakers;
use crate::store::writer::Writer;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::workspace::{Workspace, WorkspaceId};

/// The orchestrator and everything it owns. Build one per install with `Hearth::open`.
pub struct Hearth {
    config: Config,
    store: Arc<Store>,
    writer: Writer,
    prompts: Registry,
    providers: Providers,
    breakers: Breakers,
    cache: ExactCache,
    rates: RateLimiter,
    bulkhead: Bulkhead,
    budgets: BudgetLedger,
    metrics: Metrics,
    users: UserHasher,
    detectors: privacy::Detectors,
}

impl Hearth {
    /// Opens the install in `data_dir` with `config`, creating the database and the
    /// `default` workspace on first use.
    pub fn open(config: Config, data_dir: &Path) -> Result<Arc<Hearth>> {
        let store = Arc::new(Store::open(data_dir)?);
        let mut config = config;
        for p in store.with(|c| crate::store::providers::list(c))? {
            if !config.policy.add_provider(&p) {
                tracing::warn!(provider = %p.name, "an added provider has the name of one in the config file; the config file's is used");
            }
        }
        let writer = Writer::start(store.path())?;
        let secret = store.meta_or_init("user_hash_secret", || {
            hex::encode(rand::random::<[u8; 32]>())
        })?;
        let metrics = Metrics::new().map_err(|e| Error::Config(format!("metrics: {e}")))?;
        let r = &config.resilience;
        let hearth = Hearth {
            breakers: Breakers::new(r.breaker_failure_threshold, r.breaker_cooldown),
            providers: Providers::from_policy(&config.policy, &crate::secrets::Keychain::new())
                .map_err(Error::Config)?,
            cache: ExactCache::new(store.clone(), writer.clone(), config.cache.ttl),
            prompts: Registry::new(store.clone()),
            rates: RateLimiter::default(),
            bulkhead: Bulkhead::default(),
            budgets: BudgetLedger::default(),
            users: UserHasher::new(secret.as_bytes()),
            detectors: privacy::Detectors::default(),
            metrics,
            writer,
            store,
            config,
        };
        hearth.ensure_default_workspace()?;
        let expired = hearth
            .store
            .with(|c| crate::store::cache::purge_expired(c, crate::store::now_ms()))?;
        tracing::debug!(expired, "expired cache entries purged at open");
        Ok(Arc::new(hearth))
    }

    /// The validated config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The prompt registry.
    pub fn prompts(&self) -> &Registry {
        &self.prompts
    }

    /// The providers (and their fault switches).
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// The circuit breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// The exact cache.
    pub fn cache(&self) -> &ExactCache {
        &self.cache
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The daily budget ledger.
    pub fn budgets(&self) -> &BudgetLedger {
        &self.budgets
    }

    /// A workspace's settings.
    pub fn workspace(&self, id: &WorkspaceId) -> Result<Workspace> {
        self.store
            .with(|c| crate::store::workspaces::get(c, id))?
            .ok_or_else(|| Error::NotFound(format!("no workspace `{id}`")))
    }

    /// Gets every provider ready (a local model loads here, not on the first request).
    /// A provider that cannot get ready is logged and left for the router to skip.
    pub async fn warm_providers(&self) {
        for name in self.providers.names() {
            if let Some(p) = self.providers.get(name) {
                if let Err(e) = p.warm().await {
                    tracing::error!(provider = name, error = %e, "provider not ready");
                }
            }
        }
    }

    /// Refreshes the gauges computed at scrape time (breakers, budgets), then renders.
    pub fn render_metrics(&self) -> String {
        for name in self.providers.names() {
            let state = match self.breakers.view(name).state {
                crate::resilience::BreakerState::Closed => 0.0,
                crate::resilience::BreakerState::HalfOpen => 1.0,
                crate::resilience::BreakerState::Open => 2.0,
            };
            self.metrics
                .breaker_state
                .with_label_values(&[name])
                .set(state);
        }
        self.metrics.render()
    }
}
