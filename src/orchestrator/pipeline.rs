//! The stages of one request, shared by the whole and the streamed paths.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::candidates::{Chosen, Whole};
use super::privacy::{self, PiiScan, View};
use super::trace::Trace;
use super::{CachePreference, ChatOutcome, ChatRequest, Hearth, Snapshot};
use crate::audit::EventStatus;
use crate::cache::{CacheKey, CachedAnswer, KeyScope};
use crate::config::{BudgetAction, Config, ModelSpec, Policy, Tier};
use crate::error::{CandidateOutcome, Error, LimitKind, Result};
use crate::prompts::render_system_prompt;
use crate::providers::{
    estimate_prompt_tokens, estimate_tokens, FinishReason, Message, ProviderError, ProviderRequest,
    ProviderResponse, ResponseFormat, Role, Usage,
};
use crate::quota::{Limits, Permit, Reservation};
use crate::resilience::{retry_delay, Admission};
use crate::routing::{self, Target};
use crate::store::usage::{BudgetAlert, UsageDelta};
use crate::store::{day_of, now_ms, usage};
use crate::telemetry::closed_label;
use crate::workspace::{valid_name, Workspace};

/// Longest task name a request may give.
const MAX_TASK_CHARS: usize = 64;

/// Most messages a request may carry.
const MAX_MESSAGES: usize = 1024;

/// The text of a tier's template answer when its budget is spent.
pub(super) const BUDGET_TEMPLATE_ANSWER: &str =
    "This workspace has used its daily budget, so this request was not sent to a model. \
     It will be served again tomorrow (UTC), or sooner if an admin raises the budget.";

/// Everything decided before the first candidate is tried.
pub(super) struct Prepared {
    /// The policy and providers the whole request runs on.
    pub snap: Arc<Snapshot>,
    pub ws: Workspace,
    pub tier: Tier,
    pub candidates: VecDeque<ModelSpec>,
    pub degraded: bool,
    pub messages: Vec<Message>,
    pub pii: PiiScan,
    pub max_output_tokens: u32,
    pub response_format: ResponseFormat,
    pub cacheable: bool,
    pub permission_hash: String,
    pub deadline: Instant,
    pub _permit: Permit,
    pub day: String,
}

impl Prepared {
    /// The time one attempt may take: the attempt timeout, cut to what is left of the deadline.
    pub(super) fn attempt_budget(&self) -> Option<Duration> {
        let left = self.deadline.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then(|| left.min(self.snap.config.resilience.attempt_timeout))
    }
}

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

impl Hearth {
    /// The trace of a request whose workspace exists. A request naming no known workspace
    /// is refused before it is traced, so nobody can fill the audit log with made-up names.
    pub(super) fn new_trace(
        &self,
        req: &ChatRequest,
        config: &Config,
        trace_id: String,
    ) -> Result<(Trace, Workspace)> {
        let ws = self.workspace(&req.principal.workspace)?;
        let mut t = Trace::new(
            req.received_at,
            trace_id,
            req.endpoint,
            req.principal.workspace.as_str().to_owned(),
            self.users.hash(&req.principal.user),
            self.writer.clone(),
        );
        // A malformed task is refused in `prepare`; the audit event then names none.
        t.task = valid_name(&req.task, MAX_TASK_CHARS).then(|| req.task.clone());
        let routed = config.policy.routes.contains_key(&req.task);
        t.task_label = closed_label(&req.task, routed).to_owned();
        Ok((t, ws))
    }

    /// Validates, admits, renders the prompt and routes.
    pub(super) fn prepare(
        &self,
        req: &ChatRequest,
        ws: Workspace,
        snap: Arc<Snapshot>,
        trace: &mut Trace,
    ) -> Result<Prepared> {
        let config = &*snap.config;
        let tier = config.policy.tiers.get(&ws.tier).cloned().ok_or_else(|| {
            Error::Config(format!(
                "workspace `{}` has unknown tier `{}`",
                ws.id, ws.tier
            ))
        })?;
        trace.tier = tier.name.clone();
        if trace.task.is_none() {
            return Err(Error::bad_request(
                "invalid_request",
                format!(
                    "a task is 1-{MAX_TASK_CHARS} characters of letters, digits, '_', '.' or '-'"
                ),
            ));
        }
        if req.messages.len() > MAX_MESSAGES {
            return Err(Error::bad_request(
                "invalid_request",
                format!("a request may carry at most {MAX_MESSAGES} messages"),
            ));
        }
        let max_output_tokens = output_cap(&config.policy, req, &tier)?;
        // One rule for every front end (HTTP, OpenAI wire format, CLI).
        if !(0.0..=2.0).contains(&req.temperature)
            || req.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0))
            || req.top_k == Some(0)
            || req.min_p.is_some_and(|p| !(0.0..=1.0).contains(&p))
        {
            return Err(Error::bad_request(
                "invalid_request",
                "temperature must be between 0 and 2, top_p in (0, 1], top_k at least 1 and min_p in [0, 1]",
            ));
        }
        if !req
            .messages
            .iter()
            .any(|m| matches!(m.role, Role::User | Role::Text) && !m.content.trim().is_empty())
        {
            return Err(Error::bad_request(
                "empty_message",
                "the request has no non-empty user message",
            ));
        }
        let target = match &req.model {
            Some(name) => Target::Model {
                name,
                task: &req.task,
            },
            None => Target::Task(&req.task),
        };
        let decision = routing::decide(&config.policy, &tier, ws.data_policy, target)?;
        trace.decision.extend(decision.reasons.iter().cloned());
        let permit = self.admit(req, &ws, &tier)?;
        let deadline = Instant::now() + config.resilience.request_deadline;
        let (messages, response_format) = self.build_messages(req, trace)?;
        let policy = &config.policy;
        let pii = {
            let _span = tracing::debug_span!("policy.pii", trace_id = %trace.trace_id).entered();
            self.detectors
                .scan(&ws, policy, &decision.candidates, &messages)?
        };
        let candidates = privacy::filter(
            &pii,
            policy,
            ws.data_policy,
            decision.candidates,
            &mut trace.decision,
        )?;
        let deterministic = req.temperature == 0.0;
        let cacheable = ws.cache_enabled
            && match req.cache {
                CachePreference::Auto => deterministic,
                CachePreference::Use => true,
                CachePreference::Bypass => false,
            };
        let permission_hash = hex::encode(
            Sha256::new()
                .chain_update(req.principal.role.as_str())
                .chain_update([0])
                .chain_update(&tier.name)
                .finalize(),
        );
        Ok(Prepared {
            snap,
            ws,
            tier,
            candidates: candidates.into(),
            pii,
            degraded: decision.degraded,
            messages,
            max_output_tokens,
            response_format,
            cacheable,
            permission_hash,
            deadline,
            _permit: permit,
            day: day_of(now_ms()),
        })
    }

    fn admit(&self, req: &ChatRequest, ws: &Workspace, tier: &Tier) -> Result<Permit> {
        let limited = |kind: LimitKind, wait: Duration| {
            self.metrics
                .quota_rejections
                .with_label_values(&[ws.id.as_str(), kind.code()])
                .inc();
            Error::LimitExceeded {
                kind,
                retry_after: wait,
                message: format!(
                    "{} for workspace `{}`",
                    kind.code().replace('_', " "),
                    ws.id
                ),
            }
        };
        if let Some(rpm) = ws.rpm.or(tier.rpm) {
            self.rates
                .check(&format!("w\0{}", ws.id), rpm)
                .map_err(|wait| limited(LimitKind::WorkspaceRate, wait))?;
        }
        if let Some(rpm) = ws.user_rpm {
            let key = format!("u\0{}\0{}", ws.id, req.principal.user.as_str());
            self.rates
                .check(&key, rpm)
                .map_err(|wait| limited(LimitKind::UserRate, wait))?;
        }
        self.bulkhead
            .try_enter(ws.id.as_str(), ws.max_concurrency)
            .ok_or_else(|| limited(LimitKind::Concurrency, Duration::from_secs(1)))
    }

    fn build_messages(
        &self,
        req: &ChatRequest,
        trace: &mut Trace,
    ) -> Result<(Vec<Message>, ResponseFormat)> {
        let Some(pref) = &req.prompt else {
            return Ok((
                req.messages.clone(),
                req.response_format.unwrap_or_default(),
            ));
        };
        let _span = tracing::debug_span!("prompt.build", trace_id = %trace.trace_id).entered();
        let p = self.prompts.resolve(
            &req.principal.workspace,
            &pref.id,
            pref.version.as_deref(),
            &req.principal.user,
        )?;
        trace.prompt_id = Some(p.prompt_id.clone());
        trace.prompt_version = Some(p.version.clone());
        trace.schema_version = p.schema_version.clone();
        let system = render_system_prompt(&p, &req.variables)?;
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        messages.push(Message {
            role: Role::System,
            content: system,
        });
        messages.extend(req.messages.iter().cloned());
        Ok((messages, req.response_format.unwrap_or(p.response_format)))
    }

    /// Breaker, cache and budget for one candidate.
    pub(super) fn begin(
        &self,
        req: &ChatRequest,
        p: &Prepared,
        m: &ModelSpec,
        trace: &mut Trace,
    ) -> Result<Step> {
        if self.breakers.admit(&m.provider) == Admission::Rejected {
            trace
                .decision
                .push(format!("skip {} (breaker open)", m.address));
            return Ok(Step::Skip("breaker_open"));
        }
        if p.snap
            .providers
            .get(&m.provider)
            .is_none_or(|pr| !pr.is_usable())
        {
            trace
                .decision
                .push(format!("skip {} (provider not usable)", m.address));
            return Ok(Step::Skip("provider_not_usable"));
        }
        // The guard again at the call: a downgrade model was not among the filtered ones.
        let messages = match p.pii.view(&p.snap.config.policy, p.ws.data_policy, m) {
            View::Original => p.messages.clone(),
            View::Redacted => p.pii.redacted.clone().unwrap_or_default(),
            View::Forbidden => {
                trace
                    .decision
                    .push(format!("skip {} ({})", m.address, p.pii.summary()));
                return Ok(Step::Skip("data_policy"));
            }
        };
        let request = ProviderRequest {
            model_id: m.model_id.clone(),
            messages,
            max_output_tokens: p.max_output_tokens.min(m.max_output_tokens),
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.top_k,
            min_p: req.min_p,
            stop: req.stop.clone(),
            seed: req.seed,
            response_format: p.response_format,
        };
        let key = p.cacheable.then(|| {
            let scope = KeyScope {
                workspace: &p.ws.id,
                permission_hash: &p.permission_hash,
                prompt_id: trace.prompt_id.as_deref(),
                prompt_version: trace.prompt_version.as_deref(),
                schema_version: trace.schema_version.as_deref(),
                task: &req.task,
            };
            CacheKey::derive(&scope, &m.address, &request)
        });
        if let Some(k) = &key {
            let _span = tracing::debug_span!("cache.lookup", trace_id = %trace.trace_id).entered();
            if let Some(hit) = self.cache.lookup(&p.ws.id, k)? {
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
        let held_output =
            self.outputs
                .estimate(&trace.task_label, &m.address, request.max_output_tokens);
        let limits = Limits {
            budget_usd: budget_of(p),
            token_limit: p.ws.daily_token_limit,
            alert_share: p.ws.budget_alert_share,
        };
        let reserved = self.budgets.reserve(
            p.ws.id.as_str(),
            &p.day,
            limits,
            m.cost_usd(worst_input, held_output),
            worst_input + held_output,
            || {
                self.store
                    .with(|c| usage::day_totals(c, p.ws.id.as_str(), &p.day))
                    .unwrap_or((f64::MAX, u64::MAX))
            },
        );
        match reserved {
            Ok(reservation) => Ok(Step::Call(Box::new(Call {
                request,
                key,
                reservation,
            }))),
            Err(LimitKind::Budget) => self.budget_spent(p, m, trace),
            Err(LimitKind::BudgetReserved) => Err(self.limit(
                p,
                LimitKind::BudgetReserved,
                "the workspace's daily budget is held by requests in flight; retry when they finish",
            )),
            Err(kind) => Err(self.limit(p, kind, "the workspace's daily token limit is reached")),
        }
    }

    fn budget_spent(&self, p: &Prepared, m: &ModelSpec, trace: &mut Trace) -> Result<Step> {
        match p.tier.on_budget_exhausted {
            BudgetAction::Template => {
                trace.decision.push("budget spent: template answer".into());
                Ok(Step::Template)
            }
            BudgetAction::Downgrade => {
                let config = &p.snap.config;
                let down = p
                    .tier
                    .downgrade_model
                    .as_ref()
                    .and_then(|a| config.policy.models.get(a));
                match down {
                    Some(d) if d.alias != m.alias => {
                        trace.decision.push(format!(
                            "budget spent: downgrade {} -> {}",
                            m.address, d.address
                        ));
                        Ok(Step::Downgrade(d.clone()))
                    }
                    _ => Err(self.limit(
                        p,
                        LimitKind::Budget,
                        "the workspace's daily budget is spent",
                    )),
                }
            }
            BudgetAction::Reject => Err(self.limit(
                p,
                LimitKind::Budget,
                "the workspace's daily budget is spent",
            )),
        }
    }

    fn limit(&self, p: &Prepared, kind: LimitKind, message: &str) -> Error {
        self.metrics
            .quota_rejections
            .with_label_values(&[p.ws.id.as_str(), kind.code()])
            .inc();
        // Holds of calls in flight are released within seconds; a spent day only at midnight.
        let retry_after = match kind {
            LimitKind::BudgetReserved => Duration::from_secs(1),
            _ => seconds_to_utc_midnight(),
        };
        Error::LimitExceeded {
            kind,
            retry_after,
            message: format!("{message} (workspace `{}`)", p.ws.id),
        }
    }

    pub(super) fn note_failure(&self, m: &ModelSpec, err: &ProviderError, trace: &mut Trace) {
        self.metrics
            .provider_errors
            .with_label_values(&[&m.provider, err.kind()])
            .inc();
        // A refused key will not heal within a cool-down's retries: open at once.
        let opened = match err {
            ProviderError::Auth => self.breakers.open_now(&m.provider),
            e if e.counts_against_provider() => self.breakers.record_failure(&m.provider),
            _ => false,
        };
        if opened {
            trace
                .decision
                .push(format!("breaker opened for {}", m.provider));
        }
    }

    /// Waits out the backoff and returns true when another attempt is worth making.
    pub(super) async fn should_retry(
        &self,
        m: &ModelSpec,
        err: &ProviderError,
        retry: u32,
        p: &Prepared,
        trace: &mut Trace,
    ) -> bool {
        let r = &p.snap.config.resilience;
        if !err.is_transient() || retry >= r.max_retries {
            return false;
        }
        let retry_after = match err {
            ProviderError::RateLimited { retry_after } => *retry_after,
            _ => None,
        };
        let delay = retry_delay(retry, r.backoff_base, r.backoff_max, retry_after);
        if Instant::now() + delay >= p.deadline
            || self.breakers.admit(&m.provider) == Admission::Rejected
        {
            return false;
        }
        tokio::time::sleep(delay).await;
        trace.waiting += delay;
        trace.retry_count += 1;
        self.metrics
            .retries
            .with_label_values(&[&m.provider, &trace.task_label])
            .inc();
        true
    }

    /// Charges, caches, audits (durably) and counts a served answer.
    pub(super) fn settle(
        &self,
        trace: &mut Trace,
        p: &Prepared,
        served: Served<'_>,
    ) -> Result<ChatOutcome> {
        let Served {
            model,
            response,
            call,
            first_choice,
            cached,
        } = served;
        trace.provider = Some(model.provider.clone());
        trace.model = Some(model.address.clone());
        trace.usage = response.usage;
        trace.fallback_used = !first_choice;
        let mut saved = 0.0;
        let mut alert = None;
        if let Some(cost) = cached {
            trace.cache_hit = true;
            saved = cost;
            self.metrics
                .cache_hits
                .with_label_values(&[&trace.task_label, "exact"])
                .inc();
        } else if let Some(call) = call {
            self.outputs.observe(
                &trace.task_label,
                &model.address,
                response.usage.output_tokens,
            );
            alert = self.charge(trace, p, model, call.reservation);
            if let Some(key) = &call.key {
                let answer = CachedAnswer {
                    response: response.clone(),
                    provider: model.provider.clone(),
                    model: model.address.clone(),
                    cost_usd: trace.cost_usd,
                };
                self.cache.store(&p.ws.id, key, &answer);
            }
        }
        let status = if p.degraded {
            EventStatus::Degraded
        } else {
            EventStatus::Ok
        };
        let delta = usage_delta(trace, p, model, saved);
        let outcome = self.outcome(trace, response, status);
        self.write_audit(trace, status, None, Some(delta), alert)?;
        Ok(outcome)
    }

    /// Charges a stream its client stopped for what was generated: the provider's own count
    /// when it sent one, else an estimate from the text, and audits it as cancelled.
    pub(super) fn settle_stopped(
        &self,
        trace: &mut Trace,
        p: &Prepared,
        model: &ModelSpec,
        call: Call,
        partial: &super::stream::Partial,
    ) {
        trace.provider = Some(model.provider.clone());
        trace.model = Some(model.address.clone());
        trace.usage = partial.so_far.unwrap_or_else(|| Usage {
            input_tokens: estimate_prompt_tokens(&call.request),
            output_tokens: estimate_tokens(&partial.text),
            cached_input_tokens: 0,
        });
        let alert = self.charge(trace, p, model, call.reservation);
        let delta = usage_delta(trace, p, model, 0.0);
        if let Err(e) = self.write_audit(
            trace,
            EventStatus::Cancelled,
            Some("client_cancelled"),
            Some(delta),
            alert,
        ) {
            tracing::error!(error = %e, trace_id = %trace.trace_id, "a stopped stream's audit event was lost");
        }
    }

    /// Settles a call's hold with the cost of `trace.usage` and updates the budget gauges;
    /// returns the alert when this call crossed the workspace's alert share.
    fn charge(
        &self,
        trace: &mut Trace,
        p: &Prepared,
        model: &ModelSpec,
        reservation: Reservation,
    ) -> Option<BudgetAlert> {
        let usage = trace.usage;
        trace.cost_usd = model.cost_of(&usage);
        let s = reservation.settle(trace.cost_usd, usage.input_tokens + usage.output_tokens);
        let ws = p.ws.id.as_str();
        self.metrics
            .budget_spent_usd
            .with_label_values(&[ws])
            .set(s.spent_usd);
        self.metrics
            .budget_limit_usd
            .with_label_values(&[ws])
            .set(budget_of(p));
        s.alert_crossed.then(|| self.alert(p, s.spent_usd))
    }

    /// The template answer a tier gives once its budget is spent.
    pub(super) fn settle_template(&self, trace: &mut Trace) -> Result<ChatOutcome> {
        trace.provider = Some("hearth".into());
        trace.model = Some("hearth/budget-template".into());
        let response = ProviderResponse {
            text: BUDGET_TEMPLATE_ANSWER.into(),
            usage: Usage::default(),
            finish_reason: FinishReason::Stop,
        };
        let outcome = self.outcome(trace, &response, EventStatus::Degraded);
        self.write_audit(trace, EventStatus::Degraded, None, None, None)?;
        Ok(outcome)
    }

    fn outcome(
        &self,
        trace: &Trace,
        response: &ProviderResponse,
        status: EventStatus,
    ) -> ChatOutcome {
        ChatOutcome {
            trace_id: trace.trace_id.clone(),
            answer: response.text.clone(),
            provider: trace.provider.clone().unwrap_or_default(),
            model: trace.model.clone().unwrap_or_default(),
            cache_hit: trace.cache_hit,
            fallback_used: trace.fallback_used,
            retry_count: trace.retry_count,
            latency_ms: trace.elapsed_ms(),
            estimated_cost_usd: trace.cost_usd,
            prompt_id: trace.prompt_id.clone(),
            prompt_version: trace.prompt_version.clone(),
            schema_version: trace.schema_version.clone(),
            task: req_task(trace),
            input_tokens: response.usage.input_tokens,
            output_tokens: response.usage.output_tokens,
            finish_reason: response.finish_reason,
            policy_decision: trace.policy_decision(status),
        }
    }

    fn alert(&self, p: &Prepared, spent: f64) -> BudgetAlert {
        self.metrics
            .budget_alerts
            .with_label_values(&[p.ws.id.as_str()])
            .inc();
        tracing::warn!(tenant_id = %p.ws.id, spent_usd = spent, "budget alert threshold crossed");
        BudgetAlert {
            workspace_id: p.ws.id.as_str().to_owned(),
            day: p.day.clone(),
            share: p.ws.budget_alert_share,
            spent_usd: spent,
            budget_usd: budget_of(p),
            at_ms: now_ms(),
        }
    }

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

    /// Records the fallback metric when a later candidate answered.
    pub(super) fn note_fallback(&self, trace: &Trace, from: &str, to: &str) {
        if from != to {
            self.metrics
                .fallbacks
                .with_label_values(&[&trace.task_label, from, to])
                .inc();
        }
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
fn budget_of(p: &Prepared) -> f64 {
    p.ws.daily_budget_usd.unwrap_or(p.tier.daily_budget_usd)
}

fn req_task(trace: &Trace) -> String {
    trace.task.clone().unwrap_or_default()
}

/// Whether an answer meets the required format.
pub(super) fn output_is_valid(format: ResponseFormat, text: &str) -> bool {
    let _span = tracing::debug_span!("output.validate").entered();
    match format {
        ResponseFormat::Text => true,
        ResponseFormat::JsonObject => {
            serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v.is_object())
        }
    }
}

fn seconds_to_utc_midnight() -> Duration {
    let ms_per_day = 86_400_000;
    let left = ms_per_day - now_ms().rem_euclid(ms_per_day);
    Duration::from_millis(u64::try_from(left).unwrap_or(0).max(1000))
}

/// The candidates loop of the whole (non-streamed) path.
impl Hearth {
    /// Serves a request whole: the seed's `/chat` and non-streamed OpenAI calls.
    pub async fn chat(&self, req: ChatRequest, trace_id: String) -> Result<ChatOutcome> {
        let snap = self.snapshot();
        let (mut trace, ws) = self.new_trace(&req, &snap.config, trace_id)?;
        match self.chat_inner(&req, ws, snap, &mut trace).await {
            Ok(out) => Ok(out),
            Err(e) => Err(self.fail(&mut trace, e)),
        }
    }

    async fn chat_inner(
        &self,
        req: &ChatRequest,
        ws: Workspace,
        snap: Arc<Snapshot>,
        trace: &mut Trace,
    ) -> Result<ChatOutcome> {
        let mut p = self.prepare(req, ws, snap, trace)?;
        match self.choose::<Whole>(req, &mut p, trace).await? {
            Chosen::Template => self.settle_template(trace),
            Chosen::Cached {
                model,
                hit,
                first_choice,
            } => {
                let served = Served {
                    model: &model,
                    response: &hit.response,
                    call: None,
                    first_choice,
                    cached: Some(hit.cost_usd),
                };
                self.settle(trace, &p, served)
            }
            Chosen::Called {
                model,
                call,
                answer: response,
                first_choice,
            } => {
                let served = Served {
                    model: &model,
                    response: &response,
                    call: Some(*call),
                    first_choice,
                    cached: None,
                };
                self.settle(trace, &p, served)
            }
        }
    }
}

/// The error when no candidate answered: `last` is the last failure, `candidates` what
/// became of each candidate in order.
pub(super) fn all_failed(last: Option<ProviderError>, candidates: Vec<CandidateOutcome>) -> Error {
    match last {
        // Nothing was sent: the request asked for what the model cannot do.
        Some(ProviderError::Unsupported(m)) => Error::bad_request("unsupported_by_model", m),
        // Hearth's own words with the numbers (what the model needs, the budget).
        Some(e @ ProviderError::NotLoadable(_)) => Error::ProvidersUnavailable {
            message: format!("every candidate model failed; last error: {e}"),
            candidates,
        },
        Some(e) if !e.is_transient() && !matches!(e, ProviderError::Auth) => Error::Provider {
            message: format!("the provider refused the request: {e}"),
            candidates,
        },
        Some(e) => Error::ProvidersUnavailable {
            message: format!("every candidate model failed; last error: {}", e.kind()),
            candidates,
        },
        None => Error::ProvidersUnavailable {
            message: "no candidate model could be tried: each was skipped (a circuit breaker open, its provider not ready, or the data policy)".into(),
            candidates,
        },
    }
}

/// The output cap of a request: the task's route and the tier's, or what it asked for.
fn output_cap(policy: &Policy, req: &ChatRequest, tier: &Tier) -> Result<u32> {
    let route_cap = policy
        .routes
        .get(&req.task)
        .and_then(|r| r.max_output_tokens);
    if req.model.is_none() && !policy.routes.contains_key(&req.task) {
        return Err(Error::bad_request(
            "unknown_task",
            format!("no route for task `{}`", req.task),
        ));
    }
    let cap = route_cap.map_or(tier.max_output_tokens, |r| r.min(tier.max_output_tokens));
    match req.max_output_tokens {
        Some(0) => Err(Error::bad_request(
            "invalid_request",
            "max_output_tokens must be at least 1",
        )),
        Some(n) if n > cap => Err(Error::bad_request(
            "max_output_tokens_exceeded",
            format!(
                "max_output_tokens {n} is over the cap of {cap} for task `{}` on tier `{}`",
                req.task, tier.name
            ),
        )),
        Some(n) => Ok(n),
        None => Ok(cap),
    }
}
