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

/// The caller's key (or the per-launch session token), if the request carries one (401 for
/// an unknown key). An admin naming another workspace in `x-hearth-workspace` acts there.
pub fn key_principal(state: &AppState, headers: &HeaderMap) -> Result<Option<Principal>> {
    let Some(key) = bearer(headers) else {
        return Ok(None);
    };
    let principal = match &state.session {
        Some(s) if s.matches(key) => s.principal.clone(),
        _ => keys::resolve(state.hearth.store(), key)?.ok_or(Error::Unauthorized)?,
    };
    let named = headers
        .get("x-hearth-workspace")
        .and_then(|v| v.to_str().ok());
    acting_in(state, principal, named).map(Some)
}

/// The principal moved to `named` when it differs: allowed for admins (the workspace must
/// exist), refused for everyone else.
fn acting_in(state: &AppState, mut p: Principal, named: Option<&str>) -> Result<Principal> {
    let Some(name) = named.filter(|n| *n != p.workspace.as_str()) else {
        return Ok(p);
    };
    if p.role != Role::Admin {
        return Err(Error::forbidden(
            "forbidden",
            "only an admin key may act in another workspace",
        ));
    }
    let ws = WorkspaceId::parse(name)?;
    state.hearth.workspace(&ws)?;
    p.workspace = ws;
    Ok(p)
}

/// The per-launch token of the UI (the desktop app's, or the open demo's), and whom it
/// stands for.
#[derive(Clone)]
pub struct SessionToken {
    token: std::sync::Arc<str>,
    principal: Principal,
}

impl SessionToken {
    /// A token for an admin of the `default` workspace.
    pub fn new(token: String) -> Result<SessionToken> {
        Ok(SessionToken {
            token: token.into(),
            principal: Principal {
                workspace: WorkspaceId::parse("default")?,
                user: UserId::parse("ui")?,
                role: Role::Admin,
            },
        })
    }

    /// A fresh random token.
    pub fn random() -> Result<SessionToken> {
        SessionToken::new(format!("hs_{}", hex::encode(rand::random::<[u8; 24]>())))
    }

    /// The token itself, for the page that needs it.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Compares in constant time, so the token cannot be guessed byte by byte.
    fn matches(&self, key: &str) -> bool {
        let (a, b) = (self.token.as_bytes(), key.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The principal of a model call: the key's; a service or admin key may name the end user
/// it acts for, any other key only its own user (403 otherwise); or in the open demo the
/// workspace named by `tenant_id`.
pub fn caller(
    state: &AppState,
    headers: &HeaderMap,
    tenant_id: Option<&str>,
    user_id: Option<&str>,
) -> Result<Principal> {
    let user = user_id.map(UserId::parse).transpose()?;
    match key_principal(state, headers)? {
        Some(p) => {
            let mut p = match acting_in(state, p, tenant_id) {
                Err(Error::Forbidden { .. }) => {
                    return Err(Error::forbidden(
                        "forbidden",
                        "tenant_id does not match the key's workspace",
                    ))
                }
                other => other?,
            };
            match user {
                Some(u) if u != p.user && !p.role.may_act_for_end_users() => {
                    Err(Error::forbidden(
                        "forbidden",
                        "the user named by the request is not the key's user; only a service or admin key may act for end users",
                    ))
                }
                Some(u) => {
                    p.user = u;
                    Ok(p)
                }
                None => Ok(p),
            }
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
