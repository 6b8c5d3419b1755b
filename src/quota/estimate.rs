//! How many output tokens a call will likely produce, learnt from the answers before it:
//! the budget holds that instead of the worst case (`max_output_tokens`), which in a burst
//! would refuse most requests while a small share of the budget is spent.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

/// Answers remembered per route and model.
const WINDOW: usize = 32;

/// The recent output lengths of each route and model. Keys are metric labels (configured
/// routes and models, or `other`), so the map stays as small as the policy.
#[derive(Default)]
pub struct OutputEstimates {
    seen: Mutex<HashMap<(String, String), VecDeque<u64>>>,
}

impl OutputEstimates {
    /// The output tokens to hold for a call: the longest of the last answers of this route
    /// and model, capped by the call's own cap; the cap itself until one answer is seen.
    pub fn estimate(&self, task: &str, model: &str, cap: u32) -> u64 {
        let cap = u64::from(cap);
        let seen = self.seen.lock();
        seen.get(&(task.to_owned(), model.to_owned()))
            .and_then(|lengths| lengths.iter().max())
            .map_or(cap, |&longest| longest.min(cap))
    }

    /// Records the length of an answer.
    pub fn observe(&self, task: &str, model: &str, output_tokens: u64) {
        let mut seen = self.seen.lock();
        let lengths = seen.entry((task.to_owned(), model.to_owned())).or_default();
        if lengths.len() == WINDOW {
            lengths.pop_front();
        }
        lengths.push_back(output_tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_is_the_longest_recent_answer_capped_and_the_cap_before_any() {
        let e = OutputEstimates::default();
        assert_eq!(
            e.estimate("chat", "m", 512),
            512,
            "nothing seen: the worst case"
        );
        for n in [40, 120, 80] {
            e.observe("chat", "m", n);
        }
        assert_eq!(e.estimate("chat", "m", 512), 120);
        assert_eq!(
            e.estimate("chat", "m", 100),
            100,
            "never above the call's cap"
        );
        assert_eq!(
            e.estimate("extract", "m", 512),
            512,
            "each route learns apart"
        );
        for _ in 0..WINDOW {
            e.observe("chat", "m", 10);
        }
        assert_eq!(
            e.estimate("chat", "m", 512),
            10,
            "old answers are forgotten"
        );
    }
}
