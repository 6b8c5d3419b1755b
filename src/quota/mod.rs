//! Limits that hold under concurrency: request rates per workspace and per user, the
//! workspace's concurrency permit (bulkhead), and daily USD and token budgets that hold an
//! estimate of a call's cost before it and settle the real cost after.

mod budget;
mod bulkhead;
mod estimate;
mod rate;

pub use budget::{BudgetLedger, Limits, Reservation, Settlement};
pub use bulkhead::{Bulkhead, Permit};
pub use estimate::OutputEstimates;
pub use rate::RateLimiter;
