//! `GET /session`: who the caller is.

use serde::Serialize;
use utoipa::ToSchema;

use crate::workspace::{DataPolicy, Role};

#[derive(Serialize, ToSchema)]
pub struct Session {
    pub workspace: String,
    pub user: String,
    pub role: Role,
    pub tier: String,
    pub data_policy: DataPolicy,
    /// Whether the server runs the open demo.
    pub demo: bool,
    /// Every workspace, for admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspaces: Option<Vec<String>>,
    /// The per-launch token (the open demo, the desktop app), when the call came without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}
