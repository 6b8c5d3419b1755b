//! Workspaces (the seed's tenants), who is calling, and the identifiers that carry them.

mod ids;
pub mod keys;
mod settings;

pub(crate) use ids::valid_name;
pub use ids::{UserId, WorkspaceId};
pub use settings::{DataPolicy, PatchError, Workspace, WorkspacePatch};

/// What a key may do beyond calling models in its own workspace.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Calls models and reads its workspace's audit log, as the key's own user only.
    User,
    /// An app's back end serving many end users: like `user`, but a request may name the
    /// end user it acts for (`user_id`, `user`), who is then rate-limited and audited.
    Service,
    /// Also manages workspaces, keys, prompts and usage across the install, and may act
    /// for any end user or in any workspace.
    Admin,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Service => "service",
            Role::Admin => "admin",
        }
    }

    /// Parses `user`, `service` or `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "service" => Some(Role::Service),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether a request may name an end user other than the key's own.
    pub fn may_act_for_end_users(self) -> bool {
        matches!(self, Role::Service | Role::Admin)
    }
}

/// The resolved caller of a request: every stage downstream trusts this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The workspace the request is billed to and isolated in.
    pub workspace: WorkspaceId,
    /// The end user, as the key or the request names them.
    pub user: UserId,
    /// The key's role.
    pub role: Role,
}
