//! ICMP rate limits, seen from the answers: when silence from a UDP port
//! may be believed.
//!
//! # Why
//!
//! A closed UDP port answers with an ICMP port unreachable, but hosts
//! ration those: Linux gives each destination a small burst (6) and then
//! about one per second (`net.ipv4.icmp_ratelimit`, 1000 ms;
//! `icmp_msgs_per_sec` caps the whole host). A scan that gives up on a
//! port after its usual retries reports most closed ports of such a host
//! `open|filtered`; nmap avoids this by slowing down to the host's pace,
//! which is why `nmap -sU` is slow.
//!
//! # The rule
//!
//! A rate-limited host does not *lose* the tokens of ignored probes: the
//! bucket refills whether or not we probe. So after a silent attempt, the
//! question is only whether the host could have answered it: if no port
//! unreachable came from the host during [`REFILL`] before the attempt was
//! sent, its bucket held a token when our datagram arrived; if none came
//! after either, no other probe took that token, and a closed port would
//! have been answered. Then the silence means `open|filtered`. Otherwise
//! (ICMP errors were still arriving around the attempt) the port is
//! probed again, at most every [`PACE`], until the rule holds or
//! [`MAX_EXTRA_ATTEMPTS`] is reached. A host that never sent a port
//! unreachable is taken at its word after the ordinary retries, as
//! before.
//!
//! Closed ports therefore arrive at the host's pace (one per second after
//! the burst), open|filtered ones right after the last closed one, and a
//! host that does not limit costs nothing extra.
//!
//! Some hosts refill fast: with the per-destination limit off
//! (`icmp_ratelimit` 0) Linux still caps all its ICMP at
//! `icmp_msgs_per_sec` (1000/s after a burst of 50), so a scan's first
//! burst loses some answers, which come back within milliseconds of a
//! retry. A host that has sent [`FAST_COUNT`] port unreachables within
//! one second cannot be on a one-per-second budget; for it the quiet
//! window is [`FAST_QUIET`] and the pace [`FAST_QUIET`] too.
//!
//! The host's budget is spent by every ICMP error it sends us, not only
//! by port unreachables: a port rejected with *administratively
//! prohibited* (or host or network unreachable from the host's own
//! firewall) takes a token too. Those errors therefore count as ICMP
//! "around the attempt" ([`HostIcmp::other_error`]); otherwise a token
//! spent on such a port would look like a quiet refill, and the closed
//! ports probed in the next second would be believed `open|filtered`.
//! Only port unreachables show that the host rations them at all: a host
//! that sent none is still believed after the ordinary retries.
//!
//! A host is *flagged* as rate-limiting (for the summary) once
//! [`LATE_TO_FLAG`] of its closed ports answered only a later attempt,
//! unless it refills fast.
//!
//! This module is pure: no sockets, no clock; the engine passes instants.
//! `IcmpTable` is the engine's per-host record of these answers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long without a port unreachable from a host before its ICMP
/// bucket surely holds a token again (Linux refills one per second; half
/// a second of margin for timer granularity and queueing).
pub const REFILL: Duration = Duration::from_millis(1500);

/// Least time between two extra attempts at one port of a limited host.
pub const PACE: Duration = Duration::from_millis(500);

/// Port unreachables within one second that show a host refills fast.
pub const FAST_COUNT: usize = 16;

/// The quiet window (and pace) for a host that refills fast.
pub const FAST_QUIET: Duration = Duration::from_millis(200);

/// Most attempts beyond the ordinary retries (with [`PACE`], about eight
/// minutes: the time a host limited to one answer per second needs for
/// nearly 500 closed ports).
pub const MAX_EXTRA_ATTEMPTS: u32 = 1000;

/// Closed ports answered only on a later attempt before a host is
/// flagged as rate-limiting.
pub const LATE_TO_FLAG: u32 = 2;

/// Most rate-limiting addresses listed in a summary.
pub const MAX_LISTED: usize = 64;

/// What the ICMP answers of one address have shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostIcmp {
    last_unreach: Option<Instant>,
    /// The last ICMP error of any kind (port unreachables included).
    last_error: Option<Instant>,
    late: u32,
    /// The last [`FAST_COUNT`] arrival times, oldest first (a ring until
    /// the host is known to refill fast).
    recent: Vec<Instant>,
    fast: bool,
}

/// What to do with a port whose attempt went unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterSilence {
    /// Probe again, not before this instant.
    Again(Instant),
    /// Believe the silence: the port is `open|filtered`.
    GiveUp,
}

impl HostIcmp {
    /// A port unreachable arrived at `now`, answering attempt `attempt`
    /// (0 = first) of its port.
    pub fn port_unreach(&mut self, now: Instant, attempt: u32) {
        self.last_unreach = Some(self.last_unreach.map_or(now, |t| t.max(now)));
        self.other_error(now);
        if attempt > 0 {
            self.late = self.late.saturating_add(1);
        }
        if !self.fast {
            if self.recent.len() == FAST_COUNT {
                self.recent.remove(0);
            }
            self.recent.push(now);
            self.fast = self.recent.len() == FAST_COUNT
                && now.saturating_duration_since(self.recent[0]) < Duration::from_secs(1);
            if self.fast {
                self.recent = Vec::new();
            }
        }
    }

    /// Another ICMP error (not a port unreachable: administratively
    /// prohibited, host or network unreachable) arrived at `now`: it took
    /// a token of the host's budget as well (see the module docs).
    pub fn other_error(&mut self, now: Instant) {
        self.last_error = Some(self.last_error.map_or(now, |t| t.max(now)));
    }

    /// True once the host looks rate-limited (see the module docs).
    pub fn limited(&self) -> bool {
        self.late >= LATE_TO_FLAG && !self.fast
    }

    /// True once the host has shown that it refills its ICMP budget fast.
    pub fn refills_fast(&self) -> bool {
        self.fast
    }

    /// Attempt `attempt` (0-based) of a port was sent at `sent` and its
    /// timeout ran out at `now`; `retries` is the user's retry count.
    pub fn after_silence(
        &self,
        sent: Instant,
        now: Instant,
        attempt: u32,
        retries: u32,
    ) -> AfterSilence {
        if attempt < retries {
            return AfterSilence::Again(now);
        }
        if self.last_unreach.is_none() {
            return AfterSilence::GiveUp;
        }
        let last = self.last_error.unwrap_or(now);
        let (refill, pace) = if self.fast {
            (FAST_QUIET, FAST_QUIET)
        } else {
            (REFILL, PACE)
        };
        let quiet_since = sent.checked_sub(refill).unwrap_or(sent);
        if last < quiet_since || attempt >= retries.saturating_add(MAX_EXTRA_ATTEMPTS) {
            return AfterSilence::GiveUp;
        }
        AfterSilence::Again(now.max(sent + pace))
    }
}

/// The ICMP record of every address one worker has heard from, and the
/// addresses flagged as rate-limiting (at most [`MAX_LISTED`]). Bounded
/// like the round-trip table: at most `rtt::MAX_HOSTS` addresses, an
/// arbitrary one evicted for a new one (it starts over, as if unseen).
#[derive(Debug, Default)]
pub(crate) struct IcmpTable {
    hosts: HashMap<IpAddr, HostIcmp>,
    flagged: Vec<IpAddr>,
}

impl IcmpTable {
    /// A port unreachable from `ip` arrived at `now`, answering attempt
    /// `attempt` of its port.
    pub(crate) fn port_unreach(&mut self, ip: IpAddr, now: Instant, attempt: u32) {
        if self.hosts.len() >= super::rtt::MAX_HOSTS && !self.hosts.contains_key(&ip) {
            if let Some(victim) = self.hosts.keys().next().copied() {
                self.hosts.remove(&victim);
            }
        }
        let host = self.hosts.entry(ip).or_default();
        host.port_unreach(now, attempt);
        if host.limited() && !self.flagged.contains(&ip) && self.flagged.len() < MAX_LISTED {
            self.flagged.push(ip);
        }
    }

    /// Another ICMP error from `ip` arrived at `now` (see
    /// [`HostIcmp::other_error`]).
    pub(crate) fn other_error(&mut self, ip: IpAddr, now: Instant) {
        if self.hosts.len() >= super::rtt::MAX_HOSTS && !self.hosts.contains_key(&ip) {
            if let Some(victim) = self.hosts.keys().next().copied() {
                self.hosts.remove(&victim);
            }
        }
        self.hosts.entry(ip).or_default().other_error(now);
    }

    /// [`HostIcmp::after_silence`] for a port of `ip`.
    pub(crate) fn after_silence(
        &self,
        ip: IpAddr,
        sent: Instant,
        now: Instant,
        attempt: u32,
        retries: u32,
    ) -> AfterSilence {
        match self.hosts.get(&ip) {
            Some(host) => host.after_silence(sent, now, attempt, retries),
            None => HostIcmp::default().after_silence(sent, now, attempt, retries),
        }
    }

    /// The addresses flagged as rate-limiting, in the order flagged.
    pub(crate) fn flagged(&self) -> &[IpAddr] {
        &self.flagged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn ordinary_retries_come_first() {
        let t0 = Instant::now();
        let h = HostIcmp::default();
        let now = at(t0, 100);
        assert_eq!(h.after_silence(t0, now, 0, 2), AfterSilence::Again(now));
        assert_eq!(h.after_silence(t0, now, 1, 2), AfterSilence::Again(now));
        assert_eq!(h.after_silence(t0, now, 2, 2), AfterSilence::GiveUp);
    }

    #[test]
    fn a_host_without_port_unreachables_is_believed() {
        let t0 = Instant::now();
        let h = HostIcmp::default();
        assert_eq!(h.after_silence(t0, at(t0, 100), 0, 0), AfterSilence::GiveUp);
    }

    #[test]
    fn silence_while_unreachables_arrive_is_probed_again_at_pace() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        h.port_unreach(at(t0, 1000), 0);
        // Sent at 1.2 s, one answer 0.2 s before: the bucket may be empty.
        let sent = at(t0, 1200);
        assert_eq!(
            h.after_silence(sent, at(t0, 1300), 0, 0),
            AfterSilence::Again(at(t0, 1700))
        );
        // An answer after it was sent: another probe took the token.
        h.port_unreach(at(t0, 1250), 0);
        assert!(matches!(
            h.after_silence(at(t0, 800), at(t0, 1300), 0, 0),
            AfterSilence::Again(_)
        ));
    }

    #[test]
    fn silence_after_a_quiet_refill_is_open_filtered() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        h.port_unreach(at(t0, 1000), 0);
        let sent = at(t0, 1000) + REFILL + Duration::from_millis(1);
        assert_eq!(
            h.after_silence(sent, sent + Duration::from_millis(100), 3, 0),
            AfterSilence::GiveUp
        );
    }

    #[test]
    fn a_token_spent_on_another_icmp_error_is_not_a_quiet_refill() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        h.port_unreach(at(t0, 1000), 0);
        // The next token went to a port rejected as administratively
        // prohibited: sent 1.6 s after the last port unreachable, but
        // only 0.6 s after that error, the silence proves nothing.
        h.other_error(at(t0, 2000));
        let sent = at(t0, 2600);
        assert_eq!(
            h.after_silence(sent, at(t0, 2700), 3, 0),
            AfterSilence::Again(at(t0, 3100))
        );
        let quiet = at(t0, 2000) + REFILL + Duration::from_millis(1);
        assert_eq!(
            h.after_silence(quiet, quiet + Duration::from_millis(100), 3, 0),
            AfterSilence::GiveUp
        );
    }

    #[test]
    fn other_icmp_errors_alone_do_not_make_a_host_rationing() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        h.other_error(at(t0, 1000));
        assert_eq!(
            h.after_silence(at(t0, 1100), at(t0, 1200), 0, 0),
            AfterSilence::GiveUp
        );
        assert!(!h.limited());
    }

    #[test]
    fn extra_attempts_are_bounded() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        h.port_unreach(at(t0, 1000), 0);
        let sent = at(t0, 1000);
        assert_eq!(
            h.after_silence(sent, at(t0, 1100), 1 + MAX_EXTRA_ATTEMPTS, 1),
            AfterSilence::GiveUp
        );
    }

    #[test]
    fn a_host_that_refills_fast_gets_a_short_quiet_window_and_no_flag() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        for i in 0..FAST_COUNT as u64 {
            h.port_unreach(at(t0, i), 1);
        }
        assert!(h.refills_fast() && !h.limited());
        let last = at(t0, FAST_COUNT as u64);
        let sent = last + FAST_QUIET + Duration::from_millis(1);
        assert_eq!(
            h.after_silence(sent, sent + Duration::from_millis(100), 1, 1),
            AfterSilence::GiveUp
        );
        let early = last + Duration::from_millis(50);
        assert_eq!(
            h.after_silence(early, early + Duration::from_millis(100), 1, 1),
            AfterSilence::Again(early + FAST_QUIET)
        );
    }

    #[test]
    fn one_per_second_is_not_fast() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        for i in 0..6 {
            h.port_unreach(at(t0, i), 0);
        }
        for i in 1..40 {
            h.port_unreach(at(t0, 1000 * i), 1);
        }
        assert!(!h.refills_fast() && h.limited());
    }

    #[test]
    fn late_answers_flag_the_host() {
        let t0 = Instant::now();
        let mut h = HostIcmp::default();
        h.port_unreach(t0, 0);
        h.port_unreach(t0, 1);
        assert!(!h.limited());
        h.port_unreach(at(t0, 1000), 4);
        assert!(h.limited());
    }
}
