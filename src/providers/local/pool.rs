//! The on-device models loaded now, within one memory budget. A model loads on its first
//! request; when a new one would not fit, the least recently used idle ones are unloaded
//! first; a model idle longer than `idle_unload` is unloaded. Each loaded model runs one
//! generation at a time behind its own bounded queue, so two models can generate at once
//! when the cores allow. Budgets count each model's estimate (weights, KV cache at the whole
//! context, scratch), never what happens to be resident.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use super::{Engine, LoadError, LoadOptions, MemoryEstimate};
use crate::config::PoolSettings;
use crate::providers::ProviderError;

/// What the pool did; the orchestrator turns these into audit events and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolEvent {
    /// A model finished loading.
    Loaded {
        /// `local/<id>`.
        model: String,
        /// Wall time of the load.
        seconds: f64,
    },
    /// A model was unloaded.
    Unloaded {
        /// `local/<id>`.
        model: String,
        /// `budget` (room for another model) or `idle`.
        reason: &'static str,
    },
}

/// Receives the pool's events.
pub type Listener = Arc<dyn Fn(&PoolEvent) + Send + Sync>;

/// A model to run and how.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// `PROVIDER/MODEL_ID`, as events and the admin API name it.
    pub model: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// How to load it.
    pub options: LoadOptions,
    /// Repetition penalty and the tokens it looks at.
    pub repeat: (f32, usize),
}

impl LoadSpec {
    /// Two specs share a loaded engine only when everything that shapes it is equal.
    fn key(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}\u{0}{:?}",
            self.model,
            self.path.display(),
            self.options.context_length,
            self.options.kv_cache_type,
            self.options.template,
            self.options.memory_limit,
            self.repeat
        )
    }
}

/// How long a request may wait for its model, and how many may wait.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    /// Requests that may wait; more are turned away.
    pub depth: usize,
    /// How long one may wait.
    pub wait: Duration,
}

/// One model's place in the pool.
struct Slot {
    model: String,
    estimate: MemoryEstimate,
    engine: OnceCell<Result<Arc<Engine>, LoadError>>,
    run: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Requests holding or waiting for it: a model in use is never unloaded.
    users: AtomicUsize,
    last_used: Mutex<Instant>,
}

impl Slot {
    fn loaded(&self) -> bool {
        matches!(self.engine.get(), Some(Ok(_)))
    }

    fn idle_since(&self) -> Option<Instant> {
        (self.loaded() && self.users.load(Ordering::SeqCst) == 0).then(|| *self.last_used.lock())
    }
}

/// Marks a slot in use while it lives.
struct InUse(Arc<Slot>);

impl InUse {
    fn new(slot: Arc<Slot>) -> InUse {
        slot.users.fetch_add(1, Ordering::SeqCst);
        InUse(slot)
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        *self.0.last_used.lock() = Instant::now();
        self.0.users.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A loaded model and its turn to generate; the model stays loaded while this lives.
pub struct Lease {
    engine: Arc<Engine>,
    _turn: OwnedSemaphorePermit,
    _in_use: InUse,
}

impl Lease {
    /// The engine. Only through the lease: a closure that ran `lease.engine` as a field would
    /// capture that field alone and drop the turn and the in-use count at once (a streamed
    /// answer then ran outside its model's queue, shown idle in `/admin/models`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// One loaded model as the admin API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoadedModel {
    /// `PROVIDER/MODEL_ID`.
    pub model: String,
    /// `loading` or `loaded`.
    pub state: &'static str,
    /// What its estimate counts against the budget.
    pub memory: MemoryEstimate,
    /// Requests running or waiting on it.
    pub in_use: usize,
    /// Seconds since a request last let it go.
    pub idle_s: f64,
}

/// The loaded models.
pub struct Pool {
    settings: RwLock<PoolSettings>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// Loads one at a time, so two loads cannot both count on the same free room.
    loading: tokio::sync::Mutex<()>,
    listener: RwLock<Option<Listener>>,
    reaper: std::sync::Once,
}

impl Pool {
    /// An empty pool.
    pub fn new(settings: PoolSettings) -> Arc<Pool> {
        Arc::new(Pool {
            settings: RwLock::new(settings),
            slots: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
            listener: RwLock::new(None),
            reaper: std::sync::Once::new(),
        })
    }

    /// New settings; models already loaded stay until they are unloaded by the new ones.
    pub fn configure(&self, settings: PoolSettings) {
        *self.settings.write() = settings;
    }

    /// The budget and idle time in force.
    pub fn settings(&self) -> PoolSettings {
        *self.settings.read()
    }

    /// Sends every later event to `listener`.
    pub fn listen(&self, listener: Listener) {
        *self.listener.write() = Some(listener);
    }

    fn emit(&self, event: PoolEvent) {
        if let Some(l) = self.listener.read().clone() {
            l(&event);
        }
    }

    /// The model of `spec`, loading it if needed, and its turn to generate.
    pub async fn acquire(
        self: &Arc<Self>,
        spec: &LoadSpec,
        queue: Queue,
    ) -> Result<Lease, ProviderError> {
        let (engine, in_use) = self
            .engine(spec)
            .await
            .map_err(|e| not_loadable(&spec.model, e))?;
        let slot = in_use.0.clone();
        if slot.waiting.fetch_add(1, Ordering::SeqCst) >= queue.depth {
            slot.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(ProviderError::Unavailable(format!(
                "the queue of {} is full",
                spec.model
            )));
        }
        let turn = tokio::time::timeout(queue.wait, slot.run.clone().acquire_owned()).await;
        slot.waiting.fetch_sub(1, Ordering::SeqCst);
        match turn {
            Ok(Ok(turn)) => Ok(Lease {
                engine,
                _turn: turn,
                _in_use: in_use,
            }),
            _ => Err(ProviderError::Unavailable(format!(
                "waited too long for {}",
                spec.model
            ))),
        }
    }

    /// Loads the model of `spec` if it is not loaded yet.
    pub async fn warm(self: &Arc<Self>, spec: &LoadSpec) -> Result<Arc<Engine>, LoadError> {
        self.engine(spec).await.map(|(e, _)| e)
    }

    /// Loads the file (runs once per slot) and reports the load.
    async fn load(&self, spec: &LoadSpec) -> Result<Arc<Engine>, LoadError> {
        let (path, options, (penalty, last_n)) =
            (spec.path.clone(), spec.options.clone(), spec.repeat);
        let started = Instant::now();
        let loaded = tokio::task::spawn_blocking(move || {
            Engine::load_with(&path, &options).map(|e| e.with_repeat_penalty(penalty, last_n))
        })
        .await
        .unwrap_or_else(|e| Err(LoadError::Io(format!("the loader stopped: {e}"))))
        .map(Arc::new);
        let seconds = started.elapsed().as_secs_f64();
        match &loaded {
            Ok(e) => {
                tracing::info!(model = %spec.model, arch = %e.info.architecture, seconds, "local model loaded");
                self.emit(PoolEvent::Loaded {
                    model: spec.model.clone(),
                    seconds,
                });
            }
            Err(e) => {
                tracing::error!(model = %spec.model, error = %e, "local model failed to load")
            }
        }
        loaded
    }

    /// The loaded engine of `spec` and its slot marked in use, so it cannot be unloaded
    /// between its load and the caller's turn.
    async fn engine(self: &Arc<Self>, spec: &LoadSpec) -> Result<(Arc<Engine>, InUse), LoadError> {
        self.start_reaper();
        let slot = self.slot(spec)?;
        let in_use = InUse::new(slot.clone());
        if slot.engine.get().is_none() {
            let _one_load = self.loading.lock().await;
            if slot.engine.get().is_none() {
                if let Err(e) = self.make_room(&slot) {
                    self.forget(spec, &slot);
                    return Err(e);
                }
            }
            slot.engine.get_or_init(|| self.load(spec)).await;
        }
        match slot.engine.get() {
            Some(Ok(engine)) => Ok((engine.clone(), in_use)),
            Some(Err(e)) => {
                // A failed load is not kept: the file may be fixed or replaced.
                self.forget(spec, &slot);
                Err(e.clone())
            }
            None => Err(LoadError::Io("the load did not finish".into())),
        }
    }

    /// The slot for `spec`, made (with its estimate, from the file's header) when new.
    fn slot(&self, spec: &LoadSpec) -> Result<Arc<Slot>, LoadError> {
        let key = spec.key();
        if let Some(s) = self.slots.lock().get(&key) {
            return Ok(s.clone());
        }
        let estimate = super::estimate_memory(
            &spec.path,
            spec.options.context_length,
            spec.options.kv_cache_type,
        )?;
        let fresh = Arc::new(Slot {
            model: spec.model.clone(),
            estimate,
            engine: OnceCell::new(),
            run: Arc::new(Semaphore::new(1)),
            waiting: AtomicUsize::new(0),
            users: AtomicUsize::new(0),
            last_used: Mutex::new(Instant::now()),
        });
        Ok(self.slots.lock().entry(key).or_insert(fresh).clone())
    }

    fn forget(&self, spec: &LoadSpec, slot: &Arc<Slot>) {
        let mut slots = self.slots.lock();
        if slots.get(&spec.key()).is_some_and(|s| Arc::ptr_eq(s, slot)) {
            slots.remove(&spec.key());
        }
    }

    /// Unloads idle models, least recently used first, until `slot` fits the budget.
    fn make_room(&self, slot: &Arc<Slot>) -> Result<(), LoadError> {
        let budget = self.settings().budget_bytes;
        let need = slot.estimate.total_bytes;
        if need > budget {
            return Err(LoadError::TooLarge(format!(
                "{} needs about {} MiB (weights {}, KV cache {}, scratch {}) and the local memory budget is {} MiB ([local] memory_budget_mb)",
                slot.model,
                mib(need),
                mib(slot.estimate.weights_bytes),
                mib(slot.estimate.kv_cache_bytes),
                mib(slot.estimate.scratch_bytes),
                mib(budget)
            )));
        }
        loop {
            let mut slots = self.slots.lock();
            let held: u64 = slots
                .values()
                .filter(|s| !Arc::ptr_eq(s, slot) && s.loaded())
                .map(|s| s.estimate.total_bytes)
                .sum();
            if held + need <= budget {
                return Ok(());
            }
            let victim = slots
                .iter()
                .filter(|(_, s)| !Arc::ptr_eq(s, slot))
                .filter_map(|(k, s)| s.idle_since().map(|t| (t, k.clone())))
                .min();
            let Some(gone) = victim.and_then(|(_, key)| slots.remove(&key)) else {
                return Err(LoadError::TooLarge(format!(
                    "{} needs about {} MiB; the models in use hold {} MiB of the {} MiB local memory budget ([local] memory_budget_mb)",
                    slot.model,
                    mib(need),
                    mib(held),
                    mib(budget)
                )));
            };
            drop(slots);
            tracing::info!(model = %gone.model, "local model unloaded to make room");
            self.emit(PoolEvent::Unloaded {
                model: gone.model.clone(),
                reason: "budget",
            });
        }
    }

    /// Unloads every model idle for `idle_unload` or longer.
    pub fn unload_idle(&self) {
        let Some(idle) = self.settings().idle_unload else {
            return;
        };
        let gone: Vec<Arc<Slot>> = {
            let mut slots = self.slots.lock();
            let keys: Vec<String> = slots
                .iter()
                .filter(|(_, s)| s.idle_since().is_some_and(|t| t.elapsed() >= idle))
                .map(|(k, _)| k.clone())
                .collect();
            keys.iter().filter_map(|k| slots.remove(k)).collect()
        };
        for slot in gone {
            tracing::info!(model = %slot.model, "idle local model unloaded");
            self.emit(PoolEvent::Unloaded {
                model: slot.model.clone(),
                reason: "idle",
            });
        }
    }

    fn start_reaper(self: &Arc<Self>) {
        let pool: Weak<Pool> = Arc::downgrade(self);
        self.reaper.call_once(|| {
            tokio::spawn(async move {
                loop {
                    let Some(every) = pool.upgrade().map(|p| reap_every(p.settings())) else {
                        return;
                    };
                    tokio::time::sleep(every).await;
                    match pool.upgrade() {
                        Some(p) => p.unload_idle(),
                        None => return,
                    }
                }
            });
        });
    }

    /// The models loaded or loading now.
    pub fn status(&self) -> Vec<LoadedModel> {
        let mut out: Vec<LoadedModel> = self
            .slots
            .lock()
            .values()
            .map(|s| LoadedModel {
                model: s.model.clone(),
                state: if s.loaded() { "loaded" } else { "loading" },
                memory: s.estimate,
                in_use: s.users.load(Ordering::SeqCst),
                idle_s: s.last_used.lock().elapsed().as_secs_f64(),
            })
            .collect();
        out.sort_by(|a, b| a.model.cmp(&b.model));
        out
    }

    /// Requests waiting for `model` right now (not counting the one running).
    pub fn queued(&self, model: &str) -> usize {
        self.slots
            .lock()
            .values()
            .filter(|s| s.model == model)
            .map(|s| s.waiting.load(Ordering::SeqCst))
            .sum()
    }
}

/// How often idle models are looked for: often enough that one goes within a quarter of its
/// idle time, at most every 30 s.
fn reap_every(s: PoolSettings) -> Duration {
    s.idle_unload
        .map_or(Duration::from_secs(30), |d| d / 4)
        .clamp(Duration::from_millis(250), Duration::from_secs(30))
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// A load's failure as callers see it: the budget's numbers and what is wrong with a file
/// are Hearth's own words and safe to show; a read error's path is not shown, only logged.
fn not_loadable(model: &str, e: LoadError) -> ProviderError {
    match e {
        LoadError::TooLarge(_) => ProviderError::NotLoadable(e.to_string()),
        LoadError::Io(_) => {
            tracing::warn!(model, error = %e, "local model file unreadable");
            ProviderError::NotLoadable(format!("{model}: its file cannot be read"))
        }
        _ => ProviderError::NotLoadable(format!("{model}: {e}")),
    }
}
