//! API keys: creating one for a user of a workspace, listing them, revoking one.

use crate::error::Result;
use crate::orchestrator::Hearth;
use crate::store::keys::{self as stored, KeyInfo};
use crate::workspace::keys::{self, NewKey};
use crate::workspace::{Principal, Role, UserId, WorkspaceId};

/// A new key for `user` of `workspace` (which must exist) with `role`, and the principal it
/// stands for; the key itself is shown only now (its hash is stored).
pub fn create_key(
    hearth: &Hearth,
    workspace: &str,
    user: &str,
    role: Role,
) -> Result<(NewKey, Principal)> {
    let principal = Principal {
        workspace: WorkspaceId::parse(workspace)?,
        user: UserId::parse(user)?,
        role,
    };
    let key = keys::create(hearth.store(), &principal)?;
    Ok((key, principal))
}

/// The keys of `workspace`, or of every workspace; revoked ones too.
pub fn list_keys(hearth: &Hearth, workspace: Option<&str>) -> Result<Vec<KeyInfo>> {
    let ws = workspace.map(WorkspaceId::parse).transpose()?;
    hearth.store().with(|c| stored::list(c, ws.as_ref()))
}

/// Revokes the live key `id` (`NotFound` when there is none).
pub fn revoke_key(hearth: &Hearth, id: &str) -> Result<()> {
    hearth.store().with(|c| stored::revoke(c, id))
}
