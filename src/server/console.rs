//! What the UI's admin console reads and does beyond `/admin/*`'s records: the costs
//! breakdown, the active policy and the validation of an edited one, a provider's key and
//! connection test, and rendering a prompt version for the playground.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::Admin;
use super::extract::{Path, Query};
use super::AppState;
use crate::config::Config;
use crate::error::{Error, Result};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportBody {
    path: String,
    id: Option<String>,
}

/// Copies a GGUF file from the models folder or the downloads folder into the models
/// folder's `imported/`, after checking that Hearth can run it.
async fn import_model(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Error> {
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
        Ok(json!({"id": name, "path": path, "model": model, "usable": usable, "use": snippet}))
    })
}

/// Removes an installed catalog model (`ID` or `local/ID`) or an imported one
/// (`imported/NAME`, its slash encoded as `%2F` in the path); for a model pulled from the
/// hub, `hub_copy` says what became of the hub cache's copy.
async fn remove_model(a: Admin, Path(id): Path<String>) -> Result<Json<Value>, Error> {
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
        Ok(json!({"removed": removed, "hub_copy": hub_copy}))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SearchQuery {
    q: String,
}

/// `hearth models search` over HTTP: the catalog's matches, then the hub's GGUF files with
/// "fits" decided against the running pool's budget; offline, the catalog's matches only.
async fn search_models(
    a: Admin,
    Query(q): Query<SearchQuery>,
) -> Result<Json<crate::models::SearchAnswer>, Error> {
    let budget = a.hearth().providers().local_pool().settings().budget_bytes;
    crate::models::search(&q.q, budget).await.map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CostsQuery {
    from: Option<String>,
    to: Option<String>,
    workspace: Option<String>,
}

/// Parses `YYYY-MM-DD` to the unix millisecond of its start (UTC).
fn day_start(s: &str) -> Result<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| (d.midnight().assume_utc().unix_timestamp()) * 1000)
        .map_err(|_| Error::bad_request("invalid_request", "from and to are days: YYYY-MM-DD"))
}

async fn costs_view(a: Admin, Query(q): Query<CostsQuery>) -> Result<Json<Value>, Error> {
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
        Ok(json!({
            "from": crate::store::day_of(from_ms),
            "to": crate::store::day_of(to_ms - 1),
            "costs": breakdown,
        }))
    })
}

async fn policy(a: Admin) -> Result<Json<Value>, Error> {
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
        Ok(json!({"policy": policy, "source": hearth.config().source}))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyText {
    toml: String,
}

/// Checks an edited policy as `hearth serve --config` would, without applying it: the
/// answer is its summary, or 422 with the line of the first problem.
async fn validate_policy(
    a: Admin,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
    let body: PolicyText = a.parse(raw)?;
    a.run(|_| {
        let config = Config::parse(&body.toml, "policy")
            .map_err(|e| Error::unprocessable("invalid_policy", e.to_string()))?;
        let p = &config.policy;
        Ok(json!({
            "valid": true,
            "providers": p.providers.keys().collect::<Vec<_>>(),
            "models": p.models.keys().collect::<Vec<_>>(),
            "routes": p.routes.keys().collect::<Vec<_>>(),
            "tiers": p.tiers.keys().collect::<Vec<_>>(),
        }))
    })
}

/// Puts an edited policy in force for new requests (after the same validation), saves it,
/// and warms the providers it built afresh in the background.
async fn apply_policy(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Error> {
    let body: PolicyText = a.parse(raw)?;
    let applied = a.hearth().apply_policy(&body.toml)?;
    let hearth = a.state_hearth();
    tokio::spawn(async move { hearth.warm_providers().await });
    let p = &applied.config.policy;
    a.run(|_| {
        Ok(json!({
            "applied": true,
            "saved_to": applied.saved_to,
            "rebuilt": applied.rebuilt,
            "restart_needed": Vec::<String>::new(),
            "providers": p.providers.keys().collect::<Vec<_>>(),
            "models": p.models.keys().collect::<Vec<_>>(),
            "routes": p.routes.keys().collect::<Vec<_>>(),
            "tiers": p.tiers.keys().collect::<Vec<_>>(),
        }))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UseModel {
    id: String,
    #[serde(default = "chat_task")]
    task: String,
}

fn chat_task() -> String {
    "chat".into()
}

/// Makes an installed model the primary of a route (`hearth models use`), applied and saved
/// at once like an edited policy.
async fn use_model(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Json<Value>, Error> {
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
            .map_err(|m| Error::unprocessable("invalid_value", m))?;
        let applied = hearth.apply_policy(&edited)?;
        let route = &applied.config.policy.routes[&body.task];
        Ok(
            json!({"task": route.task, "primary": route.primary, "model": format!("local/{id}"),
                  "saved_to": applied.saved_to}),
        )
    })
}

async fn test_provider(a: Admin, Path(name): Path<String>) -> Result<Json<Value>, Error> {
    let provider = a
        .hearth()
        .providers()
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("no provider `{name}`")))?;
    let started = Instant::now();
    let outcome = tokio::time::timeout(TEST_TIMEOUT, provider.list_models()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    a.run(|_| {
        Ok(match outcome {
            Ok(Ok(models)) => json!({"ok": true, "latency_ms": latency_ms, "models": models}),
            Ok(Err(e)) => json!({"ok": false, "latency_ms": latency_ms, "error": {"code": e.kind(), "message": e.to_string()}}),
            Err(_) => json!({"ok": false, "latency_ms": latency_ms, "error": {"code": "timeout", "message": "no answer in time"}}),
        })
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyBody {
    key: String,
}

/// Stores a hosted provider's key in the OS keychain; the server uses it from its next start.
async fn set_key(
    a: Admin,
    Path(name): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
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
        Ok(json!({"stored": true, "applies": "from the next start"}))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RenderBody {
    version: Option<String>,
    workspace: Option<String>,
    #[serde(default)]
    variables: serde_json::Map<String, Value>,
}

async fn render_prompt(
    a: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Error> {
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
        Ok(json!({"prompt_id": p.prompt_id, "version": p.version, "system": system}))
    })
}
