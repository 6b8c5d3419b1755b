//! The exact cache: the digest's key (workspace, permission, prompt id/version, schema,
//! model, task, normalised input and the output-changing parameters), hashed with SHA-256,
//! stored in SQLite with a TTL, and never read across workspaces. The latest entries are
//! also kept in memory (`recent.rs`): the writer commits an entry a little after the answer
//! leaves, and the same question asked at once must hit.

mod key;
mod recent;

use std::sync::Arc;
use std::time::Duration;

pub use key::{CacheKey, KeyScope};
use recent::Recent;

use crate::error::Result;
use crate::providers::ProviderResponse;
use crate::store::cache::CacheRow;
use crate::store::writer::Writer;
use crate::store::{self, now_ms, Store};
use crate::workspace::WorkspaceId;

/// An answer served from the cache.
#[derive(Debug, Clone)]
pub struct CachedAnswer {
    /// The stored answer.
    pub response: ProviderResponse,
    /// The provider that produced it.
    pub provider: String,
    /// `PROVIDER/MODEL` that produced it.
    pub model: String,
    /// What it cost when produced (what this hit saved).
    pub cost_usd: f64,
}

/// The exact cache over the store.
pub struct ExactCache {
    store: Arc<Store>,
    writer: Writer,
    ttl: Duration,
    recent: Recent,
}

impl ExactCache {
    /// A cache whose entries live `ttl`.
    pub fn new(store: Arc<Store>, writer: Writer, ttl: Duration) -> Self {
        ExactCache {
            store,
            writer,
            ttl,
            recent: Recent::default(),
        }
    }

    /// The workspace's unexpired entry for this key.
    pub fn lookup(&self, ws: &WorkspaceId, key: &CacheKey) -> Result<Option<CachedAnswer>> {
        let now = now_ms();
        if let Some(answer) = self.recent.get(ws.as_str(), key.as_str(), now) {
            return Ok(Some(answer));
        }
        let row = self
            .store
            .with(|c| store::cache::get(c, ws.as_str(), key.as_str(), now))?;
        Ok(row.and_then(|r| {
            let response = serde_json::from_str(&r.response).ok()?;
            Some(CachedAnswer {
                response,
                provider: r.provider,
                model: r.model,
                cost_usd: r.cost_usd,
            })
        }))
    }

    /// Keeps an entry in memory and queues it for the writer (best effort: a lost entry is
    /// only a future miss).
    pub fn store(&self, ws: &WorkspaceId, key: &CacheKey, answer: &CachedAnswer) {
        let Ok(response) = serde_json::to_string(&answer.response) else {
            return;
        };
        let now = now_ms();
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let expires_at_ms = now.saturating_add(ttl);
        self.recent
            .put(ws.as_str(), key.as_str(), answer.clone(), expires_at_ms);
        self.writer.cache(CacheRow {
            key_hash: key.as_str().to_owned(),
            workspace_id: ws.as_str().to_owned(),
            provider: answer.provider.clone(),
            model: answer.model.clone(),
            response,
            cost_usd: answer.cost_usd,
            created_at_ms: now,
            expires_at_ms,
        });
    }

    /// Drops every entry of a workspace.
    pub fn purge(&self, ws: &WorkspaceId) -> Result<usize> {
        self.recent.purge(ws.as_str());
        self.store
            .with(|c| store::cache::purge_workspace(c, ws.as_str()))
    }
}
