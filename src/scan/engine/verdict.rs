//! What the last step of a flight means for its probe: a retry (now, at a
//! time, or after a back-off), the next flight of a session, or a result;
//! and the delivery of results to the sink, in bursts.

use std::time::{Duration, Instant};

use super::{Job, Worker, MAX_AGAIN, MAX_BACKOFF, MAX_BACKOFFS_PER_PROBE, RESULTS_PER_BURST};
use crate::scan::icmp_limit::AfterSilence;
use crate::scan::technique::{Outcome, Prober, Step};
use crate::scan::{PortResult, Probe, Reason, State};

/// True for the states that mean no answer came from the port's host.
fn is_silence(state: State) -> bool {
    matches!(state, State::Filtered | State::OpenFiltered)
}

impl<P: Prober> Worker<'_, P> {
    /// What the last step of a flight started at `started` means for its
    /// probe; `listening` holds the rtt of a port that was listened to
    /// (its sample is already taken).
    pub(super) fn ended(
        &mut self,
        mut job: Job<P::Session>,
        started: Instant,
        listening: Option<Duration>,
        step: Step,
    ) {
        match step {
            Step::Done(outcome) => self.done(job, started, listening, outcome),
            Step::Continue(outcome) if job.silent => self.done(job, started, listening, outcome),
            // A later flight of a session: on to the next one.
            Step::Continue(_) if job.decided.is_some() => self.pending.push_front(job),
            Step::Continue(outcome) => {
                let rtt = self.sampled(&job, started, listening, &outcome);
                if self.account(&job, outcome.state, rtt) {
                    job.decided = Some((outcome, rtt));
                    self.pending.push_front(job);
                }
            }
            Step::Unanswered(outcome) if job.decided.is_some() => {
                self.done(job, started, listening, outcome)
            }
            Step::Unanswered(outcome) => self.unanswered(job, started, outcome),
            Step::RetryAt(at) => {
                job.timeouts += 1;
                self.start_at(at, job);
            }
            Step::Again(outcome) => {
                job.again += 1;
                if job.again > MAX_AGAIN {
                    let rtt = started.elapsed();
                    self.report(job, outcome, rtt);
                } else {
                    self.pending.push_front(job);
                }
            }
            Step::BackOff => self.back_off(job),
            // A prober that asks to wait without a flight to wait on breaks
            // the trait's contract; backing off bounds the damage.
            Step::Wait(_) | Step::Expect(_) | Step::Listen(_) | Step::Watch(_) => {
                debug_assert!(false, "a step to wait on with no flight");
                self.back_off(job);
            }
        }
    }

    /// The probe's last flight decided it: report (a session reports what
    /// its deciding flight found, with what the last one added).
    fn done(
        &mut self,
        mut job: Job<P::Session>,
        started: Instant,
        listening: Option<Duration>,
        outcome: Outcome,
    ) {
        if let Some((mut decided, rtt)) = job.decided.take() {
            decided.service = outcome.service.or(decided.service);
            decided.reply = decided.reply.or(outcome.reply);
            decided.after_handshake = decided.after_handshake.or(outcome.after_handshake);
            decided.host_accepts_all = outcome.host_accepts_all.or(decided.host_accepts_all);
            self.deliver(job.probe, decided, rtt);
            return;
        }
        let rtt = self.sampled(&job, started, listening, &outcome);
        self.report(job, outcome, rtt);
    }

    /// The rtt of a deciding flight, taken as a sample when the port's
    /// host answered (unless it was taken when listening began), and the
    /// ICMP record of a rationed prober (every ICMP error spends a token
    /// of the host's budget, see the `icmp_limit` submodule).
    fn sampled(
        &mut self,
        job: &Job<P::Session>,
        started: Instant,
        listening: Option<Duration>,
        outcome: &Outcome,
    ) -> Duration {
        if self.prober.rationed() {
            match outcome.reason {
                Reason::PortUnreach => {
                    self.icmp
                        .port_unreach(job.probe.ip, Instant::now(), job.timeouts)
                }
                Reason::AdminProhibited | Reason::HostUnreach | Reason::NetUnreach => {
                    self.icmp.other_error(job.probe.ip, Instant::now())
                }
                _ => {}
            }
        }
        listening.unwrap_or_else(|| {
            let rtt = started.elapsed();
            if matches!(outcome.state, State::Open | State::Closed) {
                self.heard(job.probe.ip, rtt);
            }
            rtt
        })
    }

    /// An attempt ended without an answer from the port: retry if
    /// attempts remain (for a rationed prober, when the host's ICMP budget
    /// says so, perhaps at a later time), else report `outcome`.
    fn unanswered(&mut self, mut job: Job<P::Session>, started: Instant, outcome: Outcome) {
        let attempt = job.timeouts;
        job.timeouts += 1;
        if attempt == 0 && !job.silence_counted {
            // Silence is not loss: a first attempt that waited out its
            // timeout used its permit as long as it could, and says
            // nothing against the path. Widen, as an answer does, so a
            // scan of silent space is not held to the initial window
            // (once per probe: it may have at its silence mark).
            job.silence_counted = true;
            self.shared.permits.grow();
        }
        let retries = self.shared.cfg.retries;
        // A speculative probe has no retries of its own: unanswered, it
        // goes back to its address (see `account`).
        if job.speculative {
            let waited = started.elapsed();
            return self.report(job, outcome, waited);
        }
        if self.prober.rationed() {
            let now = Instant::now();
            match self
                .icmp
                .after_silence(job.probe.ip, started, now, attempt, retries)
            {
                AfterSilence::Again(at) if at <= now => self.pending.push_back(job),
                AfterSilence::Again(at) => self.start_at(at, job),
                AfterSilence::GiveUp => {
                    let waited = now.saturating_duration_since(started);
                    self.report(job, outcome, waited);
                }
            }
            return;
        }
        let mut allowed = self.loss.retries(job.probe.ip, retries);
        if job.discovery {
            allowed = self.shared.hosts.discovery_retries(allowed);
            if !job.silent
                && job.timeouts > allowed
                && job.timeouts <= self.loss.retries(job.probe.ip, retries)
                && self.shared.hosts.is_up(job.probe.ip)
            {
                // The address is up: the rest of its attempts are the
                // port's own.
                job.discovery = false;
                allowed = self.loss.retries(job.probe.ip, retries);
            }
        }
        if job.timeouts <= allowed {
            self.pending.push_back(job);
        } else {
            let waited = started.elapsed();
            self.report(job, outcome, waited);
        }
    }

    /// Out of descriptors, buffers or source ports: pause new attempts,
    /// hold the cap at what is in flight now, and retry this probe first.
    /// A probe meets at most [`MAX_BACKOFFS_PER_PROBE`] of them.
    pub(super) fn back_off(&mut self, mut job: Job<P::Session>) {
        job.backoffs += 1;
        if job.backoffs > MAX_BACKOFFS_PER_PROBE {
            let outcome = Outcome::new(State::Filtered, Reason::Unknown);
            self.report(job, outcome, Duration::ZERO);
            return;
        }
        self.pending.push_front(job);
        if let Some(rate) = self.shared.rate {
            rate.full();
        }
        self.limit = self.slots.len().max(1);
        self.paused_until = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// What a decided probe (answered after `rtt`) tells the window, the
    /// loss estimate and host discovery; false when it is not to be
    /// reported (a discovery probe, or a speculative one that went
    /// unanswered and goes back to its address).
    ///
    /// An answer that came only on a retry proves a loss when it came
    /// sooner than the unanswered attempt before it had waited: that one
    /// would have heard it had its packets got through. One that took
    /// longer proves only that the wait was short (an address farther
    /// away than the group timing it was given, see the `rtt` module),
    /// and counts as neither loss nor a first-attempt answer.
    fn account(&mut self, job: &Job<P::Session>, state: State, rtt: Duration) -> bool {
        self.limit = (self.limit + 1).min(self.max_in_flight);
        if matches!(state, State::Open | State::Closed) {
            let lost = job.timeouts > 0 && job.waited.is_none_or(|w| rtt < w);
            if job.timeouts == 0 {
                self.loss.answered(job.probe.ip, 0);
                self.shared.permits.grow();
            } else if lost {
                self.loss.answered(job.probe.ip, job.timeouts);
                self.shared.permits.shrink();
                self.shared.hosts.saw_loss();
                if let Some(rate) = self.shared.rate {
                    rate.loss();
                }
            } else {
                self.loss.answered(job.probe.ip, 0);
            }
        }
        if !self.shared.hosts.is_idle() {
            self.discovered(job, state);
            if job.discovery && !job.silent && is_silence(state) {
                // The first probe of an address, unanswered by its host:
                // reported only if the address is up (see `discovery`).
                return self.shared.hosts.met_unanswered(&job.probe);
            }
        }
        if job.speculative {
            let unanswered = is_silence(state).then(|| job.probe.clone());
            let again = self
                .shared
                .hosts
                .speculation_ended(job.probe.ip, unanswered);
            if is_silence(state) {
                if let Some(probe) = again {
                    self.pending.push_back(Job::new(probe));
                }
                return false;
            }
        }
        !job.silent
    }

    /// Hands one final result over (after accounting for it).
    fn report(&mut self, job: Job<P::Session>, outcome: Outcome, rtt: Duration) {
        if self.account(&job, outcome.state, rtt) {
            self.deliver(job.probe, outcome, rtt);
        }
    }

    /// Holds one result back for the next burst.
    fn deliver(&mut self, probe: Probe, outcome: Outcome, rtt: Duration) {
        let result = self.result(probe, outcome, rtt);
        self.results.push(result);
        if self.results.len() >= RESULTS_PER_BURST {
            self.flush();
        }
    }

    /// The result of `probe`.
    fn result(&self, probe: Probe, outcome: Outcome, rtt: Duration) -> PortResult {
        let Probe {
            target,
            ip,
            port,
            proto,
        } = probe;
        PortResult {
            target,
            ip,
            port,
            proto,
            technique: self.prober.technique(),
            state: outcome.state,
            reason: outcome.reason,
            rtt,
            banner: outcome.reply,
            service: outcome.service.map(|s| *s),
            after_handshake: outcome.after_handshake,
            host_accepts_all: outcome.host_accepts_all,
        }
    }

    /// What a finished attempt says about its address: an answer makes it
    /// up (and its parked probes are started here); a discovery probe
    /// without one may make it down.
    fn discovered(&mut self, job: &Job<P::Session>, state: State) {
        match state {
            State::Open | State::Closed if !self.known_up.contains(&job.probe.ip) => {
                for probe in self.shared.hosts.answered(job.probe.ip) {
                    self.pending.push_back(Job::new(probe));
                }
            }
            s if is_silence(s) && job.discovery => {
                self.shared.hosts.discovery_unanswered(job.probe.ip)
            }
            _ => {}
        }
    }

    /// The scan was cancelled: the probes whose session had decided their
    /// port (and was still going on) are handed over as decided, so an
    /// open port is not lost for want of its service; the rest of what is
    /// in flight is dropped unreported.
    pub(super) fn hand_over_decided(&mut self) {
        let mut decided: Vec<Job<P::Session>> = Vec::new();
        for key in self.slots.keys() {
            if let Some(flight) = self.release(key) {
                let super::InFlight {
                    flight, mut job, ..
                } = flight;
                self.prober.finish(flight, &mut job.session);
                decided.push(job);
            }
        }
        decided.extend(self.pending.drain(..));
        // Sessions pausing (a timed retry) may hold a decided port too.
        decided.extend(std::mem::take(&mut self.timed).into_values());
        for job in decided {
            if let Some((outcome, rtt)) = job.decided {
                self.results.push(self.result(job.probe, outcome, rtt));
            }
        }
        for result in self.results.drain(..) {
            self.counts.count(result.state);
            let _ = self.shared.sink.result(result);
        }
    }

    /// Hands the held-back results to the sink, in completion order.
    ///
    /// Results are delivered in bursts (up to [`RESULTS_PER_BURST`], and
    /// always before the worker goes to sleep in the poller) rather than one
    /// by one between attempts: a consumer that forwards them over a
    /// channel then wakes its reader once per burst instead of once per
    /// probe. On a loopback scan, where a probe takes a few microseconds,
    /// per-probe wake-ups of a writer thread cost a third of the scan's CPU
    /// time.
    ///
    /// Counts are taken here, as results are delivered, so a stopped scan's
    /// summary counts exactly what the sink saw.
    /// Workers hand over one at a time (`Shared::hand_over`): a worker
    /// that found `stop` unset could otherwise deliver a result after
    /// another worker's result made the sink say stop.
    pub(super) fn flush(&mut self) {
        if self.results.is_empty() {
            return;
        }
        let stop = &self.shared.stop;
        // A sink that panicked poisons nothing worth keeping: the guard
        // only orders hand-overs.
        let _turn = self
            .shared
            .hand_over
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for result in self.results.drain(..) {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            self.counts.count(result.state);
            if self.shared.sink.result(result).is_break() {
                self.shared.stop_for_sink();
            }
        }
        self.results.clear();
    }
}
