//! The last stage: a served answer is charged, cached, audited and counted; a failed
//! request is audited with its error.

use super::gate::Call;
use super::prepare::Prepared;
use super::run::Run;
use super::trace::Trace;
use super::{ChatOutcome, EmbeddingsOutcome, Hearth};
use crate::audit::EventStatus;
use crate::cache::CachedAnswer;
use crate::config::ModelSpec;
use crate::error::{Error, Result};
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, EmbedResponse, FinishReason, ProviderResponse, Usage,
};
use crate::quota::Reservation;
use crate::store::now_ms;
use crate::store::usage::{BudgetAlert, UsageDelta};

/// The text of a tier's template answer when its budget is spent.
const BUDGET_TEMPLATE_ANSWER: &str =
    "This workspace has used its daily budget, so this request was not sent to a model. \
     It will be served again tomorrow (UTC), or sooner if an admin raises the budget.";

impl Run {
    /// Charges, caches, audits (durably) and counts a served answer.
    pub(super) fn settle(&mut self, served: Served<'_>) -> Result<ChatOutcome> {
        let Served {
            model,
            response,
            call,
            first_choice,
            cached,
        } = served;
        self.trace.provider = Some(model.provider.clone());
        self.trace.model = Some(model.address.clone());
        self.trace.usage = response.usage;
        self.trace.fallback_used = !first_choice;
        if !response.tool_calls.is_empty() {
            let n = response.tool_calls.len();
            self.trace
                .decision
                .push(format!("{n} tool call(s) returned"));
        }
        let mut saved = 0.0;
        let mut alert = None;
        if let Some(cost) = cached {
            self.trace.cache_hit = true;
            saved = cost;
            self.hearth
                .metrics
                .cache_hits
                .with_label_values(&[&self.trace.task_label, "exact"])
                .inc();
        } else if let Some(call) = call {
            self.hearth.outputs.observe(
                &self.trace.task_label,
                &model.address,
                response.usage.output_tokens,
            );
            alert = self.charge(model, call.reservation);
            if let Some(key) = &call.key {
                let answer = CachedAnswer {
                    response: response.clone(),
                    provider: model.provider.clone(),
                    model: model.address.clone(),
                    cost_usd: self.trace.cost_usd,
                };
                self.hearth.cache.store(&self.plan.ws.id, key, &answer);
            }
        }
        let status = if self.plan.degraded {
            EventStatus::Degraded
        } else {
            EventStatus::Ok
        };
        let delta = usage_delta(&self.trace, &self.plan, model, saved);
        let outcome = self.outcome(response, status);
        self.hearth
            .write_audit(&mut self.trace, status, None, Some(delta), alert)?;
        Ok(outcome)
    }

    /// Charges, audits (durably) and counts the vectors a provider answered.
    pub(super) fn settle_embeddings(
        &mut self,
        model: &ModelSpec,
        call: Call,
        answer: EmbedResponse,
        first_choice: bool,
    ) -> Result<EmbeddingsOutcome> {
        self.trace.provider = Some(model.provider.clone());
        self.trace.model = Some(model.address.clone());
        self.trace.usage = answer.usage;
        self.trace.fallback_used = !first_choice;
        let alert = self.charge(model, call.reservation);
        let status = if self.plan.degraded {
            EventStatus::Degraded
        } else {
            EventStatus::Ok
        };
        let delta = usage_delta(&self.trace, &self.plan, model, 0.0);
        let t = &self.trace;
        let outcome = EmbeddingsOutcome {
            trace_id: t.trace_id.clone(),
            vectors: answer.vectors,
            provider: model.provider.clone(),
            model: model.address.clone(),
            input_tokens: answer.usage.input_tokens,
            estimated_cost_usd: t.cost_usd,
            latency_ms: t.elapsed_ms(),
            fallback_used: t.fallback_used,
            retry_count: t.retry_count,
            policy_decision: t.policy_decision(status),
        };
        self.hearth
            .write_audit(&mut self.trace, status, None, Some(delta), alert)?;
        Ok(outcome)
    }

    /// Charges a stream its client stopped for what was generated: the provider's own count
    /// when it sent one, else an estimate from the text, and audits it as cancelled.
    pub(super) fn settle_stopped(
        &mut self,
        model: &ModelSpec,
        call: Call,
        partial: &super::stream::Partial,
    ) {
        self.trace.provider = Some(model.provider.clone());
        self.trace.model = Some(model.address.clone());
        self.trace.usage = partial.so_far.unwrap_or_else(|| Usage {
            input_tokens: estimate_prompt_tokens(&call.request),
            output_tokens: estimate_tokens(&partial.text),
            cached_input_tokens: 0,
        });
        let alert = self.charge(model, call.reservation);
        let delta = usage_delta(&self.trace, &self.plan, model, 0.0);
        if let Err(e) = self.hearth.write_audit(
            &mut self.trace,
            EventStatus::Cancelled,
            Some("client_cancelled"),
            Some(delta),
            alert,
        ) {
            tracing::error!(error = %e, trace_id = %self.trace.trace_id, "a stopped stream's audit event was lost");
        }
    }

    /// Settles a call's hold with the cost of `trace.usage` and updates the budget gauges;
    /// returns the alert when this call crossed the workspace's alert share.
    fn charge(&mut self, model: &ModelSpec, reservation: Reservation) -> Option<BudgetAlert> {
        let usage = self.trace.usage;
        self.trace.cost_usd = model.cost_of(
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
        );
        let s = reservation.settle(
            self.trace.cost_usd,
            usage.input_tokens + usage.output_tokens,
        );
        let ws = self.plan.ws.id.as_str();
        self.hearth
            .metrics
            .budget_spent_usd
            .with_label_values(&[ws])
            .set(s.spent_usd);
        self.hearth
            .metrics
            .budget_limit_usd
            .with_label_values(&[ws])
            .set(budget_of(&self.plan));
        s.alert_crossed.then(|| self.alert(s.spent_usd))
    }

    /// The template answer a tier gives once its budget is spent.
    pub(super) fn settle_template(&mut self) -> Result<ChatOutcome> {
        self.trace.provider = Some("hearth".into());
        self.trace.model = Some("hearth/budget-template".into());
        let response = ProviderResponse {
            text: BUDGET_TEMPLATE_ANSWER.into(),
            usage: Usage::default(),
            finish_reason: FinishReason::Stop,
            tool_calls: Vec::new(),
        };
        let outcome = self.outcome(&response, EventStatus::Degraded);
        self.hearth
            .write_audit(&mut self.trace, EventStatus::Degraded, None, None, None)?;
        Ok(outcome)
    }

    fn outcome(&self, response: &ProviderResponse, status: EventStatus) -> ChatOutcome {
        ChatOutcome {
            trace_id: self.trace.trace_id.clone(),
            answer: response.text.clone(),
            provider: self.trace.provider.clone().unwrap_or_default(),
            model: self.trace.model.clone().unwrap_or_default(),
            cache_hit: self.trace.cache_hit,
            fallback_used: self.trace.fallback_used,
            retry_count: self.trace.retry_count,
            latency_ms: self.trace.elapsed_ms(),
            estimated_cost_usd: self.trace.cost_usd,
            prompt_id: self.trace.prompt_id.clone(),
            prompt_version: self.trace.prompt_version.clone(),
            schema_version: self.trace.schema_version.clone(),
            task: req_task(&self.trace),
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
            finish_reason: response.finish_reason,
            tool_calls: response.tool_calls.clone(),
            policy_decision: self.trace.policy_decision(status),
        }
    }

    fn alert(&self, spent: f64) -> BudgetAlert {
        self.hearth
            .metrics
            .budget_alerts
            .with_label_values(&[self.plan.ws.id.as_str()])
            .inc();
        tracing::warn!(tenant_id = %self.plan.ws.id, spent_usd = spent, "budget alert threshold crossed");
        BudgetAlert {
            workspace_id: self.plan.ws.id.as_str().to_owned(),
            day: self.plan.day.clone(),
            share: self.plan.ws.budget_alert_share,
            spent_usd: spent,
            budget_usd: budget_of(&self.plan),
            at_ms: now_ms(),
        }
    }
}

impl Hearth {
    /// Audits and counts a request that ended in an error.
    pub(super) fn fail(&self, trace: &mut Trace, err: Error) -> Error {
        let status = match err {
            Error::BadRequest { .. }
            | Error::Unprocessable { .. }
            | Error::Forbidden { .. }
            | Error::NotFound(_)
            | Error::LimitExceeded { .. }
            | Error::Unauthorized => EventStatus::Rejected,
            _ => EventStatus::Error,
        };
        match self.write_audit(trace, status, Some(err.code()), None, None) {
            Ok(()) => err,
            Err(audit_err) => audit_err,
        }
    }

    /// Makes the audit event durable (journaled) and records the request metrics.
    pub(super) fn write_audit(
        &self,
        trace: &mut Trace,
        status: EventStatus,
        error_code: Option<&str>,
        usage: Option<UsageDelta>,
        alert: Option<BudgetAlert>,
    ) -> Result<()> {
        let event = trace.finish(status, error_code);
        self.count(trace, status);
        let written = {
            let _span = tracing::debug_span!("audit.write", trace_id = %trace.trace_id).entered();
            self.writer.audit(event, now_ms(), usage, alert)
        };
        // Making the audit event durable is the gateway's own time, so it counts.
        self.metrics
            .overhead_seconds
            .observe(trace.overhead().as_secs_f64());
        written
    }

    fn count(&self, trace: &Trace, status: EventStatus) {
        let task = &trace.task_label;
        let provider = trace.provider.as_deref().unwrap_or("none");
        let model = trace.model.as_deref().unwrap_or("none");
        let m = &self.metrics;
        m.requests
            .with_label_values(&[&trace.tier, task, provider, model, status.as_str()])
            .inc();
        m.latency_ms
            .with_label_values(&[task, provider, model])
            .observe(trace.elapsed_ms());
        if trace.usage.input_tokens + trace.usage.output_tokens > 0 && !trace.cache_hit {
            m.input_tokens
                .with_label_values(&[&trace.tenant_id, task, model])
                .inc_by(trace.usage.input_tokens);
            m.output_tokens
                .with_label_values(&[&trace.tenant_id, task, model])
                .inc_by(trace.usage.output_tokens);
            m.cost_usd
                .with_label_values(&[&trace.tenant_id, task, model])
                .inc_by(trace.cost_usd);
        }
        tracing::info!(
            trace_id = %trace.trace_id, tenant_id = %trace.tenant_id, task = %task, provider, model,
            status = status.as_str(), latency_ms = trace.elapsed_ms(), cache_hit = trace.cache_hit,
            retry_count = trace.retry_count, fallback_used = trace.fallback_used, "request finished"
        );
    }
}

/// A served answer, ready to settle.
pub(super) struct Served<'a> {
    pub model: &'a ModelSpec,
    pub response: &'a ProviderResponse,
    pub call: Option<Call>,
    pub first_choice: bool,
    /// `Some(cost it saved)` when the cache answered.
    pub cached: Option<f64>,
}

/// The usage row of a settled request (a cache hit used no tokens).
fn usage_delta(trace: &Trace, p: &Prepared, model: &ModelSpec, saved_usd: f64) -> UsageDelta {
    let used = if trace.cache_hit {
        Usage::default()
    } else {
        trace.usage
    };
    UsageDelta {
        workspace_id: p.ws.id.as_str().to_owned(),
        day: p.day.clone(),
        model: model.address.clone(),
        input_tokens: used.input_tokens,
        output_tokens: used.output_tokens,
        cost_usd: trace.cost_usd,
        cache_hit: trace.cache_hit,
        saved_usd,
    }
}

/// The workspace's daily budget: its own, else its tier's.
pub(super) fn budget_of(p: &Prepared) -> f64 {
    p.ws.daily_budget_usd.unwrap_or(p.tier.daily_budget_usd)
}

fn req_task(trace: &Trace) -> String {
    trace.task.clone().unwrap_or_default()
}
