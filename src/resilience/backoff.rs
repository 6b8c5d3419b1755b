use std::time::Duration;

use rand::Rng;

/// The wait before retry number `retry` (0-based): exponential from `base`, capped at `max`,
/// with jitter in its upper half, and never shorter than the provider's `retry_after`.
pub fn retry_delay(
    retry: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = base
        .saturating_mul(2u32.saturating_pow(retry.min(16)))
        .min(max);
    let low = exp / 2;
    let jittered = if exp > low {
        rand::rng().random_range(low..=exp)
    } else {
        exp
    };
    retry_after.map_or(jittered, |after| after.max(jittered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_under_the_cap_and_honour_retry_after() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(500);
        for _ in 0..100 {
            let d0 = retry_delay(0, base, max, None);
            assert!(d0 >= Duration::from_millis(50) && d0 <= base);
            let d5 = retry_delay(5, base, max, None);
            assert!(d5 >= Duration::from_millis(250) && d5 <= max);
        }
        let long = Duration::from_secs(2);
        assert_eq!(retry_delay(0, base, max, Some(long)), long);
    }
}
