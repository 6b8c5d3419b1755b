//! Hosted providers added from the command line (`hearth providers add`): kept in the
//! database and merged into the policy when the install opens. The config file wins a name
//! clash, so what an admin wrote is never overridden from a shell.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::policy::{Policy, Prices, ProviderConfig};
use super::{HostedConfig, HostedKind, SettingsError};

/// Output cap of an added provider's models unless `--max-output-tokens` says otherwise.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 4096;

/// A provider added from the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedProvider {
    /// Its name, the `NAME` of `NAME/MODEL`.
    pub name: String,
    /// The wire format it speaks.
    pub kind: HostedKind,
    /// Where it is, its key's variable, models, headers and data policy.
    pub config: HostedConfig,
    /// Prices per model id; models without one cost nothing in budgets.
    #[serde(default)]
    pub prices: BTreeMap<String, Prices>,
    /// The output cap of its models.
    pub max_output_tokens: u32,
}

impl AddedProvider {
    /// Checks the name and the settings before it is stored.
    pub fn validate(&self) -> Result<(), AddedProviderError> {
        if !crate::workspace::valid_name(&self.name, 64) || self.name.contains('/') {
            return Err(AddedProviderError::Name(self.name.clone()));
        }
        if self.config.models.is_empty() {
            return Err(AddedProviderError::NoModel);
        }
        if let Some(unknown) = self.prices.keys().find(|m| !self.config.models.contains(m)) {
            return Err(AddedProviderError::PriceOfUnknownModel(unknown.clone()));
        }
        if self.max_output_tokens == 0 {
            return Err(AddedProviderError::NoOutput);
        }
        Ok(self.config.validate(self.kind)?)
    }
}

/// Why a provider given on the command line cannot be added.
#[derive(Debug, thiserror::Error)]
pub enum AddedProviderError {
    #[error("provider name `{0}` must be 1-64 letters, digits, `_`, `-` or `.`")]
    Name(String),
    #[error("name at least one model with --model")]
    NoModel,
    #[error("--price names `{0}`, which is not one of its --model")]
    PriceOfUnknownModel(String),
    #[error("--max-output-tokens must be at least 1")]
    NoOutput,
    /// Its base URL, headers, key variable or models.
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

impl Policy {
    /// Merges an added provider; false (and nothing changed) when the config file already
    /// has a provider by that name.
    pub fn add_provider(&mut self, p: &AddedProvider) -> bool {
        if self.providers.contains_key(&p.name) {
            return false;
        }
        self.providers.insert(
            p.name.clone(),
            ProviderConfig::from_hosted(p.kind, p.config.clone()),
        );
        self.add_listed_models(&p.name, &p.config.models, &p.prices, p.max_output_tokens);
        true
    }
}
