use prometheus::{
    CounterVec, Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

/// The label value of anything outside a label's closed set.
pub const OTHER: &str = "other";

/// Longest label value exported; a longer one (only possible from a config) is `other`.
const MAX_LABEL_BYTES: usize = 128;

/// A label value from a closed set: `value` when `known` says it belongs (a configured
/// route, model or provider) and it is short, else `other`. Callers' text never becomes a
/// label on its own, so no caller can grow the number of series.
pub fn closed_label(value: &str, known: bool) -> &str {
    if known && value.len() <= MAX_LABEL_BYTES {
        value
    } else {
        OTHER
    }
}

/// Every metric Hearth exports. Every label comes from a closed set: configured tiers,
/// routes, providers and models, existing workspaces, or fixed codes.
pub struct Metrics {
    registry: Registry,
    /// `llm_requests_total{tenant_tier,task,provider,model,status}`.
    pub requests: IntCounterVec,
    /// `llm_latency_ms{task,provider,model}`.
    pub latency_ms: HistogramVec,
    /// `llm_provider_errors_total{provider,error_type}`.
    pub provider_errors: IntCounterVec,
    /// `llm_retries_total{provider,task}`.
    pub retries: IntCounterVec,
    /// `llm_fallbacks_total{task,from_model,to_model}`.
    pub fallbacks: IntCounterVec,
    /// `llm_cache_hits_total{task,cache_type}`.
    pub cache_hits: IntCounterVec,
    /// `llm_input_tokens_total{tenant_id,task,model}`.
    pub input_tokens: IntCounterVec,
    /// `llm_output_tokens_total{tenant_id,task,model}`.
    pub output_tokens: IntCounterVec,
    /// `llm_estimated_cost_usd_total{tenant_id,task,model}`.
    pub cost_usd: CounterVec,
    /// `llm_quota_rejections_total{tenant_id,reason}`.
    pub quota_rejections: IntCounterVec,
    /// `hearth_overhead_seconds`: total time minus time waiting on providers.
    pub overhead_seconds: Histogram,
    /// `hearth_budget_spent_usd{tenant_id}` and `hearth_budget_limit_usd{tenant_id}`.
    pub budget_spent_usd: GaugeVec,
    /// The daily budget per workspace.
    pub budget_limit_usd: GaugeVec,
    /// `hearth_budget_alerts_total{tenant_id}`.
    pub budget_alerts: IntCounterVec,
    /// `hearth_circuit_breaker_state{provider}`: 0 closed, 1 half-open, 2 open.
    pub breaker_state: GaugeVec,
    /// `hearth_audit_pending_events`: audit events durable in the journal and not yet
    /// committed to SQLite (it grows while the database refuses writes).
    pub audit_pending: IntGauge,
    /// `hearth_local_models_loaded`: on-device models in memory now.
    pub local_models_loaded: IntGauge,
    /// `hearth_local_model_load_seconds`: how long loading an on-device model took.
    pub local_model_load_seconds: Histogram,
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<GaugeVec, prometheus::Error> {
    let g = GaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let r = Registry::new();
        let latency_ms = HistogramVec::new(
            HistogramOpts::new(
                "llm_latency_ms",
                "End-to-end request latency in milliseconds",
            )
            .buckets(vec![
                1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0,
                10000.0,
            ]),
            &["task", "provider", "model"],
        )?;
        r.register(Box::new(latency_ms.clone()))?;
        let overhead_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "hearth_overhead_seconds",
                "Gateway time per request, excluding time waiting on providers",
            )
            .buckets(vec![
                0.000_025, 0.000_05, 0.000_1, 0.000_2, 0.000_3, 0.000_5, 0.001, 0.002, 0.005, 0.01,
                0.025, 0.1,
            ]),
        )?;
        r.register(Box::new(overhead_seconds.clone()))?;
        let cost_usd = CounterVec::new(
            Opts::new("llm_estimated_cost_usd_total", "Estimated USD charged"),
            &["tenant_id", "task", "model"],
        )?;
        r.register(Box::new(cost_usd.clone()))?;
        let local_model_load_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "hearth_local_model_load_seconds",
                "Time to load an on-device model",
            )
            .buckets(vec![0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]),
        )?;
        r.register(Box::new(local_model_load_seconds.clone()))?;
        let local_models_loaded = IntGauge::new(
            "hearth_local_models_loaded",
            "On-device models in memory now",
        )?;
        r.register(Box::new(local_models_loaded.clone()))?;
        Ok(Metrics {
            requests: counter(
                &r,
                "llm_requests_total",
                "Requests by outcome",
                &["tenant_tier", "task", "provider", "model", "status"],
            )?,
            provider_errors: counter(
                &r,
                "llm_provider_errors_total",
                "Provider call errors",
                &["provider", "error_type"],
            )?,
            retries: counter(
                &r,
                "llm_retries_total",
                "Provider retries",
                &["provider", "task"],
            )?,
            fallbacks: counter(
                &r,
                "llm_fallbacks_total",
                "Fallbacks to another model",
                &["task", "from_model", "to_model"],
            )?,
            cache_hits: counter(
                &r,
                "llm_cache_hits_total",
                "Cache hits",
                &["task", "cache_type"],
            )?,
            input_tokens: counter(
                &r,
                "llm_input_tokens_total",
                "Prompt tokens",
                &["tenant_id", "task", "model"],
            )?,
            output_tokens: counter(
                &r,
                "llm_output_tokens_total",
                "Generated tokens",
                &["tenant_id", "task", "model"],
            )?,
            quota_rejections: counter(
                &r,
                "llm_quota_rejections_total",
                "Requests turned away by a limit",
                &["tenant_id", "reason"],
            )?,
            budget_spent_usd: gauge(
                &r,
                "hearth_budget_spent_usd",
                "USD spent today per workspace",
                &["tenant_id"],
            )?,
            budget_limit_usd: gauge(
                &r,
                "hearth_budget_limit_usd",
                "Daily USD budget per workspace",
                &["tenant_id"],
            )?,
            budget_alerts: counter(
                &r,
                "hearth_budget_alerts_total",
                "Budget alert thresholds crossed",
                &["tenant_id"],
            )?,
            breaker_state: gauge(
                &r,
                "hearth_circuit_breaker_state",
                "0 closed, 1 half-open, 2 open",
                &["provider"],
            )?,
            audit_pending: {
                let g = IntGauge::new(
                    "hearth_audit_pending_events",
                    "Audit events in the journal not yet committed to SQLite",
                )?;
                r.register(Box::new(g.clone()))?;
                g
            },
            latency_ms,
            overhead_seconds,
            cost_usd,
            local_models_loaded,
            local_model_load_seconds,
            registry: r,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_outside_the_closed_set_or_too_long_is_other() {
        assert_eq!(closed_label("extract", true), "extract");
        assert_eq!(closed_label("made-up-task", false), OTHER);
        assert_eq!(closed_label(&"x".repeat(MAX_LABEL_BYTES + 1), true), OTHER);
    }
}
