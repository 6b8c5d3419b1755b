//! The latest cache entries in memory, bounded, keyed by workspace and key like the table,
//! so an entry is never served across workspaces here either.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use super::{CacheKey, CachedAnswer};
use crate::workspace::WorkspaceId;

/// Entries kept; the oldest goes first.
const CAPACITY: usize = 256;

type Slot = (String, String);

/// The bounded set of the latest entries.
#[derive(Default)]
pub(super) struct Recent {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_key: HashMap<Slot, (CachedAnswer, i64)>,
    order: VecDeque<Slot>,
}

impl Recent {
    /// The unexpired entry of this workspace with this key.
    pub(super) fn get(
        &self,
        ws: &WorkspaceId,
        key: &CacheKey,
        now_ms: i64,
    ) -> Option<CachedAnswer> {
        let slot = (ws.as_str().to_owned(), key.as_str().to_owned());
        let inner = self.inner.lock();
        let (answer, expires_at_ms) = inner.by_key.get(&slot)?;
        (*expires_at_ms > now_ms).then(|| answer.clone())
    }

    /// Keeps an entry until `expires_at_ms` or until newer ones push it out.
    pub(super) fn put(
        &self,
        ws: &WorkspaceId,
        key: &CacheKey,
        answer: CachedAnswer,
        expires_at_ms: i64,
    ) {
        let slot = (ws.as_str().to_owned(), key.as_str().to_owned());
        let mut inner = self.inner.lock();
        if inner
            .by_key
            .insert(slot.clone(), (answer, expires_at_ms))
            .is_none()
        {
            inner.order.push_back(slot);
        }
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.by_key.remove(&old);
            }
        }
    }

    /// Forgets every entry of a workspace.
    pub(super) fn purge(&self, ws: &WorkspaceId) {
        let mut inner = self.inner.lock();
        inner.by_key.retain(|(w, _), _| w != ws.as_str());
        inner.order.retain(|(w, _)| w != ws.as_str());
    }
}
