//! Resilience mechanisms: the circuit breaker per provider and retry backoff with jitter.
//! Deadlines are `tokio::time::Instant`s carried by the orchestrator; the bulkhead lives
//! with the other limits in `quota`.

mod backoff;
mod breaker;

pub use backoff::retry_delay;
pub use breaker::{Admission, BreakerState, BreakerView, Breakers};
