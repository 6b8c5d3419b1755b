use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// Requests in flight per workspace, so one workspace cannot take every worker.
#[derive(Default, Clone)]
pub struct Bulkhead {
    in_flight: Arc<Mutex<HashMap<String, u32>>>,
}

/// A held slot; dropping it frees the slot.
pub struct Permit {
    owner: Bulkhead,
    key: String,
}

impl Bulkhead {
    /// Takes a slot if fewer than `max` are held for `key`.
    pub fn try_enter(&self, key: &str, max: u32) -> Option<Permit> {
        let mut map = self.in_flight.lock();
        let n = map.entry(key.to_owned()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Permit {
            owner: self.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut map = self.owner.in_flight.lock();
        if let Some(n) = map.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_per_workspace_and_freed_on_drop() {
        let b = Bulkhead::default();
        let p1 = b.try_enter("a", 2);
        let p2 = b.try_enter("a", 2);
        assert!(p1.is_some() && p2.is_some());
        assert!(b.try_enter("a", 2).is_none());
        assert!(b.try_enter("b", 2).is_some());
        drop(p1);
        assert!(b.try_enter("a", 2).is_some());
    }
}
