//! One scan worker: an event loop over non-blocking probes.
//!
//! A worker pulls batches of probe indices from the shared cursor, starts
//! attempts while it holds permits from the shared in-flight budget (paced
//! by the shared rate limiter), and waits on its own epoll instance for them
//! to complete, time out, or send a banner. The budget is shared rather than
//! split so that a worker that drew many slow (filtered) probes can use the
//! room another worker is not using. A worker owns every socket it opens and
//! reports each probe exactly once.
//!
//! What one attempt *is* (a TCP connect today) belongs to its
//! [`ProbeKind`]: the worker asks it to start an attempt, hands it each
//! ready event and each passed deadline, and acts on the [`Step`] it
//! answers. The worker keeps what is the same for every kind: the event
//! loop, slots (with generations) and deadlines, the budget and its
//! window, back-off, batching, round-trip estimates, retries after loss,
//! host discovery, and the delivery of results.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

use super::classify::Reason;
use super::discovery::{Admission, HostTable};
use super::loss::LossTracker;
use super::probe::{Interest, Outcome, ProbeKind, Step};
use super::rate::RateLimiter;
use super::rtt::{Hosts, Timeouts};
use super::slots::{Deadlines, Key, Slots};
use super::{PortResult, Probe, ProbeSource, ScanConfig, Sink, State};

/// First pause after a resource error; doubled on each consecutive one.
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
/// Longest pause after a resource error.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Resource errors one probe may meet before it is given up as filtered
/// (about 20 s of pauses at [`MAX_BACKOFF`]): a bound, so that a resource
/// that never comes back cannot hang the scan.
const MAX_BACKOFFS_PER_PROBE: u32 = 200;
/// Ghost answers ([`Step::Again`]) one probe may meet before the outcome
/// they carry is reported. For TCP these are self-connects, which can only
/// happen when nothing listens on the port (a listener's bound port is
/// never picked as an ephemeral source port), so repeated ones prove the
/// port closed.
const MAX_AGAIN: u32 = 4;
/// Slots allocated up front; more are added only if connects really pile
/// up (a huge concurrency that is never reached costs nothing).
const INITIAL_SLOTS: usize = 1024;
/// Readiness events taken per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 1024;
/// Longest sleep in one wait, as a safety net against a missed wake-up.
const MAX_WAIT: Duration = super::CANCEL_POLL;
/// Most connects started per turn of the event loop, so that deadlines and
/// readiness are looked at regularly even when every connect is answered
/// at once (loopback).
const STARTS_PER_TURN: usize = 256;
/// Most results held back before they are handed over (see [`Worker::flush`]).
const RESULTS_PER_BURST: usize = 2048;
/// How soon to look again when the shared budget is used up by others.
const PERMIT_RECHECK: Duration = Duration::from_millis(2);

/// The shared budget of connects in flight, across all workers: a window
/// that starts at [`super::INITIAL_WINDOW`] (or the ceiling, if lower),
/// grows by one per answer that came on a first attempt, up to the
/// ceiling, and shrinks by an eighth (not below where it started) per
/// answer that came only on a retry, which proves a packet was lost. See
/// the module docs of [`super`] (Concurrency that adapts).
#[derive(Debug)]
pub(crate) struct Permits {
    /// The ceiling; lowered once by [`Permits::cap`] when the scan knows
    /// its descriptor budget.
    max: AtomicUsize,
    window: AtomicUsize,
    used: AtomicUsize,
}

impl Permits {
    /// A budget of at most `max` connects in flight.
    pub(crate) fn new(max: usize) -> Permits {
        let max = max.max(1);
        Permits {
            max: AtomicUsize::new(max),
            window: AtomicUsize::new(max.min(super::INITIAL_WINDOW)),
            used: AtomicUsize::new(0),
        }
    }

    /// The ceiling of the window.
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Where the window starts and never shrinks below.
    fn floor(&self) -> usize {
        self.max().min(super::INITIAL_WINDOW)
    }

    /// Lowers the ceiling (and the window) to `max`, if above it.
    pub(crate) fn cap(&self, max: usize) {
        let max = max.max(1);
        self.max.fetch_min(max, Ordering::Relaxed);
        self.window.fetch_min(max, Ordering::Relaxed);
    }

    /// Takes one permit whether or not the window has room (the window
    /// is then over-full until one is given back). Only for a taker that
    /// would otherwise wait for itself (see [`super::ConnectBudget`]).
    pub(crate) fn take_anyway(&self) {
        self.used.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes one permit if the window has room.
    pub(crate) fn try_take(&self) -> bool {
        let window = self.window.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < window).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives `n` permits back.
    pub(crate) fn give_back(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// An answer on a first attempt: the path keeps up, widen by one.
    fn grow(&self) {
        let max = self.max();
        if self.window.load(Ordering::Relaxed) < max {
            let _ = self
                .window
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    (w < max).then_some(w + 1)
                });
        }
    }

    /// An answer only on a retry: a packet was lost, narrow by an eighth.
    fn shrink(&self) {
        let floor = self.floor();
        let _ = self
            .window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some((w - w / 8).max(floor))
            });
    }

    /// The current window.
    pub(crate) fn window(&self) -> usize {
        self.window.load(Ordering::Relaxed)
    }
}

/// What all workers of one scan share.
pub(crate) struct Shared<'a> {
    pub(crate) source: &'a dyn ProbeSource,
    pub(crate) cfg: &'a ScanConfig,
    pub(crate) sink: &'a dyn Sink,
    /// Next probe index not yet taken by any worker.
    pub(crate) cursor: AtomicU64,
    /// Indices taken per visit to the cursor.
    pub(crate) batch: u64,
    /// Connects in flight, across all workers (and service detection:
    /// see [`super::ConnectBudget`]).
    pub(crate) permits: &'a Permits,
    /// Connect starts, paced across all workers (and service detection).
    pub(crate) rate: Option<&'a RateLimiter>,
    /// Set when a worker failed or the sink stopped the scan; the others
    /// stop early.
    pub(crate) stop: AtomicBool,
    /// Set when the stop came from the sink (not from a failure).
    pub(crate) stopped: AtomicBool,
    /// Which addresses are up (see the `discovery` module).
    pub(crate) hosts: HostTable,
}

impl Shared<'_> {
    /// Ends the scan on the sink's word.
    fn stop_for_sink(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Per-state totals of one worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) open: u64,
    pub(crate) closed: u64,
    pub(crate) filtered: u64,
}

/// A probe on its way through attempts.
struct Job {
    probe: Probe,
    /// Attempts that timed out so far.
    timeouts: u32,
    /// Resource errors met so far.
    backoffs: u32,
    /// Ghost answers ([`Step::Again`]) met so far.
    again: u32,
    /// A discovery probe (see the `discovery` module).
    discovery: bool,
    /// Its result is not reported (discovery probes are not).
    silent: bool,
    /// Started before its address was known up: reported only if
    /// answered (see the `discovery` module).
    speculative: bool,
}

impl Job {
    fn new(probe: Probe) -> Job {
        Job {
            probe,
            timeouts: 0,
            backoffs: 0,
            again: 0,
            discovery: false,
            silent: false,
            speculative: false,
        }
    }
}

/// An attempt in flight.
struct InFlight<F> {
    /// What the probe kind keeps of it (at least its socket).
    flight: F,
    job: Job,
    /// When the attempt was started, for the rtt.
    started: Instant,
    /// Set once the port answered and the kind listens for what it says
    /// ([`Step::Listen`]): the rtt of that answer.
    listening: Option<Duration>,
}

/// The event loop of one worker, driving probes of kind `K`.
pub(crate) struct Worker<'a, K: ProbeKind> {
    shared: &'a Shared<'a>,
    poller: Poller,
    /// The per-attempt state machine.
    kind: K,
    slots: Slots<InFlight<K::Flight>>,
    /// Deadlines of attempts waiting for an answer.
    attempt_deadlines: Deadlines,
    /// Deadlines of open ports being listened to.
    banner_deadlines: Deadlines,
    /// Round-trip estimates per address, for the connect timeouts.
    hosts: Hosts,
    /// Attempts waiting to start: backed-off ones at the front, retries at
    /// the back.
    pending: VecDeque<Job>,
    /// Indices taken from the cursor, not yet started.
    batch: Range<u64>,
    source_done: bool,
    /// Most connects in flight for this worker (the whole shared budget).
    max_in_flight: usize,
    /// Current cap, lowered after resource errors, regrown one per result.
    limit: usize,
    /// Permits taken from the shared budget; at least `slots.len()`.
    held: usize,
    paused_until: Option<Instant>,
    backoff: Duration,
    /// Addresses this worker knows to be up (discovery done, no host
    /// timeout): their probes skip the shared host table and its lock.
    known_up: HashSet<IpAddr>,
    /// Evidence of packet loss per address, for the number of retries.
    loss: LossTracker,
    /// Results of this turn, not yet handed to `on_result`.
    results: Vec<PortResult>,
    counts: Counts,
}

impl<'a, K: ProbeKind> Worker<'a, K> {
    /// A worker with its own poller, drawing on the shared budget, whose
    /// attempts are `kind`'s.
    pub(crate) fn new(shared: &'a Shared<'a>, poller: Poller, kind: K) -> Worker<'a, K> {
        let max_in_flight = shared.permits.max();
        Worker {
            shared,
            poller,
            kind,
            slots: Slots::with_capacity(max_in_flight.min(INITIAL_SLOTS)),
            attempt_deadlines: Deadlines::default(),
            banner_deadlines: Deadlines::default(),
            hosts: Hosts::new(Timeouts::new(shared.cfg.min_timeout, shared.cfg.timeout)),
            pending: VecDeque::new(),
            batch: 0..0,
            source_done: false,
            max_in_flight,
            limit: max_in_flight,
            held: 0,
            paused_until: None,
            backoff: FIRST_BACKOFF,
            known_up: HashSet::new(),
            loss: LossTracker::default(),
            results: Vec::with_capacity(RESULTS_PER_BURST),
            counts: Counts::default(),
        }
    }

    /// Runs until every probe this worker took is reported; stops early
    /// (with an error) only if the poller fails.
    pub(crate) fn run(mut self) -> io::Result<Counts> {
        let outcome = self.event_loop();
        self.flush();
        outcome.map(|()| self.counts)
    }

    fn event_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(NonZeroUsize::new(EVENTS_PER_WAIT).unwrap());
        loop {
            if self.shared.sink.cancelled() {
                self.shared.stop_for_sink();
            }
            if self.shared.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            self.expire(Instant::now())?;
            self.give_back_unused_permits();
            let wake = self.start_more()?;
            if self.is_finished() {
                return Ok(());
            }
            let wait = self.wait_time(wake);
            if !wait.is_zero() {
                // Never sleep on results the caller has not seen.
                self.flush();
            }
            events.clear();
            self.poller.wait(&mut events, Some(wait))?;
            for ev in events.iter() {
                self.on_ready(ev.key)?;
            }
            self.give_back_unused_permits();
        }
    }

    fn is_finished(&self) -> bool {
        self.source_done && self.slots.is_empty() && self.pending.is_empty()
    }

    /// How long the next poll may sleep: until the earliest deadline or the
    /// moment more connects may start.
    fn wait_time(&self, wake: Option<Instant>) -> Duration {
        let earliest = [
            wake,
            self.attempt_deadlines.next(),
            self.banner_deadlines.next(),
        ]
        .into_iter()
        .flatten()
        .min();
        match earliest {
            Some(t) => t.saturating_duration_since(Instant::now()).min(MAX_WAIT),
            None => MAX_WAIT,
        }
    }

    /// The next attempt to start: a pending one, else a fresh probe that
    /// host discovery lets through.
    fn next_job(&mut self) -> Option<Job> {
        while let Some(job) = self.pending.pop_front() {
            let expired = self.shared.cfg.host_timeout.is_some()
                && !job.silent
                && self.shared.hosts.expired(job.probe.ip, Instant::now());
            if !expired {
                return Some(job);
            }
        }
        loop {
            if self.batch.is_empty() && !self.refill_batch() {
                return None;
            }
            let index = self.batch.next()?;
            let probe = self.shared.source.probe(index);
            if self.shared.hosts.is_idle() || self.known_up.contains(&probe.ip) {
                return Some(Job::new(probe));
            }
            match self.shared.hosts.admit(&probe, Instant::now()) {
                Admission::Start => {
                    if self.shared.cfg.host_timeout.is_none() {
                        self.known_up.insert(probe.ip);
                    }
                    return Some(Job::new(probe));
                }
                Admission::Speculate => {
                    let mut job = Job::new(probe);
                    job.speculative = true;
                    return Some(job);
                }
                Admission::Parked { discovery } => {
                    for probe in discovery {
                        let mut job = Job::new(probe);
                        job.discovery = true;
                        job.silent = true;
                        self.pending.push_back(job);
                    }
                    if let Some(job) = self.pending.pop_front() {
                        return Some(job);
                    }
                }
                Admission::Dropped => {}
            }
        }
    }

    /// Takes the next batch of indices from the shared cursor.
    fn refill_batch(&mut self) -> bool {
        if self.source_done {
            return false;
        }
        let len = self.shared.source.len();
        let start = self
            .shared
            .cursor
            .fetch_add(self.shared.batch, Ordering::Relaxed);
        if start >= len {
            self.source_done = true;
            return false;
        }
        self.batch = start..start.saturating_add(self.shared.batch).min(len);
        true
    }

    /// Starts connects while there is room, work, and rate budget. Returns
    /// when to try again if it stopped for the rate limit, a back-off, or a
    /// shared budget used up by other workers.
    fn start_more(&mut self) -> io::Result<Option<Instant>> {
        let wake = self.start_while_allowed();
        self.give_back_unused_permits();
        wake
    }

    fn start_while_allowed(&mut self) -> io::Result<Option<Instant>> {
        if let Some(until) = self.paused_until {
            if Instant::now() < until {
                return Ok(Some(until));
            }
            self.paused_until = None;
        }
        for _ in 0..STARTS_PER_TURN {
            if self.slots.len() >= self.limit {
                return Ok(None);
            }
            // A permit the last start did not keep is reused as is.
            if self.held == self.slots.len() {
                if !self.shared.permits.try_take() {
                    return Ok(Some(Instant::now() + PERMIT_RECHECK));
                }
                self.held += 1;
            }
            let Some(job) = self.next_job() else {
                return Ok(None);
            };
            if let Some(rate) = &self.shared.rate {
                let now = Instant::now();
                if let Err(wait) = rate.try_acquire(now) {
                    self.pending.push_front(job);
                    return Ok(Some(now + wait));
                }
            }
            self.start(job)?;
            if self.paused_until.is_some() {
                return Ok(self.paused_until);
            }
        }
        // More may be startable: come back right after a look at the poller.
        Ok(Some(Instant::now()))
    }

    /// Returns the permits of connects that have finished.
    fn give_back_unused_permits(&mut self) {
        let unused = self.held - self.slots.len();
        self.shared.permits.give_back(unused);
        self.held = self.slots.len();
    }

    /// Starts the next attempt of `job` through the probe kind. The answer
    /// comes later through the poller unless the kernel has it at once.
    fn start(&mut self, job: Job) -> io::Result<()> {
        let started = Instant::now();
        match self.kind.start(&job.probe, job.timeouts) {
            Ok((flight, step)) => {
                let flight = InFlight {
                    flight,
                    job,
                    started,
                    listening: None,
                };
                self.begin(flight, step)
            }
            Err(step) => {
                self.ended(job, started, None, step);
                Ok(())
            }
        }
    }

    /// Acts on the first step of a flight that is not registered yet.
    fn begin(&mut self, mut flight: InFlight<K::Flight>, step: Step) -> io::Result<()> {
        match step {
            Step::Wait(interest) => self.track(flight, interest),
            Step::Listen(wait) => {
                let rtt = flight.started.elapsed();
                flight.listening = Some(rtt);
                self.heard(flight.job.probe.ip, rtt);
                let key = self.register(flight, Interest::Read)?;
                self.listen_until(key, wait);
                Ok(())
            }
            end => {
                self.conclude(flight, end);
                Ok(())
            }
        }
    }

    /// Acts on a step of the registered flight in `key`.
    fn advance(&mut self, key: Key, step: Step) -> io::Result<()> {
        match step {
            Step::Wait(interest) => self.rearm(key, interest),
            Step::Listen(wait) => {
                let flight = self.slots.get_mut(key).expect("live key");
                let rtt = flight.started.elapsed();
                flight.listening = Some(rtt);
                let ip = flight.job.probe.ip;
                self.heard(ip, rtt);
                self.rearm(key, Interest::Read)?;
                self.listen_until(key, wait);
                Ok(())
            }
            end => {
                let flight = self.release(key).expect("live key");
                self.conclude(flight, end);
                Ok(())
            }
        }
    }

    /// Gives an open port that is being listened to until `wait` from now.
    fn listen_until(&mut self, key: Key, wait: Duration) {
        self.banner_deadlines.push(Instant::now() + wait, key);
        self.compact_deadlines();
    }

    /// Closes a flight that has ended and acts on how it ended.
    fn conclude(&mut self, flight: InFlight<K::Flight>, step: Step) {
        let InFlight {
            flight,
            job,
            started,
            listening,
        } = flight;
        self.kind.finish(flight);
        self.ended(job, started, listening, step);
    }

    /// What the last step of an attempt started at `started` means for its
    /// probe; `listening` holds the rtt of an open port that was listened
    /// to (its sample is already taken).
    fn ended(&mut self, mut job: Job, started: Instant, listening: Option<Duration>, step: Step) {
        match step {
            Step::Done(outcome) => {
                let rtt = listening.unwrap_or_else(|| {
                    let rtt = started.elapsed();
                    if matches!(outcome.state, State::Open | State::Closed) {
                        self.heard(job.probe.ip, rtt);
                    }
                    rtt
                });
                // An open port that said nothing has no banner.
                let banner = outcome.reply.filter(|b| !b.is_empty());
                self.report(job, outcome.state, outcome.reason, rtt, banner);
            }
            Step::Unanswered(outcome) => self.unanswered(job, started, outcome),
            Step::Again(outcome) => {
                job.again += 1;
                if job.again > MAX_AGAIN {
                    let rtt = started.elapsed();
                    self.report(job, outcome.state, outcome.reason, rtt, None);
                } else {
                    self.pending.push_front(job);
                }
            }
            Step::BackOff => self.back_off(job),
            // A kind that asks to wait without a socket to wait on breaks
            // the trait's contract; backing off bounds the damage.
            Step::Wait(_) | Step::Listen(_) => {
                debug_assert!(false, "a step to wait on with no flight");
                self.back_off(job);
            }
        }
    }

    /// The port at `ip` answered after `rtt`: a round-trip sample, and the
    /// end of any back-off (resources are evidently there).
    fn heard(&mut self, ip: IpAddr, rtt: Duration) {
        self.backoff = FIRST_BACKOFF;
        self.answered(ip, rtt);
    }

    /// Registers a started flight for `interest` and its deadline: the
    /// timeout its address and attempt number call for (see the `rtt`
    /// module). An attempt to an address that has not answered yet is
    /// remembered, to be given a shorter deadline once it does.
    fn track(&mut self, flight: InFlight<K::Flight>, interest: Interest) -> io::Result<()> {
        let ip = flight.job.probe.ip;
        let deadline = self.attempt_deadline(&flight);
        let key = self.register(flight, interest)?;
        self.attempt_deadlines.push(deadline, key);
        if !self.hosts.has_estimate(ip) {
            let slots = &self.slots;
            self.hosts
                .wait_for_first_sample(ip, key, |k| slots.contains(k));
        }
        self.compact_deadlines();
        Ok(())
    }

    /// When an attempt gives up, by what is known of its address (or, for
    /// a discovery probe, of all addresses) now.
    fn attempt_deadline(&self, flight: &InFlight<K::Flight>) -> Instant {
        let job = &flight.job;
        let attempt = LossTracker::timeout_attempt(job.timeouts, self.shared.cfg.retries);
        let timeout = if job.discovery || job.speculative {
            self.hosts.discovery_timeout(job.probe.ip, attempt)
        } else {
            self.hosts.timeout(job.probe.ip, attempt)
        };
        flight.started + timeout
    }

    /// `ip` answered a connect after `rtt`: a sample for its estimate. On
    /// its first one, attempts started before it get the deadline the
    /// estimate calls for (only ever earlier than the one they had).
    fn answered(&mut self, ip: IpAddr, rtt: Duration) {
        let first_of_all = !self.hosts.has_any_estimate();
        let mut waiting = self.hosts.sample(ip, rtt);
        if first_of_all && !self.shared.hosts.is_idle() {
            // Discovery probes started before this worker heard from any
            // address may now be given up sooner.
            let slots = &self.slots;
            waiting.extend(slots.keys().into_iter().filter(|k| {
                slots
                    .get(*k)
                    .is_some_and(|f| f.job.discovery || f.job.speculative)
            }));
        }
        if waiting.is_empty() {
            return;
        }
        for key in waiting {
            let Some(flight) = self.slots.get(key) else {
                continue;
            };
            if flight.listening.is_none() {
                let deadline = self.attempt_deadline(flight);
                self.attempt_deadlines.push(deadline, key);
            }
        }
        self.compact_deadlines();
    }

    /// Stores `flight` in a slot and adds its socket to the poller for
    /// `interest`.
    fn register(&mut self, flight: InFlight<K::Flight>, interest: Interest) -> io::Result<Key> {
        let key = self.slots.insert(flight);
        let fd = self.slots.get(key).expect("just inserted").flight.as_fd();
        // SAFETY: every path that drops a registered socket goes through
        // `release`, which deletes it from the poller first.
        if let Err(e) = unsafe { self.poller.add(fd.as_raw_fd(), event_for(key, interest)) } {
            self.slots.remove(key);
            return Err(e);
        }
        Ok(key)
    }

    /// Keeps the deadline queues proportional to the concurrency.
    fn compact_deadlines(&mut self) {
        let bound = 2 * self.max_in_flight + 64;
        let slots = &self.slots;
        if self.attempt_deadlines.len() > bound {
            self.attempt_deadlines.retain_live(|k| slots.contains(k));
        }
        if self.banner_deadlines.len() > bound {
            self.banner_deadlines.retain_live(|k| slots.contains(k));
        }
    }

    /// Stops tracking a socket: deletes it from the poller, frees the slot.
    fn release(&mut self, key: Key) -> Option<InFlight<K::Flight>> {
        let flight = self.slots.remove(key)?;
        // Failure here would mean the socket was never registered; the
        // descriptor is closed right after either way.
        let _ = self.poller.delete(&flight.flight);
        Some(flight)
    }

    /// Out of descriptors, buffers or source ports: pause new connects, hold
    /// the cap at what is in flight now, and retry this probe first.
    fn back_off(&mut self, mut job: Job) {
        job.backoffs += 1;
        if job.backoffs > MAX_BACKOFFS_PER_PROBE {
            self.report(job, State::Filtered, Reason::Unknown, Duration::ZERO, None);
            return;
        }
        self.pending.push_front(job);
        self.limit = self.slots.len().max(1);
        self.paused_until = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Hands one final result to the caller.
    fn report(
        &mut self,
        job: Job,
        state: State,
        reason: Reason,
        rtt: Duration,
        banner: Option<Vec<u8>>,
    ) {
        self.limit = (self.limit + 1).min(self.max_in_flight);
        if matches!(state, State::Open | State::Closed) {
            self.loss.answered(job.probe.ip, job.timeouts);
            if job.timeouts == 0 {
                self.shared.permits.grow();
            } else {
                self.shared.permits.shrink();
            }
        }
        if !self.shared.hosts.is_idle() {
            self.discovered(&job, state);
        }
        if job.speculative {
            let unanswered = (state == State::Filtered).then(|| job.probe.clone());
            let again = self
                .shared
                .hosts
                .speculation_ended(job.probe.ip, unanswered);
            if state == State::Filtered {
                if let Some(probe) = again {
                    self.pending.push_back(Job::new(probe));
                }
                return;
            }
        }
        if job.silent {
            return;
        }
        let Probe {
            target,
            ip,
            port,
            proto,
        } = job.probe;
        self.results.push(PortResult {
            target,
            ip,
            port,
            state,
            reason,
            rtt,
            banner,
            proto,
            service: None,
        });
        if self.results.len() >= RESULTS_PER_BURST {
            self.flush();
        }
    }

    /// What a finished attempt says about its address: an answer makes it
    /// up (and its parked probes are started here); a discovery probe
    /// without one may make it down.
    fn discovered(&mut self, job: &Job, state: State) {
        match state {
            State::Open | State::Closed if !self.known_up.contains(&job.probe.ip) => {
                for probe in self.shared.hosts.answered(job.probe.ip) {
                    self.pending.push_back(Job::new(probe));
                }
            }
            State::Filtered if job.discovery => {
                self.shared.hosts.discovery_unanswered(job.probe.ip)
            }
            // (OpenFiltered is UDP's, which this TCP worker never decides.)
            _ => {}
        }
    }

    /// Hands the held-back results to `on_result`, in completion order.
    ///
    /// Results are delivered in bursts (up to [`RESULTS_PER_BURST`], and
    /// always before the worker goes to sleep in the poller) rather than one
    /// by one between connects: a consumer that forwards them over a channel
    /// then wakes its reader once per burst instead of once per probe. On a
    /// loopback scan, where a probe takes a few microseconds, per-probe
    /// wake-ups of a writer thread cost a third of the scan's CPU time.
    ///
    /// Counts are taken here, as results are delivered, so a stopped scan's
    /// summary counts exactly what the sink saw.
    fn flush(&mut self) {
        for result in self.results.drain(..) {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            match result.state {
                State::Open => self.counts.open += 1,
                State::Closed => self.counts.closed += 1,
                State::Filtered | State::OpenFiltered => self.counts.filtered += 1,
            }
            if self.shared.sink.result(result).is_break() {
                self.shared.stop_for_sink();
            }
        }
        self.results.clear();
    }

    /// Gives up on attempts and banner waits whose deadline has passed
    /// (after the probe kind's last look).
    fn expire(&mut self, now: Instant) -> io::Result<()> {
        while let Some(key) = self.attempt_deadlines.pop_expired(now) {
            if matches!(self.slots.get(key), Some(f) if f.listening.is_none()) {
                self.timed_out(key)?;
            }
        }
        while let Some(key) = self.banner_deadlines.pop_expired(now) {
            if matches!(self.slots.get(key), Some(f) if f.listening.is_some()) {
                self.timed_out(key)?;
            }
        }
        Ok(())
    }

    /// The deadline of the flight in `key` passed: the kind has a last
    /// look, then the flight goes on (rarely) or ends.
    fn timed_out(&mut self, key: Key) -> io::Result<()> {
        let flight = self.slots.get_mut(key).expect("live key");
        let step = match self.kind.deadline(&mut flight.flight) {
            // Waiting on without a deadline would never end.
            Step::Wait(_) => Step::Unanswered(self.kind.silence()),
            step => step,
        };
        self.advance(key, step)
    }

    /// An attempt ended without an answer from the port: retry if attempts
    /// remain, else report `outcome`.
    fn unanswered(&mut self, mut job: Job, started: Instant, outcome: Outcome) {
        job.timeouts += 1;
        // A speculative probe has no retries of its own: unanswered, it
        // goes back to its address (see `discovered`).
        let retries = if job.speculative {
            0
        } else {
            self.loss.retries(job.probe.ip, self.shared.cfg.retries)
        };
        if job.timeouts <= retries {
            self.pending.push_back(job);
        } else {
            let waited = started.elapsed();
            self.report(job, outcome.state, outcome.reason, waited, None);
        }
    }

    /// A readiness event registered under `event` (see
    /// [`Key::to_event`]): dropped unless the very attempt it was
    /// registered for is still in its slot.
    fn on_ready(&mut self, event: usize) -> io::Result<()> {
        let key = Key::from_event(event);
        let Some(flight) = self.slots.get_mut(key) else {
            return Ok(());
        };
        let step = self.kind.ready(&mut flight.flight);
        self.advance(key, step)
    }

    /// Re-enables a oneshot registration.
    fn rearm(&mut self, key: Key, interest: Interest) -> io::Result<()> {
        let flight = &self.slots.get(key).expect("live key").flight;
        self.poller.modify(flight, event_for(key, interest))
    }
}

/// The poller event for `interest`, carrying `key`.
fn event_for(key: Key, interest: Interest) -> Event {
    match interest {
        Interest::Read => Event::readable(key.to_event()),
        Interest::Write => Event::writable(key.to_event()),
    }
}

impl<K: ProbeKind> Drop for Worker<'_, K> {
    /// Deletes every socket still registered (only on an early stop) before
    /// the poller goes, as `polling` requires.
    fn drop(&mut self) {
        for key in self.slots.keys() {
            self.release(key);
        }
        self.give_back_unused_permits();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_to_the_ceiling_and_shrinks_to_where_it_started() {
        let p = Permits::new(1200);
        assert_eq!(p.window(), super::super::INITIAL_WINDOW);
        for _ in 0..500 {
            p.grow();
        }
        assert_eq!(p.window(), 1200);
        p.shrink();
        assert_eq!(p.window(), 1200 - 150);
        for _ in 0..100 {
            p.shrink();
        }
        assert_eq!(p.window(), super::super::INITIAL_WINDOW);
    }

    #[test]
    fn a_lowered_ceiling_lowers_the_window_and_is_never_raised() {
        let p = Permits::new(1200);
        p.cap(2);
        assert_eq!((p.max(), p.window()), (2, 2));
        p.cap(5);
        assert_eq!((p.max(), p.window()), (2, 2));
    }

    #[test]
    fn a_small_ceiling_is_the_whole_window() {
        let p = Permits::new(3);
        assert_eq!(p.window(), 3);
        assert!(p.try_take() && p.try_take() && p.try_take());
        assert!(!p.try_take());
        p.give_back(1);
        assert!(p.try_take());
    }
}
