use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Token buckets keyed by an arbitrary string: `rpm` requests a minute with a burst of
/// `rpm`, refilled continuously. A hand-written bucket because limits change at run time
/// per workspace, which fixed-quota limiter crates do not model.
#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// Takes one request from `key`'s bucket, or says how long until one is free.
    pub fn check(&self, key: &str, rpm: u32) -> Result<(), Duration> {
        let capacity = f64::from(rpm.max(1));
        let per_sec = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * per_sec).min(capacity);
        b.at = now;
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
}
