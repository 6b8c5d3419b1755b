//! Limits that hold under concurrency: request rates per workspace and per user, the
//! workspace's concurrency permit (bulkhead), and daily USD and token budgets that reserve
//! the worst case before a call and settle the real cost after.

mod budget;
mod bulkhead;
mod rate;

pub use budget::{BudgetLedger, Limits, Reservation, Settlement};
pub use bulkhead::{Bulkhead, Permit};
pub use rate::RateLimiter;
