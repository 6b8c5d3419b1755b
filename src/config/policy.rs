use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Where a provider runs, which decides what data may reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Locality {
    /// On this machine: no text leaves it.
    OnDevice,
    /// A hosted service.
    Hosted,
}

/// A mock provider's settings (demo mode, fault drills, benchmarks).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MockConfig {
    /// Simulated time to the full answer.
    #[serde(default)]
    pub latency_ms: u64,
    /// Where the mock claims to run.
    #[serde(default = "hosted")]
    pub locality: Locality,
}

fn hosted() -> Locality {
    Locality::Hosted
}

/// A provider's config; the `kind` key picks the adapter.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProviderConfig {
    /// A deterministic in-process provider.
    Mock(MockConfig),
    /// A GGUF model on this machine, run with candle.
    Local(crate::providers::local::LocalConfig),
}

impl ProviderConfig {
    /// Where the provider runs.
    pub fn locality(&self) -> Locality {
        match self {
            ProviderConfig::Mock(m) => m.locality,
            ProviderConfig::Local(_) => Locality::OnDevice,
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
    /// USD per 1,000 input tokens.
    pub input_usd_per_1k: f64,
    /// USD per 1,000 output tokens.
    pub output_usd_per_1k: f64,
}

impl ModelSpec {
    /// The cost of a call with these token counts.
    pub fn cost_usd(&self, input_tokens: u64, output_tokens: u64) -> f64 {
        (input_tokens as f64 * self.input_usd_per_1k
            + output_tokens as f64 * self.output_usd_per_1k)
            / 1000.0
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

/// The validated routing policy.
#[derive(Debug, Clone, Serialize)]
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

    /// The provider's locality, if the provider exists.
    pub fn locality(&self, provider: &str) -> Option<Locality> {
        self.providers.get(provider).map(ProviderConfig::locality)
    }
}
