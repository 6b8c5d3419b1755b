//! One candidate at the door: its breaker, its provider, the data policy, the cache and
//! the budget decide whether it is called, answered from the cache, skipped or replaced.

use std::time::Duration;

use super::embed::EMBEDDINGS_ENDPOINT;
use super::privacy::View;
use super::run::Run;
use super::settle::budget_of;
use crate::cache::{CacheKey, CachedAnswer, KeyScope};
use crate::config::{BudgetAction, ModelSpec};
use crate::error::{Error, LimitKind, Result};
use crate::providers::ProviderRequest;
use crate::quota::{Limits, Reservation};
use crate::resilience::Admission;
use crate::store::{now_ms, usage};

/// What to do with one candidate.
pub(super) enum Step {
    /// Not to be called (its breaker is open, its provider is not usable, or the data policy
    /// keeps the request from it; the reason's code): go on to the next.
    Skip(&'static str),
    /// The cache has its answer.
    Cached(CachedAnswer),
    /// The budget is spent and the tier answers with its template.
    Template,
    /// The budget is spent and the tier switches to this cheaper model.
    Downgrade(ModelSpec),
    /// Call it.
    Call(Box<Call>),
}

/// A provider call about to be made.
pub(super) struct Call {
    pub request: ProviderRequest,
    pub key: Option<CacheKey>,
    pub reservation: Reservation,
}

impl Run {
    /// Breaker, cache and budget for one candidate.
    pub(super) fn begin(&mut self, m: &ModelSpec) -> Result<Step> {
        if self.hearth.breakers.admit(&m.provider) == Admission::Rejected {
            self.trace
                .decision
                .push(format!("skip {} (breaker open)", m.address));
            return Ok(Step::Skip("breaker_open"));
        }
        if self
            .plan
            .snap
            .providers
            .get(&m.provider)
            .is_none_or(|pr| !pr.is_usable())
        {
            self.trace
                .decision
                .push(format!("skip {} (provider not usable)", m.address));
            return Ok(Step::Skip("provider_not_usable"));
        }
        // The guard again at the call: a downgrade model was not among the filtered ones.
        let messages =
            match self
                .plan
                .pii
                .view(&self.plan.snap.config.policy, self.plan.ws.data_policy, m)
            {
                View::Original => self.plan.messages.clone(),
                View::Redacted => self.plan.pii.redacted.clone().unwrap_or_default(),
                View::Forbidden => {
                    self.trace.decision.push(format!(
                        "skip {} ({})",
                        m.address,
                        self.plan.pii.summary()
                    ));
                    return Ok(Step::Skip("data_policy"));
                }
            };
        let request = ProviderRequest {
            model_id: m.model_id.clone(),
            messages,
            max_output_tokens: self.plan.max_output_tokens.min(m.max_output_tokens),
            temperature: self.req.temperature,
            top_p: self.req.top_p,
            top_k: self.req.top_k,
            min_p: self.req.min_p,
            stop: self.req.stop.clone(),
            seed: self.req.seed,
            response_format: self.plan.response_format.clone(),
            tools: self.plan.tools.clone(),
        };
        let key = self.plan.cacheable.then(|| {
            let scope = KeyScope {
                workspace: &self.plan.ws.id,
                permission_hash: &self.plan.permission_hash,
                prompt_id: self.trace.prompt_id.as_deref(),
                prompt_version: self.trace.prompt_version.as_deref(),
                schema_version: self.trace.schema_version.as_deref(),
                task: &self.req.task,
            };
            CacheKey::derive(&scope, &m.address, &request)
        });
        if let Some(k) = &key {
            let _span =
                tracing::debug_span!("cache.lookup", trace_id = %self.trace.trace_id).entered();
            if let Some(hit) = self.hearth.cache.lookup(&self.plan.ws.id, k)? {
                return Ok(Step::Cached(hit));
            }
        }
        let worst_input: u64 = request
            .messages
            .iter()
            .map(|m| m.content.len() as u64 + 8)
            .sum();
        // The output is held at what this route and model answered lately, not at the cap:
        // settlement corrects it (docs/ARCHITECTURE.md states the overspend bound).
        let held_output = self.hearth.outputs.estimate(
            &self.trace.task_label,
            &m.address,
            request.max_output_tokens,
        );
        let limits = Limits {
            budget_usd: budget_of(&self.plan),
            token_limit: self.plan.ws.daily_token_limit,
            alert_share: self.plan.ws.budget_alert_share,
        };
        let reserved = self.hearth.budgets.reserve(
            self.plan.ws.id.as_str(),
            &self.plan.day,
            limits,
            m.cost_usd(worst_input, held_output),
            worst_input + held_output,
            || {
                self.hearth
                    .store
                    .with(|c| usage::day_totals(c, self.plan.ws.id.as_str(), &self.plan.day))
                    .unwrap_or((f64::MAX, u64::MAX))
            },
        );
        match reserved {
            Ok(reservation) => Ok(Step::Call(Box::new(Call {
                request,
                key,
                reservation,
            }))),
            Err(LimitKind::Budget) => self.budget_spent(m),
            Err(LimitKind::BudgetReserved) => Err(self.limit(LimitKind::BudgetReserved, "the workspace's daily budget is held by requests in flight; retry when they finish", )),
            Err(kind) => Err(self.limit(kind, "the workspace's daily token limit is reached")),
        }
    }

    fn budget_spent(&mut self, m: &ModelSpec) -> Result<Step> {
        // A vector has no template answer, and a downgrade model generates text.
        if self.req.endpoint == EMBEDDINGS_ENDPOINT {
            return Err(self.limit(LimitKind::Budget, "the workspace's daily budget is spent"));
        }
        match self.plan.tier.on_budget_exhausted {
            BudgetAction::Template => {
                self.trace
                    .decision
                    .push("budget spent: template answer".into());
                Ok(Step::Template)
            }
            BudgetAction::Downgrade => {
                let config = &self.plan.snap.config;
                let down = self
                    .plan
                    .tier
                    .downgrade_model
                    .as_ref()
                    .and_then(|a| config.policy.models.get(a));
                match down {
                    Some(d) if d.alias != m.alias => {
                        self.trace.decision.push(format!(
                            "budget spent: downgrade {} -> {}",
                            m.address, d.address
                        ));
                        Ok(Step::Downgrade(d.clone()))
                    }
                    _ => {
                        Err(self.limit(LimitKind::Budget, "the workspace's daily budget is spent"))
                    }
                }
            }
            BudgetAction::Reject => {
                Err(self.limit(LimitKind::Budget, "the workspace's daily budget is spent"))
            }
        }
    }

    fn limit(&self, kind: LimitKind, message: &str) -> Error {
        self.hearth
            .metrics
            .quota_rejections
            .with_label_values(&[self.plan.ws.id.as_str(), kind.code()])
            .inc();
        // Holds of calls in flight are released within seconds; a spent day only at midnight.
        let retry_after = match kind {
            LimitKind::BudgetReserved => Duration::from_secs(1),
            _ => seconds_to_utc_midnight(),
        };
        Error::LimitExceeded {
            kind,
            retry_after,
            message: format!("{message} (workspace `{}`)", self.plan.ws.id),
        }
    }
}

fn seconds_to_utc_midnight() -> Duration {
    let ms_per_day = 86_400_000;
    let left = ms_per_day - now_ms().rem_euclid(ms_per_day);
    Duration::from_millis(u64::try_from(left).unwrap_or(0).max(1000))
}
