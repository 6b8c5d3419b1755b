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

/// A hold on a workspace's budget for one call: its estimated cost. Settle it with the
/// real cost; dropping it unsettled (failure, cancellation) releases the hold.
pub struct Reservation {
    ledger: BudgetLedger,
    key: (String, String),
    usd: f64,
    tokens: u64,
    alert_at_usd: f64,
    settled: bool,
}

impl BudgetLedger {
    /// Holds `usd` and `tokens` for a call, or names the limit it would break: `Budget` or
    /// `Tokens` when the settled spend alone leaves no room for it (nothing will free any
    /// today), `BudgetReserved` when only the holds of calls in flight are in the way.
    /// `load` gives the day's settled totals from the store the first time a day is touched.
    ///
    /// Holds are estimates, so the day's spend can pass the budget, by at most the sum,
    /// over calls in flight together, of what each one cost above its hold.
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
        if !days.contains_key(&key) {
            // A new day: the workspace's earlier days are settled history, kept in the store.
            days.retain(|(ws, d), held| {
                ws != workspace || d == day || held.reserved_usd > 0.0 || held.reserved_tokens > 0
            });
        }
        let d = days.entry(key.clone()).or_insert_with(|| {
            let (spent_usd, spent_tokens) = load();
            Day {
                spent_usd,
                spent_tokens,
                alerted: spent_usd >= limits.budget_usd * limits.alert_share,
                ..Day::default()
            }
        });
        const SLACK: f64 = 1e-12;
        if d.spent_usd + usd > limits.budget_usd + SLACK {
            return Err(LimitKind::Budget);
        }
        if limits
            .token_limit
            .is_some_and(|l| d.spent_tokens + tokens > l)
        {
            return Err(LimitKind::Tokens);
        }
        let usd_held = d.spent_usd + d.reserved_usd + usd > limits.budget_usd + SLACK;
        let tokens_held = limits
            .token_limit
            .is_some_and(|l| d.spent_tokens + d.reserved_tokens + tokens > l);
        if usd_held || tokens_held {
            return Err(LimitKind::BudgetReserved);
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
    /// Replaces the hold with the real cost, which may be more than was held (the hold is
    /// an estimate of the output).
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
    fn holds_never_oversubscribe_and_a_dropped_one_is_released() {
        let l = BudgetLedger::default();
        let tries: Vec<_> = (0..4)
            .map(|_| l.reserve("w", "d", LIMITS, 0.3, 10, || (0.0, 0)))
            .collect();
        assert_eq!(
            tries.iter().filter(|r| r.is_ok()).count(),
            3,
            "0.3 fits three times into 1.0"
        );
        assert_eq!(
            tries[3].as_ref().err(),
            Some(&LimitKind::BudgetReserved),
            "refused for what calls in flight hold, not for a spent budget"
        );
        drop(tries);
        assert!(l.reserve("w", "d", LIMITS, 0.9, 10, || (0.0, 0)).is_ok());
    }

    #[test]
    fn a_new_day_forgets_the_workspaces_settled_days_but_not_a_hold_across_midnight() {
        let l = BudgetLedger::default();
        let late = l.reserve("w", "d1", LIMITS, 0.1, 1, || (0.0, 0)).unwrap();
        l.reserve("other", "d1", LIMITS, 0.1, 1, || (0.0, 0))
            .unwrap()
            .settle(0.1, 1);
        l.reserve("w", "d2", LIMITS, 0.1, 1, || (0.0, 0))
            .unwrap()
            .settle(0.1, 1);
        assert_eq!(l.days.lock().len(), 3, "d1 of w is held across midnight");
        late.settle(0.1, 1);
        l.reserve("w", "d3", LIMITS, 0.1, 1, || (0.0, 0))
            .unwrap()
            .settle(0.1, 1);
        let mut kept: Vec<_> = l.days.lock().keys().cloned().collect();
        kept.sort();
        assert_eq!(
            kept,
            [
                ("other".to_owned(), "d1".to_owned()),
                ("w".to_owned(), "d3".to_owned())
            ]
        );
    }

    #[test]
    fn a_spent_budget_is_budget_exceeded_and_held_tokens_are_budget_reserved() {
        let l = BudgetLedger::default();
        l.reserve("w", "d", LIMITS, 0.9, 10, || (0.0, 0))
            .unwrap()
            .settle(0.9, 10);
        assert_eq!(
            l.reserve("w", "d", LIMITS, 0.2, 1, || (0.0, 0)).err(),
            Some(LimitKind::Budget)
        );
        let _held = l.reserve("w", "d", LIMITS, 0.0, 900, || (0.0, 0)).unwrap();
        assert_eq!(
            l.reserve("w", "d", LIMITS, 0.0, 100, || (0.0, 0)).err(),
            Some(LimitKind::BudgetReserved)
        );
    }

    #[test]
    fn spend_passes_the_budget_by_at_most_what_calls_in_flight_cost_above_their_holds() {
        // 64 calls at once (the default bulkhead) hold an estimate of 0.01 each and cost up
        // to their worst case of 0.05: the bound is the sum of the differences.
        let (estimate, worst) = (0.01, 0.05);
        let l = BudgetLedger::default();
        let held: Vec<_> = (0..64)
            .filter_map(|_| l.reserve("w", "d", LIMITS, estimate, 1, || (0.0, 0)).ok())
            .collect();
        let admitted = held.len() as f64;
        let spent = held
            .into_iter()
            .map(|r| r.settle(worst, 1).spent_usd)
            .fold(0.0, f64::max);
        let bound = admitted * (worst - estimate);
        assert_eq!(admitted, 64.0, "64 holds of 0.01 fit the budget of 1.0");
        assert!(
            spent > LIMITS.budget_usd,
            "the estimates were too low, so it did pass"
        );
        assert!(
            spent <= LIMITS.budget_usd + bound + 1e-9,
            "spent {spent} with {admitted} calls in flight: over the bound {bound}"
        );
        assert_eq!(
            l.reserve("w", "d", LIMITS, estimate, 1, || (0.0, 0)).err(),
            Some(LimitKind::Budget),
            "and nothing more is admitted today"
        );
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
