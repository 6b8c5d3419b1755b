//! The on-device provider (`local`): a GGUF model run with candle on this machine's CPU.
//! Nothing it is given leaves the machine. The model loads once (at `serve` start, or on
//! first use) and is shared; requests run one at a time behind a bounded queue whose
//! overflow or wait deadline is a typed `Unavailable`, so the router can fall back.

use hearth_quant as quant;

mod blocks;
mod embedder;
mod engine;
mod gemma3;
mod gguf;
mod grammar;
/// Where CI installs the default model and llama.cpp's venv, as the integration tests find them.
#[cfg(test)]
#[path = "../../../tests/common/installed.rs"]
mod installed;
mod llama;
mod memory;
mod pool;
mod standard_templates;
mod template;
#[cfg(test)]
mod tiny;
mod tokenizer;
mod tool_calls;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use embedder::{Embedder, MAX_INPUT_TOKENS};
pub use engine::{Answer, Engine, LoadOptions, ModelInfo, DEFAULT_CONTEXT};
pub use grammar::Constraint;
pub use memory::MemoryEstimate;
pub use pool::{Listener, LoadSpec, LoadedModel, Pool, PoolEvent, Queue};
pub use quant::attention::KvCacheType;

/// Whether the engine runs files of this `general.architecture`.
pub fn runs(arch: &str) -> bool {
    engine::runs(arch)
}

/// Checks that a file is a GGUF model Hearth can run (header, architecture, tokenizer)
/// without loading its weights; returns its architecture.
pub fn inspect(path: &std::path::Path) -> Result<String, LoadError> {
    let g = gguf::Gguf::open(path)?;
    let arch = g.string("general.architecture")?.to_owned();
    if !runs(&arch) {
        return Err(LoadError::Unsupported(format!("architecture `{arch}`")));
    }
    g.tensors_inside()?;
    tokenizer::ModelTokenizer::for_model(&g, path)?;
    Ok(arch)
}

/// A candle error's message without the backtrace candle attaches under `RUST_BACKTRACE`:
/// what a person reading a load error needs is the reason, not candle's frames.
pub(crate) fn candle_reason(e: &candle_core::Error) -> String {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => candle_reason(inner),
        e => e.to_string(),
    }
}

/// What the model in `path` would take in memory with `context_length` tokens of context
/// (the default when None, never more than the file's own) and a KV cache of `kv`, from its
/// header alone. Kept per file, size and modification time: parsing a header with a large
/// vocabulary takes a good part of a second, and `GET /admin/models` asks for every installed
/// model each time.
pub fn estimate_memory(
    path: &std::path::Path,
    context_length: Option<usize>,
    kv: KvCacheType,
) -> Result<MemoryEstimate, LoadError> {
    type Key = (
        PathBuf,
        u64,
        Option<std::time::SystemTime>,
        Option<usize>,
        KvCacheType,
    );
    static KNOWN: std::sync::OnceLock<
        parking_lot::Mutex<std::collections::HashMap<Key, MemoryEstimate>>,
    > = std::sync::OnceLock::new();
    let meta =
        std::fs::metadata(path).map_err(|e| LoadError::Io(format!("{}: {e}", path.display())))?;
    let key = (
        path.to_owned(),
        meta.len(),
        meta.modified().ok(),
        context_length,
        kv,
    );
    let known = KNOWN.get_or_init(Default::default);
    if let Some(m) = known.lock().get(&key) {
        return Ok(*m);
    }
    let g = gguf::Gguf::open(path)?;
    let arch = g.string("general.architecture")?.to_owned();
    let file_context = g.opt_u32(&format!("{arch}.context_length")).unwrap_or(2048) as usize;
    let context = engine::effective_context(context_length, file_context);
    let estimate = MemoryEstimate::of(&g, &arch, context, kv)?;
    let mut known = known.lock();
    // Files replaced again and again must not grow it without bound.
    if known.len() >= 64 {
        known.clear();
    }
    known.insert(key, estimate);
    Ok(estimate)
}

use super::{
    Delta, DeltaStream, EmbedRequest, EmbedResponse, Provider, ProviderError, ProviderRequest,
    ProviderResponse, ToolCallPiece,
};
use crate::config::{LocalConfig, SettingsError};
use crate::models::catalog::{CatalogEntry, ModelKind};
use crate::models::installed::{any_installed, find_installed};

/// Why a model could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the model file: {0}")]
    Io(String),
    /// The file is not a valid GGUF file, or its contents are inconsistent.
    #[error("not a usable GGUF file: {0}")]
    Format(String),
    /// A GGUF file whose header or tensors do not hold together (cut short, counts that
    /// overrun it, entries of the wrong type).
    #[error("a damaged GGUF file: {0}")]
    Damaged(String),
    /// A required metadata entry is missing.
    #[error("the GGUF metadata has no `{0}`")]
    Missing(String),
    /// A valid file Hearth cannot run yet.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The model would not fit in the memory available (the message has the numbers).
    #[error("not enough memory: {0}")]
    TooLarge(String),
}

/// Where a local provider's model is and how to run it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The catalog entry, when the model was named by id.
    pub entry: Option<CatalogEntry>,
    /// The GGUF file.
    pub path: PathBuf,
    /// The chat template override, if any.
    pub template: Option<String>,
}

/// The file and template of the model `config` names, None when it names none (it then
/// serves installed models by id only); an error for an unknown id or for naming both
/// `model` and `path`.
pub fn resolve(config: &LocalConfig) -> Result<Option<Resolved>, SettingsError> {
    let template = config.chat_template.clone();
    Ok(match config.catalog_entry()? {
        Some(entry) => Some(Resolved {
            path: entry.installed_path(),
            template: template.or_else(|| entry.template().map(str::to_owned)),
            entry: Some(entry),
        }),
        None => config.path.clone().map(|path| Resolved {
            entry: None,
            path,
            template,
        }),
    })
}

/// Why a local provider's memory cannot be estimated.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// Its settings name an unknown model or a bad path.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// It serves installed models by id, so no one file is its own.
    #[error("the provider names no model (it serves installed ones by id)")]
    NoModel,
    /// Its file is missing or cannot run so.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// What the model `config` names would take in memory at its own `context_length` and
/// `kv_cache_type` (`estimate_memory`).
pub fn memory_estimate(config: &LocalConfig) -> Result<MemoryEstimate, EstimateError> {
    let path = resolve(config)?.ok_or(EstimateError::NoModel)?.path;
    Ok(estimate_memory(
        &path,
        config.context_length,
        config.kv_cache_type,
    )?)
}

/// The local provider: its configured model, and every installed one by id, loaded in a
/// pool shared by every local provider of the install.
pub struct LocalProvider {
    name: String,
    config: LocalConfig,
    configured: Option<Resolved>,
    threads: usize,
    pool: Arc<Pool>,
    // Embedding models by weights file, loaded on first use and kept: at about 100 MB each
    // they stay outside the pool's budget of generating models.
    embedders: tokio::sync::Mutex<HashMap<PathBuf, Arc<Embedder>>>,
}

impl LocalProvider {
    /// A provider called `name`, loading its models in `pool` (on first use or by `warm`).
    pub fn new(name: &str, config: LocalConfig, pool: Arc<Pool>) -> Self {
        // The config was validated at load, so this resolves; an unresolvable one leaves a
        // provider that serves installed models by id only.
        let configured = resolve(&config).ok().flatten();
        let threads = configure_threads(config.threads);
        LocalProvider {
            name: name.to_owned(),
            config,
            configured,
            threads,
            pool,
            embedders: tokio::sync::Mutex::default(),
        }
    }

    /// What `model_id` names: a provider configured with a file serves that file whatever
    /// the id (the policy's ids for it are its own labels); one configured with a catalog
    /// model serves it by its id; any other id is an installed model's.
    fn spec(&self, model_id: &str) -> Result<LoadSpec, ProviderError> {
        let encoder = || {
            ProviderError::Unsupported(format!(
                "`{model_id}` is an embedding model: it answers /v1/embeddings only"
            ))
        };
        let (id, path, template) = match &self.configured {
            Some(r)
                if self.config.path.is_some() || self.config.model.as_deref() == Some(model_id) =>
            {
                if is_embedding(&r.entry) {
                    return Err(encoder());
                }
                (self.configured_id(), r.path.clone(), r.template.clone())
            }
            _ => match find_installed(model_id) {
                Some(m) if is_embedding(&m.entry) => return Err(encoder()),
                Some(m) => (
                    Some(m.id),
                    m.path,
                    self.config.chat_template.clone().or(m.template),
                ),
                None => {
                    return Err(ProviderError::Unavailable(format!(
                        "no installed model `{model_id}` (see `hearth models list`)"
                    )))
                }
            },
        };
        let id = id.unwrap_or_else(|| model_id.to_owned());
        Ok(LoadSpec {
            model: format!("{}/{id}", self.name),
            path,
            options: LoadOptions {
                template,
                threads: self.threads,
                context_length: self.config.context_length,
                kv_cache_type: self.config.kv_cache_type,
                memory_limit: self.config.memory_limit_mb.map(|mb| mb << 20),
            },
            repeat: (self.config.repeat_penalty, self.config.repeat_last_n),
        })
    }

    /// The id requests name the configured model by.
    fn configured_id(&self) -> Option<String> {
        let r = self.configured.as_ref()?;
        Some(self.config.model.clone().unwrap_or_else(|| {
            r.path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        }))
    }

    /// Loads the configured model if it is not loaded yet.
    pub async fn load(&self) -> Result<Arc<Engine>, LoadError> {
        let id = self
            .configured_id()
            .ok_or_else(|| LoadError::Missing("model or path in the provider's config".into()))?;
        let spec = self.spec(&id).map_err(|e| LoadError::Io(e.to_string()))?;
        self.pool.warm(&spec).await
    }

    /// Requests waiting for the configured model right now (not counting the one running).
    /// The embedding model `model_id` names, loaded once.
    async fn embedder(&self, model_id: &str) -> Result<Arc<Embedder>, ProviderError> {
        let m = find_installed(model_id).ok_or_else(|| {
            ProviderError::Unavailable(format!(
                "no installed model `{model_id}` (see `hearth models list`)"
            ))
        })?;
        if !is_embedding(&m.entry) {
            return Err(ProviderError::Unsupported(format!(
                "`{model_id}` generates text and has no embeddings; name an embedding model (`hearth models list`)"
            )));
        }
        let mut loaded = self.embedders.lock().await;
        if let Some(e) = loaded.get(&m.path) {
            return Ok(e.clone());
        }
        let path = m.path.clone();
        let embedder = tokio::task::spawn_blocking(move || Embedder::load(&path))
            .await
            .map_err(|e| ProviderError::Unavailable(format!("loading stopped: {e}")))?
            .map_err(|e| ProviderError::NotLoadable(format!("local/{model_id}: {e}")))?;
        let embedder = Arc::new(embedder);
        loaded.insert(m.path, embedder.clone());
        Ok(embedder)
    }

    pub fn queued(&self) -> usize {
        self.configured_id()
            .map_or(0, |id| self.pool.queued(&format!("{}/{id}", self.name)))
    }

    async fn admit(&self, model_id: &str) -> Result<pool::Lease, ProviderError> {
        let spec = self.spec(model_id)?;
        let queue = Queue {
            depth: self.config.queue_depth,
            wait: Duration::from_millis(self.config.queue_wait_ms),
        };
        self.pool.acquire(&spec, queue).await
    }
}

/// The CPU threads candle will use: `CANDLE_NUM_THREADS` when the user set it, else
/// `requested`, else the physical cores this process may run on, at most 4. Not hyperthreads
/// and not more than the process is allowed: candle's spinning workers lose badly when two
/// of them share a core.
pub fn thread_count(requested: Option<usize>) -> usize {
    if let Some(n) = std::env::var("CANDLE_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return n.max(1);
    }
    requested
        .unwrap_or_else(|| {
            let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
            num_cpus::get_physical().min(allowed).min(4)
        })
        .max(1)
}

/// Settles `thread_count` for this process: candle reads the variables once, when it first
/// computes, so this runs before any model loads.
pub fn configure_threads(requested: Option<usize>) -> usize {
    let n = thread_count(requested);
    std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    n
}

/// Which matrix multiply quantized weights get on this CPU: Hearth's tiled kernels for
/// AVX-512 VNNI or AVX2, or candle's generic ones (several times slower) where the CPU has
/// neither.
pub fn quant_kernel() -> &'static str {
    match quant::kernel() {
        quant::Kernel::Scalar => "candle-generic",
        k => k.name(),
    }
}

/// Whether an installed model is a sentence encoder rather than a text generator.
fn is_embedding(entry: &Option<CatalogEntry>) -> bool {
    entry
        .as_ref()
        .is_some_and(|e| e.kind == ModelKind::Embedding)
}

/// Sets a flag when dropped, so a blocking decode loop learns its caller went away.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Provider for LocalProvider {
    async fn generate(&self, req: &ProviderRequest) -> Result<ProviderResponse, ProviderError> {
        let lease = self.admit(&req.model_id).await?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        let req = req.clone();
        let run = tokio::task::spawn_blocking(move || {
            lease
                .engine()
                .generate(&req, &mut |_, _| !cancelled.load(Ordering::SeqCst))
        });
        let answer = run
            .await
            .map_err(|e| ProviderError::Unavailable(format!("local engine stopped: {e}")))??;
        Ok(ProviderResponse {
            text: answer.text,
            usage: answer.usage,
            finish_reason: answer.finish,
            tool_calls: answer.calls,
        })
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        let lease = self.admit(&req.model_id).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let req = req.clone();
        // The decode loop holds the engine's slot until it ends; a dropped receiver (the
        // client went away) ends it at the next token.
        tokio::task::spawn_blocking(move || {
            let mut send = |piece: &str, so_far| {
                tx.blocking_send(Ok(Delta::Progress(so_far))).is_ok()
                    && (piece.is_empty()
                        || tx.blocking_send(Ok(Delta::Text(piece.to_owned()))).is_ok())
            };
            let result = lease.engine().generate(&req, &mut send);
            let last = result.map(|answer| {
                for (i, call) in answer.calls.into_iter().enumerate() {
                    let _ = tx.blocking_send(Ok(Delta::ToolCall(ToolCallPiece::whole(i, call))));
                }
                Delta::Finish {
                    usage: answer.usage,
                    finish_reason: answer.finish,
                }
            });
            let _ = tx.blocking_send(last);
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn warm(&self) -> Result<(), ProviderError> {
        match &self.configured {
            None => return Ok(()),
            Some(r) if is_embedding(&r.entry) => {
                let id = self.configured_id().unwrap_or_default();
                return self.embedder(&id).await.map(|_| ());
            }
            Some(_) => {}
        }
        self.load()
            .await
            .map(|_| ())
            .map_err(|e| ProviderError::NotLoadable(e.to_string()))
    }

    async fn embed(&self, req: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let embedder = self.embedder(&req.model_id).await?;
        let req = req.clone();
        tokio::task::spawn_blocking(move || embedder.embed(&req.inputs, req.dimensions))
            .await
            .map_err(|e| ProviderError::Unavailable(format!("the embedding model stopped: {e}")))?
    }

    /// A provider given a file needs that file; one given a catalog model (or none) serves
    /// every installed model too, so any of them makes it usable.
    fn is_usable(&self) -> bool {
        match &self.configured {
            Some(r) if self.config.path.is_some() => r.path.is_file(),
            Some(r) if r.path.is_file() => true,
            _ => any_installed(),
        }
    }
}
