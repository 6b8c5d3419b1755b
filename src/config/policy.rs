use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{HostedConfig, HostedKind, LocalConfig, MockConfig};

/// Where a provider runs, which decides what data may reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Locality {
    /// On this machine: no text leaves it.
    OnDevice,
    /// A hosted service.
    Hosted,
}

/// A provider's config; the `kind` key picks the adapter.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderConfig {
    /// A deterministic in-process provider.
    Mock(MockConfig),
    /// A GGUF model on this machine, run with candle.
    Local(LocalConfig),
    /// OpenAI's API.
    Openai(HostedConfig),
    /// A server speaking OpenAI Chat Completions.
    #[serde(alias = "openai-compatible")]
    OpenaiCompatible(HostedConfig),
    /// Anthropic Messages.
    Anthropic(HostedConfig),
    /// Google Gemini.
    Gemini(HostedConfig),
}

impl ProviderConfig {
    /// Where the provider runs.
    pub fn locality(&self) -> Locality {
        match self {
            ProviderConfig::Mock(m) => m.locality,
            ProviderConfig::Local(_) => Locality::OnDevice,
            _ => self
                .hosted()
                .map_or(Locality::Hosted, |(_, h)| h.data_policy.locality),
        }
    }

    /// Whether text with personal data may reach it unredacted: always on this machine,
    /// for a hosted one only when its data policy says `pii_allowed`.
    pub fn pii_allowed(&self) -> bool {
        match self.hosted() {
            Some((_, h)) => {
                h.data_policy.locality == Locality::OnDevice || h.data_policy.pii_allowed
            }
            None => self.locality() == Locality::OnDevice,
        }
    }

    /// The wire format and settings of a hosted provider; None for mock and local ones.
    pub fn hosted(&self) -> Option<(HostedKind, &HostedConfig)> {
        match self {
            ProviderConfig::Openai(h) => Some((HostedKind::Openai, h)),
            ProviderConfig::OpenaiCompatible(h) => Some((HostedKind::OpenaiCompatible, h)),
            ProviderConfig::Anthropic(h) => Some((HostedKind::Anthropic, h)),
            ProviderConfig::Gemini(h) => Some((HostedKind::Gemini, h)),
            ProviderConfig::Mock(_) | ProviderConfig::Local(_) => None,
        }
    }

    /// A hosted provider's config of the given kind.
    pub fn from_hosted(kind: HostedKind, cfg: HostedConfig) -> ProviderConfig {
        match kind {
            HostedKind::Openai => ProviderConfig::Openai(cfg),
            HostedKind::OpenaiCompatible => ProviderConfig::OpenaiCompatible(cfg),
            HostedKind::Anthropic => ProviderConfig::Anthropic(cfg),
            HostedKind::Gemini => ProviderConfig::Gemini(cfg),
        }
    }
}

/// One callable model: a provider's model with its caps and prices.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSpec {
    /// The policy's name for it (`fast_extractor`).
    pub alias: String,
    /// The provider that serves it.
    pub provider: String,
    /// The provider's id for it.
    pub model_id: String,
    /// `PROVIDER/MODEL`, how it is addressed everywhere.
    pub address: String,
    /// Largest output it may be asked for.
    pub max_output_tokens: u32,
    /// What it costs.
    pub prices: Prices,
}

/// USD per one million tokens, the unit provider price lists use.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Prices {
    /// Input (prompt) tokens.
    pub input_usd_per_1m: f64,
    /// Output (generated) tokens.
    pub output_usd_per_1m: f64,
    /// Input tokens the provider served from its prompt cache; the input price when unset.
    pub cached_input_usd_per_1m: Option<f64>,
}

impl ModelSpec {
    /// The cost of a call with these token counts, all input at the full price: what a
    /// budget reserves before the call.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        self.cost_of(input_tokens, 0, output_tokens)
    }

    /// The cost of a call as the provider reported its usage: `cached_input_tokens` of the
    /// `input_tokens` at the cached-input price.
    pub fn cost_of(&self, input_tokens: u64, cached_input_tokens: u64, output_tokens: u64) -> f64 {
        let p = &self.prices;
        let cached = cached_input_tokens.min(input_tokens);
        let fresh = input_tokens - cached;
        let cached_price = p.cached_input_usd_per_1m.unwrap_or(p.input_usd_per_1m);
        (fresh as f64 * p.input_usd_per_1m
            + cached as f64 * cached_price
            + output_tokens as f64 * p.output_usd_per_1m)
            / 1_000_000.0
    }
}

/// A task's route: the primary model and its ordered fallbacks (aliases).
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// The task name.
    pub task: String,
    /// Tried first.
    pub primary: String,
    /// Tried in order when the ones before fail or are skipped.
    pub fallbacks: Vec<String>,
    /// The task's output cap, if tighter than the tier's.
    pub max_output_tokens: Option<u32>,
}

impl Route {
    /// The primary then the fallbacks.
    pub fn chain(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.primary).chain(self.fallbacks.iter())
    }
}

/// What a tier does once its daily budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetAction {
    /// 429 `budget_exceeded`.
    Reject,
    /// A fixed template answer, no provider call.
    Template,
    /// Switch to the tier's `downgrade_model` while it still fits.
    Downgrade,
}

/// What a tier does when no model of a task's route is allowed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    /// 403 `model_not_allowed`.
    Reject,
    /// Serve it with the tier's default model, saying so in the decision.
    Degrade,
}

/// A workspace tier's rules.
#[derive(Debug, Clone, Serialize)]
pub struct Tier {
    /// The tier name.
    pub name: String,
    /// Model aliases it may call.
    pub allowed_models: BTreeSet<String>,
    /// Providers all of whose models it may call (`NAME/*` in the file; `*` for any).
    pub allowed_providers: BTreeSet<String>,
    /// Its default model (alias).
    pub default_model: String,
    /// Daily USD budget for a workspace of this tier.
    pub daily_budget_usd: f64,
    /// Output-token cap.
    pub max_output_tokens: u32,
    /// Requests a minute for a workspace of this tier; unlimited when unset.
    pub rpm: Option<u32>,
    /// What happens when the budget is spent.
    pub on_budget_exhausted: BudgetAction,
    /// The cheaper model for `downgrade`.
    pub downgrade_model: Option<String>,
    /// What happens when no model of a route is allowed.
    pub on_route_not_allowed: RouteAction,
}

impl Tier {
    /// Whether this tier may call the model.
    pub fn allows(&self, m: &ModelSpec) -> bool {
        self.allowed_models.contains(&m.alias)
            || self.allowed_providers.contains(&m.provider)
            || self.allowed_providers.contains("*")
    }
}

/// The validated routing policy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Policy {
    /// Providers by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Models by alias.
    pub models: BTreeMap<String, ModelSpec>,
    /// Routes by task.
    pub routes: BTreeMap<String, Route>,
    /// Tiers by name.
    pub tiers: BTreeMap<String, Tier>,
}

impl Policy {
    /// Finds a model by alias or by `PROVIDER/MODEL` address.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models
            .get(name)
            .or_else(|| self.models.values().find(|m| m.address == name))
    }

    /// Adds `PROVIDER/MODEL` specs for the models a hosted provider lists, unless the
    /// policy already has a model at that address (its prices then stand).
    pub(crate) fn add_listed_models(
        &mut self,
        provider: &str,
        models: &[String],
        prices: &BTreeMap<String, Prices>,
        max_output_tokens: u32,
    ) {
        for model_id in models {
            let address = format!("{provider}/{model_id}");
            if self.models.values().any(|m| m.address == address) {
                continue;
            }
            let spec = ModelSpec {
                alias: address.clone(),
                provider: provider.to_owned(),
                model_id: model_id.clone(),
                address: address.clone(),
                max_output_tokens,
                prices: prices.get(model_id).copied().unwrap_or_default(),
            };
            self.models.insert(address, spec);
        }
    }

    /// The provider's locality, if the provider exists.
    pub fn locality(&self, provider: &str) -> Option<Locality> {
        self.providers.get(provider).map(ProviderConfig::locality)
    }
}
