//! The model router: from the task's route (or an explicitly named model), the workspace's
//! tier and data policy, the ordered candidates to try, with the reason for every model
//! chosen or skipped. Breaker state and budgets are applied per attempt by the orchestrator,
//! which appends those skips to the same decision.

use crate::config::{Locality, ModelSpec, Policy, RouteAction, Tier};
use crate::error::{Error, Result};
use crate::workspace::DataPolicy;

/// What the request asked to be routed by.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The task's route.
    Task(&'a str),
    /// One model by alias or `PROVIDER/MODEL`, for a task.
    Model {
        /// The model named.
        name: &'a str,
        /// The task it is for.
        task: &'a str,
    },
}

/// The router's answer.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Models to try, in order.
    pub candidates: Vec<ModelSpec>,
    /// Why: the rule used and every model skipped with its reason.
    pub reasons: Vec<String>,
    /// Whether the tier's default model stands in for a route it may not use.
    pub degraded: bool,
}

impl Decision {
    /// The decision as one line for the audit log: `allow`, then the reasons.
    pub fn summary(&self) -> String {
        let head = if self.degraded { "degrade" } else { "allow" };
        if self.reasons.is_empty() {
            head.to_owned()
        } else {
            format!("{head}; {}", self.reasons.join("; "))
        }
    }
}

fn blocked_by_data_policy(policy: &Policy, m: &ModelSpec, data: DataPolicy) -> bool {
    data == DataPolicy::LocalOnly && policy.locality(&m.provider) != Some(Locality::OnDevice)
}

/// Chooses the candidates for a request.
pub fn decide(
    policy: &Policy,
    tier: &Tier,
    data: DataPolicy,
    target: Target<'_>,
) -> Result<Decision> {
    match target {
        Target::Model { name, .. } => explicit(policy, tier, data, name),
        Target::Task(task) => by_route(policy, tier, data, task),
    }
}

fn explicit(policy: &Policy, tier: &Tier, data: DataPolicy, name: &str) -> Result<Decision> {
    let m = policy
        .model(name)
        .ok_or_else(|| Error::bad_request("unknown_model", format!("no model `{name}`")))?;
    if !tier.allows(m) {
        return Err(Error::forbidden(
            "model_not_allowed",
            format!("tier `{}` may not use `{}`", tier.name, m.address),
        ));
    }
    if blocked_by_data_policy(policy, m, data) {
        return Err(Error::forbidden(
            "policy_blocked",
            format!("this workspace is local_only and `{}` is hosted", m.address),
        ));
    }
    Ok(Decision {
        candidates: vec![m.clone()],
        reasons: vec![format!("model {} named by the request", m.address)],
        degraded: false,
    })
}

fn by_route(policy: &Policy, tier: &Tier, data: DataPolicy, task: &str) -> Result<Decision> {
    let route = policy
        .routes
        .get(task)
        .ok_or_else(|| Error::bad_request("unknown_task", format!("no route for task `{task}`")))?;
    let mut reasons = vec![format!("route {task}")];
    let mut candidates = Vec::new();
    let mut blocked = 0;
    for alias in route.chain() {
        let Some(m) = policy.models.get(alias) else {
            continue;
        };
        if !tier.allows(m) {
            reasons.push(format!("skip {} (tier {})", m.address, tier.name));
        } else if blocked_by_data_policy(policy, m, data) {
            reasons.push(format!("skip {} (data policy local_only)", m.address));
            blocked += 1;
        } else {
            candidates.push(m.clone());
        }
    }
    if !candidates.is_empty() {
        return Ok(Decision {
            candidates,
            reasons,
            degraded: false,
        });
    }
    if blocked > 0 {
        return Err(Error::forbidden(
            "policy_blocked",
            format!("every model of route `{task}` is hosted and this workspace is local_only"),
        ));
    }
    match tier.on_route_not_allowed {
        RouteAction::Reject => Err(Error::forbidden(
            "model_not_allowed",
            format!(
                "tier `{}` may not use any model of route `{task}`",
                tier.name
            ),
        )),
        RouteAction::Degrade => {
            let m = policy.models.get(&tier.default_model).ok_or_else(|| {
                Error::Config(format!("tier `{}` has no default model", tier.name))
            })?;
            if blocked_by_data_policy(policy, m, data) {
                return Err(Error::forbidden(
                    "policy_blocked",
                    "the tier's default model is hosted and this workspace is local_only",
                ));
            }
            reasons.push(format!(
                "degrade to tier {} default {}",
                tier.name, m.address
            ));
            Ok(Decision {
                candidates: vec![m.clone()],
                reasons,
                degraded: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn policy() -> Policy {
        Config::demo().unwrap().policy
    }

    #[test]
    fn enterprise_reasoning_goes_to_the_strong_model_first() {
        let p = policy();
        let d = decide(
            &p,
            &p.tiers["enterprise"],
            DataPolicy::Any,
            Target::Task("reasoning"),
        )
        .unwrap();
        let order: Vec<_> = d.candidates.iter().map(|m| m.address.as_str()).collect();
        assert_eq!(
            order,
            [
                "mock-strong/strong-reason-v1",
                "mock-balanced/fallback-balanced-v1"
            ]
        );
        assert_eq!(d.summary(), "allow; route reasoning");
    }

    #[test]
    fn free_reasoning_degrades_to_the_small_model_by_explicit_policy() {
        let p = policy();
        let d = decide(
            &p,
            &p.tiers["free"],
            DataPolicy::Any,
            Target::Task("reasoning"),
        )
        .unwrap();
        assert!(d.degraded);
        assert_eq!(d.candidates[0].address, "mock-fast/fast-extract-v1");
        assert!(
            d.summary()
                .contains("skip mock-strong/strong-reason-v1 (tier free)"),
            "{}",
            d.summary()
        );
    }

    #[test]
    fn a_local_only_workspace_is_never_routed_to_a_hosted_model() {
        let p = policy();
        let err = decide(
            &p,
            &p.tiers["enterprise"],
            DataPolicy::LocalOnly,
            Target::Task("extract"),
        )
        .unwrap_err();
        assert_eq!(err.code(), "policy_blocked");
        let err = decide(
            &p,
            &p.tiers["enterprise"],
            DataPolicy::LocalOnly,
            Target::Model {
                name: "mock-fast/fast-extract-v1",
                task: "chat",
            },
        )
        .unwrap_err();
        assert_eq!(err.code(), "policy_blocked");
    }

    #[test]
    fn unknown_tasks_and_models_are_bad_requests_and_disallowed_models_forbidden() {
        let p = policy();
        let free = &p.tiers["free"];
        assert_eq!(
            decide(&p, free, DataPolicy::Any, Target::Task("poetry"))
                .unwrap_err()
                .code(),
            "unknown_task"
        );
        assert_eq!(
            decide(
                &p,
                free,
                DataPolicy::Any,
                Target::Model {
                    name: "x/y",
                    task: "chat"
                }
            )
            .unwrap_err()
            .code(),
            "unknown_model"
        );
        assert_eq!(
            decide(
                &p,
                free,
                DataPolicy::Any,
                Target::Model {
                    name: "mock-strong/strong-reason-v1",
                    task: "chat"
                }
            )
            .unwrap_err()
            .code(),
            "model_not_allowed"
        );
    }
}
