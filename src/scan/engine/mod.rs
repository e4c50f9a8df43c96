//! The scan engine's event loop: one per worker thread, driving the
//! flights of one [`Prober`] (the technique) over non-blocking sockets.
//!
//! A worker pulls batches of probe indices from the shared cursor, starts
//! attempts while it holds permits from the shared in-flight window
//! (paced by the shared rate schedule), and waits on its own epoll
//! instance for them to complete, time out, or say more. A worker owns
//! every socket it registers and reports each probe exactly once.
//!
//! What one attempt *is* (a TCP connect, a UDP datagram, a flight of a
//! service-detection session, a packet on a shared raw socket) belongs to
//! the prober: the worker asks it to start an attempt, hands it each
//! ready event, each reply a shared socket yields for the flight's match
//! key, and each passed deadline, and acts on the [`Step`](super::technique::Step) it answers.
//! The worker keeps what is the same for every technique:
//!
//! - slots with generations and the deadline heaps (`slots`), the map
//!   from match keys to flights of shared sockets;
//! - the in-flight window and the rate schedule (shared by all workers,
//!   `window` and `pacing`; a prober whose flights hold no descriptor gets
//!   the window its budget says, and a packet prober's rate adapts),
//!   bounded back-off on our own resource errors;
//! - the sending of what the prober queued, in batches, after each round
//!   of starts, and the routing of replies to every flight waiting under
//!   their match key;
//! - per-host state: round-trip estimates (`rtt`), loss (`loss`), ICMP
//!   rationing (`icmp_limit`), discovery and host timeout (`discovery`);
//! - the queues of attempts to start: backed-off and continuing sessions
//!   first, retries after them, timed retries when they fall due;
//! - batching of results, and cancellation.
//!
//! The submodules split the worker's methods by job: `flights` registers
//! flights and acts on their steps, `verdict` turns a flight's last step
//! into a retry or a result and hands results over.

mod flights;
mod verdict;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};
use rustc_hash::{FxHashMap, FxHashSet};

use super::discovery::{Admission, HostTable};
use super::icmp_limit::IcmpTable;
use super::loss::LossTracker;
use super::pacing::Pacing;
use super::rtt::{Hosts, Timeouts};
use super::slots::{Deadlines, Key, Slots};
use super::technique::{Outcome, Prober};
use super::window::Permits;
use super::{PortResult, Probe, ProbeSource, ScanConfig, Sink};

/// First pause after a resource error; doubled on each consecutive one.
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
/// Longest pause after a resource error.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// Resource errors one probe may meet before it is given up as filtered
/// (about 20 s of pauses at [`MAX_BACKOFF`]): a bound, so that a resource
/// that never comes back cannot hang the scan.
const MAX_BACKOFFS_PER_PROBE: u32 = 200;
/// Ghost answers ([`Step::Again`](super::technique::Step::Again)) one probe may meet before the outcome
/// they carry is reported. For TCP these are self-connects, which can only
/// happen when nothing listens on the port (a listener's bound port is
/// never picked as an ephemeral source port), so repeated ones prove the
/// port closed.
const MAX_AGAIN: u32 = 4;
/// Slots allocated up front; more are added only if flights really pile
/// up (a huge concurrency that is never reached costs nothing).
const INITIAL_SLOTS: usize = 1024;
/// Readiness events taken per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 1024;
/// Most zero-timeout waits in one turn before deadlines are expired (see
/// [`Worker::take_ready`]): a bound on the turn, so starts and results
/// go on under a flood of readiness (the deadlines then wait a turn).
const READY_ROUNDS: usize = 16;
/// Longest sleep in one wait, as a safety net against a missed wake-up.
const MAX_WAIT: Duration = super::CANCEL_POLL;
/// Most attempts started per turn of the event loop, so that deadlines and
/// readiness are looked at regularly even when every connect is answered
/// at once (loopback).
const STARTS_PER_TURN: usize = 256;
/// Most results held back before they are handed over (see
/// [`Worker::flush`]).
const RESULTS_PER_BURST: usize = 2048;
/// How soon to look again when the shared window is used up by others.
const PERMIT_RECHECK: Duration = Duration::from_millis(2);
/// How often the prober's receive drops are looked at.
const DROPS_EVERY: Duration = Duration::from_millis(10);
/// Event keys from here up name the prober's shared sockets (the last one
/// is `usize::MAX - 1`: `polling` keeps `usize::MAX` for itself); slot
/// keys never reach them (see `slots`).
const SHARED_KEYS: usize = usize::MAX - 64;

/// The event key of shared socket `index`.
fn shared_key(index: usize) -> usize {
    usize::MAX - 1 - index
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
    /// Flights in flight, across all workers.
    pub(crate) permits: &'a Permits,
    /// Attempt starts, paced across all workers.
    pub(crate) rate: Option<&'a Pacing>,
    /// Set when a worker failed or the sink stopped the scan; the others
    /// stop early.
    pub(crate) stop: AtomicBool,
    /// Set when the stop came from the sink (not from a failure).
    pub(crate) stopped: AtomicBool,
    /// Held while a worker hands results to the sink, so that once the
    /// sink says stop no other worker's result reaches it (its check of
    /// `stop` and its hand-over are one step).
    pub(crate) hand_over: std::sync::Mutex<()>,
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

/// Per-state totals of one worker, and what its per-host state flagged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) open: u64,
    pub(crate) closed: u64,
    pub(crate) filtered: u64,
    pub(crate) open_filtered: u64,
    /// Addresses seen rationing their ICMP port unreachables.
    pub(crate) icmp_rate_limited: Vec<IpAddr>,
}

impl Counts {
    /// Counts one result handed over.
    fn count(&mut self, state: super::State) {
        use super::State;
        match state {
            State::Open => self.open += 1,
            State::Closed => self.closed += 1,
            State::Filtered => self.filtered += 1,
            State::OpenFiltered => self.open_filtered += 1,
        }
    }
}

/// A probe on its way through attempts (and, for a session, flights).
struct Job<S> {
    probe: Probe,
    /// Attempts that ended unanswered so far (timed out, or retried at a
    /// time).
    timeouts: u32,
    /// Resource errors met so far.
    backoffs: u32,
    /// Ghost answers ([`Step::Again`](super::technique::Step::Again)) met so far.
    again: u32,
    /// How long its last attempt that reached its deadline waited: an
    /// answer that comes only on a retry proves a loss only if it came
    /// sooner than that (see `account`).
    waited: Option<Duration>,
    /// Its first attempt's silence has widened the window already (see
    /// `mark_silence`).
    silence_counted: bool,
    /// A discovery probe (see the `discovery` module); one that is not
    /// `silent` is also its port's probe (echo discovery's first probe
    /// of an address).
    discovery: bool,
    /// An ICMP echo request of discovery ([`Prober::start_echo`]).
    echo: bool,
    /// Its result is not reported (discovery probes are not).
    silent: bool,
    /// Started before its address was known up: reported only if
    /// answered (see the `discovery` module).
    speculative: bool,
    /// What the prober carries between the flights of a session.
    session: S,
    /// What a flight of the session decided ([`Step::Continue`](super::technique::Step::Continue)), with
    /// its rtt: the port's state, reported when the session ends.
    decided: Option<(Outcome, Duration)>,
}

impl<S: Default> Job<S> {
    fn new(probe: Probe) -> Job<S> {
        Job {
            probe,
            timeouts: 0,
            backoffs: 0,
            again: 0,
            waited: None,
            silence_counted: false,
            discovery: false,
            echo: false,
            silent: false,
            speculative: false,
            session: S::default(),
            decided: None,
        }
    }
}

/// A flight in its slot.
struct InFlight<P: Prober> {
    /// What the prober keeps of it.
    flight: P::Flight,
    job: Job<P::Session>,
    /// When the flight was started, for the rtt.
    started: Instant,
    /// Set once the port answered and the prober listens for what it says
    /// ([`Step::Listen`](super::technique::Step::Listen)): the rtt of that answer.
    listening: Option<Duration>,
    /// The match key it waits under on a shared socket ([`Step::Expect`](super::technique::Step::Expect)).
    expect: Option<u64>,
    /// When the attempt gives up, once tracked. A deadline moved later
    /// (see `answered`) leaves its earlier heap entry behind; only an
    /// entry that is this deadline expires the flight.
    deadline: Option<Instant>,
    /// Remembered by its address's list of attempts waiting for a first
    /// sample (see the `rtt` module), to be forgotten when it ends.
    awaits_sample: bool,
    /// Timed by the group because its address had not answered when it
    /// started: when its deadline comes, an answer its address gave since
    /// may call for a later one (see `Worker::extended`).
    group_unheard: bool,
}

/// The event loop of one worker, driving flights of prober `P`.
pub(crate) struct Worker<'a, P: Prober> {
    shared: &'a Shared<'a>,
    poller: Poller,
    prober: P,
    /// How many shared sockets the prober registered.
    shared_sockets: usize,
    slots: Slots<InFlight<P>>,
    /// Flights waiting on a shared socket, by match key.
    expecting: FxHashMap<u64, Key>,
    /// Further flights waiting under a key `expecting` holds already
    /// (rare: a discovery probe and a port probe of the same port).
    twins: FxHashMap<u64, Vec<Key>>,
    /// Replies read from shared sockets (or refused sends), to route.
    replies: Vec<(u64, P::Reply)>,
    /// Deadlines of attempts waiting for an answer.
    attempt_deadlines: Deadlines,
    /// Deadlines of flights listening to an answered port.
    listen_deadlines: Deadlines,
    /// When a first attempt that waits longer than the floor has been
    /// silent as long as any attempt is ever given (see `mark_silence`).
    silence_marks: Deadlines,
    /// Round-trip estimates per address, for the timeouts.
    hosts: Hosts,
    /// ICMP port unreachables per address (for rationed probers).
    icmp: IcmpTable,
    /// Attempts waiting to start: backed-off ones and continuing sessions
    /// at the front, retries at the back.
    pending: VecDeque<Job<P::Session>>,
    /// Timed retries, by when they may start (and a sequence number).
    timed: BTreeMap<(Instant, u64), Job<P::Session>>,
    timed_seq: u64,
    /// Indices taken from the cursor, not yet started.
    batch: Range<u64>,
    source_done: bool,
    /// Most flights in flight for this worker (the whole shared window).
    max_in_flight: usize,
    /// Current cap, lowered after resource errors, regrown one per result.
    limit: usize,
    /// Permits taken from the shared window; at least `slots.len()`.
    held: usize,
    paused_until: Option<Instant>,
    backoff: Duration,
    /// Addresses this worker knows to be up (discovery done, no host
    /// timeout): their probes skip the shared host table and its lock.
    known_up: FxHashSet<IpAddr>,
    /// Evidence of packet loss per address, for the number of retries.
    loss: LossTracker,
    /// Replies the prober's receive queues dropped, when last looked at.
    drops_seen: u64,
    drops_checked: Instant,
    /// Results of this turn, not yet handed to the sink.
    results: Vec<PortResult>,
    counts: Counts,
}

impl<'a, P: Prober> Worker<'a, P> {
    /// A worker with its own poller, drawing on the shared window, whose
    /// flights are `prober`'s. Registers the prober's shared sockets.
    pub(crate) fn new(shared: &'a Shared<'a>, poller: Poller, prober: P) -> io::Result<Self> {
        let max_in_flight = shared.permits.max();
        let mut worker = Worker {
            shared,
            poller,
            prober,
            shared_sockets: 0,
            slots: Slots::with_capacity(max_in_flight.min(INITIAL_SLOTS)),
            expecting: FxHashMap::default(),
            twins: FxHashMap::default(),
            replies: Vec::new(),
            attempt_deadlines: Deadlines::default(),
            listen_deadlines: Deadlines::default(),
            silence_marks: Deadlines::default(),
            hosts: Hosts::new(Timeouts::new(shared.cfg.min_timeout, shared.cfg.timeout)),
            icmp: IcmpTable::default(),
            pending: VecDeque::new(),
            timed: BTreeMap::new(),
            timed_seq: 0,
            batch: 0..0,
            source_done: false,
            max_in_flight,
            limit: max_in_flight,
            held: 0,
            paused_until: None,
            backoff: FIRST_BACKOFF,
            known_up: FxHashSet::default(),
            loss: LossTracker::default(),
            drops_seen: 0,
            drops_checked: Instant::now(),
            results: Vec::with_capacity(RESULTS_PER_BURST),
            counts: Counts::default(),
        };
        worker.register_shared_sockets()?;
        Ok(worker)
    }

    /// Adds the prober's shared sockets to the poller, for readability.
    fn register_shared_sockets(&mut self) -> io::Result<()> {
        let fds: Vec<i32> = self
            .prober
            .shared_sockets()
            .iter()
            .map(|fd| fd.as_raw_fd())
            .collect();
        assert!(
            fds.len() < usize::MAX - SHARED_KEYS,
            "too many shared sockets"
        );
        for (i, fd) in fds.into_iter().enumerate() {
            // SAFETY: the prober owns these sockets as long as the worker
            // does; `Drop for Worker` deletes them before the prober goes.
            unsafe { self.poller.add(fd, Event::readable(shared_key(i)))? };
            self.shared_sockets = i + 1;
        }
        Ok(())
    }

    /// Runs until every probe this worker took is reported; stops early
    /// (with an error) only if the poller fails.
    pub(crate) fn run(mut self) -> io::Result<Counts> {
        let outcome = self.event_loop();
        self.flush();
        if outcome.is_ok() && self.shared.sink.cancelled() {
            self.hand_over_decided();
        }
        self.counts.icmp_rate_limited = self.icmp.flagged().to_vec();
        outcome.map(|()| std::mem::take(&mut self.counts))
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
            let now = Instant::now();
            if let Some(rate) = self.shared.rate {
                rate.tick(now);
            }
            self.look_for_drops(now);
            // Deadlines wait a turn when readiness is still coming in.
            if !self.any_due(now) || self.take_ready(&mut events)? {
                self.expire(now)?;
            }
            self.promote_due(now);
            self.give_back_unused_permits();
            let wake = self.start_more()?;
            let wake = self.send_queued()?.into_iter().chain(wake).min();
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
                self.on_event(ev.key)?;
            }
            self.give_back_unused_permits();
        }
    }

    /// Now and then, asks the prober whether its receive queues dropped
    /// replies: evidence of loss, for the rate and for discovery.
    fn look_for_drops(&mut self, now: Instant) {
        if now < self.drops_checked + DROPS_EVERY {
            return;
        }
        self.drops_checked = now;
        let drops = self.prober.dropped();
        if drops > self.drops_seen {
            self.drops_seen = drops;
            self.shared.hosts.saw_loss();
            if let Some(rate) = self.shared.rate {
                rate.loss();
            }
        }
    }

    fn is_finished(&self) -> bool {
        self.source_done
            && self.slots.is_empty()
            && self.pending.is_empty()
            && self.timed.is_empty()
    }

    /// How long the next poll may sleep: until the earliest deadline, the
    /// earliest timed retry, or the moment more attempts may start.
    fn wait_time(&self, wake: Option<Instant>) -> Duration {
        let earliest = [
            wake,
            self.attempt_deadlines.next(),
            self.listen_deadlines.next(),
            self.silence_marks.next(),
            self.timed.first_key_value().map(|((t, _), _)| *t),
        ]
        .into_iter()
        .flatten()
        .min();
        match earliest {
            Some(t) => t.saturating_duration_since(Instant::now()).min(MAX_WAIT),
            None => MAX_WAIT,
        }
    }

    /// Moves the timed retries that are due to the pending queue.
    fn promote_due(&mut self, now: Instant) {
        while let Some(entry) = self.timed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            self.pending.push_back(entry.remove());
        }
    }

    /// Queues `job` to start not before `at`.
    fn start_at(&mut self, at: Instant, job: Job<P::Session>) {
        self.timed_seq += 1;
        self.timed.insert((at, self.timed_seq), job);
    }

    /// The next attempt to start: a pending one, else a fresh probe that
    /// host discovery lets through.
    fn next_job(&mut self) -> Option<Job<P::Session>> {
        while let Some(job) = self.pending.pop_front() {
            let expired = self.shared.cfg.host_timeout.is_some()
                && !job.silent
                && job.decided.is_none()
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
            if let Some(job) = self.admit(probe) {
                return Some(job);
            }
        }
    }

    /// What host discovery makes of a fresh probe: a job to start now, or
    /// none (parked, dropped, or discovery jobs queued in its place).
    fn admit(&mut self, probe: Probe) -> Option<Job<P::Session>> {
        if self.shared.hosts.is_idle() || self.known_up.contains(&probe.ip) {
            return Some(Job::new(probe));
        }
        match self.shared.hosts.admit(&probe, Instant::now()) {
            Admission::Start => {
                if self.shared.cfg.host_timeout.is_none() {
                    self.known_up.insert(probe.ip);
                }
                Some(Job::new(probe))
            }
            Admission::Speculate => {
                let mut job = Job::new(probe);
                job.speculative = true;
                Some(job)
            }
            Admission::Parked {
                discovery,
                echo,
                met,
            } => {
                // The probe itself first (its answer is its port's), then
                // the silent ones: one batch for the address.
                if let Some(probe) = met {
                    let mut job = Job::new(probe);
                    job.discovery = true;
                    self.pending.push_back(job);
                }
                let echo = echo.map(|probe| (probe, true));
                for (probe, echo) in discovery.into_iter().map(|p| (p, false)).chain(echo) {
                    let mut job = Job::new(probe);
                    job.discovery = true;
                    job.echo = echo;
                    job.silent = true;
                    self.pending.push_back(job);
                }
                self.pending.pop_front()
            }
            Admission::Dropped => None,
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

    /// Starts attempts while there is room, work, and rate budget. Returns
    /// when to try again if it stopped for the rate limit, a back-off, or a
    /// shared window used up by other workers.
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

    /// Returns the permits of flights that have finished.
    fn give_back_unused_permits(&mut self) {
        let unused = self.held - self.slots.len();
        self.shared.permits.give_back(unused);
        self.held = self.slots.len();
    }

    /// Starts the next attempt (or session flight) of `job` through the
    /// prober.
    fn start(&mut self, mut job: Job<P::Session>) -> io::Result<()> {
        let started = Instant::now();
        let started_flight = if job.echo {
            self.prober.start_echo(&job.probe, job.timeouts)
        } else {
            self.prober
                .start(&job.probe, job.timeouts, &mut job.session)
        };
        match started_flight {
            Ok((flight, step)) => {
                let flight = InFlight {
                    flight,
                    job,
                    started,
                    listening: None,
                    expect: None,
                    deadline: None,
                    awaits_sample: false,
                    group_unheard: false,
                };
                self.begin(flight, step)
            }
            Err(step) => {
                self.ended(job, started, None, step);
                Ok(())
            }
        }
    }

    /// A poller event: a flight's own socket, or a shared socket.
    fn on_event(&mut self, event: usize) -> io::Result<()> {
        if event >= SHARED_KEYS {
            return self.on_shared(usize::MAX - 1 - event);
        }
        self.on_ready(event)
    }

    /// Shared socket `index` is readable: the prober reads it, and each
    /// reply goes to the flights waiting under its match key (if any).
    fn on_shared(&mut self, index: usize) -> io::Result<()> {
        if index >= self.shared_sockets {
            return Ok(());
        }
        let mut replies = std::mem::take(&mut self.replies);
        let read = self.prober.demux(index, &mut replies);
        let routed = read.and_then(|()| self.route(&mut replies));
        self.replies = replies;
        routed?;
        let fd = self.prober.shared_sockets()[index];
        self.poller.modify(fd, Event::readable(shared_key(index)))
    }

    /// Has the prober send what its starts queued; packets it could not
    /// send for good come back as replies and are routed. When the send
    /// path is full, new starts pause (and an adaptive rate is cut):
    /// returns when to try again (at once while the prober is still
    /// sending, see [`Prober::sending`]).
    fn send_queued(&mut self) -> io::Result<Option<Instant>> {
        let mut refused = std::mem::take(&mut self.replies);
        let sent = self.prober.send_queued(&mut refused);
        let routed = self.route(&mut refused);
        self.replies = refused;
        if !sent? {
            routed?;
            self.shared.hosts.saw_loss();
            if let Some(rate) = self.shared.rate {
                rate.full();
            }
            let until = Instant::now() + self.backoff;
            self.paused_until = Some(until);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            return Ok(Some(until));
        }
        routed?;
        // Back soon, not after a sleep, to learn how they went.
        Ok(self.prober.sending().then(Instant::now))
    }

    /// Hands each reply to the flights waiting under its match key; a
    /// reply nobody waits for is dropped.
    fn route(&mut self, replies: &mut Vec<(u64, P::Reply)>) -> io::Result<()> {
        for (token, reply) in replies.drain(..) {
            let Some(&key) = self.expecting.get(&token) else {
                continue;
            };
            if let Some(twins) = self.twins.get(&token) {
                for twin in twins.clone() {
                    self.reply_to(twin, reply.clone())?;
                }
            }
            self.reply_to(key, reply)?;
        }
        Ok(())
    }

    /// A reply for the flight in `key`, if it is still there.
    fn reply_to(&mut self, key: Key, reply: P::Reply) -> io::Result<()> {
        let Some(flight) = self.slots.get_mut(key) else {
            return Ok(());
        };
        let step = self.prober.matched(&mut flight.flight, reply);
        self.advance(key, step)
    }

    /// True when a deadline is due at `now` (possibly a stale entry).
    fn any_due(&self, now: Instant) -> bool {
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        due(self.attempt_deadlines.next()) || due(self.listen_deadlines.next())
    }

    /// Handles what the poller holds already, without sleeping, before
    /// deadlines are expired: a flight whose answer is in the kernel by
    /// its deadline (it came while the worker was busy, or descheduled on
    /// a loaded machine) is decided by that answer, never taken for
    /// silence. One `epoll_wait` per turn of the loop that has deadlines
    /// due, rather than a last system call per flight that times out;
    /// repeated while it fills the buffer, up to [`READY_ROUNDS`] times.
    /// Returns false if readiness was still coming in after those: the
    /// deadlines must then wait for the next turn.
    fn take_ready(&mut self, events: &mut Events) -> io::Result<bool> {
        for _ in 0..READY_ROUNDS {
            events.clear();
            self.poller.wait(events, Some(Duration::ZERO))?;
            for ev in events.iter() {
                self.on_event(ev.key)?;
            }
            if events.len() < EVENTS_PER_WAIT {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Gives up on attempts and listening flights whose deadline has
    /// passed (after the prober's last look, which needs no system call
    /// for an answer the kernel holds: [`Worker::take_ready`] has handed
    /// those over already).
    fn expire(&mut self, now: Instant) -> io::Result<()> {
        while let Some(key) = self.attempt_deadlines.pop_expired(now) {
            let due =
                |f: &InFlight<P>| f.listening.is_none() && f.deadline.is_some_and(|d| d <= now);
            if self.slots.get(key).is_some_and(due) && !self.extended(key, now) {
                self.timed_out(key)?;
            }
        }
        while let Some(key) = self.listen_deadlines.pop_expired(now) {
            if matches!(self.slots.get(key), Some(f) if f.listening.is_some()) {
                self.timed_out(key)?;
            }
        }
        while let Some(key) = self.silence_marks.pop_expired(now) {
            self.silence_seen(key);
        }
        Ok(())
    }
}

impl<P: Prober> Drop for Worker<'_, P> {
    /// Deletes every socket still registered (flights only on an early
    /// stop, and the shared sockets) before the poller goes, as `polling`
    /// requires.
    fn drop(&mut self) {
        for key in self.slots.keys() {
            if let Some(flight) = self.release(key) {
                let InFlight {
                    flight, mut job, ..
                } = flight;
                self.prober.finish(flight, &mut job.session);
            }
        }
        for fd in self.prober.shared_sockets() {
            let _ = self.poller.delete(fd);
        }
        self.give_back_unused_permits();
    }
}

#[cfg(test)]
mod tests;
