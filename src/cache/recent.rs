//! The latest cache entries in memory, bounded, keyed by workspace and key like the table,
//! so an entry is never served across workspaces here either.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use super::CachedAnswer;

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
    pub(super) fn get(&self, ws: &str, key: &str, now_ms: i64) -> Option<CachedAnswer> {
        let slot = (ws.to_owned(), key.to_owned());
        let inner = self.inner.lock();
        let (answer, expires_at_ms) = inner.by_key.get(&slot)?;
        (*expires_at_ms > now_ms).then(|| answer.clone())
    }

    /// Keeps an entry until `expires_at_ms` or until newer ones push it out.
    pub(super) fn put(&self, ws: &str, key: &str, answer: CachedAnswer, expires_at_ms: i64) {
        let slot = (ws.to_owned(), key.to_owned());
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
    pub(super) fn purge(&self, ws: &str) {
        let mut inner = self.inner.lock();
        inner.by_key.retain(|(w, _), _| w != ws);
        inner.order.retain(|(w, _)| w != ws);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{FinishReason, ProviderResponse, Usage};

    fn answer(text: &str) -> CachedAnswer {
        CachedAnswer {
            response: ProviderResponse {
                text: text.into(),
                usage: Usage::default(),
                finish_reason: FinishReason::Stop,
                tool_calls: Vec::new(),
            },
            provider: "mock".into(),
            model: "mock/m".into(),
            cost_usd: 0.0,
        }
    }

    fn text(r: &Recent, ws: &str, key: &str, now: i64) -> Option<String> {
        r.get(ws, key, now).map(|a| a.response.text)
    }

    #[test]
    fn an_entry_is_served_to_its_own_workspace_only_and_until_it_expires() {
        let r = Recent::default();
        r.put("a", "k", answer("for a"), 100);
        assert_eq!(text(&r, "a", "k", 99).as_deref(), Some("for a"));
        assert_eq!(text(&r, "b", "k", 99), None, "never across workspaces");
        assert_eq!(text(&r, "a", "k", 100), None, "expired");
    }

    #[test]
    fn the_oldest_entries_go_first_and_a_purge_forgets_one_workspace() {
        let r = Recent::default();
        for i in 0..=CAPACITY {
            r.put("a", &i.to_string(), answer("x"), i64::MAX);
        }
        r.put("b", "k", answer("for b"), i64::MAX);
        assert_eq!(text(&r, "a", "0", 0), None, "pushed out");
        assert_eq!(text(&r, "a", "1", 0), None, "pushed out by b's entry");
        assert!(text(&r, "a", "2", 0).is_some());
        assert_eq!(r.inner.lock().order.len(), CAPACITY);
        r.purge("a");
        assert_eq!(text(&r, "a", "2", 0), None);
        assert_eq!(text(&r, "b", "k", 0).as_deref(), Some("for b"));
    }
}
