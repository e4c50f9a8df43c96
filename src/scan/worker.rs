//! One scan worker: an event loop over non-blocking connects.
//!
//! A worker pulls batches of probe indices from the shared cursor, starts
//! connects while it holds permits from the shared in-flight budget (paced
//! by the shared rate limiter), and waits on its own epoll instance for them
//! to complete, time out, or send a banner. The budget is shared rather than
//! split so that a worker that drew many slow (filtered) probes can use the
//! room another worker is not using. A worker owns every socket it opens and
//! reports each probe exactly once.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};
use socket2::{SockAddr, Socket};

use super::banner::{self, Progress};
use super::classify::{classify, icmp_reason, is_self_connect, Reason, Verdict};
use super::connect::{self, Answer, Completion, Eagerness};
use super::discovery::{Admission, HostTable};
use super::loss::LossTracker;
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
/// Self-connects one probe may meet before it is reported closed. A
/// self-connect can only happen when nothing listens on the port (a
/// listener's bound port is never picked as an ephemeral source port), so
/// repeated ones prove the port closed.
const MAX_SELF_CONNECTS: u32 = 4;
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
    max: usize,
    floor: usize,
    window: AtomicUsize,
    used: AtomicUsize,
}

impl Permits {
    /// A budget of at most `max` connects in flight.
    pub(crate) fn new(max: usize) -> Permits {
        let max = max.max(1);
        let floor = max.min(super::INITIAL_WINDOW);
        Permits {
            max,
            floor,
            window: AtomicUsize::new(floor),
            used: AtomicUsize::new(0),
        }
    }

    /// Takes one permit if the window has room.
    fn try_take(&self) -> bool {
        let window = self.window.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < window).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives `n` permits back.
    fn give_back(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// An answer on a first attempt: the path keeps up, widen by one.
    fn grow(&self) {
        if self.window.load(Ordering::Relaxed) < self.max {
            let _ = self
                .window
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    (w < self.max).then_some(w + 1)
                });
        }
    }

    /// An answer only on a retry: a packet was lost, narrow by an eighth.
    fn shrink(&self) {
        let _ = self
            .window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some((w - w / 8).max(self.floor))
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
    /// Connects in flight, across all workers.
    pub(crate) permits: Permits,
    pub(crate) rate: Option<RateLimiter>,
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
    /// Self-connects met so far.
    self_connects: u32,
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
            self_connects: 0,
            discovery: false,
            silent: false,
            speculative: false,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.probe.ip, self.probe.port)
    }
}

enum Phase {
    /// Waiting for the connect to complete.
    Connecting,
    /// Connected; collecting what the server says first.
    Banner { rtt: Duration, buf: Vec<u8> },
}

/// A connect in flight.
struct InFlight {
    socket: Socket,
    job: Job,
    /// When `connect()` was called, for the rtt.
    started: Instant,
    phase: Phase,
}

/// The event loop of one worker.
pub(crate) struct Worker<'a> {
    shared: &'a Shared<'a>,
    poller: Poller,
    slots: Slots<InFlight>,
    connect_deadlines: Deadlines,
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
    /// Sockets refused at once and reset by the kernel, ready for the next
    /// connect (one per address family: IPv4, IPv6).
    spare: [Option<Socket>; 2],
    eagerness: Eagerness,
    /// Addresses this worker knows to be up (discovery done, no host
    /// timeout): their probes skip the shared host table and its lock.
    known_up: HashSet<IpAddr>,
    /// Evidence of packet loss per address, for the number of retries.
    loss: LossTracker,
    /// Results of this turn, not yet handed to `on_result`.
    results: Vec<PortResult>,
    counts: Counts,
}

impl<'a> Worker<'a> {
    /// A worker with its own poller, drawing on the shared budget.
    pub(crate) fn new(shared: &'a Shared<'a>, poller: Poller) -> Worker<'a> {
        let max_in_flight = shared.permits.max;
        Worker {
            shared,
            poller,
            slots: Slots::with_capacity(max_in_flight.min(INITIAL_SLOTS)),
            connect_deadlines: Deadlines::default(),
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
            spare: [None, None],
            eagerness: Eagerness::new(),
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
            self.connect_deadlines.next(),
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

    /// Calls `connect()` for `job` on a spare or new socket. The answer
    /// comes later through the poller unless the kernel has it at once.
    fn start(&mut self, job: Job) -> io::Result<()> {
        let addr = job.addr();
        let sockaddr = SockAddr::from(addr);
        let (socket, answer, started) = match self.spare_socket(addr) {
            Some(socket) => {
                let started = Instant::now();
                match connect::start(&socket, &sockaddr) {
                    // A reused socket that misbehaves is not the target's
                    // fault: drop it and start over on a fresh one.
                    Answer::Failed(_) => self.fresh_start(addr, &sockaddr),
                    answer => (Ok(socket), answer, started),
                }
            }
            None => self.fresh_start(addr, &sockaddr),
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(e) => {
                self.after_error(job, &e, started);
                return Ok(());
            }
        };
        let flight = InFlight {
            socket,
            job,
            started,
            phase: Phase::Connecting,
        };
        match answer {
            Answer::InProgress => self.ask_again_or_track(flight, &sockaddr),
            Answer::Connected => self.settle(flight, None),
            Answer::Failed(e) => self.settle(flight, Some(e)),
        }
    }

    /// Opens a new socket and calls `connect()` on it.
    fn fresh_start(
        &mut self,
        addr: SocketAddr,
        sockaddr: &SockAddr,
    ) -> (io::Result<Socket>, Answer, Instant) {
        let socket = connect::new_socket(addr);
        let started = Instant::now();
        let answer = match &socket {
            Ok(s) => connect::start(s, sockaddr),
            Err(_) => Answer::InProgress,
        };
        (socket, answer, started)
    }

    /// A spare socket of `addr`'s family, if one is waiting.
    fn spare_socket(&mut self, addr: SocketAddr) -> Option<Socket> {
        self.spare[usize::from(addr.is_ipv6())].take()
    }

    /// Asks `connect()` a second time if that has been paying off (see
    /// [`connect`]); otherwise, or if still in progress, waits in the poller.
    fn ask_again_or_track(&mut self, flight: InFlight, sockaddr: &SockAddr) -> io::Result<()> {
        if !self.eagerness.should_try() {
            return self.track(flight);
        }
        match connect::ask_again(&flight.socket, sockaddr) {
            Answer::InProgress => {
                self.eagerness.record(false);
                self.track(flight)
            }
            Answer::Connected => {
                self.eagerness.record(true);
                self.settle(flight, None)
            }
            Answer::Failed(e) => {
                self.eagerness.record(true);
                if connect::reusable_after(&e) {
                    return self.refused_reusable(flight);
                }
                self.settle(flight, Some(e))
            }
        }
    }

    /// Refused, and the socket was reset by the kernel: report closed and
    /// keep the socket for the next connect of its family.
    fn refused_reusable(&mut self, flight: InFlight) -> io::Result<()> {
        let rtt = flight.started.elapsed();
        let family = usize::from(flight.job.probe.ip.is_ipv6());
        self.spare[family] = Some(flight.socket);
        self.backoff = FIRST_BACKOFF;
        self.answered(flight.job.probe.ip, rtt);
        self.report(flight.job, State::Closed, Reason::ConnRefused, rtt, None);
        Ok(())
    }

    /// Registers a connecting socket for writability and its deadline:
    /// the timeout its address and attempt number call for (see the `rtt`
    /// module). An attempt to an address that has not answered yet is
    /// remembered, to be given a shorter deadline once it does.
    fn track(&mut self, flight: InFlight) -> io::Result<()> {
        let ip = flight.job.probe.ip;
        let deadline = self.connect_deadline(&flight);
        let key = self.register(flight, Event::writable)?;
        self.connect_deadlines.push(deadline, key);
        if !self.hosts.has_estimate(ip) {
            let slots = &self.slots;
            self.hosts
                .wait_for_first_sample(ip, key, |k| slots.contains(k));
        }
        self.compact_deadlines();
        Ok(())
    }

    /// When a connect attempt gives up, by what is known of its address
    /// (or, for a discovery probe, of all addresses) now.
    fn connect_deadline(&self, flight: &InFlight) -> Instant {
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
            if matches!(flight.phase, Phase::Connecting) {
                let deadline = self.connect_deadline(flight);
                self.connect_deadlines.push(deadline, key);
            }
        }
        self.compact_deadlines();
    }

    /// Stores `flight` in a slot and adds its socket to the poller with the
    /// interest `interest(key)`.
    fn register(&mut self, flight: InFlight, interest: fn(usize) -> Event) -> io::Result<Key> {
        let key = self.slots.insert(flight);
        let socket = &self.slots.get(key).expect("just inserted").socket;
        // SAFETY: every path that drops a registered socket goes through
        // `release`, which deletes it from the poller first.
        if let Err(e) = unsafe { self.poller.add(socket, interest(key.to_event())) } {
            self.slots.remove(key);
            return Err(e);
        }
        Ok(key)
    }

    /// Keeps the deadline queues proportional to the concurrency.
    fn compact_deadlines(&mut self) {
        let bound = 2 * self.max_in_flight + 64;
        let slots = &self.slots;
        if self.connect_deadlines.len() > bound {
            self.connect_deadlines.retain_live(|k| slots.contains(k));
        }
        if self.banner_deadlines.len() > bound {
            self.banner_deadlines.retain_live(|k| slots.contains(k));
        }
    }

    /// Stops tracking a socket: deletes it from the poller, frees the slot.
    fn release(&mut self, key: Key) -> Option<InFlight> {
        let flight = self.slots.remove(key)?;
        // Failure here would mean the socket was never registered; the
        // descriptor is closed right after either way.
        let _ = self.poller.delete(&flight.socket);
        Some(flight)
    }

    /// Handles an error from `socket()`, `connect()` or `SO_ERROR`.
    fn after_error(&mut self, job: Job, err: &io::Error, started: Instant) {
        self.after_error_with(job, err, started, None);
    }

    /// Like [`Worker::after_error`]; `icmp` is the reason the ICMP error
    /// queued on the socket gave, which wins over the errno's for a
    /// filtered port.
    fn after_error_with(
        &mut self,
        job: Job,
        err: &io::Error,
        started: Instant,
        icmp: Option<Reason>,
    ) {
        match classify(err) {
            Verdict::Open => {
                let rtt = started.elapsed();
                self.answered(job.probe.ip, rtt);
                self.report(job, State::Open, Reason::SynAck, rtt, None);
            }
            Verdict::Closed => {
                let rtt = started.elapsed();
                self.answered(job.probe.ip, rtt);
                self.report(job, State::Closed, Reason::ConnRefused, rtt, None);
            }
            Verdict::Filtered(reason) => {
                let reason = icmp.unwrap_or(reason);
                self.report(job, State::Filtered, reason, started.elapsed(), None)
            }
            Verdict::BackOff => self.back_off(job),
        }
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
        banner: Option<String>,
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

    /// Times out connects and banner waits whose deadline has passed.
    fn expire(&mut self, now: Instant) -> io::Result<()> {
        while let Some(key) = self.connect_deadlines.pop_expired(now) {
            if matches!(self.slots.get(key), Some(f) if matches!(f.phase, Phase::Connecting)) {
                self.connect_timed_out(key, now)?;
            }
        }
        while let Some(key) = self.banner_deadlines.pop_expired(now) {
            if matches!(self.slots.get(key), Some(f) if matches!(f.phase, Phase::Banner { .. })) {
                self.finish_banner(key);
            }
        }
        Ok(())
    }

    /// No answer in time: retry if attempts remain, else report filtered.
    ///
    /// `connect()` is asked once more first: an answer that arrived while
    /// this worker was busy (or descheduled on a loaded machine) is already
    /// in the kernel, and with timeouts of a few round-trip times it would
    /// be a pity to call such a port filtered.
    fn connect_timed_out(&mut self, key: Key, now: Instant) -> io::Result<()> {
        let Some(flight) = self.release(key) else {
            return Ok(());
        };
        let sockaddr = SockAddr::from(flight.job.addr());
        match connect::ask_again(&flight.socket, &sockaddr) {
            Answer::InProgress => {}
            Answer::Connected => return self.settle(flight, None),
            Answer::Failed(e) => return self.settle(flight, Some(e)),
        }
        self.unanswered(flight, Reason::NoResponse, now);
        Ok(())
    }

    /// An attempt ended without an answer from the port: retry if attempts
    /// remain, else report filtered for `reason`.
    fn unanswered(&mut self, flight: InFlight, reason: Reason, now: Instant) {
        let mut job = flight.job;
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
            let waited = now - flight.started;
            self.report(job, State::Filtered, reason, waited, None);
        }
    }

    /// A readiness event registered under `event` (see
    /// [`Key::to_event`]): dropped unless the very attempt it was
    /// registered for is still in its slot.
    fn on_ready(&mut self, event: usize) -> io::Result<()> {
        let key = Key::from_event(event);
        match self.slots.get(key).map(|f| &f.phase) {
            Some(Phase::Connecting) => self.connect_done(key),
            Some(Phase::Banner { .. }) => self.banner_ready(key),
            None => Ok(()),
        }
    }

    /// The poller says the connect finished: find out how.
    fn connect_done(&mut self, key: Key) -> io::Result<()> {
        let flight = self.release(key).expect("live key");
        match connect::completed(&flight.socket) {
            Completion::Connected(local, peer) => self.connected_to(flight, local, peer),
            Completion::Failed(e) => self.settle(flight, Some(e)),
            Completion::ResetAfterHandshake => {
                let e = io::Error::from_raw_os_error(libc::ECONNRESET);
                self.settle(flight, Some(e))
            }
            Completion::EndedWithoutAnswer => {
                // An ICMP error whose errno we missed is still an answer,
                // from the network if not from the port: final.
                if let Some(reason) = icmp_reason_of(&flight.socket) {
                    let rtt = flight.started.elapsed();
                    self.report(flight.job, State::Filtered, reason, rtt, None);
                } else {
                    self.unanswered(flight, Reason::Unknown, Instant::now());
                }
                Ok(())
            }
        }
    }

    /// Decides a finished connect: `error` is why it failed, `None` means
    /// it connected.
    fn settle(&mut self, flight: InFlight, error: Option<io::Error>) -> io::Result<()> {
        if let Some(e) = error {
            let icmp = match classify(&e) {
                Verdict::Filtered(_) => icmp_reason_of(&flight.socket),
                _ => None,
            };
            self.after_error_with(flight.job, &e, flight.started, icmp);
            return Ok(());
        }
        match connect::endpoints(&flight.socket) {
            Ok((local, peer)) => self.connected_to(flight, local, peer),
            Err(e) => {
                self.after_error(flight.job, &e, flight.started);
                Ok(())
            }
        }
    }

    /// A connection from `local` to `peer`: open, unless it is a ghost
    /// connection to ourselves.
    fn connected_to(
        &mut self,
        flight: InFlight,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> io::Result<()> {
        if is_self_connect(local, peer) {
            self.self_connected(flight);
            return Ok(());
        }
        self.connected(flight)
    }

    /// A ghost connection to ourselves: close it and probe the port again.
    fn self_connected(&mut self, flight: InFlight) {
        connect::close_abortively(flight.socket);
        let mut job = flight.job;
        job.self_connects += 1;
        if job.self_connects > MAX_SELF_CONNECTS {
            let rtt = flight.started.elapsed();
            self.report(job, State::Closed, Reason::ConnRefused, rtt, None);
        } else {
            self.pending.push_front(job);
        }
    }

    /// The port is open: report it, or first wait for a banner.
    fn connected(&mut self, mut flight: InFlight) -> io::Result<()> {
        self.backoff = FIRST_BACKOFF;
        let rtt = flight.started.elapsed();
        self.answered(flight.job.probe.ip, rtt);
        let Some(banner_cfg) = self.shared.cfg.banner.filter(|b| b.max_len > 0) else {
            connect::close_abortively(flight.socket);
            self.report(flight.job, State::Open, Reason::SynAck, rtt, None);
            return Ok(());
        };
        flight.phase = Phase::Banner {
            rtt,
            buf: Vec::new(),
        };
        let key = self.register(flight, Event::readable)?;
        self.banner_deadlines
            .push(Instant::now() + banner_cfg.wait, key);
        self.compact_deadlines();
        Ok(())
    }

    /// Bytes (or end of stream) arrived on a connection awaiting a banner.
    fn banner_ready(&mut self, key: Key) -> io::Result<()> {
        let max_len = self.shared.cfg.banner.map_or(0, |b| b.max_len);
        let flight = self.slots.get_mut(key).expect("live key");
        let Phase::Banner { buf, .. } = &mut flight.phase else {
            return Ok(());
        };
        match banner::read_available(&flight.socket, buf, max_len) {
            Progress::WouldBlock => self.rearm(key, Event::readable(key.to_event())),
            Progress::Done => {
                self.finish_banner(key);
                Ok(())
            }
        }
    }

    /// Reports an open port with whatever banner was collected.
    fn finish_banner(&mut self, key: Key) {
        let Some(flight) = self.release(key) else {
            return;
        };
        connect::close_abortively(flight.socket);
        if let Phase::Banner { rtt, buf } = flight.phase {
            let banner = banner::into_text(buf);
            self.report(flight.job, State::Open, Reason::SynAck, rtt, banner);
        }
    }

    /// Re-enables a oneshot registration.
    fn rearm(&mut self, key: Key, interest: Event) -> io::Result<()> {
        let socket = &self.slots.get(key).expect("live key").socket;
        self.poller.modify(socket, interest)
    }
}

/// The reason the ICMP error queued on `socket` gives, if any.
fn icmp_reason_of(socket: &Socket) -> Option<Reason> {
    let (v6, icmp_type, code) = connect::icmp_error(socket)?;
    icmp_reason(v6, icmp_type, code)
}

impl Drop for Worker<'_> {
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
    fn a_small_ceiling_is_the_whole_window() {
        let p = Permits::new(3);
        assert_eq!(p.window(), 3);
        assert!(p.try_take() && p.try_take() && p.try_take());
        assert!(!p.try_take());
        p.give_back(1);
        assert!(p.try_take());
    }
}
