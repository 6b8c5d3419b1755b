//! The config file as written (unknown keys refused), and its validation into `Config`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::policy::{
    BudgetAction, ModelSpec, Policy, Prices, ProviderConfig, Route, RouteAction, Tier,
};
use super::PoolSettings;
use super::{CacheSettings, Config, ResilienceSettings, ServerSettings, DEFAULT_MAX_OUTPUT_TOKENS};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    resilience: RawResilience,
    #[serde(default)]
    cache: RawCache,
    #[serde(default)]
    local: RawLocal,
    #[serde(default)]
    providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
    #[serde(default)]
    routes: BTreeMap<String, RawRoute>,
    #[serde(default)]
    tiers: BTreeMap<String, RawTier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    body_limit_bytes: usize,
    metrics_public: bool,
    max_connections: usize,
    header_timeout_ms: u64,
    body_timeout_ms: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            body_limit_bytes: 1024 * 1024,
            metrics_public: false,
            // Well under the usual 1,024 open files, leaving room for the database,
            // journal, model files and outgoing connections to providers.
            max_connections: 512,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
        }
    }
}

/// `[local]`: the on-device models' shared memory budget and idle time.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLocal {
    memory_budget_mb: Option<u64>,
    idle_unload_s: u64,
}

impl Default for RawLocal {
    fn default() -> Self {
        RawLocal {
            memory_budget_mb: None,
            // Ollama keeps a model 5 minutes, LM Studio an hour; reloading a small model
            // takes a second or two, so ten minutes frees memory without a reload between
            // the messages of one conversation.
            idle_unload_s: 600,
        }
    }
}

fn local(l: &RawLocal) -> Result<PoolSettings, String> {
    if l.memory_budget_mb == Some(0) {
        return Err("[local] memory_budget_mb must be above 0".into());
    }
    Ok(PoolSettings {
        budget_bytes: l
            .memory_budget_mb
            .map_or_else(PoolSettings::default_budget_bytes, |mb| mb << 20),
        idle_unload: (l.idle_unload_s > 0).then(|| Duration::from_secs(l.idle_unload_s)),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResilience {
    request_deadline_ms: u64,
    attempt_timeout_ms: u64,
    max_retries: u32,
    backoff_base_ms: u64,
    backoff_max_ms: u64,
    breaker_failure_threshold: u32,
    breaker_cooldown_ms: u64,
}

impl Default for RawResilience {
    fn default() -> Self {
        RawResilience {
            request_deadline_ms: 8000,
            attempt_timeout_ms: 3000,
            max_retries: 1,
            backoff_base_ms: 100,
            backoff_max_ms: 500,
            breaker_failure_threshold: 5,
            breaker_cooldown_ms: 30_000,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCache {
    ttl_seconds: u64,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache {
            ttl_seconds: 86_400,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    provider: Spanned<String>,
    model_id: String,
    max_output_tokens: u32,
    input_usd_per_1k: Option<f64>,
    output_usd_per_1k: Option<f64>,
    input_usd_per_1m: Option<f64>,
    output_usd_per_1m: Option<f64>,
    cached_input_usd_per_1m: Option<f64>,
}

impl RawModel {
    /// Prices per 1,000 tokens (the seed's unit) or per million (providers' price lists).
    fn resolve(&self) -> Result<Prices, String> {
        let side = |per_1k: Option<f64>, per_1m: Option<f64>, name: &str| match (per_1k, per_1m) {
            (Some(_), Some(_)) => Err(format!(
                "give {name}_usd_per_1k or {name}_usd_per_1m, not both"
            )),
            (Some(k), None) => Ok(k * 1000.0),
            (None, m) => Ok(m.unwrap_or(0.0)),
        };
        let prices = Prices {
            input_usd_per_1m: side(self.input_usd_per_1k, self.input_usd_per_1m, "input")?,
            output_usd_per_1m: side(self.output_usd_per_1k, self.output_usd_per_1m, "output")?,
            cached_input_usd_per_1m: self.cached_input_usd_per_1m,
        };
        let all = [
            prices.input_usd_per_1m,
            prices.output_usd_per_1m,
            prices.cached_input_usd_per_1m.unwrap_or(0.0),
        ];
        if !all.iter().all(|p| p.is_finite() && *p >= 0.0) {
            return Err("prices must be non-negative numbers".into());
        }
        Ok(prices)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    primary: Spanned<String>,
    #[serde(default)]
    fallbacks: Vec<Spanned<String>>,
    max_output_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    allowed_models: Vec<Spanned<String>>,
    default_model: Spanned<String>,
    daily_budget_usd: f64,
    max_output_tokens: u32,
    rpm: Option<u32>,
    on_budget_exhausted: BudgetAction,
    downgrade_model: Option<Spanned<String>>,
    on_route_not_allowed: RouteAction,
}

/// Parses and validates; errors carry the line they are about.
pub(super) fn parse(text: &str) -> Result<Config, String> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let lines = LineIndex(text);
    let resilience = resilience(&raw.resilience)?;
    let local = local(&raw.local)?;
    let policy = policy(raw, &lines)?;
    Ok(Config {
        server: policy.0,
        resilience,
        cache: policy.1,
        local,
        policy: policy.2,
        source: text.to_owned(),
    })
}

struct LineIndex<'a>(&'a str);

impl LineIndex<'_> {
    fn line(&self, s: &Spanned<String>) -> usize {
        let end = s.span().start.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(&self, s: &Spanned<String>, what: &str) -> String {
        format!("line {}: {what}", self.line(s))
    }
}

fn resilience(r: &RawResilience) -> Result<ResilienceSettings, String> {
    if r.attempt_timeout_ms == 0 || r.attempt_timeout_ms >= r.request_deadline_ms {
        return Err(format!(
            "[resilience] attempt_timeout_ms ({}) must be above 0 and below request_deadline_ms ({}) so a fallback still fits",
            r.attempt_timeout_ms, r.request_deadline_ms
        ));
    }
    if r.backoff_base_ms > r.backoff_max_ms {
        return Err("[resilience] backoff_base_ms must not exceed backoff_max_ms".into());
    }
    if r.breaker_failure_threshold == 0 {
        return Err("[resilience] breaker_failure_threshold must be at least 1".into());
    }
    Ok(ResilienceSettings {
        request_deadline: Duration::from_millis(r.request_deadline_ms),
        attempt_timeout: Duration::from_millis(r.attempt_timeout_ms),
        max_retries: r.max_retries,
        backoff_base: Duration::from_millis(r.backoff_base_ms),
        backoff_max: Duration::from_millis(r.backoff_max_ms),
        breaker_failure_threshold: r.breaker_failure_threshold,
        breaker_cooldown: Duration::from_millis(r.breaker_cooldown_ms),
    })
}

fn policy(
    raw: RawConfig,
    lines: &LineIndex<'_>,
) -> Result<(ServerSettings, CacheSettings, Policy), String> {
    for (name, p) in &raw.providers {
        if let ProviderConfig::Local(l) = p {
            l.validate()
                .map_err(|e| format!("[providers.{name}]: {e}"))?;
        }
        if let Some((kind, h)) = p.hosted() {
            h.validate(kind)
                .map_err(|e| format!("[providers.{name}]: {e}"))?;
        }
    }
    let mut models = models(raw.models, &raw.providers, lines)?;
    listed_models(&raw.providers, &mut models);
    let known = |s: &Spanned<String>| -> Result<String, String> {
        if models.contains_key(s.get_ref()) {
            Ok(s.get_ref().clone())
        } else {
            Err(lines.err(s, &format!("unknown model `{}`", s.get_ref())))
        }
    };
    let mut routes = BTreeMap::new();
    for (task, r) in raw.routes {
        let fallbacks = r.fallbacks.iter().map(&known).collect::<Result<_, _>>()?;
        let route = Route {
            task: task.clone(),
            primary: known(&r.primary)?,
            fallbacks,
            max_output_tokens: r.max_output_tokens,
        };
        routes.insert(task, route);
    }
    let mut tiers = BTreeMap::new();
    for (name, t) in raw.tiers {
        let tier = tier(name.clone(), t, &known, lines)?;
        tiers.insert(name, tier);
    }
    if routes.is_empty() || tiers.is_empty() {
        return Err("the policy needs at least one [routes.TASK] and one [tiers.NAME]".into());
    }
    let s = &raw.server;
    if s.max_connections == 0 || s.header_timeout_ms == 0 || s.body_timeout_ms == 0 {
        return Err(
            "[server] max_connections, header_timeout_ms and body_timeout_ms must be above 0"
                .into(),
        );
    }
    let server = ServerSettings {
        body_limit_bytes: s.body_limit_bytes,
        metrics_public: s.metrics_public,
        max_connections: s.max_connections,
        header_timeout: Duration::from_millis(s.header_timeout_ms),
        body_timeout: Duration::from_millis(s.body_timeout_ms),
    };
    let cache = CacheSettings {
        ttl: Duration::from_secs(raw.cache.ttl_seconds),
    };
    let policy = Policy {
        providers: raw.providers,
        models,
        routes,
        tiers,
    };
    Ok((server, cache, policy))
}

fn models(
    raw: BTreeMap<String, RawModel>,
    providers: &BTreeMap<String, ProviderConfig>,
    lines: &LineIndex<'_>,
) -> Result<BTreeMap<String, ModelSpec>, String> {
    let mut out = BTreeMap::new();
    for (alias, m) in raw {
        if !providers.contains_key(m.provider.get_ref()) {
            return Err(lines.err(
                &m.provider,
                &format!(
                    "model `{alias}` names unknown provider `{}`",
                    m.provider.get_ref()
                ),
            ));
        }
        let prices = m
            .resolve()
            .map_err(|e| lines.err(&m.provider, &format!("model `{alias}`: {e}")))?;
        if m.max_output_tokens == 0 {
            return Err(lines.err(
                &m.provider,
                &format!("model `{alias}` needs max_output_tokens above 0"),
            ));
        }
        let provider = m.provider.into_inner();
        out.insert(
            alias.clone(),
            ModelSpec {
                address: format!("{provider}/{}", m.model_id),
                alias,
                provider,
                model_id: m.model_id,
                max_output_tokens: m.max_output_tokens,
                prices,
            },
        );
    }
    Ok(out)
}

/// A hosted provider's `models` list makes each addressable as `PROVIDER/MODEL`.
fn listed_models(
    providers: &BTreeMap<String, ProviderConfig>,
    models: &mut BTreeMap<String, ModelSpec>,
) {
    let mut policy = Policy {
        providers: BTreeMap::new(),
        models: std::mem::take(models),
        routes: BTreeMap::new(),
        tiers: BTreeMap::new(),
    };
    for (name, p) in providers {
        if let Some((_, h)) = p.hosted() {
            policy.add_listed_models(name, &h.models, &BTreeMap::new(), DEFAULT_MAX_OUTPUT_TOKENS);
        }
    }
    *models = policy.models;
}

fn tier(
    name: String,
    t: RawTier,
    known: &impl Fn(&Spanned<String>) -> Result<String, String>,
    lines: &LineIndex<'_>,
) -> Result<Tier, String> {
    let mut allowed_models = BTreeSet::new();
    let mut allowed_providers = BTreeSet::new();
    for entry in &t.allowed_models {
        match entry.get_ref().as_str() {
            "*" => {
                allowed_providers.insert("*".to_owned());
            }
            e => match e.strip_suffix("/*") {
                Some(provider) if !provider.is_empty() => {
                    allowed_providers.insert(provider.to_owned());
                }
                _ => {
                    allowed_models.insert(known(entry)?);
                }
            },
        }
    }
    let downgrade_model = t.downgrade_model.as_ref().map(known).transpose()?;
    if t.on_budget_exhausted == BudgetAction::Downgrade && downgrade_model.is_none() {
        return Err(lines.err(
            &t.default_model,
            &format!(
                "tier `{name}` downgrades on an exhausted budget but names no downgrade_model"
            ),
        ));
    }
    if !(t.daily_budget_usd.is_finite() && t.daily_budget_usd >= 0.0) {
        return Err(lines.err(
            &t.default_model,
            &format!("tier `{name}` needs a non-negative daily_budget_usd"),
        ));
    }
    Ok(Tier {
        default_model: known(&t.default_model)?,
        name,
        allowed_models,
        allowed_providers,
        daily_budget_usd: t.daily_budget_usd,
        max_output_tokens: t.max_output_tokens,
        rpm: t.rpm,
        on_budget_exhausted: t.on_budget_exhausted,
        downgrade_model,
        on_route_not_allowed: t.on_route_not_allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ProviderConfig, DEFAULT_POLICY_TOML, DEMO_POLICY_TOML};
    use hearth_quant::attention::KvCacheType;

    /// The built-in policy with `line` added to its local provider.
    fn local_with(line: &str) -> String {
        let model = "model = \"smollm2-135m-instruct\"";
        assert!(DEFAULT_POLICY_TOML.contains(model));
        DEFAULT_POLICY_TOML.replacen(model, &format!("{model}\n{line}"), 1)
    }

    fn kv_cache_type(c: &Config) -> KvCacheType {
        match &c.policy.providers["local"] {
            ProviderConfig::Local(l) => l.kv_cache_type,
            other => panic!("not the local provider: {other:?}"),
        }
    }

    #[test]
    fn the_kv_cache_type_is_f16_unless_set_and_an_unknown_one_is_refused_with_the_choices() {
        let unset = Config::parse(DEFAULT_POLICY_TOML, "t.toml").unwrap();
        assert_eq!(kv_cache_type(&unset), KvCacheType::F16);
        let q8 = Config::parse(&local_with("kv_cache_type = \"q8_0\""), "t.toml").unwrap();
        assert_eq!(kv_cache_type(&q8), KvCacheType::Q8_0);
        let err = Config::parse(&local_with("kv_cache_type = \"q4_0\""), "t.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("kv_cache_type: unknown KV cache type `q4_0`: expected `f16` or `q8_0`"),
            "{err}"
        );
    }

    #[test]
    fn the_builtin_and_demo_policies_are_valid() {
        let c = Config::builtin();
        assert!(c.is_ok(), "{c:?}");
        let d = Config::demo();
        assert!(d.is_ok(), "{d:?}");
    }

    #[test]
    fn an_unknown_model_in_a_route_is_refused_with_its_line() {
        let bad = DEMO_POLICY_TOML.replace(
            "primary = \"strong_reasoner\"",
            "primary = \"strong_reasonr\"",
        );
        let line = bad
            .lines()
            .position(|l| l.contains("strong_reasonr"))
            .map(|i| i + 1);
        let err = Config::parse(&bad, "test.toml")
            .err()
            .map(|e| e.to_string());
        let expected = format!(
            "test.toml: line {}: unknown model `strong_reasonr`",
            line.unwrap_or(0)
        );
        assert_eq!(err.as_deref(), Some(expected.as_str()));
    }

    #[test]
    fn a_misspelt_key_is_refused_not_ignored() {
        let bad = DEMO_POLICY_TOML.replace("max_retries = 1", "max_retry = 1");
        let err = Config::parse(&bad, "t.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("max_retry") && err.contains("line"), "{err}");
    }

    #[test]
    fn a_tier_may_allow_every_model_of_a_provider_or_of_all_providers() {
        let text = DEMO_POLICY_TOML.replace(
            "allowed_models = [\"fast_extractor\", \"fallback_balanced\"]",
            "allowed_models = [\"mock-fast/*\"]",
        );
        assert_ne!(text, DEMO_POLICY_TOML, "the pro tier's list was edited");
        let c = Config::parse(&text, "t.toml").unwrap();
        let pro = &c.policy.tiers["pro"];
        let model = |alias: &str| c.policy.models[alias].clone();
        assert!(
            pro.allows(&model("fast_extractor")),
            "mock-fast/* allows mock-fast's model"
        );
        assert!(
            !pro.allows(&model("strong_reasoner")),
            "nor another provider's"
        );
        assert!(
            !pro.allows(&model("fallback_balanced")),
            "the list holds nothing else now"
        );

        let text = text.replace(
            "allowed_models = [\"mock-fast/*\"]",
            "allowed_models = [\"*\"]",
        );
        let c = Config::parse(&text, "t.toml").unwrap();
        let pro = &c.policy.tiers["pro"];
        assert!(
            pro.allows(&c.policy.models["strong_reasoner"]),
            "* allows every model"
        );
    }
}
