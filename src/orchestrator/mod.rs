//! The orchestrator: every LLM call goes through `Hearth::chat` or `Hearth::chat_stream`,
//! which run the stages in order on one `Snapshot` of the policy and its providers:
//! `prepare` (trace, validate, admit, prompt, route), then `attempt` (per candidate: the
//! `gate` of breaker, data policy, cache and budget, then the provider with retries, then
//! the next candidate), then `settle` (charge, cache, audit, count). `whole` and `stream`
//! are the two entry points on top. It owns the order of stages, not their details.

mod attempt;
mod embed;
mod gate;
mod prepare;
mod privacy;
mod request;
mod run;
mod seed;
mod settle;
mod stream;
mod trace;
mod whole;

use std::path::Path;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use embed::{EmbeddingsOutcome, EmbeddingsRequest};
pub use request::{CachePreference, ChatOutcome, ChatRequest, PromptRef};
pub use stream::{ChatStream, StreamEvent, StreamStart};

use crate::audit::{AuditEvent, UserHasher};
use crate::cache::ExactCache;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::prompts::Registry;
use crate::providers::local::PoolEvent;
use crate::providers::{BuildError, Providers};
use crate::quota::{BudgetLedger, Bulkhead, OutputEstimates, RateLimiter};
use crate::resilience::Breakers;
use crate::store::writer::Writer;
use crate::store::Store;
use crate::telemetry::Metrics;
use crate::workspace::{Workspace, WorkspaceId};

/// The orchestrator and everything it owns. Build one per install with `Hearth::open`.
pub struct Hearth {
    // Swapped whole when an admin applies a new policy or a model is installed; each request
    // reads it once.
    in_force: RwLock<Arc<Snapshot>>,
    // Held by each change of what is in force from reading the old to putting the new, so
    // two changes at once cannot lose one.
    changing: Mutex<()>,
    store: Arc<Store>,
    writer: Writer,
    prompts: Registry,
    breakers: Breakers,
    cache: ExactCache,
    rates: RateLimiter,
    bulkhead: Bulkhead,
    budgets: BudgetLedger,
    outputs: OutputEstimates,
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
        merge_added_providers(&store, &mut config)?;
        add_installed_models(&mut config);
        let metrics = Metrics::new().map_err(|e| Error::Internal(format!("metrics: {e}")))?;
        let writer = Writer::start(store.path(), metrics.audit_pending.clone())?;
        let secret = store.meta_or_init("user_hash_secret", || {
            hex::encode(rand::random::<[u8; 32]>())
        })?;
        let r = &config.resilience;
        let providers = Providers::from_policy(
            &config.policy,
            config.local,
            &crate::secrets::Keychain::new(),
        )?;
        let hearth = Hearth {
            breakers: Breakers::new(r.breaker_failure_threshold, r.breaker_cooldown),
            cache: ExactCache::new(store.clone(), writer.clone(), config.cache.ttl),
            prompts: Registry::new(store.clone()),
            rates: RateLimiter::default(),
            bulkhead: Bulkhead::default(),
            budgets: BudgetLedger::default(),
            outputs: OutputEstimates::default(),
            users: UserHasher::new(secret.as_bytes()),
            detectors: privacy::Detectors::default(),
            metrics,
            writer,
            store,
            in_force: RwLock::new(Arc::new(Snapshot {
                config: Arc::new(config),
                providers: Arc::new(providers),
            })),
            changing: Mutex::new(()),
        };
        hearth.report_local_model_events();
        hearth.ensure_default_workspace()?;
        let expired = hearth
            .store
            .with(|c| crate::store::cache::purge_expired(c, crate::store::now_ms()))?;
        tracing::debug!(expired, "expired cache entries purged at open");
        Ok(Arc::new(hearth))
    }

    /// Validates a policy document and, when it is sound, puts it in force for every new
    /// request and saves it (`policy.toml` in the data dir, read at the next start when no
    /// `--config` is given). Providers whose settings did not change keep running (a loaded
    /// model stays loaded); the others are built afresh and named in the answer, to be warmed.
    pub fn apply_policy(&self, text: &str) -> Result<Applied> {
        let invalid = |m: String| Error::unprocessable("invalid_policy", m);
        let _one_at_a_time = self.changing.lock();
        let old = self.snapshot();
        let config = self.assemble(text, &old.config).map_err(|e| match e {
            Error::Config(m) => invalid(m),
            other => other,
        })?;
        let workspaces = self.store.with(|c| crate::store::workspaces::list(c))?;
        if let Some(ws) = workspaces
            .iter()
            .find(|w| !config.policy.tiers.contains_key(&w.tier))
        {
            return Err(invalid(format!(
                "workspace `{}` is on tier `{}`, which this policy lacks",
                ws.id, ws.tier
            )));
        }
        let (providers, rebuilt) = providers_for(&old, &config).map_err(|e| match e {
            BuildError::Settings { .. } => invalid(e.to_string()),
            other => other.into(),
        })?;
        let path = self.saved_policy_path();
        let partial = path.with_extension("toml.partial");
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| Error::Io(format!("cannot save {}: {e}", path.display())))?;
        let applied = self.put_in_force(providers, config);
        tracing::warn!(rebuilt = ?rebuilt, "a new policy was applied");
        Ok(Applied {
            config: applied.config.clone(),
            rebuilt,
            saved_to: path,
        })
    }

    /// The running config for a policy text: its sections left out kept from `old`, the
    /// providers added from the CLI and the installed on-device models added.
    fn assemble(&self, text: &str, old: &Config) -> Result<Config> {
        let mut config = Config::parse(text, "policy")?;
        keep_sections_left_out(text, old, &mut config);
        merge_added_providers(&self.store, &mut config)?;
        add_installed_models(&mut config);
        Ok(config)
    }

    /// Puts the installed models in force after a pull, import or removal: each is
    /// addressable as `local/<id>` from the next request, with the policy unchanged.
    pub fn refresh_installed_models(&self) -> Result<()> {
        let _one_at_a_time = self.changing.lock();
        let old = self.snapshot();
        let config = self.assemble(&old.config.source, &old.config)?;
        let (providers, _) = providers_for(&old, &config)?;
        self.put_in_force(providers, config);
        Ok(())
    }

    /// Puts `config` and its `providers` in force in one step (a request takes either the
    /// old pair or the new one, never one of each), and returns them as put.
    fn put_in_force(&self, providers: Providers, config: Config) -> Arc<Snapshot> {
        let snap = Arc::new(Snapshot {
            config: Arc::new(config),
            providers: Arc::new(providers),
        });
        *self.in_force.write() = snap.clone();
        snap
    }

    /// On-device model loads and unloads go to the audit log and the load-time histogram.
    fn report_local_model_events(&self) {
        let writer = self.writer.clone();
        let load_seconds = self.metrics.local_model_load_seconds.clone();
        let report = move |e: &PoolEvent| {
            let now = crate::store::now_ms();
            let timestamp = crate::store::audit::rfc3339(now);
            let event = match e {
                PoolEvent::Loaded { model, seconds } => {
                    load_seconds.observe(*seconds);
                    AuditEvent::install_event(
                        "local_model_loaded",
                        timestamp,
                        model,
                        format!("loaded in {seconds:.2} s"),
                        seconds * 1000.0,
                    )
                }
                PoolEvent::Unloaded { model, reason } => AuditEvent::install_event(
                    "local_model_unloaded",
                    timestamp,
                    model,
                    format!("unloaded: {reason}"),
                    0.0,
                ),
            };
            if let Err(e) = writer.audit(event, now, None, None) {
                tracing::error!(error = %e, "a local model event's audit entry was lost");
            }
        };
        self.providers().local_pool().listen(Arc::new(report));
    }

    /// Where an applied policy is saved.
    pub fn saved_policy_path(&self) -> std::path::PathBuf {
        saved_policy_path(self.store.path().parent().unwrap_or(Path::new(".")))
    }

    /// The policy and providers in force now, which a request keeps from start to end.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.in_force.read().clone()
    }

    /// The validated config in force now (a snapshot: an applied policy replaces it whole).
    pub fn config(&self) -> Arc<Config> {
        self.in_force.read().config.clone()
    }

    /// The database.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The prompt registry.
    pub fn prompts(&self) -> &Registry {
        &self.prompts
    }

    /// The providers in force now (and their fault switches).
    pub fn providers(&self) -> Arc<Providers> {
        self.in_force.read().providers.clone()
    }

    /// The circuit breakers.
    pub fn breakers(&self) -> &Breakers {
        &self.breakers
    }

    /// Waits until every audit event, usage row and cache entry queued so far is committed
    /// to SQLite, so a read that follows sees every request answered before it.
    pub async fn settle_writes(&self) -> Result<()> {
        self.writer.settle().await
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
            .workspace(id)?
            .ok_or_else(|| Error::NotFound(format!("no workspace `{id}`")))
    }

    /// Gets every provider ready (a local model loads here, not on the first request).
    /// A provider that cannot get ready is logged and left for the router to skip.
    pub async fn warm_providers(&self) {
        let providers = self.providers();
        for name in providers.names() {
            if let Some(p) = providers.get(name) {
                if let Err(e) = p.warm().await {
                    tracing::error!(provider = name, error = %e, "provider not ready");
                }
            }
        }
    }

    /// Refreshes the gauges computed at scrape time (breakers, loaded models), then renders.
    pub fn render_metrics(&self) -> String {
        let loaded = self.providers().local_pool().status();
        self.metrics
            .local_models_loaded
            .set(loaded.iter().filter(|m| m.state == "loaded").count() as i64);
        for name in self.providers().names() {
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

/// The policy in force and the providers built for it. They change together (an applied
/// policy, an installed model), so a request that routed by one policy never looks its
/// providers up among another's.
pub struct Snapshot {
    /// The validated config.
    pub config: Arc<Config>,
    /// Its providers (and their fault switches).
    pub providers: Arc<Providers>,
}

/// A policy's providers that cannot be built: its settings are a config error, a client that
/// cannot be made is Hearth's own.
impl From<BuildError> for Error {
    fn from(e: BuildError) -> Error {
        match e {
            BuildError::Settings { .. } => Error::Config(e.to_string()),
            BuildError::Client(_) => Error::Internal(e.to_string()),
        }
    }
}

/// The providers of `config`, keeping those of `old` whose settings it shares (with their
/// loaded models); also the names built afresh.
fn providers_for(
    old: &Snapshot,
    config: &Config,
) -> std::result::Result<(Providers, Vec<String>), BuildError> {
    old.providers.rebuilt_for(
        &old.config.policy,
        &config.policy,
        config.local,
        &crate::secrets::Keychain::new(),
    )
}

/// What applying a policy did.
pub struct Applied {
    /// The config now in force.
    pub config: Arc<Config>,
    /// Providers built afresh (new or changed), to be warmed.
    pub rebuilt: Vec<String>,
    /// Where the policy was saved.
    pub saved_to: std::path::PathBuf,
}

/// The policy an admin applied last, in an install's data dir.
pub fn saved_policy_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("policy.toml")
}

/// A policy edited from the routing tables may leave out `[server]`, `[resilience]` and
/// `[cache]`; those keep their running values rather than falling back to the defaults.
fn keep_sections_left_out(text: &str, old: &Config, new: &mut Config) {
    let Ok(table) = text.parse::<toml::Table>() else {
        return;
    };
    if !table.contains_key("server") {
        new.server = old.server.clone();
    }
    if !table.contains_key("resilience") {
        new.resilience = old.resilience.clone();
    }
    if !table.contains_key("cache") {
        new.cache = old.cache.clone();
    }
    if !table.contains_key("local") {
        new.local = old.local;
    }
}

/// Every installed model is addressable as `local/<id>` when the policy has an on-device
/// provider called `local` that names no file (the built-in policy's names a catalog model);
/// a policy without one keeps to the models it names, as does a `local` provider configured
/// with a file, which serves only that file. Models the policy names keep their settings.
fn add_installed_models(config: &mut Config) {
    if !matches!(
        config.policy.providers.get("local"),
        Some(crate::config::ProviderConfig::Local(l)) if l.path.is_none()
    ) {
        return;
    }
    let ids: Vec<String> = crate::models::installed()
        .into_iter()
        .map(|m| m.id)
        .collect();
    config.policy.add_listed_models(
        "local",
        &ids,
        &std::collections::BTreeMap::new(),
        crate::config::DEFAULT_MAX_OUTPUT_TOKENS,
    );
}

/// Adds the providers added from the command line (kept in the store) to a policy.
fn merge_added_providers(store: &Store, config: &mut Config) -> Result<()> {
    for p in store.with(|c| crate::store::providers::list(c))? {
        if !config.policy.add_provider(&p) {
            tracing::warn!(provider = %p.name, "an added provider has the name of one in the config file; the config file's is used");
        }
    }
    Ok(())
}
