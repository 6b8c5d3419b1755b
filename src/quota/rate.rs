use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Token buckets keyed by an arbitrary string: `rpm` requests a minute with a burst of
/// `rpm`, refilled continuously. A hand-written bucket because limits change at run time
/// per workspace, which fixed-quota limiter crates do not model.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
}

/// Buckets kept before full ones are swept out. A key is a workspace or an end user, and a
/// service key names end users freely: without the sweep each new name would stay forever.
const SWEEP_ABOVE: usize = 4096;

#[derive(Default)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    /// The size at which the next sweep runs: twice what the last one kept, so sweeping
    /// costs O(1) a request however many buckets are still refilling.
    sweep_at: usize,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    capacity: f64,
}

impl Bucket {
    /// Refilled to capacity: the same as no bucket at all.
    fn is_full(&self, now: Instant) -> bool {
        let per_sec = self.capacity / 60.0;
        self.tokens + now.duration_since(self.at).as_secs_f64() * per_sec >= self.capacity
    }
}

impl RateLimiter {
    /// Takes one request from `key`'s bucket, or says how long until one is free.
    pub fn check(&self, key: &str, rpm: u32) -> Result<(), Duration> {
        let capacity = f64::from(rpm.max(1));
        let per_sec = capacity / 60.0;
        let now = Instant::now();
        let mut guard = self.buckets.lock();
        let buckets = &mut *guard;
        if buckets.by_key.len() >= buckets.sweep_at.max(SWEEP_ABOVE)
            && !buckets.by_key.contains_key(key)
        {
            buckets.by_key.retain(|_, b| !b.is_full(now));
            buckets.sweep_at = 2 * buckets.by_key.len();
        }
        let b = buckets.by_key.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
            capacity,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec).min(capacity);
        b.at = now;
        b.capacity = capacity;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_a_minute_lets_thirty_through_then_says_when_to_come_back() {
        let r = RateLimiter::default();
        for _ in 0..30 {
            assert!(r.check("w", 30).is_ok());
        }
        let wait = r.check("w", 30).unwrap_err();
        assert!(
            wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert!(r.check("other", 30).is_ok(), "buckets are per key");
    }

    #[test]
    fn buckets_of_keys_no_longer_limited_are_swept_so_new_names_cannot_grow_memory() {
        let r = RateLimiter::default();
        // A key at its limit stays limited through any number of sweeps.
        for _ in 0..3 {
            assert!(r.check("busy", 3).is_ok());
        }
        // Names used once at 600 rpm are a hundredth of a second from full: after a moment
        // each is the same as no bucket.
        for i in 0..SWEEP_ABOVE {
            assert!(r.check(&format!("end-user-{i}"), 6000).is_ok());
        }
        std::thread::sleep(Duration::from_millis(20));
        for i in 0..10 * SWEEP_ABOVE {
            assert!(r.check(&format!("new-user-{i}"), 600_000).is_ok());
        }
        let kept = r.buckets.lock().by_key.len();
        assert!(kept <= 2 * SWEEP_ABOVE, "{kept} buckets kept");
        assert!(r.check("busy", 3).is_err(), "the busy key is still limited");
    }
}
