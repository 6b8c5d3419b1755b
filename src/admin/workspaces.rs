//! Creating and changing workspaces.

use crate::error::{Error, Result};
use crate::orchestrator::Hearth;
use crate::store::workspaces;
use crate::workspace::{DataPolicy, Workspace, WorkspaceId, WorkspacePatch};

/// Creates workspace `id` on `tier` with `policy` and `patch`'s settings.
pub fn create_workspace(
    hearth: &Hearth,
    id: &str,
    tier: &str,
    policy: DataPolicy,
    patch: WorkspacePatch,
) -> Result<Workspace> {
    check_tier(hearth, tier)?;
    let mut ws = Workspace::new(WorkspaceId::parse(id)?, tier, policy);
    apply(patch, &mut ws)?;
    hearth.store().with(|c| workspaces::insert(c, &ws))?;
    Ok(ws)
}

/// Applies `patch` to workspace `id` and saves it.
pub fn update_workspace(
    hearth: &Hearth,
    id: &WorkspaceId,
    patch: WorkspacePatch,
) -> Result<Workspace> {
    let mut ws = hearth.workspace(id)?;
    if let Some(tier) = &patch.tier {
        check_tier(hearth, tier)?;
    }
    apply(patch, &mut ws)?;
    hearth.store().with(|c| workspaces::update(c, &ws))?;
    Ok(ws)
}

fn apply(patch: WorkspacePatch, ws: &mut Workspace) -> Result<()> {
    patch
        .apply(ws)
        .map_err(|e| Error::unprocessable("invalid_value", e.to_string()))
}

/// A workspace on a tier the policy lacks would fail every request, so it is refused.
fn check_tier(hearth: &Hearth, tier: &str) -> Result<()> {
    let tiers = &hearth.config().policy.tiers;
    if tiers.contains_key(tier) {
        return Ok(());
    }
    let known: Vec<&str> = tiers.keys().map(String::as_str).collect();
    Err(Error::unprocessable(
        "invalid_value",
        format!(
            "no tier `{tier}` in the policy (tiers: {})",
            known.join(", ")
        ),
    ))
}
