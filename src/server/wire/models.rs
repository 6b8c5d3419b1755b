//! `/admin/models`: the on-device models, how the local providers run them, and a pull's
//! events.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::models::{CatalogEntry, HubSource};
use crate::providers::local::{LoadedModel, MemoryEstimate};

/// A catalog model (id `local/ID`) or an imported file (id `imported/NAME`).
#[derive(Serialize, ToSchema)]
pub struct LocalModel {
    /// What `DELETE /admin/models/{id}` takes.
    pub id: String,
    /// How requests and routes name it: `local/ID` or `local/NAME`.
    pub model: String,
    pub installed: bool,
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// Size on disk, for an imported file.
    #[schema(required = true)]
    pub size_bytes: Option<u64>,
    /// What loading it at the default context and cache would take; null when it is not
    /// installed or cannot run.
    #[schema(required = true)]
    pub memory: Option<MemoryEstimate>,
    /// The catalog entry; null for an imported file.
    #[schema(required = true)]
    pub catalog: Option<CatalogEntry>,
    /// Where a file pulled from the hub by repository and file came from.
    #[schema(required = true)]
    pub source: Option<HubSource>,
}

/// How a configured on-device provider runs.
#[derive(Serialize, ToSchema)]
pub struct LocalRuntime {
    /// Its name in the policy.
    pub provider: String,
    /// CPU threads.
    pub threads: usize,
    /// The quantized matrix multiply on this CPU (`avx512-vnni`, `avx2`, ...).
    pub quant_kernel: &'static str,
    pub context_length: usize,
    /// `f16` or `q8_0`.
    pub kv_cache_type: &'static str,
    /// What its model takes with these settings; null when its file is missing or cannot
    /// run so.
    #[schema(required = true)]
    pub memory: Option<MemoryEstimate>,
    #[schema(required = true)]
    pub memory_limit_mb: Option<u64>,
}

/// `GET /admin/models`.
#[derive(Serialize, ToSchema)]
pub struct LocalModels {
    pub models: Vec<LocalModel>,
    #[schema(value_type = String)]
    pub models_dir: PathBuf,
    pub local_providers: Vec<LocalRuntime>,
    /// What the loaded models may take together.
    pub memory_budget_mb: u64,
    /// Seconds idle after which a model is unloaded; null: never.
    #[schema(required = true)]
    pub idle_unload_s: Option<u64>,
    /// The models in memory now, or loading.
    pub loaded: Vec<LoadedModel>,
}

/// `POST /admin/models`: a catalog id, or a hub file a search found.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullBody {
    /// A catalog id; with `hub`, the local name [default: from the file name].
    pub id: Option<String>,
    /// A hub file, as a model search lists it.
    pub hub: Option<HubBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubBody {
    pub repo: String,
    pub file: String,
    pub revision: Option<String>,
}

/// A pull's `progress` event: a step, or `NN%` with the transfer beside it.
#[derive(Serialize, ToSchema)]
pub struct PullProgress {
    pub line: String,
    #[serde(flatten)]
    pub transfer: Option<Transfer>,
}

/// How far a download is.
#[derive(Serialize, ToSchema)]
pub struct Transfer {
    pub bytes: u64,
    pub total_bytes: u64,
    #[schema(required = true)]
    pub bytes_per_s: Option<f64>,
    #[schema(required = true)]
    pub eta_s: Option<u64>,
}

/// A pull's `done` event.
#[derive(Serialize, ToSchema)]
pub struct Pulled {
    pub id: String,
    /// `local/<id>`.
    pub model: String,
    /// Where the file came from.
    pub route: String,
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// For a hub file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<HubSource>,
}

/// A pull's `error` event.
#[derive(Serialize, ToSchema)]
pub struct PullFailure {
    pub code: &'static str,
    pub message: String,
}
