use std::collections::BTreeMap;
use std::sync::Arc;

use super::fault::{FaultMode, Faulty};
use super::hosted;
use super::local::{LocalProvider, Pool};
use super::mock::MockProvider;
use super::Provider;
use crate::config::{Policy, PoolSettings, ProviderConfig, SettingsError};
use crate::secrets::{KeySource, Keychain};

/// Whether two provider configs say the same (compared as written, so any change rebuilds).
fn same_settings(a: &ProviderConfig, b: &ProviderConfig) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// Why the providers of a policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The HTTP client the hosted providers share could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    /// A provider's settings cannot be used.
    #[error("provider `{provider}`: {source}")]
    Settings {
        /// The provider's name in the policy.
        provider: String,
        /// What is wrong with its settings.
        source: SettingsError,
    },
}

/// The configured providers by name, each behind a fault switch for drills, and the pool
/// their on-device models load in.
pub struct Providers {
    by_name: BTreeMap<String, Arc<Faulty>>,
    key_sources: BTreeMap<String, KeySource>,
    pool: Arc<Pool>,
}

impl Providers {
    /// Builds every provider the policy names, local models within `local`'s budget;
    /// hosted ones read their keys now, from the environment or `keychain`.
    pub fn from_policy(
        policy: &Policy,
        local: PoolSettings,
        keychain: &Keychain,
    ) -> Result<Self, BuildError> {
        Providers::empty(Pool::new(local))
            .rebuilt_for(&Policy::default(), policy, local, keychain)
            .map(|(p, _)| p)
    }

    fn empty(pool: Arc<Pool>) -> Self {
        Providers {
            by_name: BTreeMap::new(),
            key_sources: BTreeMap::new(),
            pool,
        }
    }

    /// The providers of `new`, keeping (with their fault switches and keys) those whose
    /// settings are the same in `old`; also the names that were built afresh. The pool of
    /// loaded models is kept, under `local`'s budget from now on.
    pub fn rebuilt_for(
        &self,
        old: &Policy,
        new: &Policy,
        local: PoolSettings,
        keychain: &Keychain,
    ) -> Result<(Self, Vec<String>), BuildError> {
        let client = hosted::build_client()?;
        self.pool.configure(local);
        let mut out = Providers::empty(self.pool.clone());
        let mut fresh = Vec::new();
        for (name, cfg) in &new.providers {
            let same = old
                .providers
                .get(name)
                .is_some_and(|o| same_settings(o, cfg));
            if let (true, Some(kept)) = (same, self.by_name.get(name)) {
                out.by_name.insert(name.clone(), kept.clone());
                if let Some(src) = self.key_sources.get(name) {
                    out.key_sources.insert(name.clone(), *src);
                }
                continue;
            }
            let inner: Arc<dyn Provider> = match cfg {
                ProviderConfig::Mock(m) => Arc::new(MockProvider::new(m)),
                ProviderConfig::Local(l) => {
                    Arc::new(LocalProvider::new(name, l.clone(), self.pool.clone()))
                }
                other => {
                    let Some((kind, h)) = other.hosted() else {
                        continue;
                    };
                    let built = hosted::build(name, kind, h, keychain, client.clone()).map_err(
                        |source| BuildError::Settings {
                            provider: name.clone(),
                            source,
                        },
                    )?;
                    if let Some(src) = built.key_source {
                        out.key_sources.insert(name.clone(), src);
                    }
                    built.provider
                }
            };
            out.by_name
                .insert(name.clone(), Arc::new(Faulty::new(inner)));
            fresh.push(name.clone());
        }
        Ok((out, fresh))
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.by_name
            .get(name)
            .map(|p| p.clone() as Arc<dyn Provider>)
    }

    /// Where a hosted provider's key was found; None for no key or no such provider.
    pub fn key_source(&self, name: &str) -> Option<KeySource> {
        self.key_sources.get(name).copied()
    }

    /// Sets a provider's injected fault; false when there is no such provider.
    pub fn set_fault(&self, name: &str, mode: FaultMode) -> bool {
        match self.by_name.get(name) {
            Some(p) => {
                p.set(mode);
                true
            }
            None => false,
        }
    }

    /// The on-device models loaded now and their budget.
    pub fn local_pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// Provider names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
