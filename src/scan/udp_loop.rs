//! The event loop of a UDP scan: one thread, one poller, many connected
//! UDP sockets in flight.
//!
//! # Why a loop of its own (for now)
//!
//! The TCP engine's `worker` is being reworked (generation-checked slots,
//! adaptive concurrency); the per-probe state machine is to be carved out
//! of it behind [`super::probe::ProbeKind`]. Until then UDP probes are
//! driven here, through that same trait, with the same notions as the
//! worker: a concurrency cap fitted to the descriptor limit, the shared
//! pacing of [`super::rate`], per-address round-trip estimates from
//! [`super::rtt`] for the timeouts, retries, results in bursts and
//! [`Sink::cancelled`] polled every [`CANCEL_POLL`]. Once the carve lands,
//! this file folds into `worker` and only the ICMP policy below remains
//! UDP's own.
//!
//! One thread is enough: a UDP probe is two syscalls and its answers are
//! paced by the target's ICMP rate limit, not by our CPU.
//!
//! # What is UDP's own
//!
//! Silence is `open|filtered`, not `filtered`, and it is believed only
//! when the target could have answered: a target that rations its ICMP
//! port unreachables gets paced extra attempts (the `ratelimit` submodule
//! says when and why), and is listed in [`Summary::icmp_rate_limited`].
//!
//! # Memory
//!
//! A slab of flights (at most the concurrency), a deadline heap holding
//! at most two entries per flight (the second when its address gave its
//! first round-trip sample; stale ones are dropped as they
//! surface, and the heap is rebuilt when they pile up), the ports waiting
//! for a paced retry (each was in flight, so at most the probes started),
//! and per address an RTT estimate and its ICMP record, at most
//! `rtt::MAX_HOSTS` of them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

use super::probe::{Outcome, ProbeKind, Step};
use super::rate::RateLimiter;
use super::ratelimit::{AfterSilence, HostIcmp, MAX_LISTED};
use super::rtt::{RttEstimate, Timeouts, MAX_HOSTS};
use super::udp::{UdpFlight, UdpProbe};
use super::{
    PortResult, Probe, ProbeSource, Proto, Reason, ScanConfig, ScanError, Sink, State, Summary,
    CANCEL_POLL,
};

/// How long to pause after a resource error (no descriptor, no buffer).
const BACK_OFF: Duration = Duration::from_millis(10);

/// Results held back before they are handed to the sink.
const RESULTS_PER_BURST: usize = 2048;

/// Runs the UDP scan of `source` (see the module docs), its sends paced
/// by `rate` (the scan's shared schedule).
pub(super) fn run(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    sink: &dyn Sink,
    rate: Option<&RateLimiter>,
) -> Result<Summary, ScanError> {
    let started = Instant::now();
    let poller = Poller::new().map_err(ScanError::Io)?;
    let concurrency = fit_concurrency(cfg.concurrency, source.len())?;
    let mut lp = Loop {
        source,
        cfg,
        sink,
        kind: UdpProbe,
        poller,
        concurrency,
        timeouts: Timeouts::new(cfg.min_timeout, cfg.timeout),
        rate,
        flights: Vec::new(),
        free: Vec::new(),
        in_flight: 0,
        deadlines: BinaryHeap::new(),
        later: BTreeMap::new(),
        seq: 0,
        cursor: 0,
        hosts: HashMap::new(),
        paused_until: None,
        results: Vec::new(),
        summary: Summary {
            concurrency,
            ..Summary::default()
        },
        stop: false,
    };
    lp.run().map_err(ScanError::Io)?;
    let mut summary = lp.summary;
    summary.reported = summary.open + summary.closed + summary.filtered + summary.open_filtered;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The concurrency the descriptor limit allows (raising the soft limit
/// first), as for TCP.
fn fit_concurrency(wanted: usize, probes: u64) -> Result<usize, ScanError> {
    use crate::fdlimit;
    let wanted = wanted.max(1).min(probes.max(1) as usize);
    let open = fdlimit::open_fd_count().map_err(ScanError::Io)?;
    let limit = fdlimit::raise_soft_limit(open + fdlimit::RESERVE + wanted as u64)
        .map_err(ScanError::Io)?;
    let budget = fdlimit::connect_budget(limit, open, fdlimit::RESERVE);
    Ok(wanted.min(budget).max(1))
}

/// One attempt in flight.
struct Flight {
    probe: Probe,
    attempt: u32,
    sent: Instant,
    /// Tells a live deadline entry from one left by an earlier flight in
    /// the same slot.
    generation: u64,
    inner: UdpFlight,
}

/// What the loop knows of one address.
#[derive(Default)]
struct Host {
    rtt: Option<RttEstimate>,
    icmp: HostIcmp,
    flagged: bool,
}

struct Loop<'a> {
    source: &'a dyn ProbeSource,
    cfg: &'a ScanConfig,
    sink: &'a dyn Sink,
    kind: UdpProbe,
    poller: Poller,
    concurrency: usize,
    timeouts: Timeouts,
    rate: Option<&'a RateLimiter>,
    flights: Vec<Option<Flight>>,
    free: Vec<usize>,
    in_flight: usize,
    /// `(deadline, slot, generation)`, earliest first.
    deadlines: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    /// Attempts to start at or after a time: `(when, seq) -> (probe,
    /// attempt)`.
    later: BTreeMap<(Instant, u64), (Probe, u32)>,
    seq: u64,
    cursor: u64,
    hosts: HashMap<IpAddr, Host>,
    paused_until: Option<Instant>,
    results: Vec<PortResult>,
    summary: Summary,
    stop: bool,
}

impl Loop<'_> {
    fn run(&mut self) -> std::io::Result<()> {
        let mut events = Events::new();
        while !self.stop {
            if self.sink.cancelled() {
                self.summary.stopped = true;
                break;
            }
            let now = Instant::now();
            self.expire(now);
            let rate_wait = self.start_some(now);
            if self.finished() {
                break;
            }
            self.flush();
            if self.stop {
                break;
            }
            let wait = self.next_wake(now, rate_wait);
            events.clear();
            self.poller.wait(&mut events, Some(wait))?;
            for ev in events.iter() {
                self.on_ready(ev.key);
            }
        }
        self.flush();
        self.close_all();
        Ok(())
    }

    fn finished(&self) -> bool {
        self.cursor >= self.source.len() && self.in_flight == 0 && self.later.is_empty()
    }

    /// How long the poller may sleep: until the next deadline, paced
    /// retry, rate slot or cancellation check.
    fn next_wake(&self, now: Instant, rate_wait: Option<Duration>) -> Duration {
        let mut wake = now + CANCEL_POLL;
        if let Some(Reverse((at, _, _))) = self.deadlines.peek() {
            wake = wake.min(*at);
        }
        if self.in_flight < self.concurrency {
            if let Some(((at, _), _)) = self.later.first_key_value() {
                wake = wake.min(*at);
            }
            if let Some(until) = self.paused_until {
                wake = wake.min(until);
            }
            if let Some(w) = rate_wait {
                wake = wake.min(now + w);
            }
        }
        wake.saturating_duration_since(now)
    }

    /// Starts attempts while there is room: paced retries that are due
    /// first, then new probes. Returns how long the rate limit wants us
    /// to wait, if it stopped us.
    fn start_some(&mut self, now: Instant) -> Option<Duration> {
        if self.paused_until.is_some_and(|t| t > now) {
            return None;
        }
        self.paused_until = None;
        while self.in_flight < self.concurrency && !self.stop {
            let due = self
                .later
                .first_key_value()
                .is_some_and(|((at, _), _)| *at <= now);
            if !due && self.cursor >= self.source.len() {
                return None;
            }
            if let Some(rate) = &self.rate {
                if let Err(wait) = rate.try_acquire(now) {
                    return Some(wait);
                }
            }
            let (probe, attempt) = if due {
                self.later.pop_first().expect("due entry").1
            } else {
                let probe = self.source.probe(self.cursor);
                self.cursor += 1;
                (probe, 0)
            };
            if !self.start(probe, attempt, now) {
                self.paused_until = Some(now + BACK_OFF);
                return None;
            }
        }
        None
    }

    /// Starts one attempt; false when we must back off (the attempt is
    /// queued again).
    fn start(&mut self, probe: Probe, attempt: u32, now: Instant) -> bool {
        match self.kind.start(&probe, attempt) {
            Ok((inner, _wait)) => {
                let slot = self.free.pop().unwrap_or_else(|| {
                    self.flights.push(None);
                    self.flights.len() - 1
                });
                // SAFETY (polling's contract): the socket is deleted from
                // the poller before it is closed (`take`, `close_all`).
                let added = unsafe {
                    self.poller
                        .add(inner.as_fd().as_raw_fd(), Event::readable(slot))
                };
                if added.is_err() {
                    // Out of kernel memory for the epoll entry: ours.
                    self.free.push(slot);
                    drop(inner);
                    self.requeue(probe, attempt, now + BACK_OFF);
                    return false;
                }
                let timeout = self.timeout(probe.ip, attempt);
                self.seq += 1;
                let generation = self.seq;
                self.deadlines
                    .push(Reverse((now + timeout, slot, generation)));
                self.flights[slot] = Some(Flight {
                    probe,
                    attempt,
                    sent: now,
                    generation,
                    inner,
                });
                self.in_flight += 1;
                true
            }
            Err(Step::Done(outcome)) => {
                self.report(probe, outcome, Duration::ZERO);
                true
            }
            Err(_) => {
                self.requeue(probe, attempt, now + BACK_OFF);
                false
            }
        }
    }

    fn requeue(&mut self, probe: Probe, attempt: u32, at: Instant) {
        self.seq += 1;
        self.later.insert((at, self.seq), (probe, attempt));
    }

    /// The timeout of `attempt` to `ip`: adaptive, backed off on the
    /// ordinary retries and no further on paced ones.
    fn timeout(&self, ip: IpAddr, attempt: u32) -> Duration {
        let rtt = self.hosts.get(&ip).and_then(|h| h.rtt.as_ref());
        self.timeouts
            .for_attempt(rtt, attempt.min(self.cfg.retries))
    }

    fn take(&mut self, slot: usize) -> Option<Flight> {
        let flight = self.flights.get_mut(slot)?.take()?;
        let _ = self.poller.delete(&flight.inner);
        self.free.push(slot);
        self.in_flight -= 1;
        Some(flight)
    }

    fn on_ready(&mut self, slot: usize) {
        let Some(Some(flight)) = self.flights.get_mut(slot) else {
            return;
        };
        match self.kind.ready(&mut flight.inner) {
            Step::Wait(_) => {
                let _ = self.poller.modify(&flight.inner, Event::readable(slot));
            }
            Step::Done(outcome) => {
                let f = self.take(slot).expect("flight in slot");
                self.decided(f, outcome);
            }
            // (The UDP probe never listens, never hears a ghost and never
            // ends an attempt early without an answer.)
            Step::BackOff | Step::Listen(_) | Step::Unanswered(_) | Step::Again(_) => {
                let f = self.take(slot).expect("flight in slot");
                let now = Instant::now();
                self.requeue(f.probe, f.attempt, now + BACK_OFF);
            }
        }
    }

    /// An answer decided flight `f`.
    fn decided(&mut self, f: Flight, outcome: Outcome) {
        let now = Instant::now();
        let rtt = now.saturating_duration_since(f.sent);
        let host = self.host(f.probe.ip);
        let first_sample = host.rtt.is_none();
        match &mut host.rtt {
            Some(e) => e.update(rtt),
            None => host.rtt = Some(RttEstimate::first(rtt)),
        }
        if outcome.reason == Reason::PortUnreach {
            host.icmp.port_unreach(now, f.attempt);
            if host.icmp.limited() && !host.flagged {
                host.flagged = true;
                if self.summary.icmp_rate_limited.len() < MAX_LISTED {
                    self.summary.icmp_rate_limited.push(f.probe.ip);
                }
            }
        }
        if first_sample {
            self.shorten_deadlines(f.probe.ip);
        }
        self.kind.finish(f.inner);
        self.report(f.probe, outcome, rtt);
    }

    /// `ip` gave its first round-trip sample: attempts to it that started
    /// with the full timeout get the adapted one (an earlier deadline
    /// entry; the later one is dropped as stale when it surfaces), as the
    /// TCP worker does.
    fn shorten_deadlines(&mut self, ip: IpAddr) {
        let waiting: Vec<(usize, u64, Instant, u32)> = self
            .flights
            .iter()
            .enumerate()
            .filter_map(|(slot, f)| f.as_ref().map(|f| (slot, f)))
            .filter(|(_, f)| f.probe.ip == ip)
            .map(|(slot, f)| (slot, f.generation, f.sent, f.attempt))
            .collect();
        for (slot, generation, sent, attempt) in waiting {
            let at = sent + self.timeout(ip, attempt);
            self.deadlines.push(Reverse((at, slot, generation)));
        }
    }

    fn host(&mut self, ip: IpAddr) -> &mut Host {
        if self.hosts.len() >= MAX_HOSTS && !self.hosts.contains_key(&ip) {
            if let Some(victim) = self.hosts.keys().next().copied() {
                self.hosts.remove(&victim);
            }
        }
        self.hosts.entry(ip).or_default()
    }

    /// Deadlines that passed: a last look at the socket, then retry,
    /// pace, or believe the silence.
    fn expire(&mut self, now: Instant) {
        while let Some(Reverse((at, slot, generation))) = self.deadlines.peek().copied() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let live =
                matches!(self.flights.get(slot), Some(Some(f)) if f.generation == generation);
            if !live {
                continue;
            }
            let mut f = self.take(slot).expect("live flight");
            if let Step::Done(outcome) = self.kind.ready(&mut f.inner) {
                self.decided(f, outcome);
                continue;
            }
            let retries = self.cfg.retries;
            let verdict = self
                .hosts
                .get(&f.probe.ip)
                .map(|h| h.icmp.after_silence(f.sent, now, f.attempt, retries))
                .unwrap_or_else(|| {
                    HostIcmp::default().after_silence(f.sent, now, f.attempt, retries)
                });
            self.kind.finish(f.inner);
            match verdict {
                AfterSilence::Again(when) => self.requeue(f.probe, f.attempt + 1, when),
                AfterSilence::GiveUp => {
                    let waited = now.saturating_duration_since(f.sent);
                    self.report(f.probe, self.kind.silence(), waited);
                }
            }
        }
        if self.deadlines.len() > 4 * self.concurrency + 64 {
            let flights = &self.flights;
            self.deadlines.retain(|Reverse((_, slot, generation))| {
                matches!(flights.get(*slot), Some(Some(f)) if f.generation == *generation)
            });
        }
    }

    fn report(&mut self, probe: Probe, outcome: Outcome, rtt: Duration) {
        let banner = match (self.cfg.banner, outcome.reply) {
            (Some(b), Some(mut reply)) => {
                reply.truncate(b.max_len);
                Some(reply)
            }
            _ => None,
        };
        let Probe {
            target, ip, port, ..
        } = probe;
        self.results.push(PortResult {
            target,
            ip,
            port,
            proto: Proto::Udp,
            state: outcome.state,
            reason: outcome.reason,
            rtt,
            banner,
            service: None,
        });
        if self.results.len() >= RESULTS_PER_BURST {
            self.flush();
        }
    }

    /// Hands the held-back results to the sink, counting them.
    fn flush(&mut self) {
        for r in std::mem::take(&mut self.results) {
            if self.stop {
                break;
            }
            match r.state {
                State::Open => self.summary.open += 1,
                State::Closed => self.summary.closed += 1,
                State::Filtered => self.summary.filtered += 1,
                State::OpenFiltered => self.summary.open_filtered += 1,
            }
            if let ControlFlow::Break(()) = self.sink.result(r) {
                self.stop = true;
                self.summary.stopped = true;
            }
        }
    }

    fn close_all(&mut self) {
        for slot in 0..self.flights.len() {
            if let Some(f) = self.take(slot) {
                self.kind.finish(f.inner);
            }
        }
    }
}
