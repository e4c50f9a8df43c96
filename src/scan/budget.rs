//! The connect budget of one scan: its in-flight window and its rate
//! schedule, in one value the caller creates and hands to every pass of
//! the scan ([`super::run_with_budget`], [`super::run_with_detection`]).
//!
//! `-c` and `--rate` promise the target at most so many connections in
//! flight and so many new ones a second *from the scan*; a TCP pass, a
//! UDP pass and the probe connections of `-sV` are all flights of the
//! engine, so they all draw on this one budget, without blocking (a
//! worker that finds it used up looks again later).

use std::time::Instant;

use super::pacing::Pacing;
use super::window::Permits;

/// Flights in flight and attempt starts per second, shared by every pass
/// of a scan.
#[derive(Debug)]
pub struct ConnectBudget {
    pub(crate) permits: Permits,
    pub(crate) rate: Option<Pacing>,
}

impl ConnectBudget {
    /// A budget of at most `concurrency` flights in flight (the ceiling
    /// of the adaptive window; the scan lowers it to fit the descriptor
    /// limit) and, with `rate`, at most that many starts per second.
    pub fn new(concurrency: usize, rate: Option<u32>) -> ConnectBudget {
        ConnectBudget {
            permits: Permits::new(concurrency),
            rate: rate.map(|r| Pacing::new(r, Instant::now())),
        }
    }
}
