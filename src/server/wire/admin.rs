//! `/admin/*` bodies: workspaces, keys, prompts, usage, alerts and providers.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::config::ProviderConfig;
use crate::prompts::{PromptVersion, RolloutStatus};
use crate::resilience::BreakerView;
use crate::store::keys::KeyInfo;
use crate::store::usage::{BudgetAlert, UsageRow};
use crate::workspace::{DataPolicy, Role, Workspace, WorkspaceId, WorkspacePatch};

/// A workspace's spend so far today.
#[derive(Serialize, ToSchema)]
pub struct DayTotals {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub spent_usd: f64,
    pub tokens: u64,
}

/// A workspace with what is in force for it today.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceView {
    pub workspace: Workspace,
    /// Its own budget, else its tier's; none when the tier is missing.
    #[schema(required = true)]
    pub effective_daily_budget_usd: Option<f64>,
    pub today: DayTotals,
}

#[derive(Serialize, ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<WorkspaceView>,
}

/// `POST /admin/workspaces`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    pub id: String,
    pub tier: String,
    /// `any` when absent.
    #[serde(default = "any_policy")]
    pub data_policy: DataPolicy,
    #[serde(flatten)]
    pub patch: WorkspacePatch,
}

fn any_policy() -> DataPolicy {
    DataPolicy::Any
}

/// `POST /admin/workspaces/{id}/cache/purge`.
#[derive(Serialize, ToSchema)]
pub struct Purged {
    pub workspace: WorkspaceId,
    /// Cached answers removed.
    pub purged: usize,
}

/// `POST /admin/keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyBody {
    pub workspace: String,
    /// `user` when absent.
    #[serde(default = "user_role")]
    pub role: Role,
    /// `api` when absent.
    pub user: Option<String>,
}

fn user_role() -> Role {
    Role::User
}

/// A key as created: the only time the key itself is shown.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub id: String,
    pub key: String,
    pub workspace: WorkspaceId,
    pub user: String,
    pub role: Role,
    pub note: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

/// `DELETE /admin/keys/{id}`.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub id: String,
    pub revoked: bool,
}

/// `?workspace=`: one workspace's entries; every workspace's when absent.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorkspaceFilter {
    pub workspace: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PromptList {
    pub prompts: Vec<PromptVersion>,
}

/// `GET /admin/prompts/{id}`: every version of one prompt.
#[derive(Serialize, ToSchema)]
pub struct PromptVersions {
    pub prompt_id: String,
    pub versions: Vec<PromptVersion>,
}

/// `POST /admin/prompts/{id}/promote`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promote {
    pub version: String,
    pub status: RolloutStatus,
    /// For a canary: the share of users it serves (0-1), 0.1 when absent.
    pub canary_share: Option<f64>,
    /// The workspace whose rollout changes; install-wide when absent.
    pub workspace: Option<String>,
    /// Goes ahead although the version's variables differ from the stable one's.
    #[serde(default)]
    pub force: bool,
}

/// `POST /admin/prompts/{id}/rollback`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The version to make stable again; the one before the current stable when absent.
    pub version: Option<String>,
    pub workspace: Option<String>,
}

/// `GET /admin/usage?workspace=&from=&to=` (days as `YYYY-MM-DD`, inclusive).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    pub workspace: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    pub usage: Vec<UsageRow>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<BudgetAlert>,
}

/// A provider as the policy declares it and as it stands.
#[derive(Serialize, ToSchema)]
pub struct ProviderView<'a> {
    pub name: &'a str,
    /// Its settings as in the policy file (docs/CONFIG.md).
    #[schema(value_type = Option<serde_json::Value>)]
    #[schema(required = true)]
    pub config: Option<&'a ProviderConfig>,
    pub breaker: BreakerView,
    /// Whether it can be called (a hosted one needs its key).
    pub usable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderList<'a> {
    pub providers: Vec<ProviderView<'a>>,
}
