//! Adaptive connect timeouts: a round-trip-time estimator per destination
//! address, and the timeout of each attempt derived from it.
//!
//! # Why adapt
//!
//! On filtered ports the scan time is all timeouts. A fixed timeout has to
//! be long enough for the slowest network the user might scan, which makes
//! it far too long for a fast one: on a LAN, a host that answers closed
//! ports in 50 µs gets nothing from waiting a second for a port that will
//! never answer. Like nmap (and TCP itself), the engine measures how fast
//! each address answers and waits a few round-trip times, no longer.
//!
//! # The estimator (RFC 6298)
//!
//! A *sample* is the time from the start of an attempt to an answer from
//! the port's host: for TCP a connection (open) or a reset (closed), for
//! UDP a reply (open) or a port unreachable (closed, which only the host
//! itself sends). Timeouts are never samples (they measure our patience,
//! not the network), nor are other unreachable errors (they may come from
//! a router, not the host). Each attempt is a fresh `connect()` or
//! datagram with its own start time, so retries give unambiguous samples
//! (the retransmission ambiguity that Karn's algorithm avoids does not
//! arise).
//! The first sample `R` sets `srtt = R`, `rttvar = R / 2`; later ones
//! `rttvar = 3/4 rttvar + 1/4 |srtt - R|`, `srtt = 7/8 srtt + 1/8 R`.
//!
//! # The timeout of an attempt
//!
//! Attempt `k` (0 the first, 1 the first retry, ...) waits
//! `clamp((srtt + 4 rttvar) * 2^k, min, max)` ([`Timeouts::for_attempt`]):
//! the doubling backs off on a host that got slower, `min` keeps a burst of
//! fast answers from shrinking the timeout below what a loaded machine can
//! keep, and `max` is the user's `--timeout`. Before any sample for an
//! address there is nothing of its own to adapt to: an attempt of a
//! prober without group timing (UDP) waits `max`.
//!
//! # Group timing
//!
//! The TCP connect and the SYN scan (and every discovery probe) time an
//! address that has not answered yet by the samples of *every* address
//! the worker heard from, as nmap does for hosts without timing of their
//! own: attempt `k` waits `clamp(group srtt + 4 group rttvar, min, max) *
//! 2^k`, at most `max` ([`Timeouts::for_group_attempt`]; the doubling
//! after the floor, so a retry waits longer than the attempt before it
//! even when the group answers in microseconds). On a range that is
//! mostly silent, a dead address then costs a few round trips of the live
//! ones rather than `max` per attempt: 100 ms and 200 ms at the default
//! floor instead of 1 s twice. Before the worker has any sample at all,
//! `max`.
//!
//! The price, as with nmap: an address farther away than `2^retries`
//! times the group's timeout never answers within its waits and is
//! reported silent (filtered, or down); a higher `--min-timeout` makes
//! room for it. An address that does answer within them is timed by its
//! own estimate from its first sample on, including the attempts to it
//! still in flight (next section), so a far address among near ones is
//! not given up at the pace of the near ones once it has shown how far it
//! is. Its answers that came only on a retry after the group's shorter
//! wait are not counted as loss (see the `engine`'s `account`).
//!
//! # Attempts started before the first sample
//!
//! They were given `max` (or the group's timeout), which is too long once
//! the address turns out to be fast (or too short if it turns out to be
//! farther than the group). Without group timing, [`Hosts`] remembers them
//! (by slot key) until the address's first sample, and the worker then
//! gives them the deadline its estimate calls for at once, counted from
//! their own start. With group timing most addresses of a sweep never
//! answer, and a table entry per probe would cost a sweep a tenth of its
//! time: such an attempt is looked at again when its group deadline comes,
//! and if its address has answered since, it waits on to the deadline the
//! address's own estimate calls for (counted from its start) when that is
//! later. Later samples only affect attempts started after them, as in
//! TCP.
//!
//! # Why one table per worker
//!
//! Each worker keeps its own [`Hosts`], so the hot path (a sample per
//! closed port, hundreds of thousands a second on loopback) takes no lock
//! and shares no cache line. Workers draw their probes from the same
//! pseudo-random order, so each sees every address's ports in a similar
//! mix and gets its own samples within its first few probes; what it costs
//! is that each worker learns each address on its own.
//!
//! # Bounded
//!
//! Memory is one entry per address that has *answered* (a few dozen
//! bytes), up to [`MAX_HOSTS`] entries per worker (about 1 MB with
//! hash-table slack; a few kilobytes for the usual handful of hosts),
//! plus the keys of attempts in flight to addresses not heard from yet
//! (an attempt's key is dropped when it ends, so these are never more
//! than the attempts in flight, whatever the number of silent addresses).
//! A scan with more live addresses (a /8, probed in a random order)
//! evicts an arbitrary entry for each new one: an evicted address starts
//! over as if unheard, which is slower but never wrong. Over a huge
//! target space each address gets few probes, so there is little to learn
//! per address anyway.

use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::slots::Key;

/// Most addresses one worker keeps an estimate for (see "Bounded").
pub(crate) const MAX_HOSTS: usize = 16384;

/// Smoothed round-trip time and its variation for one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RttEstimate {
    srtt: Duration,
    rttvar: Duration,
}

impl RttEstimate {
    /// The estimate after a first sample.
    pub(crate) fn first(sample: Duration) -> RttEstimate {
        RttEstimate {
            srtt: sample,
            rttvar: sample / 2,
        }
    }

    /// Folds in a later sample (RFC 6298, section 2.3).
    pub(crate) fn update(&mut self, sample: Duration) {
        let deviation = self.srtt.max(sample) - self.srtt.min(sample);
        self.rttvar = (self.rttvar * 3 + deviation) / 4;
        self.srtt = (self.srtt * 7 + sample) / 8;
    }

    /// `srtt + 4 rttvar`, the unclamped timeout of a first attempt.
    pub(crate) fn rto(&self) -> Duration {
        self.srtt.saturating_add(self.rttvar.saturating_mul(4))
    }
}

/// The bounds of a connect timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Timeouts {
    min: Duration,
    max: Duration,
}

impl Timeouts {
    /// Bounds `min..=max`; a `min` above `max` is lowered to it.
    pub(crate) fn new(min: Duration, max: Duration) -> Timeouts {
        Timeouts {
            min: min.min(max),
            max,
        }
    }

    /// How long attempt `attempt` (0-based) may wait, given what is known
    /// of the address: `max` before any sample, else the backed-off
    /// estimate clamped to `min..=max`.
    pub(crate) fn for_attempt(&self, estimate: Option<&RttEstimate>, attempt: u32) -> Duration {
        let Some(estimate) = estimate else {
            return self.max;
        };
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        estimate
            .rto()
            .saturating_mul(factor)
            .clamp(self.min, self.max)
    }

    /// How long attempt `attempt` to an address without samples of its own
    /// may wait, given the estimate of every address (group timing): the
    /// group's timeout clamped to `min..=max`, *then* doubled per retry, at
    /// most `max`. The doubling comes after the floor because the group's
    /// estimate is a guess for this address: a retry waits longer than the
    /// attempt before it even when the near addresses that make the group
    /// answer in microseconds, so an address up to `2^attempt` times
    /// farther than the group's timeout is still heard. `max` before any
    /// sample at all.
    pub(crate) fn for_group_attempt(&self, group: Option<&RttEstimate>, attempt: u32) -> Duration {
        let Some(group) = group else {
            return self.max;
        };
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        group
            .rto()
            .clamp(self.min, self.max)
            .saturating_mul(factor)
            .min(self.max)
    }
}

/// Per-address round-trip estimates of one worker, and the attempts still
/// waiting for an address's first sample.
#[derive(Debug)]
pub(crate) struct Hosts {
    timeouts: Timeouts,
    hosts: FxHashMap<IpAddr, RttEstimate>,
    /// Attempts in flight to addresses without an estimate, by address:
    /// an entry is added when such an attempt starts and removed when it
    /// ends or its address answers, so this holds no more than what is
    /// in flight (and no entry for an address that never answers once
    /// its attempts are over).
    waiting: FxHashMap<IpAddr, Vec<Key>>,
    /// All samples of this worker, whatever their address: the estimate
    /// for discovery probes to addresses that have not answered yet (see
    /// [`Hosts::discovery_timeout`]).
    any: Option<RttEstimate>,
}

impl Hosts {
    /// An empty table using `timeouts`.
    pub(crate) fn new(timeouts: Timeouts) -> Hosts {
        Hosts {
            timeouts,
            hosts: FxHashMap::default(),
            waiting: FxHashMap::default(),
            any: None,
        }
    }

    /// The timeout of attempt `attempt` to `ip` under group timing (every
    /// discovery probe, and every attempt of a group-timed prober): its
    /// own estimate if it has answered, else the estimate of every address
    /// this worker has heard from ([`Timeouts::for_group_attempt`]: nmap's
    /// group timing, a dead address is given up after a few round trips
    /// of the live ones, not after the maximum), else the maximum.
    ///
    /// The price, as with nmap: an address that never answers within
    /// those waits (farther than `2^retries` times the group's timeout)
    /// is taken for silent (down, or its ports filtered); a higher
    /// `--min-timeout` avoids it.
    pub(crate) fn discovery_timeout(&self, ip: IpAddr, attempt: u32) -> Duration {
        match self.hosts.get(&ip) {
            Some(own) => self.timeouts.for_attempt(Some(own), attempt),
            None => self.timeouts.for_group_attempt(self.any.as_ref(), attempt),
        }
    }

    /// True once this worker has any sample at all.
    pub(crate) fn has_any_estimate(&self) -> bool {
        self.any.is_some()
    }

    /// The timeout of attempt `attempt` to `ip`, as of now.
    pub(crate) fn timeout(&self, ip: IpAddr, attempt: u32) -> Duration {
        self.timeouts.for_attempt(self.hosts.get(&ip), attempt)
    }

    /// The unclamped first-attempt timeout of `ip` (`srtt + 4 rttvar`),
    /// once it has given a sample.
    pub(crate) fn rto(&self, ip: IpAddr) -> Option<Duration> {
        self.hosts.get(&ip).map(RttEstimate::rto)
    }

    /// True when `ip` has given at least one sample.
    pub(crate) fn has_estimate(&self, ip: IpAddr) -> bool {
        self.hosts.contains_key(&ip)
    }

    /// Remembers an attempt to `ip` started before its first sample,
    /// until [`Hosts::sample`] hands it back or [`Hosts::forget_waiting`]
    /// drops it.
    pub(crate) fn wait_for_first_sample(&mut self, ip: IpAddr, key: Key) {
        self.waiting.entry(ip).or_default().push(key);
    }

    /// The attempt in `key` to `ip` ended: it no longer waits for the
    /// address's first sample.
    pub(crate) fn forget_waiting(&mut self, ip: IpAddr, key: Key) {
        if let Some(waiting) = self.waiting.get_mut(&ip) {
            waiting.retain(|k| *k != key);
            if waiting.is_empty() {
                self.waiting.remove(&ip);
            }
        }
    }

    /// Records an answer from `ip` that took `rtt`. On the address's first
    /// sample, returns the attempts that were waiting for it, so that the
    /// caller can give them the deadline its estimate calls for. A full
    /// table evicts an arbitrary address first (see "Bounded").
    pub(crate) fn sample(&mut self, ip: IpAddr, rtt: Duration) -> Vec<Key> {
        match &mut self.any {
            Some(any) => any.update(rtt),
            None => self.any = Some(RttEstimate::first(rtt)),
        }
        if let Some(estimate) = self.hosts.get_mut(&ip) {
            estimate.update(rtt);
            return Vec::new();
        }
        if self.hosts.len() >= MAX_HOSTS {
            if let Some(victim) = self.hosts.keys().next().copied() {
                self.hosts.remove(&victim);
            }
        }
        self.hosts.insert(ip, RttEstimate::first(rtt));
        self.waiting.remove(&ip).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::slots::Slots;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const B: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_sets_srtt_and_half_of_it_as_variation() {
        let e = RttEstimate::first(ms(10));
        assert_eq!(e.rto(), ms(30));
    }

    #[test]
    fn later_samples_follow_rfc_6298() {
        let mut e = RttEstimate::first(ms(80));
        e.update(ms(40));
        // rttvar = 3/4 * 40 + 1/4 * |80 - 40| = 40; srtt = 7/8 * 80 + 1/8 * 40 = 75.
        assert_eq!(
            e,
            RttEstimate {
                srtt: ms(75),
                rttvar: ms(40)
            }
        );
        assert_eq!(e.rto(), ms(235));
    }

    #[test]
    fn steady_samples_converge_and_the_variation_decays() {
        let mut e = RttEstimate::first(ms(100));
        for _ in 0..100 {
            e.update(ms(20));
        }
        assert!(e.srtt >= ms(20) && e.srtt < ms(21), "{e:?}");
        assert!(e.rttvar < ms(1), "{e:?}");
    }

    #[test]
    fn no_sample_means_the_maximum_for_every_attempt() {
        let t = Timeouts::new(ms(100), ms(1000));
        for attempt in 0..5 {
            assert_eq!(t.for_attempt(None, attempt), ms(1000));
        }
    }

    #[test]
    fn timeouts_are_clamped_to_min_and_max() {
        let t = Timeouts::new(ms(100), ms(1000));
        let fast = RttEstimate::first(Duration::from_micros(50));
        assert_eq!(t.for_attempt(Some(&fast), 0), ms(100));
        let slow = RttEstimate::first(ms(500));
        assert_eq!(t.for_attempt(Some(&slow), 0), ms(1000));
        let middling = RttEstimate::first(ms(100));
        assert_eq!(t.for_attempt(Some(&middling), 0), ms(300));
    }

    #[test]
    fn retries_back_off_by_doubling_up_to_the_maximum() {
        let t = Timeouts::new(ms(100), ms(1000));
        let e = RttEstimate::first(ms(50)); // rto 150 ms
        let got: Vec<_> = (0..5).map(|k| t.for_attempt(Some(&e), k)).collect();
        assert_eq!(got, [ms(150), ms(300), ms(600), ms(1000), ms(1000)]);
        // Even absurd attempt numbers do not overflow.
        assert_eq!(t.for_attempt(Some(&e), 40), ms(1000));
    }

    #[test]
    fn a_minimum_above_the_maximum_is_lowered_to_it() {
        let t = Timeouts::new(ms(500), ms(200));
        let fast = RttEstimate::first(Duration::from_micros(1));
        assert_eq!(t.for_attempt(Some(&fast), 0), ms(200));
        // min == max: the old fixed timeout.
        let fixed = Timeouts::new(ms(250), ms(250));
        assert_eq!(t.for_attempt(None, 0), ms(200));
        assert_eq!(fixed.for_attempt(Some(&fast), 3), ms(250));
    }

    #[test]
    fn hosts_keep_separate_estimates() {
        let mut h = Hosts::new(Timeouts::new(ms(100), ms(1000)));
        assert_eq!(h.timeout(A, 0), ms(1000));
        assert!(!h.has_estimate(A));
        h.sample(A, ms(200)); // rto 600 ms
        assert!(h.has_estimate(A));
        assert_eq!(h.timeout(A, 0), ms(600));
        assert_eq!(h.timeout(A, 1), ms(1000));
        assert_eq!(h.timeout(B, 0), ms(1000));
    }

    #[test]
    fn the_table_is_bounded_and_evicted_addresses_start_over() {
        let mut h = Hosts::new(Timeouts::new(ms(100), ms(1000)));
        for i in 0..(MAX_HOSTS as u32 + 1000) {
            h.sample(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), ms(10));
        }
        assert_eq!(h.hosts.len(), MAX_HOSTS);
        let evicted = (0..MAX_HOSTS as u32 + 1000)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
            .filter(|ip| !h.has_estimate(*ip))
            .collect::<Vec<_>>();
        assert_eq!(evicted.len(), 1000);
        assert_eq!(h.timeout(evicted[0], 0), ms(1000));
    }

    #[test]
    fn attempts_waiting_for_a_first_sample_are_handed_back_once() {
        let mut slots = Slots::with_capacity(4);
        let mut h = Hosts::new(Timeouts::new(ms(100), ms(1000)));
        let (a1, a2, b1) = (slots.insert(()), slots.insert(()), slots.insert(()));
        h.wait_for_first_sample(A, a1);
        h.wait_for_first_sample(A, a2);
        h.wait_for_first_sample(B, b1);
        assert_eq!(h.sample(A, ms(1)), vec![a1, a2]);
        assert_eq!(h.sample(A, ms(1)), Vec::new());
        assert_eq!(h.sample(B, ms(1)), vec![b1]);
    }

    #[test]
    fn attempts_that_ended_are_forgotten_and_silent_addresses_leave_nothing() {
        let mut slots = Slots::with_capacity(64);
        let mut h = Hosts::new(Timeouts::new(ms(100), ms(1000)));
        let mut last = None;
        for i in 0..1000u32 {
            let key = slots.insert(());
            let silent = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            h.wait_for_first_sample(A, key);
            h.wait_for_first_sample(silent, key);
            h.forget_waiting(silent, key);
            if i < 999 {
                h.forget_waiting(A, key);
            }
            slots.remove(key);
            last = Some(key);
        }
        assert_eq!(h.waiting.len(), 1);
        assert_eq!(h.sample(A, ms(1)), vec![last.unwrap()]);
        assert!(h.waiting.is_empty());
    }

    #[test]
    fn an_address_slower_than_the_group_gets_its_own_longer_timeout() {
        let mut h = Hosts::new(Timeouts::new(ms(100), ms(1000)));
        let far = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
        for _ in 0..50 {
            h.sample(A, Duration::from_micros(300));
        }
        // Unheard: the group's timeout (clamped to the floor), doubled
        // per retry after the floor.
        assert_eq!(h.discovery_timeout(far, 0), ms(100));
        assert_eq!(h.discovery_timeout(far, 1), ms(200));
        assert_eq!(h.discovery_timeout(far, 4), ms(1000));
        h.sample(far, ms(150));
        // Heard: its own, longer one (150 + 4 * 75 ms).
        assert_eq!(h.discovery_timeout(far, 0), ms(450));
    }
}
