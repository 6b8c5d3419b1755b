//! The first stage of a request: its trace, then validation, admission, the prompt and the
//! route, decided once before any candidate is tried.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::embed::{EMBEDDINGS_ENDPOINT, EMBEDDINGS_TASK, MAX_INPUTS};
use super::privacy::{self, PiiScan};
use super::trace::Trace;
use super::{CachePreference, ChatRequest, Hearth, Snapshot};
use crate::config::{Config, ModelSpec, Policy, Tier};
use crate::error::{Error, LimitKind, Result};
use crate::prompts::render_system_prompt;
use crate::providers::{Message, OutputFormat, Role, Tools};
use crate::quota::Permit;
use crate::routing::{self, Target};
use crate::store::{day_of, now_ms};
use crate::telemetry::closed_label;
use crate::workspace::{valid_name, Workspace};

/// Longest task name a request may give.
const MAX_TASK_CHARS: usize = 64;

/// Most messages a request may carry.
const MAX_MESSAGES: usize = 1024;

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
    pub response_format: OutputFormat,
    pub tools: Tools,
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
        t.tool_names = req.tools.names();
        // An embeddings request naming a model runs as the `embeddings` task: a label of its own.
        let routed = config.policy.routes.contains_key(&req.task)
            || (req.endpoint == EMBEDDINGS_ENDPOINT && req.task == EMBEDDINGS_TASK);
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
        // An embeddings request's texts are its messages, under their own bound.
        let most = match req.endpoint {
            EMBEDDINGS_ENDPOINT => MAX_INPUTS,
            _ => MAX_MESSAGES,
        };
        if req.messages.len() > most {
            return Err(Error::bad_request(
                "invalid_request",
                format!("a request may carry at most {most} messages"),
            ));
        }
        // The seed's tool services: only the workspace's allowlist, before any provider.
        if let Some(t) = req.tools.tools.iter().find(|t| !ws.allows_tool(&t.name)) {
            return Err(Error::forbidden(
                "tool_not_allowed",
                format!(
                    "the tool `{}` is not allowed in workspace `{}`",
                    t.name, ws.id
                ),
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
            tools: req.tools.clone(),
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
    ) -> Result<(Vec<Message>, OutputFormat)> {
        let Some(pref) = &req.prompt else {
            return Ok((
                req.messages.clone(),
                req.response_format.clone().unwrap_or_default(),
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
        messages.push(Message::new(Role::System, system));
        messages.extend(req.messages.iter().cloned());
        let format = req
            .response_format
            .clone()
            .unwrap_or_else(|| p.response_format.into());
        Ok((messages, format))
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
