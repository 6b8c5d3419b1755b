//! What a fresh install holds: the `default` workspace, and in demo mode the seed's lab
//! (three tenants and two prompts).

use super::Hearth;
use crate::error::{Error, Result};
use crate::prompts::{NewPrompt, RolloutStatus};
use crate::providers::ResponseFormat;
use crate::store::workspaces;
use crate::workspace::{DataPolicy, Workspace, WorkspaceId};

/// Requests a minute of `tenant_free` in the demo, so the lab reaches 429 within seconds.
const DEMO_FREE_RPM: u32 = 30;

impl Hearth {
    /// The most capable tier the policy has (enterprise, else pro, else the first).
    pub fn best_tier(&self) -> String {
        let tiers = &self.config().policy.tiers;
        ["enterprise", "pro"]
            .iter()
            .find(|t| tiers.contains_key(**t))
            .map(|t| (*t).to_owned())
            .or_else(|| tiers.keys().next().cloned())
            .unwrap_or_default()
    }

    /// Creates a workspace unless it exists.
    fn ensure_workspace(&self, ws: Workspace) -> Result<()> {
        match self.store.with(|c| workspaces::insert(c, &ws)) {
            Err(e) if e.code() == "workspace_exists" => Ok(()),
            other => other,
        }
    }

    pub(super) fn ensure_default_workspace(&self) -> Result<()> {
        let id = WorkspaceId::parse("default")?;
        self.ensure_workspace(Workspace::new(id, &self.best_tier(), DataPolicy::Any))
    }

    /// Adds the seed's lab to this install (idempotent): workspaces `tenant_free`,
    /// `tenant_pro`, `tenant_enterprise` on the tiers of the same name, and prompts
    /// `support_triage` v1 and `assistant` v1, both stable.
    pub fn seed_demo(&self) -> Result<()> {
        for tier in ["free", "pro", "enterprise"] {
            if !self.config().policy.tiers.contains_key(tier) {
                return Err(Error::Config(format!(
                    "the demo needs a tier named `{tier}` in the policy"
                )));
            }
            let mut ws = Workspace::new(
                WorkspaceId::parse(&format!("tenant_{tier}"))?,
                tier,
                DataPolicy::Any,
            );
            if tier == "free" {
                ws.rpm = Some(DEMO_FREE_RPM);
            }
            self.ensure_workspace(ws)?;
        }
        for p in demo_prompts() {
            match self.prompts.create(p) {
                Err(e) if e.code() == "prompt_exists" => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }
}

fn demo_prompts() -> Vec<NewPrompt> {
    vec![
        NewPrompt {
            prompt_id: "support_triage".into(),
            version: "v1".into(),
            template: "You triage customer support tickets. Read the ticket in the user message and \
                       answer with one JSON object: category, priority (low|medium|high) and a one-line summary."
                .into(),
            variables: vec![],
            owner: "support-platform".into(),
            compatible_models: vec!["mock-fast/fast-extract-v1".into(), "mock-balanced/fallback-balanced-v1".into()],
            schema_version: Some("ticket_triage.v1".into()),
            response_format: ResponseFormat::JsonObject,
            eval: Some(serde_json::json!({"exact_json_rate": 0.992, "priority_macro_f1": 0.87})),
            changelog: "First version for the lab.".into(),
            status: Some(RolloutStatus::Stable),
            workspace: None,
        },
        NewPrompt {
            prompt_id: "assistant".into(),
            version: "v1".into(),
            template: "You are a careful assistant. Think step by step and state trade-offs plainly.".into(),
            variables: vec![],
            owner: "platform".into(),
            compatible_models: vec![],
            schema_version: None,
            response_format: ResponseFormat::Text,
            eval: Some(serde_json::json!({})),
            changelog: "First version for the lab.".into(),
            status: Some(RolloutStatus::Stable),
            workspace: None,
        },
    ]
}
