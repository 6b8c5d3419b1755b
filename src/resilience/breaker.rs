use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// A breaker's state as shown in `/ready`, `/metrics` and the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call is allowed to test recovery.
    HalfOpen,
}

impl BreakerState {
    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What the breaker says to a would-be call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Allowed,
    /// Go ahead as the half-open probe; its outcome decides the state.
    Probe,
    /// Skip this provider: its breaker is open.
    Rejected,
}

/// A snapshot of one provider's breaker.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BreakerView {
    /// The state.
    pub state: BreakerState,
    /// Failures in a row so far.
    pub consecutive_failures: u32,
}

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    opened_at: Option<Instant>,
    probe_started: Option<Instant>,
}

/// One circuit breaker per provider: opens after `threshold` consecutive failures, lets one
/// probe through after `cooldown`, closes on the probe's success.
pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Breakers {
    /// Breakers with the given threshold and cool-down.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breakers {
            threshold,
            cooldown,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Asks whether a call to `provider` may go ahead now.
    pub fn admit(&self, provider: &str) -> Admission {
        let mut entries = self.entries.lock();
        let Some(e) = entries.get_mut(provider) else {
            return Admission::Allowed;
        };
        let Some(opened) = e.opened_at else {
            return Admission::Allowed;
        };
        let now = Instant::now();
        if now.duration_since(opened) < self.cooldown {
            return Admission::Rejected;
        }
        // A probe that never reported (its caller was cancelled) frees the slot after a cool-down.
        match e.probe_started {
            Some(started) if now.duration_since(started) < self.cooldown => Admission::Rejected,
            _ => {
                e.probe_started = Some(now);
                Admission::Probe
            }
        }
    }

    /// Records a successful call: the breaker closes.
    pub fn record_success(&self, provider: &str) {
        self.entries.lock().remove(provider);
    }

    /// Records a failed call; returns true when this failure opened the breaker.
    pub fn record_failure(&self, provider: &str) -> bool {
        let mut entries = self.entries.lock();
        let e = entries.entry(provider.to_owned()).or_default();
        e.failures = e.failures.saturating_add(1);
        let reopen = e.probe_started.is_some();
        if reopen || (e.opened_at.is_none() && e.failures >= self.threshold) {
            e.opened_at = Some(Instant::now());
            e.probe_started = None;
            return true;
        }
        false
    }

    /// Opens the breaker at once, whatever the count: for failures that will not heal by
    /// themselves (refused credentials). Returns true when it was not open already.
    pub fn open_now(&self, provider: &str) -> bool {
        let mut entries = self.entries.lock();
        let e = entries.entry(provider.to_owned()).or_default();
        e.failures = e.failures.saturating_add(1);
        let was_closed = e.opened_at.is_none() || e.probe_started.is_some();
        e.opened_at = Some(Instant::now());
        e.probe_started = None;
        was_closed
    }

    /// Closes the breaker by hand (a fault drill that ended).
    pub fn reset(&self, provider: &str) {
        self.record_success(provider);
    }

    /// The breaker's state now.
    pub fn view(&self, provider: &str) -> BreakerView {
        let entries = self.entries.lock();
        let Some(e) = entries.get(provider) else {
            return BreakerView {
                state: BreakerState::Closed,
                consecutive_failures: 0,
            };
        };
        let state = match e.opened_at {
            None => BreakerState::Closed,
            Some(at) if at.elapsed() < self.cooldown => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        };
        BreakerView {
            state,
            consecutive_failures: e.failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_after_the_cooldown_and_closes_on_success() {
        let b = Breakers::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(!b.record_failure("p"));
        }
        assert_eq!(b.admit("p"), Admission::Allowed);
        assert!(b.record_failure("p"));
        assert_eq!(b.admit("p"), Admission::Rejected);
        assert_eq!(b.view("p").state, BreakerState::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.admit("p"), Admission::Probe);
        assert_eq!(
            b.admit("p"),
            Admission::Rejected,
            "only one probe at a time"
        );
        b.record_success("p");
        assert_eq!(b.admit("p"), Admission::Allowed);
        assert_eq!(b.view("p").state, BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_opens_the_breaker_again() {
        let b = Breakers::new(1, Duration::from_millis(20));
        b.record_failure("p");
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(b.admit("p"), Admission::Probe);
        assert!(b.record_failure("p"));
        assert_eq!(b.admit("p"), Admission::Rejected);
    }

    #[test]
    fn refused_credentials_open_the_breaker_on_the_first_failure() {
        let b = Breakers::new(5, Duration::from_secs(30));
        assert!(b.open_now("p"));
        assert_eq!(b.admit("p"), Admission::Rejected);
        assert!(!b.open_now("p"), "already open");
    }
}
