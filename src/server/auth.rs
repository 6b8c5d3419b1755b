//! Who is calling: a bearer key resolved to workspace, user and role; or, in the demo on
//! loopback only, a keyless request that names its `tenant_id` as the seed's lab does.

use axum::http::HeaderMap;

use super::AppState;
use crate::error::{Error, Result};
use crate::workspace::{keys, Principal, Role, UserId, WorkspaceId};

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let key = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))?;
    Some(key.trim())
}

/// The caller's key, if the request carries one (401 for an unknown key).
pub fn key_principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>> {
    let Some(key) = bearer(headers) else {
        return Ok(None);
    };
    keys::resolve(state.hearth.store(), key)?
        .map(Some)
        .ok_or(Error::Unauthorized)
}

/// The principal of a model call: the key's, with an optional end user named by the
/// caller; or in the open demo the workspace named by `tenant_id`.
pub fn caller(
    state: &AppState,
    headers: &HeaderMap,
    tenant_id: Option<&str>,
    user_id: Option<&str>,
) -> Result<Principal> {
    let user = user_id.map(UserId::parse).transpose()?;
    match key_principal(state, headers)? {
        Some(mut p) => {
            if tenant_id.is_some_and(|t| t != p.workspace.as_str()) {
                return Err(Error::forbidden(
                    "forbidden",
                    "tenant_id does not match the key's workspace",
                ));
            }
            if let Some(u) = user {
                p.user = u;
            }
            Ok(p)
        }
        None => {
            let Some(tenant) = tenant_id.filter(|_| state.open_demo) else {
                return Err(Error::Unauthorized);
            };
            let workspace = WorkspaceId::parse(tenant)?;
            state
                .hearth
                .workspace(&workspace)
                .map_err(|_| Error::Unauthorized)?;
            Ok(Principal {
                workspace,
                user: user.unwrap_or(UserId::parse("anonymous")?),
                role: Role::User,
            })
        }
    }
}

/// The caller, who must hold an admin key.
pub fn admin(state: &AppState, headers: &HeaderMap) -> Result<Principal> {
    match key_principal(state, headers)? {
        Some(p) if p.role == Role::Admin => Ok(p),
        Some(_) => Err(Error::forbidden(
            "forbidden",
            "this needs a key with the admin role",
        )),
        None => Err(Error::Unauthorized),
    }
}
