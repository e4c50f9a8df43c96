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

/// The rate bounds of a packet scan (`-sS`: nmap's `--min-rate` and
/// `--max-rate`); its rate adapts between them (see the `pacing` module).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynRate {
    /// The rate never falls below this many packets a second.
    pub min: Option<u32>,
    /// Nor grows above this many (`--rate`/`--max-rate`).
    pub max: Option<u32>,
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

impl ConnectBudget {
    /// The budget of flights that hold no descriptor (packets on a shared
    /// socket): at most `in_flight` unanswered at once (a memory bound,
    /// the whole window from the start), started at a rate that adapts
    /// within `rate`.
    pub(crate) fn for_packets(in_flight: usize, rate: SynRate) -> ConnectBudget {
        ConnectBudget {
            permits: Permits::fixed(in_flight),
            rate: Some(Pacing::adaptive(rate.min, rate.max, Instant::now())),
        }
    }
}
