//! `/admin/*`: workspaces, keys, prompts, usage, providers and alerts. Every handler
//! needs a key with the admin role.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;

use super::extract::{Path, Query};
use super::wire::admin::{
    AlertList, CreatedKey, DayTotals, KeyList, NewKeyBody, NewWorkspace, Promote, PromptList,
    PromptVersions, ProviderList, ProviderView, Purged, Revoked, Rollback, UsageQuery, UsageReport,
    WorkspaceFilter, WorkspaceList, WorkspaceView,
};
use super::wire::error::ErrorBody;
use super::wire::models::{
    LocalModel, LocalModels, LocalRuntime, PullBody, PullFailure, PullProgress, Pulled, Transfer,
};
use super::wire::to_json;
use super::{auth, body, AppState};
use crate::admin;
use crate::error::{Error, Result};
use crate::orchestrator::Hearth;
use crate::prompts::{NewPrompt, PromptVersion};
use crate::providers::local::KvCacheType;
use crate::store::{self, today};
use crate::workspace::{Workspace, WorkspaceId, WorkspacePatch};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route(
            "/admin/workspaces/{id}",
            get(show_workspace).patch(patch_workspace),
        )
        .route("/admin/workspaces/{id}/cache/purge", post(purge_cache))
        .route("/admin/keys", get(list_keys).post(create_key))
        .route("/admin/keys/{id}", axum::routing::delete(revoke_key))
        .route("/admin/prompts", get(list_prompts).post(create_prompt))
        .route("/admin/prompts/{id}", get(show_prompt))
        .route("/admin/prompts/{id}/promote", post(promote_prompt))
        .route("/admin/prompts/{id}/rollback", post(rollback_prompt))
        .route("/admin/usage", get(usage))
        .route("/admin/providers", get(providers))
        .route("/admin/alerts", get(alerts))
        .route("/admin/models", get(list_models).post(pull_model))
        .merge(super::console::routes())
}

/// An admin caller, extracted before the handler runs: the key is checked.
pub(super) struct Admin {
    state: AppState,
    headers: HeaderMap,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        auth::admin(state, &parts.headers)?;
        // Admin reads (usage, costs, alerts) see every request answered before them.
        state.hearth.settle_writes().await?;
        Ok(Admin {
            state: state.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl Admin {
    pub(super) fn hearth(&self) -> &Hearth {
        &self.state.hearth
    }

    /// The orchestrator, to hand to a background task.
    pub(super) fn state_hearth(&self) -> std::sync::Arc<Hearth> {
        self.state.hearth.clone()
    }

    pub(super) fn run<T: serde::Serialize>(
        &self,
        f: impl FnOnce(&Hearth) -> Result<T>,
    ) -> Result<Json<T>, Error> {
        f(self.hearth()).map(Json)
    }

    pub(super) fn parse<T: serde::de::DeserializeOwned>(
        &self,
        raw: Result<Bytes, BytesRejection>,
    ) -> Result<T, Error> {
        let limit = self.hearth().config().server.body_limit_bytes;
        body::json(&self.headers, raw, limit)
    }
}

fn workspace_view(h: &Hearth, ws: Workspace) -> WorkspaceView {
    let day = today();
    let (spent, tokens) = h
        .store()
        .with(|c| store::usage::day_totals(c, ws.id.as_str(), &day))
        .unwrap_or((0.0, 0));
    let tier_budget = h
        .config()
        .policy
        .tiers
        .get(&ws.tier)
        .map(|t| t.daily_budget_usd);
    WorkspaceView {
        effective_daily_budget_usd: ws.daily_budget_usd.or(tier_budget),
        workspace: ws,
        today: DayTotals {
            day,
            spent_usd: spent,
            tokens,
        },
    }
}

#[utoipa::path(
    get,
    operation_id = "list_workspaces",
    path = "/admin/workspaces",
    tag = "admin",
    responses(
        (status = 200, description = "Every workspace", body = WorkspaceList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_workspaces(a: Admin) -> Result<Json<WorkspaceList>, Error> {
    a.run(|hearth| {
        let all = hearth.store().with(|c| store::workspaces::list(c))?;
        let workspaces = all.into_iter().map(|w| workspace_view(hearth, w)).collect();
        Ok(WorkspaceList { workspaces })
    })
}

#[utoipa::path(
    post,
    operation_id = "create_workspace",
    path = "/admin/workspaces",
    tag = "admin",
    request_body = NewWorkspace,
    responses(
        (status = 201, description = "The new workspace", body = WorkspaceView),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn create_workspace(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Response, Error> {
    let n: NewWorkspace = a.parse(raw)?;
    let out = a.run(|hearth| {
        let ws = admin::create_workspace(hearth, &n.id, &n.tier, n.data_policy, n.patch)?;
        Ok(workspace_view(hearth, ws))
    })?;
    Ok((StatusCode::CREATED, out).into_response())
}

#[utoipa::path(
    get,
    operation_id = "show_workspace",
    path = "/admin/workspaces/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The workspace id")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceView),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn show_workspace(a: Admin, Path(id): Path<String>) -> Result<Json<WorkspaceView>, Error> {
    a.run(|hearth| {
        let ws = hearth.workspace(&WorkspaceId::parse(&id)?)?;
        Ok(workspace_view(hearth, ws))
    })
}

#[utoipa::path(
    patch,
    operation_id = "update_workspace",
    path = "/admin/workspaces/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The workspace id")),
    request_body = WorkspacePatch,
    responses(
        (status = 200, description = "The changed workspace", body = WorkspaceView),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn patch_workspace(
    a: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<WorkspaceView>, Error> {
    let patch: WorkspacePatch = a.parse(raw)?;
    a.run(|hearth| {
        let ws = admin::update_workspace(hearth, &WorkspaceId::parse(&id)?, patch)?;
        Ok(workspace_view(hearth, ws))
    })
}

#[utoipa::path(
    post,
    operation_id = "purge_cache",
    path = "/admin/workspaces/{id}/cache/purge",
    tag = "admin",
    params(("id" = String, Path, description = "The workspace id")),
    responses(
        (status = 200, description = "How many cached answers went", body = Purged),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn purge_cache(a: Admin, Path(id): Path<String>) -> Result<Json<Purged>, Error> {
    a.run(|hearth| {
        let ws = WorkspaceId::parse(&id)?;
        hearth.workspace(&ws)?;
        let purged = hearth.cache().purge(&ws)?;
        Ok(Purged {
            workspace: ws,
            purged,
        })
    })
}

#[utoipa::path(
    post,
    operation_id = "create_key",
    path = "/admin/keys",
    tag = "admin",
    request_body = NewKeyBody,
    responses(
        (status = 201, description = "The key, shown this once", body = CreatedKey),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn create_key(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Response, Error> {
    let b: NewKeyBody = a.parse(raw)?;
    let user = b.user.as_deref().unwrap_or("api");
    let (k, p) = admin::create_key(a.hearth(), &b.workspace, user, b.role)?;
    let body = CreatedKey {
        id: k.id,
        key: k.key,
        workspace: p.workspace,
        user: p.user.as_str().to_owned(),
        role: p.role,
        note: "the key is shown once; only its hash is stored",
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[utoipa::path(
    get,
    operation_id = "list_keys",
    path = "/admin/keys",
    tag = "admin",
    params(WorkspaceFilter),
    responses(
        (status = 200, description = "The keys (never the keys themselves)", body = KeyList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_keys(a: Admin, Query(q): Query<WorkspaceFilter>) -> Result<Json<KeyList>, Error> {
    let keys = admin::list_keys(a.hearth(), q.workspace.as_deref())?;
    Ok(Json(KeyList { keys }))
}

#[utoipa::path(
    delete,
    operation_id = "revoke_key",
    path = "/admin/keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn revoke_key(a: Admin, Path(id): Path<String>) -> Result<Json<Revoked>, Error> {
    admin::revoke_key(a.hearth(), &id)?;
    Ok(Json(Revoked { id, revoked: true }))
}

#[utoipa::path(
    get,
    operation_id = "list_prompts",
    path = "/admin/prompts",
    tag = "admin",
    params(WorkspaceFilter),
    responses(
        (status = 200, description = "Every prompt version", body = PromptList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_prompts(
    a: Admin,
    Query(q): Query<WorkspaceFilter>,
) -> Result<Json<PromptList>, Error> {
    a.run(|hearth| {
        let ws = q.workspace.as_deref().map(WorkspaceId::parse).transpose()?;
        let prompts = hearth.prompts().list(ws.as_ref())?;
        Ok(PromptList { prompts })
    })
}

#[utoipa::path(
    get,
    operation_id = "show_prompt",
    path = "/admin/prompts/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The prompt id"), WorkspaceFilter),
    responses(
        (status = 200, description = "The prompt's versions", body = PromptVersions),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn show_prompt(
    a: Admin,
    Path(id): Path<String>,
    Query(q): Query<WorkspaceFilter>,
) -> Result<Json<PromptVersions>, Error> {
    a.run(|hearth| {
        let ws = q.workspace.as_deref().map(WorkspaceId::parse).transpose()?;
        let versions: Vec<_> = hearth
            .prompts()
            .list(ws.as_ref())?
            .into_iter()
            .filter(|p| p.prompt_id == id)
            .collect();
        if versions.is_empty() {
            return Err(Error::NotFound(format!("no prompt `{id}`")));
        }
        Ok(PromptVersions {
            prompt_id: id,
            versions,
        })
    })
}

#[utoipa::path(
    post,
    operation_id = "create_prompt",
    path = "/admin/prompts",
    tag = "admin",
    request_body = NewPrompt,
    responses(
        (status = 201, description = "The new version, a draft", body = PromptVersion),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn create_prompt(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Response, Error> {
    let n: NewPrompt = a.parse(raw)?;
    let out = a.run(|hearth| hearth.prompts().create(n))?;
    Ok((StatusCode::CREATED, out).into_response())
}

fn scope(ws: Option<&str>) -> Result<String> {
    Ok(ws
        .map(WorkspaceId::parse)
        .transpose()?
        .map(|w| w.as_str().to_owned())
        .unwrap_or_default())
}

#[utoipa::path(
    post,
    operation_id = "promote_prompt",
    path = "/admin/prompts/{id}/promote",
    tag = "admin",
    params(("id" = String, Path, description = "The prompt id")),
    request_body = Promote,
    responses(
        (status = 200, description = "The promoted version", body = PromptVersion),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn promote_prompt(
    a: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PromptVersion>, Error> {
    let b: Promote = a.parse(raw)?;
    a.run(|hearth| {
        let scope = scope(b.workspace.as_deref())?;
        hearth.prompts().promote(
            &scope,
            &id,
            &b.version,
            b.status,
            b.canary_share.unwrap_or(0.1),
            b.force,
        )
    })
}

#[utoipa::path(
    post,
    operation_id = "rollback_prompt",
    path = "/admin/prompts/{id}/rollback",
    tag = "admin",
    params(("id" = String, Path, description = "The prompt id")),
    request_body = Rollback,
    responses(
        (status = 200, description = "The version stable again", body = PromptVersion),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn rollback_prompt(
    a: Admin,
    Path(id): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<PromptVersion>, Error> {
    let b: Rollback = a.parse(raw)?;
    a.run(|hearth| {
        hearth
            .prompts()
            .rollback(&scope(b.workspace.as_deref())?, &id, b.version.as_deref())
    })
}

#[utoipa::path(
    get,
    operation_id = "usage",
    path = "/admin/usage",
    tag = "admin",
    params(UsageQuery),
    responses(
        (status = 200, description = "Requests, tokens and spend per workspace, day and model", body = UsageReport),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn usage(a: Admin, Query(q): Query<UsageQuery>) -> Result<Json<UsageReport>, Error> {
    a.run(|hearth| {
        let rows = hearth.store().with(|c| {
            store::usage::report(
                c,
                q.workspace.as_deref(),
                q.from.as_deref(),
                q.to.as_deref(),
            )
        })?;
        Ok(UsageReport { usage: rows })
    })
}

#[utoipa::path(
    get,
    operation_id = "list_providers",
    path = "/admin/providers",
    tag = "admin",
    responses(
        (status = 200, description = "Every provider of the policy in force", body = ProviderList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn providers(a: Admin) -> Result<Response, Error> {
    let hearth = a.hearth();
    let config = hearth.config();
    let providers = hearth.providers();
    let list = providers
        .names()
        .map(|name| ProviderView {
            name,
            config: config.policy.providers.get(name),
            breaker: hearth.breakers().view(name),
            usable: providers.get(name).is_some_and(|p| p.is_usable()),
        })
        .collect();
    Ok(Json(ProviderList { providers: list }).into_response())
}

#[utoipa::path(
    get,
    operation_id = "list_alerts",
    path = "/admin/alerts",
    tag = "admin",
    params(WorkspaceFilter),
    responses(
        (status = 200, description = "Budget alerts raised, newest first", body = AlertList),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn alerts(a: Admin, Query(q): Query<WorkspaceFilter>) -> Result<Json<AlertList>, Error> {
    a.run(|hearth| {
        let alerts = hearth
            .store()
            .with(|c| store::usage::alerts(c, q.workspace.as_deref()))?;
        Ok(AlertList { alerts })
    })
}

#[utoipa::path(
    get,
    operation_id = "list_local_models",
    path = "/admin/models",
    tag = "admin",
    responses(
        (status = 200, description = "The on-device models and how they run", body = LocalModels),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn list_models(a: Admin) -> Result<Json<LocalModels>, Error> {
    a.run(|hearth| {
        // The header alone, at the default context and cache: what loading it would take
        // (`local_providers` has each provider's own settings).
        let memory = |path: &std::path::Path| {
            crate::providers::local::estimate_memory(path, None, KvCacheType::F16).ok()
        };
        let mut models: Vec<LocalModel> = crate::models::catalog()?
            .into_iter()
            .map(|m| {
                let (installed, path) = (m.is_installed(), m.installed_path());
                LocalModel {
                    id: format!("local/{}", m.id),
                    model: format!("local/{}", m.id),
                    installed,
                    memory: installed.then(|| memory(&path)).flatten(),
                    path,
                    size_bytes: None,
                    catalog: Some(m),
                    source: None,
                }
            })
            .collect();
        // Imported files by their id for DELETE /admin/models/{id} (`imported/NAME`).
        models.extend(crate::models::imported().into_iter().map(|m| LocalModel {
            id: format!("imported/{}", m.name),
            model: format!("local/{}", m.name),
            installed: true,
            memory: memory(&m.path),
            path: m.path,
            size_bytes: Some(m.size_bytes),
            catalog: None,
            source: m.source,
        }));
        let pool = hearth.providers().local_pool().clone();
        let settings = pool.settings();
        Ok(LocalModels {
            models,
            models_dir: crate::models::models_dir(),
            local_providers: local_providers(&hearth.config()),
            memory_budget_mb: settings.budget_bytes >> 20,
            idle_unload_s: settings.idle_unload.map(|d| d.as_secs()),
            loaded: pool.status(),
        })
    })
}

/// How each configured on-device provider runs: its CPU threads, quantized-matmul kernel,
/// context and KV cache, and the memory its model takes with them.
fn local_providers(config: &crate::config::Config) -> Vec<LocalRuntime> {
    use crate::providers::local;
    config
        .policy
        .providers
        .iter()
        .filter_map(|(name, p)| match p {
            crate::config::ProviderConfig::Local(l) => Some(LocalRuntime {
                provider: name.clone(),
                threads: local::thread_count(l.threads),
                quant_kernel: local::quant_kernel(),
                context_length: l.context_length.unwrap_or(local::DEFAULT_CONTEXT),
                kv_cache_type: l.kv_cache_type.name(),
                memory: local::memory_estimate(l).ok(),
                memory_limit_mb: l.memory_limit_mb,
            }),
            _ => None,
        })
        .collect()
}

/// What a pull body asks for, checked before the stream starts so a refusal is a plain
/// JSON error.
enum PullOf {
    Catalog(Box<crate::models::CatalogEntry>),
    Hub(crate::models::HubFile, String),
}

fn pull_of(body: PullBody) -> Result<PullOf> {
    let id = body
        .id
        .map(|id| id.strip_prefix("local/").unwrap_or(&id).to_owned());
    match (body.hub, id) {
        (Some(h), name) => {
            let file = crate::models::HubFile::new(&h.repo, &h.file, h.revision.as_deref())?;
            let name = name.unwrap_or_else(|| file.default_name());
            crate::models::check_hub_pull(&file, &name)?;
            Ok(PullOf::Hub(file, name))
        }
        (None, Some(id)) => crate::models::entry(&id).map(|e| PullOf::Catalog(Box::new(e))),
        (None, None) => Err(Error::bad_request(
            "invalid_request",
            "give `id` (a catalog id), or `hub` ({repo, file, revision}) with an optional `id` (the local name)",
        )),
    }
}

/// Pulls a catalog model (`{"id"}`), or a hub file a search found (`{"hub": {"repo",
/// "file", "revision"}, "id"}`, `id` being the local name), streaming its progress as
/// server-sent events: `progress` events with a line each (a step, or "NN%" with the
/// bytes, rate and time left beside it), then one `done` (with the route) or `error` event.
/// A client that closes the stream (the UI's stop) cancels the pull, which deletes its
/// partial file. Once done the model is usable as `local/<id>`.
#[utoipa::path(
    post,
    operation_id = "pull_model",
    path = "/admin/models",
    tag = "admin",
    request_body = PullBody,
    responses(
        (status = 200, description = "Server-sent events: `progress` (PullProgress) events, then one \
            `done` (Pulled) or `error` (PullFailure)", content_type = "text/event-stream", body = PullProgress),
        (status = "default", description = "An error", body = ErrorBody),
    ),
)]
async fn pull_model(a: Admin, raw: Result<Bytes, BytesRejection>) -> Result<Response, Error> {
    let of = pull_of(a.parse(raw)?)?;
    Ok(stream_pull(a.state_hearth(), |events, cancel| {
        run_pull(of, events, cancel)
    }))
}

/// The pull itself; its answer is the `done` event's data.
async fn run_pull(
    of: PullOf,
    events: crate::models::EventSink,
    cancel: tokio_util::sync::CancellationToken,
) -> std::result::Result<Pulled, crate::models::PullError> {
    Ok(match of {
        PullOf::Catalog(entry) => {
            let route = crate::models::pull(&entry, events, &cancel).await?;
            Pulled {
                model: format!("local/{}", entry.id),
                route: format!("{route:?}"),
                path: entry.installed_path(),
                id: entry.id,
                source: None,
            }
        }
        PullOf::Hub(file, name) => {
            let got = crate::models::pull_hub_file(&file, &name, &events, &cancel).await?;
            let route = crate::models::PullRoute::Hub(got.source.snapshot.clone());
            Pulled {
                model: format!("local/{}", got.name),
                route: format!("{route:?}"),
                id: got.name,
                path: got.path,
                source: Some(got.source),
            }
        }
    })
}

/// Runs a pull in the background and streams its events; a closed stream cancels it. A
/// pull that ends well makes the model addressable at once.
fn stream_pull<F>(
    hearth: std::sync::Arc<Hearth>,
    pull: impl FnOnce(crate::models::EventSink, tokio_util::sync::CancellationToken) -> F,
) -> Response
where
    F: std::future::Future<Output = std::result::Result<Pulled, crate::models::PullError>>
        + Send
        + 'static,
{
    use axum::response::sse::Event;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let progress = |p: PullProgress| Event::default().event("progress").data(to_json(&p));
    let (step_tx, tick_tx) = (tx.clone(), tx.clone());
    let events = crate::models::tenths(
        move |line| {
            let transfer = None;
            let line = line.to_owned();
            let _ = step_tx.send(progress(PullProgress { line, transfer }));
        },
        move |t| {
            let transfer = Some(Transfer {
                bytes: t.done,
                total_bytes: t.total,
                bytes_per_s: t.bytes_per_s,
                eta_s: t.eta.map(|d| d.as_secs()),
            });
            let line = format!("{}%", t.percent);
            let _ = tick_tx.send(progress(PullProgress { line, transfer }));
        },
    );
    let cancel = tokio_util::sync::CancellationToken::new();
    let pull = pull(events, cancel.clone());
    tokio::spawn(async move {
        tokio::pin!(pull);
        let outcome = tokio::select! {
            outcome = &mut pull => outcome,
            () = tx.closed() => {
                cancel.cancel();
                pull.await
            }
        };
        if outcome.is_ok() {
            if let Err(e) = hearth.refresh_installed_models() {
                tracing::error!(error = %e, "a pulled model is not addressable until the next start");
            }
        }
        let last = match outcome {
            Ok(done) => Event::default().event("done").data(to_json(&done)),
            Err(e) => {
                let failure = PullFailure {
                    code: e.code(),
                    message: e.to_string(),
                };
                Event::default().event("error").data(to_json(&failure))
            }
        };
        let _ = tx.send(last);
    });
    let events = tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
        .map(Ok::<_, std::convert::Infallible>);
    axum::response::sse::Sse::new(events).into_response()
}
