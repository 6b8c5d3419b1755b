//! What the UI's admin console reads and does beyond `/admin/*`'s records: the costs
//! breakdown, the active policy and the validation of an edited one, a provider's key and
//! connection test, and rendering a prompt version for the playground.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::admin::Admin;
use super::extract::{Path, Query};
use super::wire::console::{
    AppliedPolicy, CostsQuery, CostsView, ImportBody, Imported, KeyBody, KeyStored, PolicySummary,
    PolicyText, PolicyView, ProviderTest, RemovedModel, RenderBody, Rendered, SearchQuery,
    TestFailure, UseModel, UsedModel,
};
use super::wire::error::ErrorBody;
use super::AppState;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::models::SearchAnswer;
use crate::prompts::render_system_prompt;
use crate::secrets::{Keychain, Secret};
use crate::store::costs::{self, Period};
use crate::workspace::{UserId, WorkspaceId};

/// How long a provider test waits.
const TEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The default costs period, in days.
const DEFAULT_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/costs", get(costs_view))
        .route("/admin/policy", get(policy).put(apply_policy))
        .route("/admin/policy/validate", post(validate_policy))
        .route("/admin/providers/{name}/test", post(test_provider))
        .route("/admin/providers/{name}/key", put(set_key))
        .route("/admin/prompts/{id}/render", post(render_prompt))
        .route("/admin/models/import", post(import_model))
        .route("/admin/models/use", post(use_model))
        .route("/admin/models/search", get(search_models))
        .route("/admin/models/{id}", axum::routing::delete(remove_model))
}

/// Copies a GGUF file from the models folder or the downloads folder into the models
/// folder's `imported/`, after checking that Hearth can run it.
#[utoipa::path(
    post,
    operation_id = "import_model",
    path = "/admin/models/import",
    tag = "admin",
    request_body = ImportBody,
    responses(
        (status = 200, description = "The imported model", body = Imported),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn import_model(
    a: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Imported>, Error> {
    let body: ImportBody = a.parse(raw)?;
    let given = std::path::PathBuf::from(&body.path);
    let name = body
        .id
        .or_else(|| given.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let copied = tokio::task::spawn_blocking(move || {
        let source = crate::models::inside(&given, &crate::models::import_roots())?;
        crate::models::import(&source, &name).map(|p| (name, p))
    })
    .await
    .map_err(|e| Error::Internal(format!("the import stopped: {e}")));
    a.run(|hearth| {
        let (name, path) = copied??;
        hearth.refresh_installed_models()?;
        let model = format!("local/{name}");
        // Addressable at once when the policy has the `local` provider; else the snippet
        // that adds it (it serves every installed model).
        let usable = hearth.config().policy.model(&model).is_some();
        let snippet = (!usable).then_some("[providers.local]\nkind = \"local\"\n");
        Ok(Imported {
            id: name,
            path,
            model,
            usable,
            snippet,
        })
    })
}

/// Removes an installed catalog model (`ID` or `local/ID`) or an imported one
/// (`imported/NAME`, its slash encoded as `%2F` in the path); for a model pulled from the
/// hub, `hub_copy` says what became of the hub cache's copy.
#[utoipa::path(
    delete,
    operation_id = "remove_model",
    path = "/admin/models/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "`ID`, `local/ID` or `imported/NAME` (its slash as %2F)")),
    responses(
        (status = 200, description = "Removed", body = RemovedModel),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn remove_model(a: Admin, Path(id): Path<String>) -> Result<Json<RemovedModel>, Error> {
    a.run(|hearth| {
        let (removed, hub_copy) = match id.strip_prefix("imported/") {
            Some(name) => {
                let r = crate::models::remove_imported(name)?;
                (r.path, r.hub_copy)
            }
            None => (
                crate::models::remove(id.strip_prefix("local/").unwrap_or(&id))?,
                None,
            ),
        };
        hearth.refresh_installed_models()?;
        Ok(RemovedModel { removed, hub_copy })
    })
}

/// `hearth models search` over HTTP: the catalog's matches, then the hub's GGUF files with
/// "fits" decided against the running pool's budget; offline, the catalog's matches only.
#[utoipa::path(
    get,
    operation_id = "search_models",
    path = "/admin/models/search",
    tag = "admin",
    params(SearchQuery),
    responses(
        (status = 200, description = "Catalog entries and hub files that match", body = SearchAnswer),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn search_models(
    a: Admin,
    Query(q): Query<SearchQuery>,
) -> Result<Json<SearchAnswer>, Error> {
    let budget = a.hearth().providers().local_pool().settings().budget_bytes;
    crate::models::search(&q.q, budget).await.map(Json)
}

/// Parses `YYYY-MM-DD` to the unix millisecond of its start (UTC).
fn day_start(s: &str) -> Result<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| (d.midnight().assume_utc().unix_timestamp()) * 1000)
        .map_err(|_| Error::bad_request("invalid_request", "from and to are days: YYYY-MM-DD"))
}

#[utoipa::path(
    get,
    operation_id = "costs",
    path = "/admin/costs",
    tag = "admin",
    params(CostsQuery),
    responses(
        (status = 200, description = "Spend by day, workspace, model and task", body = CostsView),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn costs_view(a: Admin, Query(q): Query<CostsQuery>) -> Result<Json<CostsView>, Error> {
    a.run(|hearth| {
        let today = day_start(&crate::store::today())?;
        let to_ms = q.to.as_deref().map(day_start).transpose()?.unwrap_or(today) + DAY_MS;
        let from_ms = q
            .from
            .as_deref()
            .map(day_start)
            .transpose()?
            .unwrap_or(to_ms - DEFAULT_DAYS * DAY_MS);
        if from_ms >= to_ms {
            return Err(Error::bad_request(
                "invalid_request",
                "from must not be after to",
            ));
        }
        let period = Period {
            from_ms,
            to_ms,
            workspace: q.workspace.as_deref(),
        };
        let breakdown = hearth.store().with(|c| costs::breakdown(c, period))?;
        Ok(CostsView {
            from: crate::store::day_of(from_ms),
            to: crate::store::day_of(to_ms - 1),
            costs: breakdown,
        })
    })
}

#[utoipa::path(
    get,
    operation_id = "show_policy",
    path = "/admin/policy",
    tag = "admin",
    responses(
        (status = 200, description = "The policy in force", body = PolicyView),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn policy(a: Admin) -> Result<Json<PolicyView>, Error> {
    a.run(|hearth| {
        let mut policy = serde_json::to_value(&hearth.config().policy)
            .map_err(|e| Error::Internal(format!("the policy does not encode: {e}")))?;
        // Extra headers may carry credentials (a proxy's token): names only.
        if let Some(providers) = policy.get_mut("providers").and_then(Value::as_object_mut) {
            for p in providers.values_mut() {
                if let Some(h) = p.get_mut("headers").and_then(Value::as_object_mut) {
                    h.values_mut().for_each(|v| *v = json!("***"));
                }
            }
        }
        Ok(PolicyView {
            policy,
            source: hearth.config().source.clone(),
        })
    })
}

/// Checks an edited policy as `hearth serve --config` would, without applying it: the
/// answer is its summary, or 422 with the line of the first problem.
#[utoipa::path(
    post,
    operation_id = "validate_policy",
    path = "/admin/policy/validate",
    tag = "admin",
    request_body = PolicyText,
    responses(
        (status = 200, description = "What the policy declares", body = PolicySummary),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn validate_policy(
    a: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PolicySummary>, Error> {
    let body: PolicyText = a.parse(raw)?;
    a.run(|_| {
        let config = Config::parse(&body.toml, "policy")
            .map_err(|e| Error::unprocessable("invalid_policy", e.to_string()))?;
        Ok(summary(&config.policy))
    })
}

/// What `policy` declares, by name.
fn summary(policy: &crate::config::Policy) -> PolicySummary {
    fn names<'a>(keys: impl Iterator<Item = &'a String>) -> Vec<String> {
        keys.cloned().collect()
    }
    PolicySummary {
        valid: true,
        providers: names(policy.providers.keys()),
        models: names(policy.models.keys()),
        routes: names(policy.routes.keys()),
        tiers: names(policy.tiers.keys()),
    }
}

/// Puts an edited policy in force for new requests (after the same validation), saves it,
/// and warms the providers it built afresh in the background.
#[utoipa::path(
    put,
    operation_id = "apply_policy",
    path = "/admin/policy",
    tag = "admin",
    request_body = PolicyText,
    responses(
        (status = 200, description = "In force for the next request, and saved", body = AppliedPolicy),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn apply_policy(
    a: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<AppliedPolicy>, Error> {
    let body: PolicyText = a.parse(raw)?;
    let applied = a.hearth().apply_policy(&body.toml)?;
    let hearth = a.state_hearth();
    tokio::spawn(async move { hearth.warm_providers().await });
    let PolicySummary {
        providers,
        models,
        routes,
        tiers,
        ..
    } = summary(&applied.config.policy);
    Ok(Json(AppliedPolicy {
        applied: true,
        saved_to: applied.saved_to,
        rebuilt: applied.rebuilt,
        restart_needed: Vec::new(),
        providers,
        models,
        routes,
        tiers,
    }))
}

/// Makes an installed model the primary of a route (`hearth models use`), applied and saved
/// at once like an edited policy.
#[utoipa::path(
    post,
    operation_id = "use_model",
    path = "/admin/models/use",
    tag = "admin",
    request_body = UseModel,
    responses(
        (status = 200, description = "The route's new primary, in force and saved", body = UsedModel),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn use_model(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Json<UsedModel>, Error> {
    let body: UseModel = a.parse(raw)?;
    let id = body
        .id
        .strip_prefix("local/")
        .unwrap_or(&body.id)
        .to_owned();
    a.run(|hearth| {
        if crate::models::find_installed(&id).is_none() {
            return Err(Error::NotFound(format!("`{id}` is not installed")));
        }
        let edited = crate::config::use_model(&hearth.config().source, &id, &body.task)
            .map_err(|e| Error::unprocessable("invalid_value", e.to_string()))?;
        let applied = hearth.apply_policy(&edited)?;
        let route = &applied.config.policy.routes[&body.task];
        Ok(UsedModel {
            task: route.task.clone(),
            primary: route.primary.clone(),
            model: format!("local/{id}"),
            saved_to: applied.saved_to.clone(),
        })
    })
}

#[utoipa::path(
    post,
    operation_id = "test_provider",
    path = "/admin/providers/{name}/test",
    tag = "admin",
    params(("name" = String, Path, description = "The provider")),
    responses(
        (status = 200, description = "Whether its model list answered", body = ProviderTest),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn test_provider(a: Admin, Path(name): Path<String>) -> Result<Json<ProviderTest>, Error> {
    let provider = a
        .hearth()
        .providers()
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("no provider `{name}`")))?;
    let started = Instant::now();
    let outcome = tokio::time::timeout(TEST_TIMEOUT, provider.list_models()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let (models, error) = match outcome {
        Ok(Ok(models)) => (Some(models), None),
        Ok(Err(e)) => (
            None,
            Some(TestFailure {
                code: e.kind(),
                message: e.to_string(),
            }),
        ),
        Err(_) => (
            None,
            Some(TestFailure {
                code: "timeout",
                message: "no answer in time".into(),
            }),
        ),
    };
    Ok(Json(ProviderTest {
        ok: error.is_none(),
        latency_ms,
        models,
        error,
    }))
}

/// Stores a hosted provider's key in the OS keychain; the server uses it from its next start.
#[utoipa::path(
    put,
    operation_id = "set_provider_key",
    path = "/admin/providers/{name}/key",
    tag = "admin",
    params(("name" = String, Path, description = "The provider")),
    request_body = KeyBody,
    responses(
        (status = 200, description = "Stored in the OS keychain", body = KeyStored),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn set_key(
    a: Admin,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<KeyStored>, Error> {
    let body: KeyBody = a.parse(raw)?;
    a.run(|hearth| {
        let config = hearth.config();
        let hosted = config.policy.providers.get(&name).and_then(|p| p.hosted());
        if hosted.is_none() {
            return Err(Error::NotFound(format!("no hosted provider `{name}`")));
        }
        let key = Secret::new(&body.key)
            .ok_or_else(|| Error::bad_request("invalid_request", "the key is empty"))?;
        Keychain::new()
            .set(&name, &key)
            .map_err(|e| Error::unprocessable("keychain_unavailable", e.to_string()))?;
        Ok(KeyStored {
            stored: true,
            applies: "from the next start",
        })
    })
}

#[utoipa::path(
    post,
    operation_id = "render_prompt",
    path = "/admin/prompts/{id}/render",
    tag = "admin",
    params(("id" = String, Path, description = "The prompt id")),
    request_body = RenderBody,
    responses(
        (status = 200, description = "The rendered system prompt", body = Rendered),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn render_prompt(
    a: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Rendered>, Error> {
    let body: RenderBody = a.parse(raw)?;
    a.run(|hearth| {
        let ws = WorkspaceId::parse(body.workspace.as_deref().unwrap_or("default"))?;
        let p = hearth.prompts().resolve(
            &ws,
            &id,
            body.version.as_deref(),
            &UserId::parse("playground")?,
        )?;
        let system = render_system_prompt(&p, &body.variables)?;
        Ok(Rendered {
            prompt_id: p.prompt_id,
            version: p.version,
            system,
        })
    })
}
