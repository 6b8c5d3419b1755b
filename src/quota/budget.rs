use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::LimitKind;

/// One workspace's day: what is settled and what is reserved by calls in flight.
#[derive(Debug, Default)]
struct Day {
    spent_usd: f64,
    reserved_usd: f64,
    spent_tokens: u64,
    reserved_tokens: u64,
    alerted: bool,
}

/// Daily budgets of every workspace. The mutex makes reserve-check-and-add atomic, so
/// concurrent requests can never together pass a budget that each alone would fit.
#[derive(Clone, Default)]
pub struct BudgetLedger {
    days: Arc<Mutex<HashMap<(String, String), Day>>>,
}

/// The limits a reservation is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// USD a day.
    pub budget_usd: f64,
    /// Tokens a day, if limited.
    pub token_limit: Option<u64>,
    /// Share of the budget that raises an alert.
    pub alert_share: f64,
}

/// What settling a call did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settlement {
    /// Spend of the day after this call.
    pub spent_usd: f64,
    /// Set when this call crossed the alert share for the first time today.
    pub alert_crossed: bool,
}

/// A worst-case hold on a workspace's budget. Settle it with the real cost; dropping it
/// unsettled (failure, cancellation) releases the hold.
pub struct Reservation {
    ledger: BudgetLedger,
    key: (String, String),
    usd: f64,
    tokens: u64,
    alert_at_usd: f64,
    settled: bool,
}

impl BudgetLedger {
    /// Holds `usd` and `tokens` for a call, or names the limit it would break. `load` gives
    /// the day's settled totals from the store the first time a day is touched.
    pub fn reserve(
        &self,
        workspace: &str,
        day: &str,
        limits: Limits,
        usd: f64,
        tokens: u64,
        load: impl FnOnce() -> (f64, u64),
    ) -> Result<Reservation, LimitKind> {
        let key = (workspace.to_owned(), day.to_owned());
        let mut days = self.days.lock();
        let d = days.entry(key.clone()).or_insert_with(|| {
            let (spent_usd, spent_tokens) = load();
            Day {
                spent_usd,
                spent_tokens,
                alerted: spent_usd >= limits.budget_usd * limits.alert_share,
                ..Day::default()
            }
        });
        if d.spent_usd + d.reserved_usd + usd > limits.budget_usd + 1e-12 {
            return Err(LimitKind::Budget);
        }
        if let Some(limit) = limits.token_limit {
            if d.spent_tokens + d.reserved_tokens + tokens > limit {
                return Err(LimitKind::Tokens);
            }
        }
        d.reserved_usd += usd;
        d.reserved_tokens += tokens;
        Ok(Reservation {
            ledger: self.clone(),
            key,
            usd,
            tokens,
            alert_at_usd: limits.budget_usd * limits.alert_share,
            settled: false,
        })
    }
}

impl Reservation {
    /// Replaces the hold with the real cost (never more than was held: the provider's usage
    /// is capped by `max_output_tokens`, which the hold assumed in full).
    pub fn settle(mut self, usd: f64, tokens: u64) -> Settlement {
        self.settled = true;
        let mut days = self.ledger.days.lock();
        let d = days.entry(self.key.clone()).or_default();
        d.reserved_usd = (d.reserved_usd - self.usd).max(0.0);
        d.reserved_tokens = d.reserved_tokens.saturating_sub(self.tokens);
        d.spent_usd += usd;
        d.spent_tokens += tokens;
        let alert_crossed =
            !d.alerted && self.alert_at_usd > 0.0 && d.spent_usd >= self.alert_at_usd;
        d.alerted |= alert_crossed;
        Settlement {
            spent_usd: d.spent_usd,
            alert_crossed,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let mut days = self.ledger.days.lock();
        if let Some(d) = days.get_mut(&self.key) {
            d.reserved_usd = (d.reserved_usd - self.usd).max(0.0);
            d.reserved_tokens = d.reserved_tokens.saturating_sub(self.tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        budget_usd: 1.0,
        token_limit: Some(1000),
        alert_share: 0.5,
    };

    #[test]
    fn reservations_never_oversubscribe_and_a_dropped_one_is_released() {
        let l = BudgetLedger::default();
        let held: Vec<_> = (0..4)
            .filter_map(|_| l.reserve("w", "d", LIMITS, 0.3, 10, || (0.0, 0)).ok())
            .collect();
        assert_eq!(held.len(), 3, "0.3 fits three times into 1.0");
        drop(held);
        assert!(l.reserve("w", "d", LIMITS, 0.9, 10, || (0.0, 0)).is_ok());
    }

    #[test]
    fn settling_charges_the_real_cost_and_raises_the_alert_once() {
        let l = BudgetLedger::default();
        let r = l.reserve("w", "d", LIMITS, 0.4, 10, || (0.2, 0)).unwrap();
        let s = r.settle(0.35, 8);
        assert!(s.alert_crossed);
        assert!((s.spent_usd - 0.55).abs() < 1e-9);
        let again = l
            .reserve("w", "d", LIMITS, 0.1, 10, || (0.0, 0))
            .unwrap()
            .settle(0.1, 1);
        assert!(!again.alert_crossed);
        assert_eq!(
            l.reserve("w", "d", LIMITS, 0.5, 1, || (0.0, 0)).err(),
            Some(LimitKind::Budget)
        );
        assert_eq!(
            l.reserve("w", "d", LIMITS, 0.0, 2000, || (0.0, 0)).err(),
            Some(LimitKind::Tokens)
        );
    }
}
