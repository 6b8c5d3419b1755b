//! The on-device provider (`local`): a GGUF model run with candle on this machine's CPU.
//! Nothing it is given leaves the machine. The model loads once (at `serve` start, or on
//! first use) and is shared; requests run one at a time behind a bounded queue whose
//! overflow or wait deadline is a typed `Unavailable`, so the router can fall back.

mod engine;
mod gguf;
mod template;
mod tokenizer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

pub use engine::{Engine, ModelInfo};

use super::{Delta, DeltaStream, Provider, ProviderError, ProviderRequest, ProviderResponse};

/// Why a model could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the model file: {0}")]
    Io(String),
    /// The file is not a valid GGUF file, or its contents are inconsistent.
    #[error("not a usable GGUF file: {0}")]
    Format(String),
    /// A required metadata entry is missing.
    #[error("the GGUF metadata has no `{0}`")]
    Missing(String),
    /// A valid file Hearth cannot run yet.
    #[error("unsupported model: {0}")]
    Unsupported(String),
}

/// `[providers.local]` in the config.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// The GGUF file.
    pub path: PathBuf,
    /// CPU threads for candle (default: the physical cores, at most 4).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Requests that may wait for the engine; more get `Unavailable`.
    #[serde(default = "default_queue_depth")]
    pub queue_depth: usize,
    /// How long a request may wait for the engine.
    #[serde(default = "default_queue_wait_ms")]
    pub queue_wait_ms: u64,
    /// A chat template replacing the file's own.
    #[serde(default)]
    pub chat_template: Option<String>,
}

fn default_queue_depth() -> usize {
    8
}

fn default_queue_wait_ms() -> u64 {
    30_000
}

/// The local provider.
pub struct LocalProvider {
    config: LocalConfig,
    threads: usize,
    engine: OnceCell<Result<Arc<Engine>, LoadError>>,
    slot: Arc<Semaphore>,
    waiting: AtomicUsize,
}

impl LocalProvider {
    /// A provider for the configured file (loaded on first use or by `load`).
    pub fn new(config: LocalConfig) -> Self {
        let threads = config.threads.unwrap_or_else(default_threads).max(1);
        // candle sizes its thread pool from these variables the first time it computes;
        // an explicit setting by the user wins.
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
        }
        if std::env::var_os("RAYON_NUM_THREADS").is_none() {
            std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        }
        LocalProvider {
            config,
            threads,
            engine: OnceCell::new(),
            slot: Arc::new(Semaphore::new(1)),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Loads the model if it is not loaded yet.
    pub async fn load(&self) -> Result<Arc<Engine>, LoadError> {
        let loaded = self
            .engine
            .get_or_init(|| async {
                let path = self.config.path.clone();
                let template = self.config.chat_template.clone();
                let threads = self.threads;
                let started = std::time::Instant::now();
                let loaded = tokio::task::spawn_blocking(move || Engine::load(&path, template.as_deref(), threads))
                    .await
                    .unwrap_or_else(|e| Err(LoadError::Io(format!("the loader stopped: {e}"))))
                    .map(Arc::new);
                match &loaded {
                    Ok(e) => tracing::info!(model = %self.config.path.display(), arch = %e.info.architecture,
                        seconds = started.elapsed().as_secs_f64(), threads = self.threads, "local model loaded"),
                    Err(e) => tracing::error!(model = %self.config.path.display(), error = %e, "local model failed to load"),
                }
                loaded
            })
            .await;
        loaded.clone()
    }

    async fn admit(&self) -> Result<(Arc<Engine>, OwnedSemaphorePermit), ProviderError> {
        let engine = self
            .load()
            .await
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.config.queue_depth {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ProviderError::Unavailable(
                "the local model's queue is full".into(),
            ));
        }
        let wait = Duration::from_millis(self.config.queue_wait_ms);
        let permit = tokio::time::timeout(wait, self.slot.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        match permit {
            Ok(Ok(p)) => Ok((engine, p)),
            _ => Err(ProviderError::Unavailable(
                "waited too long for the local model".into(),
            )),
        }
    }
}

/// Physical cores (half the logical ones where SMT is likely), at most 4: candle's
/// spinning workers lose badly when they contend for cores.
fn default_threads() -> usize {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get());
    logical.clamp(1, 4)
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
        let (engine, _permit) = self.admit().await?;
        let cancelled = Arc::new(AtomicBool::new(false));
        let _guard = CancelOnDrop(cancelled.clone());
        let req = req.clone();
        let run = tokio::task::spawn_blocking(move || {
            engine.generate(&req, &mut |_| !cancelled.load(Ordering::SeqCst))
        });
        let (text, usage, finish_reason) = run
            .await
            .map_err(|e| ProviderError::Unavailable(format!("local engine stopped: {e}")))??;
        Ok(ProviderResponse {
            text,
            usage,
            finish_reason,
        })
    }

    async fn stream(&self, req: &ProviderRequest) -> Result<DeltaStream, ProviderError> {
        let (engine, permit) = self.admit().await?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let req = req.clone();
        // The decode loop holds the engine's slot until it ends; a dropped receiver (the
        // client went away) ends it at the next token.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut send =
                |piece: &str| tx.blocking_send(Ok(Delta::Text(piece.to_owned()))).is_ok();
            let result = engine.generate(&req, &mut send);
            let last = result.map(|(_, usage, finish_reason)| Delta::Finish {
                usage,
                finish_reason,
            });
            let _ = tx.blocking_send(last);
        });
        Ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    fn is_usable(&self) -> bool {
        match self.engine.get() {
            Some(loaded) => loaded.is_ok(),
            None => self.config.path.is_file(),
        }
    }
}
