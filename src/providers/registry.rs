use std::collections::BTreeMap;
use std::sync::Arc;

use super::fault::{FaultMode, Faulty};
use super::local::LocalProvider;
use super::mock::MockProvider;
use super::Provider;
use crate::config::{Policy, ProviderConfig};

/// The configured providers by name, each behind a fault switch for drills.
pub struct Providers {
    by_name: BTreeMap<String, Arc<Faulty>>,
}

impl Providers {
    /// Builds every provider the policy names.
    pub fn from_policy(policy: &Policy) -> Self {
        let by_name = policy
            .providers
            .iter()
            .map(|(name, cfg)| {
                let inner: Arc<dyn Provider> = match cfg {
                    ProviderConfig::Mock(m) => Arc::new(MockProvider::new(m)),
                    ProviderConfig::Local(l) => Arc::new(LocalProvider::new(l.clone())),
                };
                (name.clone(), Arc::new(Faulty::new(inner)))
            })
            .collect();
        Providers { by_name }
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.by_name
            .get(name)
            .map(|p| p.clone() as Arc<dyn Provider>)
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

    /// Provider names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}
