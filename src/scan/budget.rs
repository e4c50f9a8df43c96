//! The connect budget of one scan, shared by the engine's workers and the
//! service-detection stage.
//!
//! `-c` and `--rate` promise the target at most so many connections in
//! flight and so many new ones a second *from the scan*, and a probe
//! connection of `-sV` is a connection like any other. So the in-flight
//! window of the workers (the `window` submodule) and the
//! pacing schedule (the `rate` submodule) live here, in one value the
//! caller creates and hands to both [`super::run_with_budget`] and
//! [`super::service::with_detection`].
//!
//! The workers take permits without blocking, inside their event loops;
//! detection threads block in [`ConnectBudget::acquire`], polling as the
//! workers do. One cycle could make that wait forever: a worker that hands
//! an open port to a full detection queue waits for the detectors while
//! its connects in flight hold permits, and the detectors wait for
//! permits. The caller breaks it by saying when to go ahead anyway: the
//! permit is then taken over the window (and counted, so the workers
//! start fewer until it is back). Detection of a port therefore waits but
//! is never dropped, and the scan always finishes.

use std::time::{Duration, Instant};

use super::rate::RateLimiter;
use super::window::Permits;

/// How often a blocked taker looks at the budget again (the workers'
/// own recheck interval).
const RECHECK: Duration = Duration::from_millis(2);

/// Longest sleep for a rate slot between looks at `give_up` (a slow
/// `--rate` must not hold up a cancelled scan).
const MAX_RATE_NAP: Duration = Duration::from_millis(100);

/// Connects in flight and connect starts per second, shared by a scan's
/// workers and its service detection.
#[derive(Debug)]
pub struct ConnectBudget {
    pub(crate) permits: Permits,
    pub(crate) rate: Option<RateLimiter>,
}

impl ConnectBudget {
    /// A budget of at most `concurrency` connects in flight (the ceiling
    /// of the adaptive window; the scan lowers it to fit the descriptor
    /// limit) and, with `rate`, at most that many starts per second.
    pub fn new(concurrency: usize, rate: Option<u32>) -> ConnectBudget {
        ConnectBudget {
            permits: Permits::new(concurrency),
            rate: rate.map(|r| RateLimiter::new(r, Instant::now())),
        }
    }

    /// Waits for a permit and then a rate slot, for one connect. Takes
    /// the permit over the window once `go_ahead` says so (see the module
    /// docs); returns `None`, with the permit given back, once `give_up`
    /// does.
    pub(crate) fn acquire(
        &self,
        go_ahead: &dyn Fn() -> bool,
        give_up: &dyn Fn() -> bool,
    ) -> Option<Permit<'_>> {
        loop {
            if give_up() {
                return None;
            }
            if self.permits.try_take() {
                break;
            }
            if go_ahead() {
                self.permits.take_anyway();
                break;
            }
            std::thread::sleep(RECHECK);
        }
        let permit = Permit {
            permits: &self.permits,
        };
        if let Some(rate) = &self.rate {
            while let Err(wait) = rate.try_acquire(Instant::now()) {
                if give_up() {
                    return None;
                }
                std::thread::sleep(wait.min(MAX_RATE_NAP));
            }
        }
        Some(permit)
    }
}

/// One connect's share of the budget; given back when dropped (drop it
/// after the connection is closed).
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    permits: &'a Permits,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.permits.give_back(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_is_held_until_dropped() {
        let budget = ConnectBudget::new(1, None);
        let first = budget.acquire(&|| false, &|| false).unwrap();
        assert!(!budget.permits.try_take());
        drop(first);
        assert!(budget.permits.try_take());
    }

    #[test]
    fn a_full_budget_gives_up_or_goes_ahead_when_told() {
        let budget = ConnectBudget::new(1, None);
        let _held = budget.acquire(&|| false, &|| false).unwrap();
        assert!(budget.acquire(&|| false, &|| true).is_none());
        let over = budget.acquire(&|| true, &|| false).unwrap();
        drop(_held);
        // The permit taken over the window still counts.
        assert!(!budget.permits.try_take());
        drop(over);
        assert!(budget.permits.try_take());
    }

    #[test]
    fn starts_are_paced_by_the_rate() {
        let budget = ConnectBudget::new(10, Some(1000));
        let t0 = Instant::now();
        for _ in 0..5 {
            let _p = budget.acquire(&|| false, &|| false).unwrap();
        }
        // Five starts at 1000/s span at least four intervals (less the
        // limiter's 2 ms tolerance).
        assert!(t0.elapsed() >= Duration::from_millis(2));
    }
}
