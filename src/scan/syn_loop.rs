//! The loop that drives the SYN technique ([`super::syn`]): one thread,
//! one set of raw sockets, the retry schedule of the probes not yet
//! answered, and an adaptive packet rate.
//!
//! Every other technique runs on the engine (`engine`, behind
//! `technique::Prober`); this loop is the one exception, because the
//! engine's flights are too heavy for a stateless sender: there each
//! flight takes a slot, a permit of a descriptor-sized window and a
//! deadline-heap entry, and the window grows per answer, while here a
//! probe in flight is one table entry, the rate (not a window) is what
//! adapts, and sends go out in `sendmmsg` batches. It shares the engine's host discovery
//! (`discovery`), its sink and its summary already.
//!
//! # What is kept per probe
//!
//! Nothing for a probe that has been answered or given up. A probe in
//! flight is one entry in a hash table under its match key (the address
//! and port) and one in the FIFO of its attempt number: the retry
//! schedule. A reply that proves itself ([`crate::packet::Validator`])
//! and finds its entry decides the port; one that finds none (a
//! duplicate, a late answer to an attempt already given up) changes
//! nothing, and one that does not prove itself never gets this far.
//!
//! # Timeouts
//!
//! Attempt `k` waits `clamp((srtt + 4 rttvar) * 2^k, min_timeout,
//! timeout)` where `srtt` and `rttvar` are *scan-wide* estimates (RFC
//! 6298) from every SYN-ACK or RST that answers the attempt it names (the
//! attempt number rides in the source port, so a sample is never
//! ambiguous). Scan-wide rather than per address because on the
//! space a SYN scan is for, almost no address ever answers: the answers
//! of the live ones are the best evidence of how long a dead one is worth
//! waiting for (nmap's group timing does the same). Each FIFO holds the
//! attempts of one number in the order they were sent, so its head is
//! always the next to expire, whatever the estimate is now.
//!
//! # Rate that adapts, like a congestion window
//!
//! Without `--rate`/`--max-rate` the user does not pick a number: the
//! packet rate starts at [`INITIAL_RATE`] and grows by a quarter every
//! [`TICK`] while the send path takes what is offered (no `ENOBUFS`,
//! and the loop actually sent most of what the rate allowed) and no
//! evidence of loss arrived. Silence is not loss: on a dead range the
//! rate grows to what the machine can send. Evidence of loss is an
//! answer to a retry of a probe whose first attempt went unanswered (cut
//! the rate by 30%, at most once per [`TICK`]), or `ENOBUFS`/`EAGAIN` from
//! the send path (halve it, and send the same packet again shortly).
//! `--max-rate` (`--rate`) caps it, `--min-rate` floors it. Exactness
//! does not rest on the rate: a lost answer is found by the retry.
//!
//! # Memory
//!
//! One entry (about 100 bytes) per probe in flight, at most
//! [`MAX_IN_FLIGHT`] of them (the loop stops starting probes at that
//! many, whatever the rate), plus the host table of discovery (one entry
//! per address, see `discovery`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::ControlFlow;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::discovery::{Admission, HostTable};
use super::syn::{verdict, SynProber};
use super::{
    PortResult, Probe, ProbeSource, Reason, ScanConfig, ScanError, Sink, State, Summary, Technique,
};
use crate::packet::AnswerKind;
use crate::rawsock::SEND_BATCH;

/// Packets a second at the start of an adaptive scan.
pub const INITIAL_RATE: f64 = 20_000.0;
/// How often the adaptive rate is reconsidered.
pub const TICK: Duration = Duration::from_millis(10);
/// Most probes in flight (the retry schedule's bound).
pub const MAX_IN_FLIGHT: usize = 400_000;
/// Longest the adaptive rate may grow to (a ceiling no NIC needs more).
const RATE_CEILING: f64 = 10_000_000.0;
/// Most results held back before they go to the sink.
const RESULT_BURST: usize = 2048;

/// The rate settings of a SYN scan (nmap's `--min-rate`, `--max-rate`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SynRate {
    /// The rate never falls below this many packets a second.
    pub min: Option<u32>,
    /// Nor grows above this many (`--rate`/`--max-rate`).
    pub max: Option<u32>,
}

/// Which roles a probe in flight plays (discovery probes to a port and
/// the port's own probe are one packet).
#[derive(Debug)]
struct Entry {
    probe: Probe,
    attempt: u32,
    sent: Instant,
    /// Reported when answered or given up.
    port: bool,
    /// Discovery probes of its address riding on this packet.
    discovery: u32,
    /// A speculative port probe (see `discovery`).
    speculative: bool,
    /// Most attempts it may get.
    attempts: u32,
}

/// Something to send: a new probe, a discovery probe, or a retry.
#[derive(Debug)]
struct Job {
    probe: Probe,
    attempt: u32,
    port: bool,
    discovery: u32,
    speculative: bool,
}

impl Job {
    /// A first attempt: a port probe, or a discovery probe (`port`
    /// false, `discovery` 1), or a speculative one.
    fn first(probe: Probe, port: bool, discovery: u32, speculative: bool) -> Job {
        Job {
            probe,
            attempt: 0,
            port,
            discovery,
            speculative,
        }
    }
}

/// The scan-wide round-trip estimate (RFC 6298).
#[derive(Debug, Default)]
struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
}

impl Rtt {
    fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + diff / 4;
                self.srtt = Some(s * 7 / 8 + r / 8);
            }
        }
    }

    fn timeout(&self, attempt: u32, cfg: &ScanConfig) -> Duration {
        let min = cfg.min_timeout.min(cfg.timeout);
        match self.srtt {
            None => cfg.timeout,
            Some(s) => ((s + self.rttvar * 4) * (1u32 << attempt.min(10))).clamp(min, cfg.timeout),
        }
    }
}

/// The adaptive packet rate and its token bucket.
#[derive(Debug)]
struct Pacer {
    rate: f64,
    min: f64,
    max: f64,
    tokens: f64,
    last: Instant,
    tick_start: Instant,
    sent_in_tick: u64,
    loss_in_tick: bool,
    full_in_tick: bool,
}

impl Pacer {
    fn new(caps: SynRate, now: Instant) -> Pacer {
        let max = caps.max.map_or(RATE_CEILING, f64::from);
        let min = caps.min.map_or(1.0, f64::from).min(max);
        Pacer {
            rate: INITIAL_RATE.clamp(min, max),
            min,
            max,
            tokens: SEND_BATCH as f64,
            last: now,
            tick_start: now,
            sent_in_tick: 0,
            loss_in_tick: false,
            full_in_tick: false,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        // A burst of at most one tick of the rate (and at least one
        // batch): a loop that was kept off the CPU for a while catches up
        // without sending faster than the rate over a tick.
        let cap = (self.rate * TICK.as_secs_f64()).max(SEND_BATCH as f64);
        self.tokens = (self.tokens + dt * self.rate).min(cap);
        if now.duration_since(self.tick_start) >= TICK {
            let allowed = self.rate * now.duration_since(self.tick_start).as_secs_f64();
            let used = self.sent_in_tick as f64 >= allowed * 0.5;
            if !self.loss_in_tick && !self.full_in_tick && used {
                self.rate = (self.rate * 1.25).min(self.max);
            }
            self.tick_start = now;
            self.sent_in_tick = 0;
            self.loss_in_tick = false;
            self.full_in_tick = false;
        }
    }

    fn loss(&mut self) {
        if !self.loss_in_tick {
            self.loss_in_tick = true;
            self.rate = (self.rate * 0.7).max(self.min);
        }
    }

    fn full(&mut self) {
        if !self.full_in_tick {
            self.full_in_tick = true;
            self.rate = (self.rate * 0.5).max(self.min);
        }
        self.tokens = 0.0;
    }

    /// How long until a batch may go (fewer wake-ups than one per
    /// packet).
    fn wait(&self) -> Duration {
        let want = (SEND_BATCH as f64)
            .min(self.rate * TICK.as_secs_f64())
            .max(1.0);
        if self.tokens >= want {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((want - self.tokens) / self.rate)
        }
    }
}

/// The routing source address of each family, found on first use.
fn sources(source: &dyn ProbeSource) -> io::Result<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let (mut v4, mut v6) = (None, None);
    // The first probes of each family name the route; a scan whose
    // targets lie behind several interfaces sends from the first one's.
    let n = source.len();
    let step = (n / 4096).max(1);
    let mut i = 0;
    while i < n && (v4.is_none() || v6.is_none()) {
        match source.probe(i).ip {
            IpAddr::V4(a) if v4.is_none() => {
                if let IpAddr::V4(s) = crate::rawsock::route_source(a.into())? {
                    v4 = Some(s);
                }
            }
            IpAddr::V6(a) if v6.is_none() => {
                if let IpAddr::V6(s) = crate::rawsock::route_source(a.into())? {
                    v6 = Some(s);
                }
            }
            _ => {}
        }
        i += step;
    }
    Ok((v4, v6))
}

/// The loop's state.
struct Loop<'a> {
    source: &'a dyn ProbeSource,
    cfg: &'a ScanConfig,
    sink: &'a dyn Sink,
    hosts: HostTable,
    prober: SynProber,
    cursor: u64,
    ready: VecDeque<Job>,
    pending: HashMap<u64, Entry>,
    fifos: Vec<VecDeque<(Instant, u64, u32)>>,
    rtt: Rtt,
    pacer: Pacer,
    results: Vec<PortResult>,
    summary: Summary,
    peak: usize,
    stop: bool,
}

/// Runs a SYN scan of `source` (TCP probes) and hands each result to
/// `sink`, as [`super::run`] does for a connect scan.
///
/// # Errors
///
/// [`ScanError::Io`] when the raw sockets cannot be opened (`EPERM`
/// without `CAP_NET_RAW`) or fail mid-scan.
pub fn run(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    caps: SynRate,
    sink: &dyn Sink,
) -> Result<Summary, ScanError> {
    let started = Instant::now();
    let (v4, v6) = sources(source).map_err(ScanError::Io)?;
    let prober = SynProber::open(v4, v6).map_err(ScanError::Io)?;
    let attempts = cfg.retries + 1;
    let mut lp = Loop {
        source,
        cfg,
        sink,
        hosts: HostTable::new(cfg.discover_hosts, cfg.host_timeout),
        prober,
        cursor: 0,
        ready: VecDeque::new(),
        pending: HashMap::new(),
        fifos: (0..attempts.clamp(1, 16))
            .map(|_| VecDeque::new())
            .collect(),
        rtt: Rtt::default(),
        pacer: Pacer::new(caps, started),
        results: Vec::with_capacity(RESULT_BURST),
        summary: Summary::default(),
        peak: 0,
        stop: false,
    };
    lp.run().map_err(ScanError::Io)?;
    let mut summary = lp.summary;
    summary.reported = summary.open + summary.closed + summary.filtered;
    summary.elapsed = started.elapsed();
    summary.concurrency = MAX_IN_FLIGHT;
    summary.window = lp.peak;
    if !lp.hosts.is_idle() {
        summary.hosts = Some(lp.hosts.counts());
    }
    Ok(summary)
}

impl Loop<'_> {
    fn run(&mut self) -> io::Result<()> {
        let mut answers = Vec::new();
        let mut last_cancel_check = Instant::now();
        loop {
            let now = Instant::now();
            if now.duration_since(last_cancel_check) >= super::CANCEL_POLL / 4 {
                last_cancel_check = now;
                if self.sink.cancelled() {
                    self.stop = true;
                }
            }
            if self.stop {
                self.summary.stopped = true;
                return Ok(());
            }
            self.read_all(&mut answers)?;
            self.expire(Instant::now());
            self.pacer.refill(Instant::now());
            let sent = self.send_some()?;
            if self.ready.is_empty() && self.cursor >= self.source.len() && self.pending.is_empty()
            {
                self.flush();
                return Ok(());
            }
            if sent == 0 {
                self.flush();
                self.sleep()?;
            }
        }
    }

    /// Reads every socket until it is empty and acts on each answer.
    fn read_all(&mut self, answers: &mut Vec<(u64, crate::packet::Answer)>) -> io::Result<()> {
        for i in 0..self.prober.sockets().len() {
            self.prober.demux(i, answers)?;
        }
        let now = Instant::now();
        for (key, answer) in answers.drain(..) {
            let Some(entry) = self.pending.remove(&key) else {
                continue;
            };
            if entry.probe.ip != answer.ip || entry.probe.port != answer.port {
                // Another probe under the same IPv6 hash key: not ours.
                self.pending.insert(key, entry);
                continue;
            }
            let slot = entry.attempt % crate::packet::cookie::ATTEMPT_SLOTS as u32;
            let rtt = now.duration_since(entry.sent);
            if answer.attempt == slot && !matches!(answer.kind, AnswerKind::Unreachable { .. }) {
                self.rtt.sample(rtt);
            }
            if entry.attempt > 0 {
                // Answered only once retried: a packet was lost.
                self.pacer.loss();
            }
            let (state, reason) = verdict(answer.kind);
            let from_host = !matches!(answer.kind, AnswerKind::Unreachable { .. });
            self.conclude(entry, state, reason, rtt, from_host);
        }
        Ok(())
    }

    /// Times out the heads of the FIFOs that are due.
    fn expire(&mut self, now: Instant) {
        for k in 0..self.fifos.len() {
            let timeout = self.rtt.timeout(k as u32, self.cfg);
            while let Some(&(sent, key, attempt)) = self.fifos[k].front() {
                if now.duration_since(sent) < timeout {
                    break;
                }
                self.fifos[k].pop_front();
                let live = matches!(self.pending.get(&key), Some(e) if e.attempt == attempt && e.sent == sent);
                if !live {
                    continue;
                }
                let entry = self.pending.remove(&key).expect("live entry");
                if entry.attempt + 1 < entry.attempts && !self.hosts.expired(entry.probe.ip, now) {
                    self.ready.push_front(Job {
                        probe: entry.probe,
                        attempt: entry.attempt + 1,
                        port: entry.port,
                        discovery: entry.discovery,
                        speculative: entry.speculative,
                    });
                } else {
                    self.conclude(entry, State::Filtered, Reason::NoResponse, timeout, false);
                }
            }
        }
    }

    /// Sends what the rate allows, in batches; returns how many went.
    fn send_some(&mut self) -> io::Result<usize> {
        let mut sent = 0;
        let mut batch: Vec<Job> = Vec::with_capacity(SEND_BATCH);
        while self.pacer.tokens >= 1.0 && self.pending.len() < MAX_IN_FLIGHT {
            let room = (self.pacer.tokens as usize).min(SEND_BATCH);
            self.fill(&mut batch, room);
            if batch.is_empty() {
                break;
            }
            let now = Instant::now();
            let (done, outcome) = self.transmit(&batch);
            let rest = batch.split_off(done);
            for job in batch.drain(..) {
                self.track(job, now);
            }
            sent += done;
            self.pacer.tokens -= done as f64;
            self.pacer.sent_in_tick += done as u64;
            if let Err(e) = outcome {
                self.send_failed(&e, rest, now);
                if self.pacer.tokens < 1.0 {
                    break;
                }
            }
            if self.results.len() >= RESULT_BURST {
                self.flush();
            }
            if self.stop {
                break;
            }
        }
        Ok(sent)
    }

    /// Sends `batch` (one family) in as few calls as the socket takes:
    /// how many went, and the error that stopped the rest.
    fn transmit(&mut self, batch: &[Job]) -> (usize, io::Result<()>) {
        let targets: Vec<(IpAddr, u16, u32)> = batch
            .iter()
            .map(|j| (j.probe.ip, j.probe.port, j.attempt))
            .collect();
        let mut done = 0;
        while done < targets.len() {
            match self.prober.send_batch(&targets[done..]) {
                Ok(k) => done += k,
                Err(e) => return (done, Err(e)),
            }
        }
        (done, Ok(()))
    }

    /// The send path refused the first job of `rest`: a full queue of
    /// ours slows the rate and sends it again; any other error decides
    /// the probe filtered, as a connect's errno would. The rest waits.
    fn send_failed(&mut self, e: &io::Error, mut rest: Vec<Job>, now: Instant) {
        let failed = rest.remove(0);
        match e.raw_os_error() {
            Some(libc::ENOBUFS | libc::EAGAIN | libc::ENOMEM | libc::EINTR) => {
                self.pacer.full();
                self.ready.push_front(failed);
            }
            _ => {
                let (state, reason) = match super::classify::classify(e) {
                    super::classify::Verdict::Filtered(r) => (State::Filtered, r),
                    _ => (State::Filtered, Reason::Unknown),
                };
                let entry = self.entry(failed, now);
                self.conclude(entry, state, reason, Duration::ZERO, false);
            }
        }
        for job in rest.into_iter().rev() {
            self.ready.push_front(job);
        }
    }

    /// Takes up to `room` jobs of one family: retries and released
    /// probes first, then new probes from the source.
    fn fill(&mut self, batch: &mut Vec<Job>, room: usize) {
        let mut family: Option<bool> = None;
        while batch.len() < room {
            let more = if self.ready.is_empty() {
                self.admit_next(family)
            } else {
                self.take_ready(batch, &mut family)
            };
            if !more {
                return;
            }
        }
    }

    /// Moves the front of the ready queue into `batch` (or onto the same
    /// packet already in flight or in the batch); false when its family
    /// differs from the batch's, which ends the batch.
    fn take_ready(&mut self, batch: &mut Vec<Job>, family: &mut Option<bool>) -> bool {
        let Some(job) = self.ready.front() else {
            return false;
        };
        let v6 = job.probe.ip.is_ipv6();
        if family.is_some_and(|f| f != v6) {
            return false;
        }
        let key = self.prober.key_of(job.probe.ip, job.probe.port);
        let same = |j: &Job| {
            j.probe.ip == job.probe.ip && j.probe.port == job.probe.port && j.attempt == job.attempt
        };
        let twin = batch.iter().position(same);
        let job = self.ready.pop_front().expect("front");
        if self.pending.contains_key(&key) {
            // The same packet is in flight already: ride on it.
            self.merge(job);
        } else if let Some(i) = twin {
            // The same packet is in this batch (the discovery of the
            // port a probe was met with, and that probe).
            let twin = &mut batch[i];
            twin.port |= job.port;
            twin.discovery += job.discovery;
            twin.speculative |= job.speculative;
        } else {
            *family = Some(v6);
            batch.push(job);
        }
        true
    }

    /// Takes the next probe of the source through host discovery into the
    /// ready queue; false when the source is done or the next probe is of
    /// the other family than the batch's.
    fn admit_next(&mut self, family: Option<bool>) -> bool {
        if self.cursor >= self.source.len() {
            return false;
        }
        let probe = self.source.probe(self.cursor);
        if family.is_some_and(|f| f != probe.ip.is_ipv6()) {
            return false;
        }
        self.cursor += 1;
        if self.hosts.is_idle() {
            self.ready.push_back(Job::first(probe, true, 0, false));
            return true;
        }
        match self.hosts.admit(&probe, Instant::now()) {
            Admission::Start => self.ready.push_back(Job::first(probe, true, 0, false)),
            Admission::Speculate => self.ready.push_back(Job::first(probe, true, 0, true)),
            Admission::Parked { discovery } => {
                for d in discovery {
                    self.ready.push_back(Job::first(d, false, 1, false));
                }
            }
            Admission::Dropped => {}
        }
        true
    }

    /// A job whose packet is already in flight joins its entry.
    fn merge(&mut self, job: Job) {
        let key = self.prober.key_of(job.probe.ip, job.probe.port);
        let e = self.pending.get_mut(&key).expect("in flight");
        e.port |= job.port;
        e.discovery += job.discovery;
        e.speculative |= job.speculative;
    }

    fn entry(&self, job: Job, now: Instant) -> Entry {
        Entry {
            probe: job.probe,
            attempt: job.attempt,
            sent: now,
            port: job.port,
            discovery: job.discovery,
            speculative: job.speculative,
            // Speculative probes have no retries of their own (see
            // `discovery`); the others get the scan's.
            attempts: if job.speculative && job.discovery == 0 {
                1
            } else {
                self.cfg.retries + 1
            },
        }
    }

    /// Files a sent job in the retry schedule.
    fn track(&mut self, job: Job, now: Instant) {
        let key = self.prober.key_of(job.probe.ip, job.probe.port);
        let attempt = job.attempt;
        let entry = self.entry(job, now);
        if let Some(old) = self.pending.insert(key, entry) {
            // Sent while an entry was in flight (a retry racing a new
            // role): keep the roles of both.
            let e = self.pending.get_mut(&key).expect("just inserted");
            e.port |= old.port;
            e.discovery += old.discovery;
            e.speculative |= old.speculative;
        }
        let k = (attempt as usize).min(self.fifos.len() - 1);
        self.fifos[k].push_back((now, key, attempt));
        self.peak = self.peak.max(self.pending.len());
    }

    /// A probe is decided: tell discovery, report it if it is a port
    /// probe. `from_host`: the target itself answered (SYN-ACK or RST).
    fn conclude(
        &mut self,
        entry: Entry,
        state: State,
        reason: Reason,
        rtt: Duration,
        from_host: bool,
    ) {
        let ip = entry.probe.ip;
        if entry.discovery > 0 {
            if from_host {
                let released = self.hosts.answered(ip);
                self.release(released);
            } else {
                for _ in 0..entry.discovery {
                    self.hosts.discovery_unanswered(ip);
                }
            }
        }
        if entry.speculative {
            if from_host {
                let released = self.hosts.answered(ip);
                self.release(released);
                self.hosts.speculation_ended(ip, None);
            } else {
                let released = self.hosts.speculation_ended(ip, Some(entry.probe.clone()));
                self.release(released);
                return;
            }
        }
        if !entry.port && !entry.speculative {
            return;
        }
        match state {
            State::Open => self.summary.open += 1,
            State::Closed => self.summary.closed += 1,
            _ => self.summary.filtered += 1,
        }
        self.results.push(PortResult {
            target: entry.probe.target,
            ip,
            port: entry.probe.port,
            proto: entry.probe.proto,
            state,
            reason,
            rtt,
            banner: None,
            service: None,
            technique: Technique::Syn,
            after_handshake: None,
            host_accepts_all: None,
        });
    }

    /// Port probes that discovery let go: first attempts, queued.
    fn release(&mut self, probes: impl IntoIterator<Item = Probe>) {
        for probe in probes {
            self.ready.push_back(Job::first(probe, true, 0, false));
        }
    }

    /// Hands the held-back results to the sink.
    fn flush(&mut self) {
        for r in self.results.drain(..) {
            if self.stop {
                break;
            }
            if let ControlFlow::Break(()) = self.sink.result(r) {
                self.stop = true;
            }
        }
        self.results.clear();
    }

    /// Waits for a reply, the next deadline or the next token.
    fn sleep(&mut self) -> io::Result<()> {
        let now = Instant::now();
        let mut wait = super::CANCEL_POLL;
        for (k, fifo) in self.fifos.iter().enumerate() {
            if let Some(&(sent, _, _)) = fifo.front() {
                let due = sent + self.rtt.timeout(k as u32, self.cfg);
                wait = wait.min(due.saturating_duration_since(now));
            }
        }
        let has_work = !self.ready.is_empty() || self.cursor < self.source.len();
        if has_work && self.pending.len() < MAX_IN_FLIGHT {
            wait = wait.min(self.pacer.wait());
        }
        let mut fds: Vec<libc::pollfd> = self
            .prober
            .sockets()
            .iter()
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
        };
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds and `ts`
        // a valid timespec, both alive for the call.
        let rc = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// The open ports a SYN scan found, held back for detection.
struct HoldOpen<'a> {
    sink: &'a dyn Sink,
    open: std::sync::Mutex<Vec<Probe>>,
}

impl Sink for HoldOpen<'_> {
    fn result(&self, result: PortResult) -> ControlFlow<()> {
        if result.state == State::Open {
            let probe = Probe {
                target: result.target,
                ip: result.ip,
                port: result.port,
                proto: result.proto,
            };
            self.open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(probe);
            return ControlFlow::Continue(());
        }
        self.sink.result(result)
    }

    fn cancelled(&self) -> bool {
        self.sink.cancelled()
    }
}

/// The open ports of a SYN scan, as a source for the connect technique.
struct Opened(Vec<Probe>);

impl ProbeSource for Opened {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn probe(&self, index: u64) -> Probe {
        self.0[index as usize].clone()
    }
}

/// [`run`], and with `service` (`-sS -sV`) service detection on the open
/// ports: they are held back from `sink`, then connected to and
/// identified by the engine's detection sessions
/// ([`super::run_with_detection`], drawing on `budget`), and reported
/// from there (a port that closed in between is reported as it is then).
///
/// # Errors
///
/// As [`run`] and [`super::run_with_detection`].
pub fn run_detected(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    caps: SynRate,
    service: Option<&super::detection::ServiceConfig>,
    sink: &dyn Sink,
    budget: &super::ConnectBudget,
) -> Result<Summary, ScanError> {
    let Some(service) = service else {
        return run(source, cfg, caps, sink);
    };
    let hold = HoldOpen {
        sink,
        open: std::sync::Mutex::new(Vec::new()),
    };
    let mut summary = run(source, cfg, caps, &hold)?;
    let open = hold.open.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.open -= open.len() as u64;
    summary.reported -= open.len() as u64;
    if summary.stopped || open.is_empty() {
        return Ok(summary);
    }
    // The addresses are known up: no discovery again.
    let detect_cfg = ScanConfig {
        discover_hosts: false,
        ..cfg.clone()
    };
    let detected = super::run_with_detection(&Opened(open), &detect_cfg, service, sink, budget)?;
    let hosts = summary.hosts;
    summary.absorb(detected);
    summary.hosts = hosts;
    Ok(summary)
}
