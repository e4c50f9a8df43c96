//! Loss-aware retries: more attempts for the addresses whose answers show
//! that packets get lost, and no more anywhere else.
//!
//! # Why
//!
//! A port is filtered when none of its attempts is answered. With a fixed
//! number of retries, a path that drops 10% of packets each way loses
//! about one attempt in five, so with the default single retry about one
//! open port in thirty is missed, and hundreds of closed ports come back
//! filtered. Many retries everywhere would make every filtered port on a
//! clean network cost that many timeouts.
//!
//! # How
//!
//! Like nmap, the engine watches for drops it can prove: a port that
//! answers (open or closed) only on a retry had an earlier attempt lost.
//! Per address, the share of answers that came late estimates the chance
//! `q` that one attempt goes unanswered although the port would answer.
//! A port of that address then gets as many attempts as make a miss
//! unlikely, `q^attempts <= MISS` ([`MISS`]), never fewer than the user's
//! `--retries` asks for and never more than [`MAX_ATTEMPTS`]. An address
//! with no late answer gets exactly `--retries`: a clean network is not
//! slowed down at all.
//!
//! The extra attempts do not double their timeout further (the doubling
//! is for a host that got slower, not for one that drops): see
//! [`LossTracker::timeout_attempt`].
//!
//! Each worker keeps its own table, as with round-trip times (no lock on
//! the hot path): 8 bytes per address answered.

use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Most attempts any port gets, whatever the loss.
pub(crate) const MAX_ATTEMPTS: u32 = 8;
/// The chance of missing an answering port that the retries aim below.
pub(crate) const MISS: f64 = 1e-4;

#[derive(Clone, Copy, Debug, Default)]
struct Answers {
    /// Ports of the address that answered.
    all: u32,
    /// Of those, answered only on a retry.
    late: u32,
}

/// Per-address evidence of loss, for one worker.
#[derive(Debug, Default)]
pub(crate) struct LossTracker {
    hosts: FxHashMap<IpAddr, Answers>,
}

impl LossTracker {
    /// Records that a port of `ip` answered on attempt `attempt` (0-based).
    pub(crate) fn answered(&mut self, ip: IpAddr, attempt: u32) {
        let a = self.hosts.entry(ip).or_default();
        a.all = a.all.saturating_add(1);
        if attempt > 0 {
            a.late = a.late.saturating_add(1);
        }
    }

    /// Retries a port of `ip` gets: `base` (the user's `--retries`), or
    /// more where loss has been seen (see the module docs).
    pub(crate) fn retries(&self, ip: IpAddr, base: u32) -> u32 {
        let Some(a) = self.hosts.get(&ip) else {
            return base;
        };
        if a.late == 0 {
            return base;
        }
        let q = (f64::from(a.late) / f64::from(a.all)).clamp(0.01, 0.5);
        let attempts = (MISS.ln() / q.ln()).ceil() as u32;
        let wanted = attempts.clamp(1, MAX_ATTEMPTS) - 1;
        base.max(wanted)
    }

    /// The attempt number whose timeout attempt `attempt` uses: the
    /// user's retries back off by doubling; extra attempts for loss keep
    /// the last of those timeouts.
    pub(crate) fn timeout_attempt(attempt: u32, base: u32) -> u32 {
        attempt.min(base.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    #[test]
    fn a_clean_address_gets_exactly_the_users_retries() {
        let mut t = LossTracker::default();
        assert_eq!(t.retries(A, 1), 1);
        for _ in 0..1000 {
            t.answered(A, 0);
        }
        assert_eq!(t.retries(A, 1), 1);
        assert_eq!(t.retries(A, 3), 3);
    }

    #[test]
    fn late_answers_buy_more_attempts_as_loss_grows() {
        let mut t = LossTracker::default();
        // About one attempt in five lost (10% per packet each way).
        for i in 0..100 {
            t.answered(A, u32::from(i % 5 == 0));
        }
        let lossy = t.retries(A, 1);
        assert!((4..MAX_ATTEMPTS).contains(&lossy), "{lossy}");
        let mut mild = LossTracker::default();
        for i in 0..100 {
            mild.answered(A, u32::from(i % 50 == 0));
        }
        let mild = mild.retries(A, 1);
        assert!(mild < lossy && mild >= 1, "{mild}");
    }

    #[test]
    fn attempts_are_bounded_and_never_below_the_users() {
        let mut t = LossTracker::default();
        for _ in 0..10 {
            t.answered(A, 3);
        }
        assert_eq!(t.retries(A, 1), MAX_ATTEMPTS - 1);
        assert_eq!(t.retries(A, 9), 9);
    }

    #[test]
    fn extra_attempts_keep_the_last_backed_off_timeout() {
        assert_eq!(LossTracker::timeout_attempt(0, 1), 0);
        assert_eq!(LossTracker::timeout_attempt(1, 1), 1);
        assert_eq!(LossTracker::timeout_attempt(5, 1), 1);
        assert_eq!(LossTracker::timeout_attempt(3, 3), 3);
        assert_eq!(LossTracker::timeout_attempt(2, 0), 1);
    }
}
