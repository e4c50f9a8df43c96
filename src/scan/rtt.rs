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
//! address there is nothing to adapt to, so an attempt waits `max`.
//!
//! # Attempts started before the first sample
//!
//! They were given `max`, which is far too long once the address turns out
//! to be fast. [`Hosts`] remembers them (by slot key) until the address's
//! first sample; the worker then gives them the deadline they would have
//! had, counted from their own start. Later samples only affect attempts
//! started after them, as in TCP.
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
//! Memory is one 80-byte entry per address a worker has probed, up to
//! [`MAX_HOSTS`] entries per worker (about 3 MB with hash-table slack; a
//! few kilobytes for the usual handful of hosts), plus the keys of
//! attempts still waiting for an address's first sample (stale ones are
//! dropped before a list grows, so each list stays within twice its
//! attempts in flight). A scan of more addresses (a /8, probed in a
//! random order) evicts an arbitrary entry for each new one: an evicted
//! address starts over from the maximum timeout, as if unseen, which is
//! slower but never wrong, and attempts that waited for its first sample
//! keep their full deadline. Over a huge target space each address gets
//! few probes, so there is little to learn per address anyway.

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
}

/// What one worker knows of one address.
#[derive(Debug, Default)]
struct Host {
    estimate: Option<RttEstimate>,
    /// Attempts started before the first sample (some keys may be stale).
    waiting: Vec<Key>,
}

/// Per-address round-trip estimates of one worker, and the attempts still
/// waiting for an address's first sample.
#[derive(Debug)]
pub(crate) struct Hosts {
    timeouts: Timeouts,
    hosts: FxHashMap<IpAddr, Host>,
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
            any: None,
        }
    }

    /// The timeout of discovery attempt `attempt` to `ip`: its own
    /// estimate if it has answered, else the estimate of every address
    /// this worker has heard from (nmap's group timing: a dead address is
    /// given up after a few round trips of the live ones, not after the
    /// maximum), else the maximum.
    ///
    /// The price, as with nmap: an address much farther away than the
    /// others may be taken for down; `-Pn` or a higher `--min-timeout`
    /// avoid it.
    pub(crate) fn discovery_timeout(&self, ip: IpAddr, attempt: u32) -> Duration {
        let own = self.hosts.get(&ip).and_then(|h| h.estimate.as_ref());
        self.timeouts
            .for_attempt(own.or(self.any.as_ref()), attempt)
    }

    /// True once this worker has any sample at all.
    pub(crate) fn has_any_estimate(&self) -> bool {
        self.any.is_some()
    }

    /// The entry of `ip`, made room for (one arbitrary entry evicted)
    /// when the table is full.
    fn host(&mut self, ip: IpAddr) -> &mut Host {
        if self.hosts.len() >= MAX_HOSTS && !self.hosts.contains_key(&ip) {
            if let Some(victim) = self.hosts.keys().next().copied() {
                self.hosts.remove(&victim);
            }
        }
        self.hosts.entry(ip).or_default()
    }

    /// The timeout of attempt `attempt` to `ip`, as of now.
    pub(crate) fn timeout(&self, ip: IpAddr, attempt: u32) -> Duration {
        let estimate = self.hosts.get(&ip).and_then(|h| h.estimate.as_ref());
        self.timeouts.for_attempt(estimate, attempt)
    }

    /// The unclamped first-attempt timeout of `ip` (`srtt + 4 rttvar`),
    /// once it has given a sample.
    pub(crate) fn rto(&self, ip: IpAddr) -> Option<Duration> {
        let estimate = self.hosts.get(&ip)?.estimate.as_ref()?;
        Some(estimate.rto())
    }

    /// True when `ip` has given at least one sample.
    pub(crate) fn has_estimate(&self, ip: IpAddr) -> bool {
        self.hosts.get(&ip).is_some_and(|h| h.estimate.is_some())
    }

    /// Remembers an attempt to `ip` started before its first sample.
    /// `live` tells which remembered keys still name an attempt, so that
    /// stale ones are dropped before the list would grow.
    pub(crate) fn wait_for_first_sample(
        &mut self,
        ip: IpAddr,
        key: Key,
        live: impl Fn(Key) -> bool,
    ) {
        let waiting = &mut self.host(ip).waiting;
        if waiting.len() == waiting.capacity() && waiting.len() >= 8 {
            waiting.retain(|k| live(*k));
        }
        waiting.push(key);
    }

    /// Records an answer from `ip` that took `rtt`. On the address's first
    /// sample, returns the attempts that were waiting for it (possibly
    /// stale), so that the caller can shorten their deadlines.
    pub(crate) fn sample(&mut self, ip: IpAddr, rtt: Duration) -> Vec<Key> {
        match &mut self.any {
            Some(any) => any.update(rtt),
            None => self.any = Some(RttEstimate::first(rtt)),
        }
        let host = self.host(ip);
        match &mut host.estimate {
            Some(estimate) => {
                estimate.update(rtt);
                Vec::new()
            }
            None => {
                host.estimate = Some(RttEstimate::first(rtt));
                std::mem::take(&mut host.waiting)
            }
        }
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
        h.wait_for_first_sample(A, a1, |_| true);
        h.wait_for_first_sample(A, a2, |_| true);
        h.wait_for_first_sample(B, b1, |_| true);
        assert_eq!(h.sample(A, ms(1)), vec![a1, a2]);
        assert_eq!(h.sample(A, ms(1)), Vec::new());
        assert_eq!(h.sample(B, ms(1)), vec![b1]);
    }

    #[test]
    fn stale_waiting_attempts_are_dropped_before_the_list_grows() {
        let mut slots = Slots::with_capacity(64);
        let mut h = Hosts::new(Timeouts::new(ms(100), ms(1000)));
        let mut last = None;
        for _ in 0..1000 {
            let key = slots.insert(());
            h.wait_for_first_sample(A, key, |k| slots.contains(k));
            slots.remove(key);
            last = Some(key);
        }
        let waiting = h.sample(A, ms(1));
        assert!(waiting.len() <= 16, "{}", waiting.len());
        assert_eq!(waiting.last().copied(), last);
    }
}
