//! The admin console's bodies beyond `/admin/*`'s records: costs, the policy, a provider's
//! test and key, the prompt playground, and importing, using, searching and removing models.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::store::costs::Breakdown;

/// `POST /admin/models/import`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    /// A GGUF file in the models folder or the downloads folder.
    pub path: String,
    /// The local name; the file's stem when absent.
    pub id: Option<String>,
}

/// An imported model.
#[derive(Serialize, ToSchema)]
pub struct Imported {
    pub id: String,
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// `local/<id>`.
    pub model: String,
    /// Whether the policy in force can call it (it has the `local` provider).
    pub usable: bool,
    /// When it cannot: the policy lines that add the `local` provider.
    #[serde(rename = "use")]
    #[schema(required = true)]
    pub snippet: Option<&'static str>,
}

/// `DELETE /admin/models/{id}`.
#[derive(Serialize, ToSchema)]
pub struct RemovedModel {
    #[schema(value_type = String)]
    pub removed: PathBuf,
    /// For a model pulled from the hub: what became of the hub cache's copy.
    #[schema(required = true)]
    pub hub_copy: Option<String>,
}

/// `GET /admin/models/search?q=`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    pub q: String,
}

/// `GET /admin/costs?from=&to=&workspace=` (days as `YYYY-MM-DD`; the last 30 days by
/// default).
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CostsQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub workspace: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CostsView {
    pub from: String,
    pub to: String,
    pub costs: Breakdown,
}

/// `GET /admin/policy`.
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    /// The policy in force, as JSON (header values masked).
    pub policy: Value,
    /// Its TOML text.
    pub source: String,
}

/// `POST /admin/policy/validate` and `PUT /admin/policy`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyText {
    pub toml: String,
}

/// What a valid policy declares.
#[derive(Serialize, ToSchema)]
pub struct PolicySummary {
    pub valid: bool,
    pub providers: Vec<String>,
    pub models: Vec<String>,
    pub routes: Vec<String>,
    pub tiers: Vec<String>,
}

/// A policy put in force.
#[derive(Serialize, ToSchema)]
pub struct AppliedPolicy {
    pub applied: bool,
    #[schema(value_type = String)]
    pub saved_to: PathBuf,
    /// The providers built afresh.
    pub rebuilt: Vec<String>,
    /// Always empty: every change applies to the next request.
    pub restart_needed: Vec<String>,
    pub providers: Vec<String>,
    pub models: Vec<String>,
    pub routes: Vec<String>,
    pub tiers: Vec<String>,
}

/// `POST /admin/models/use`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseModel {
    /// An installed model, `ID` or `local/ID`.
    pub id: String,
    /// The route it becomes the primary of; `chat` when absent.
    #[serde(default = "chat_task")]
    pub task: String,
}

fn chat_task() -> String {
    "chat".into()
}

#[derive(Serialize, ToSchema)]
pub struct UsedModel {
    pub task: String,
    /// The route's primary model alias.
    pub primary: String,
    pub model: String,
    #[schema(value_type = String)]
    pub saved_to: PathBuf,
}

/// Why a provider test failed.
#[derive(Serialize, ToSchema)]
pub struct TestFailure {
    /// The provider error's kind, or `timeout`.
    pub code: &'static str,
    pub message: String,
}

/// `POST /admin/providers/{name}/test`: whether its model list answers.
#[derive(Serialize, ToSchema)]
pub struct ProviderTest {
    pub ok: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<TestFailure>,
}

/// `PUT /admin/providers/{name}/key`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    pub key: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyStored {
    pub stored: bool,
    pub applies: &'static str,
}

/// `POST /admin/prompts/{id}/render`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderBody {
    /// The version a user of the workspace would get when absent.
    pub version: Option<String>,
    /// `default` when absent.
    pub workspace: Option<String>,
    #[serde(default)]
    pub variables: serde_json::Map<String, Value>,
}

/// The system prompt a version renders to.
#[derive(Serialize, ToSchema)]
pub struct Rendered {
    pub prompt_id: String,
    pub version: String,
    pub system: String,
}
