//! The worker's flights in their slots: registering a flight for what its
//! step waits on (its own socket, a match key on a shared socket, a
//! deadline), acting on each later step, and releasing it.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use polling::Event;

use super::{InFlight, Worker};
use crate::scan::loss::LossTracker;
use crate::scan::slots::Key;
use crate::scan::technique::{Interest, Prober, Step};

/// What a registered flight waits on.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// Its own socket, for this readiness.
    Own(Interest),
    /// A reply under this match key on a shared socket.
    Key(u64),
}

impl<P: Prober> Worker<'_, P> {
    /// Acts on the first step of a flight that is not registered yet.
    pub(super) fn begin(&mut self, mut flight: InFlight<P>, step: Step) -> io::Result<()> {
        match step {
            Step::Wait(interest) => self.track(flight, Wait::Own(interest)),
            Step::Expect(token) => self.track(flight, Wait::Key(token)),
            Step::Listen(_) | Step::Watch(_) => {
                self.hear(&mut flight);
                let wait = self.listen_wait(flight.job.probe.ip, &step);
                let key = self.register(flight, Wait::Own(Interest::Read))?;
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
    pub(super) fn advance(&mut self, key: Key, step: Step) -> io::Result<()> {
        match step {
            Step::Wait(interest) => self.rearm(key, interest),
            Step::Expect(token) => {
                let flight = self.slots.get_mut(key).expect("live key");
                let old = flight.expect.replace(token);
                if old != Some(token) {
                    if let Some(old) = old {
                        self.stop_waiting(key, old);
                    }
                    self.wait_under(key, token);
                }
                Ok(())
            }
            Step::Listen(_) | Step::Watch(_) => {
                let flight = self.slots.get_mut(key).expect("live key");
                let ip = flight.job.probe.ip;
                if flight.listening.is_none() {
                    let rtt = flight.started.elapsed();
                    flight.listening = Some(rtt);
                    self.heard(ip, rtt);
                }
                let wait = self.listen_wait(ip, &step);
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

    /// The port of `flight` answered: its rtt sample, taken once.
    fn hear(&mut self, flight: &mut InFlight<P>) {
        if flight.listening.is_none() {
            let rtt = flight.started.elapsed();
            flight.listening = Some(rtt);
            self.heard(flight.job.probe.ip, rtt);
        }
    }

    /// How long a listening step waits: its own wait, or for
    /// [`Step::Watch`] the retransmission timeout of `ip` (sampled by
    /// now), at least the step's floor and at most the scan's timeout.
    fn listen_wait(&self, ip: IpAddr, step: &Step) -> Duration {
        match *step {
            Step::Watch(floor) => self
                .hosts
                .rto(ip)
                .unwrap_or(floor)
                .max(floor)
                .min(self.shared.cfg.timeout.max(floor)),
            Step::Listen(wait) => wait,
            _ => Duration::ZERO,
        }
    }

    /// Gives a flight that is listening until `wait` from now.
    fn listen_until(&mut self, key: Key, wait: Duration) {
        self.listen_deadlines.push(Instant::now() + wait, key);
        self.compact_deadlines();
    }

    /// Closes a flight that has ended and acts on how it ended.
    pub(super) fn conclude(&mut self, flight: InFlight<P>, step: Step) {
        let InFlight {
            flight,
            mut job,
            started,
            listening,
            ..
        } = flight;
        self.prober.finish(flight, &mut job.session);
        self.ended(job, started, listening, step);
    }

    /// The port at `ip` answered after `rtt`: a round-trip sample, and the
    /// end of any back-off (resources are evidently there).
    pub(super) fn heard(&mut self, ip: IpAddr, rtt: Duration) {
        self.backoff = super::FIRST_BACKOFF;
        self.answered(ip, rtt);
    }

    /// Registers a started flight for `wait` and its deadline: the timeout
    /// its address and attempt number call for (see the `rtt` module). An
    /// attempt to an address that has not answered yet is remembered, to
    /// be given a shorter deadline once it does (with group timing, once
    /// any address does: see `answered`).
    fn track(&mut self, mut flight: InFlight<P>, wait: Wait) -> io::Result<()> {
        let ip = flight.job.probe.ip;
        let deadline = self.attempt_deadline(&flight);
        flight.deadline = Some(deadline);
        let unheard = !self.hosts.has_estimate(ip);
        // With group timing, most addresses of a sweep never answer: an
        // attempt to one is not listed by its address (a table entry per
        // probe), it is looked at again when its deadline comes instead.
        flight.awaits_sample = unheard && !P::GROUP_TIMING;
        flight.group_unheard = unheard && P::GROUP_TIMING;
        let awaits_sample = flight.awaits_sample;
        let mark = self.silence_mark(&flight, deadline);
        let key = self.register(flight, wait)?;
        self.attempt_deadlines.push(deadline, key);
        if let Some(mark) = mark {
            self.silence_marks.push(mark, key);
        }
        if awaits_sample {
            self.hosts.wait_for_first_sample(ip, key);
        }
        self.compact_deadlines();
        Ok(())
    }

    /// When the silence of a first attempt that waits past the floor
    /// (`--min-timeout`) is to widen the window, if it is: with group
    /// timing, a first attempt widens the window by one when it has been
    /// silent as long as the shortest timeout any attempt is given, not
    /// only when its own longer deadline passes (before the scan's first
    /// answer that is the maximum, a second by default, and a window of
    /// silent attempts would then grow once a second). The attempt itself
    /// still waits its full deadline: nothing is given up sooner, the
    /// window only learns sooner that silence is what this space gives.
    fn silence_mark(&self, flight: &InFlight<P>, deadline: Instant) -> Option<Instant> {
        let mark = flight.started + self.shared.cfg.min_timeout;
        (P::GROUP_TIMING
            && flight.job.timeouts == 0
            && !flight.job.silence_counted
            && mark < deadline)
            .then_some(mark)
    }

    /// The first attempt in `key` has been silent up to its mark: it
    /// widens the window now, once (see `silence_mark`).
    pub(super) fn silence_seen(&mut self, key: Key) {
        let Some(flight) = self.slots.get_mut(key) else {
            return;
        };
        if flight.listening.is_none() && flight.job.timeouts == 0 && !flight.job.silence_counted {
            flight.job.silence_counted = true;
            self.shared.permits.grow();
        }
    }

    /// When an attempt gives up, by what is known of its address (or, for
    /// a discovery probe, of all addresses) now.
    fn attempt_deadline(&self, flight: &InFlight<P>) -> Instant {
        let job = &flight.job;
        let attempt = LossTracker::timeout_attempt(job.timeouts, self.shared.cfg.retries);
        let timeout = if job.discovery || job.speculative || P::GROUP_TIMING {
            self.hosts.discovery_timeout(job.probe.ip, attempt)
        } else {
            self.hosts.timeout(job.probe.ip, attempt)
        };
        flight.started + timeout
    }

    /// The group deadline of the flight in `key` has come: if its address
    /// answered since the flight started (another port, or an earlier
    /// attempt's late answer), the deadline its own estimate calls for is
    /// taken instead, once; true when that is still to come (the flight
    /// waits on).
    pub(super) fn extended(&mut self, key: Key, now: Instant) -> bool {
        let Some(flight) = self.slots.get(key) else {
            return false;
        };
        if !flight.group_unheard || !self.hosts.has_estimate(flight.job.probe.ip) {
            return false;
        }
        let deadline = self.attempt_deadline(flight);
        let flight = self.slots.get_mut(key).expect("live key");
        flight.group_unheard = false;
        if deadline <= now {
            return false;
        }
        flight.deadline = Some(deadline);
        self.attempt_deadlines.push(deadline, key);
        true
    }

    /// `ip` answered after `rtt`: a sample for its estimate. On its first
    /// one, the attempts to it still in flight get the deadline its own
    /// estimate calls for, counted from their start: without group timing
    /// at once (earlier than the maximum they had); with group timing when
    /// their group deadline comes (see `extended`), later than it if the
    /// address is slower than the rest, so a far address is not given up
    /// at the pace of the near ones once it has shown how far it is.
    fn answered(&mut self, ip: IpAddr, rtt: Duration) {
        let first_of_all = !self.hosts.has_any_estimate();
        let mut waiting = self.hosts.sample(ip, rtt);
        if first_of_all && (P::GROUP_TIMING || !self.shared.hosts.is_idle()) {
            // Discovery probes (with group timing, all attempts) started
            // before this worker heard from any address may now be given
            // up sooner.
            let slots = &self.slots;
            waiting.extend(slots.keys().into_iter().filter(|k| {
                slots
                    .get(*k)
                    .is_some_and(|f| f.job.discovery || f.job.speculative || P::GROUP_TIMING)
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
                if flight.deadline != Some(deadline) {
                    self.slots.get_mut(key).expect("live key").deadline = Some(deadline);
                    self.attempt_deadlines.push(deadline, key);
                }
            }
        }
        self.compact_deadlines();
    }

    /// Stores `flight` in a slot and registers what it waits on.
    fn register(&mut self, flight: InFlight<P>, wait: Wait) -> io::Result<Key> {
        let key = self.slots.insert(flight);
        let flight = self.slots.get_mut(key).expect("just inserted");
        let added = match (wait, P::fd(&flight.flight)) {
            (Wait::Key(token), _) => {
                flight.expect = Some(token);
                self.wait_under(key, token);
                Ok(())
            }
            // SAFETY: every path that drops a registered socket goes
            // through `release`, which deletes it from the poller first.
            (Wait::Own(interest), Some(fd)) => unsafe {
                self.poller.add(fd.as_raw_fd(), event_for(key, interest))
            },
            (Wait::Own(_), None) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a flight without a socket of its own waits for readiness",
            )),
        };
        if let Err(e) = added {
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
        if self.listen_deadlines.len() > bound {
            self.listen_deadlines.retain_live(|k| slots.contains(k));
        }
        if self.silence_marks.len() > bound {
            self.silence_marks.retain_live(|k| slots.contains(k));
        }
    }

    /// Stops tracking a flight: deletes its socket from the poller (or its
    /// match key from the map), frees the slot.
    pub(super) fn release(&mut self, key: Key) -> Option<InFlight<P>> {
        let flight = self.slots.remove(key)?;
        if flight.awaits_sample {
            self.hosts.forget_waiting(flight.job.probe.ip, key);
        }
        if let Some(token) = flight.expect {
            self.stop_waiting(key, token);
        }
        if let Some(fd) = P::fd(&flight.flight) {
            // Failure here would mean the socket was never registered; the
            // descriptor is closed right after either way.
            let _ = self.poller.delete(fd);
        }
        Some(flight)
    }

    /// The flight in `key` waits for replies under `token`; another that
    /// waits under it already keeps its place, and this one becomes its
    /// twin (both get each reply).
    fn wait_under(&mut self, key: Key, token: u64) {
        let first = self.expecting.entry(token).or_insert(key);
        if *first != key {
            if self.slots.contains(*first) {
                self.twins.entry(token).or_default().push(key);
            } else {
                *first = key;
            }
        }
    }

    /// The flight in `key` no longer waits under `token`: a twin, if any,
    /// takes its place.
    fn stop_waiting(&mut self, key: Key, token: u64) {
        // The common case, one flight a key, costs one lookup.
        let twins = if self.twins.is_empty() {
            None
        } else {
            self.twins.get_mut(&token)
        };
        let Some(twins) = twins else {
            if self.expecting.get(&token) == Some(&key) {
                self.expecting.remove(&token);
            }
            return;
        };
        if self.expecting.get(&token) == Some(&key) {
            let next = twins.pop().expect("twins are never empty");
            self.expecting.insert(token, next);
        } else {
            twins.retain(|k| *k != key);
        }
        if twins.is_empty() {
            self.twins.remove(&token);
        }
    }

    /// The deadline of the flight in `key` passed: the prober has a last
    /// look, then the flight goes on (rarely) or ends.
    pub(super) fn timed_out(&mut self, key: Key) -> io::Result<()> {
        let flight = self.slots.get_mut(key).expect("live key");
        flight.job.waited = Some(flight.started.elapsed());
        let step = match self.prober.deadline(&mut flight.flight) {
            // Waiting on without a deadline would never end.
            Step::Wait(_) | Step::Expect(_) => Step::Unanswered(self.prober.silence()),
            step => step,
        };
        self.advance(key, step)
    }

    /// A readiness event registered under `event` (see
    /// [`Key::to_event`]): dropped unless the very flight it was
    /// registered for is still in its slot.
    pub(super) fn on_ready(&mut self, event: usize) -> io::Result<()> {
        let key = Key::from_event(event);
        let Some(flight) = self.slots.get_mut(key) else {
            return Ok(());
        };
        let step = self.prober.ready(&mut flight.flight);
        self.advance(key, step)
    }

    /// Re-enables a oneshot registration of the flight's own socket.
    fn rearm(&mut self, key: Key, interest: Interest) -> io::Result<()> {
        let flight = &self.slots.get(key).expect("live key").flight;
        match P::fd(flight) {
            Some(fd) => self.poller.modify(fd, event_for(key, interest)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a flight without a socket of its own waits for readiness",
            )),
        }
    }
}

/// The poller event for `interest`, carrying `key`.
fn event_for(key: Key, interest: Interest) -> Event {
    match interest {
        Interest::Read => Event::readable(key.to_event()),
        Interest::Write => Event::writable(key.to_event()),
    }
}
