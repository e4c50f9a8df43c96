//! What an open TCP port is worth: what it did after the handshake, and
//! whether its host accepts every port.
//!
//! A connect that completes says that *something* answered the SYN: a
//! service, but also a SYN proxy (nftables' `synproxy`, a DDoS scrubber),
//! a tarpit, or a firewall that redirects every port to one listener.
//! Such hosts make every port look open. Two pieces of evidence tell them
//! from services, both gathered by the connect scan itself:
//!
//! - **After the handshake** ([`AfterHandshake`]): the TCP probe keeps an
//!   open connection for a short wait and records whether the port
//!   greeted (sent bytes first), closed (an end of stream), reset, or
//!   stayed silent. Nothing is sent to it. The wait is
//!   [`Step::Watch`]'s: the host's retransmission timeout, at least
//!   [`WATCH_FLOOR`], at most the scan's timeout, so it costs a round trip
//!   or two per *open* port and never holds the event loop (the flight
//!   waits in the poller like any other). A port that closes or resets
//!   without a byte is what nmap calls `tcpwrapped`.
//! - **Hosts that accept every port** (`HostCheck`): the first open
//!   port of a host starts a check, as further flights of that port's
//!   session ([`Step::Continue`]): connects to [`CANARY_PORTS`], ports
//!   that are almost never open (absent from nmap's services list, outside
//!   Linux's ephemeral range). If every canary is open, the host accepts
//!   every port and each of its open ports is reported with
//!   `host_accepts_all` set; one canary that is not open ends the check
//!   (the host does not). The verdict is kept per address
//!   (`HostTable`, shared by the workers), so each host is checked
//!   once; other open ports of a host being checked wait for the verdict
//!   (timed retries, without a flight or a permit) and are reported with
//!   it.
//!
//! What it must not do: keep any flight longer than the engine's
//! deadlines allow, or open a connection the engine did not start (each
//! canary is a flight: window, rate, poller).

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::tcp::{TcpConnect, TcpFlight};
use super::technique::{Outcome, Prober, Step, Technique};
use super::{Probe, State};

/// What an open TCP port did in the short wait after the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AfterHandshake {
    /// It sent bytes first (a greeting, a banner).
    Greeted,
    /// It kept the connection open and said nothing.
    Silent,
    /// It closed the connection at once, without a byte.
    Closed,
    /// It reset the connection (or the handshake was followed by a reset).
    Reset,
}

impl AfterHandshake {
    /// `greeted`, `silent`, `closed` or `reset`.
    pub fn as_str(self) -> &'static str {
        match self {
            AfterHandshake::Greeted => "greeted",
            AfterHandshake::Silent => "silent",
            AfterHandshake::Closed => "closed",
            AfterHandshake::Reset => "reset",
        }
    }

    /// The word back to the value.
    pub fn parse(text: &str) -> Option<AfterHandshake> {
        [
            AfterHandshake::Greeted,
            AfterHandshake::Silent,
            AfterHandshake::Closed,
            AfterHandshake::Reset,
        ]
        .into_iter()
        .find(|a| a.as_str() == text)
    }

    /// True when the port ended the connection without a byte: nmap's
    /// `tcpwrapped`.
    pub fn is_wrapped(self) -> bool {
        matches!(self, AfterHandshake::Closed | AfterHandshake::Reset)
    }
}

/// The least wait after a handshake: above a loopback or LAN round trip,
/// enough for a server's accept loop to close or greet.
pub const WATCH_FLOOR: Duration = Duration::from_millis(10);

/// The ports a host's check connects to: absent from nmap's services list
/// and outside Linux's ephemeral range (32768-60999), so that an open one
/// is almost never a service.
pub const CANARY_PORTS: [u16; 3] = [13719, 29867, 63017];

/// Attempts per canary: a lost SYN is tried once more before the canary
/// counts as not open.
const CANARY_ATTEMPTS: u32 = 2;

/// First pause of an open port waiting for its host's verdict; doubled up
/// to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(1);
const MAX_POLL: Duration = Duration::from_millis(64);
/// Longest an open port waits for a verdict another session owes (one
/// whose probe was dropped never gives it): then it is reported without.
const MAX_VERDICT_WAIT: Duration = Duration::from_secs(30);

/// Most addresses whose verdict is kept; beyond, decided ones are
/// forgotten (and checked again if they show another open port).
const MAX_HOSTS: usize = 1 << 16;

/// Where the check of one address stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    /// A session is connecting to the canaries.
    Running,
    /// Decided: true when the host accepts every port.
    Decided(bool),
}

/// The verdicts of one scan, shared by its workers.
#[derive(Debug, Default)]
pub(crate) struct HostTable {
    hosts: Mutex<HashMap<IpAddr, Check>>,
}

/// What a session that holds an open port of an address is to do.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// Its host is decided.
    Known(bool),
    /// It runs the check.
    Check,
    /// Another session runs the check: wait.
    Wait,
}

impl HostTable {
    fn claim(&self, ip: IpAddr) -> Claim {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        match hosts.get(&ip) {
            Some(Check::Decided(v)) => Claim::Known(*v),
            Some(Check::Running) => Claim::Wait,
            None => {
                if hosts.len() >= MAX_HOSTS {
                    hosts.retain(|_, c| *c == Check::Running);
                }
                hosts.insert(ip, Check::Running);
                Claim::Check
            }
        }
    }

    fn decided(&self, ip: IpAddr) -> Option<bool> {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        match hosts.get(&ip) {
            Some(Check::Decided(v)) => Some(*v),
            // Forgotten (table full) or still running.
            _ => None,
        }
    }

    fn decide(&self, ip: IpAddr, accepts_all: bool) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.insert(ip, Check::Decided(accepts_all));
    }
}

/// A prober whose open TCP ports carry their host's verdict: `P`'s flights
/// first, then, for the first open port of a host, its canaries.
pub(crate) struct HostCheck<P> {
    inner: P,
    canary: TcpConnect,
    table: Arc<HostTable>,
}

impl<P> HostCheck<P> {
    /// Wraps `inner`; `table` is shared by every worker of the scan.
    pub(crate) fn new(inner: P, table: Arc<HostTable>) -> HostCheck<P> {
        HostCheck {
            inner,
            canary: TcpConnect::bare(),
            table,
        }
    }
}

/// A flight: the wrapped prober's, or a canary connect.
pub(crate) enum CheckFlight<F> {
    Inner {
        flight: F,
        ip: IpAddr,
        /// The open port's outcome, held until its host is decided.
        held: Option<Outcome>,
    },
    Canary {
        flight: TcpFlight,
        /// What it found once it ended: `Some(open)`, or `None` when
        /// unanswered (no result at all when it backed off).
        found: Option<Option<bool>>,
    },
}

/// What a session carries: the wrapped prober's, and the check.
#[derive(Default)]
pub(crate) struct CheckSession<S> {
    inner: S,
    /// The open port's outcome, waiting for its host's verdict.
    held: Option<Outcome>,
    /// This session runs its host's check.
    checks: bool,
    /// The canary to connect to next (the ones before it were open).
    canary: usize,
    canary_attempt: u32,
    /// What the last canary flight found (see [`CheckFlight::Canary`]).
    last: Option<Option<bool>>,
    poll: Duration,
    waiting_since: Option<Instant>,
}

/// The step of a session flight that goes on: the engine keeps the state
/// the deciding flight gave, and starts the next flight.
fn next(outcome: &Outcome) -> Step {
    Step::Continue(outcome.clone())
}

/// Marks `outcome` with its host's verdict.
fn marked(outcome: Outcome, accepts_all: Option<bool>) -> Outcome {
    Outcome {
        host_accepts_all: accepts_all,
        ..outcome
    }
}

impl<P: Prober> HostCheck<P> {
    /// A step of the wrapped prober: an open port is marked with its
    /// host's verdict when it is known, else held (the session goes on to
    /// the check, see [`HostCheck::go_on`]).
    fn inner_step(&self, flight: &mut CheckFlight<P::Flight>, step: Step) -> Step {
        let CheckFlight::Inner { ip, held, .. } = flight else {
            return step;
        };
        match step {
            Step::Done(outcome) if outcome.state == State::Open => match self.table.decided(*ip) {
                Some(v) => Step::Done(marked(outcome, Some(v))),
                None => {
                    let step = next(&outcome);
                    *held = Some(outcome);
                    step
                }
            },
            step => step,
        }
    }

    /// A step of a canary flight: what it found, then on.
    fn canary_step(flight: &mut CheckFlight<P::Flight>, step: Step) -> Step {
        let CheckFlight::Canary { found, .. } = flight else {
            return step;
        };
        *found = match &step {
            Step::Done(o) => Some(Some(o.state == State::Open)),
            // A connection to ourselves: nothing listens there.
            Step::Again(_) => Some(Some(false)),
            Step::Unanswered(_) | Step::RetryAt(_) => Some(None),
            _ => return step,
        };
        next(&Outcome::new(State::Open, super::Reason::SynAck))
    }

    /// The next flight of a session whose open port is held: a canary, a
    /// pause while another session checks the host, or the end (the held
    /// outcome with the verdict).
    fn go_on(
        &mut self,
        probe: &Probe,
        session: &mut CheckSession<P::Session>,
    ) -> Result<(CheckFlight<P::Flight>, Step), Step> {
        if !session.checks {
            match self.table.claim(probe.ip) {
                Claim::Known(v) => return Err(self.end(session, Some(v))),
                Claim::Check => session.checks = true,
                Claim::Wait => return Err(self.wait(session)),
            }
        }
        match session.last.take() {
            Some(Some(true)) => {
                session.canary += 1;
                session.canary_attempt = 0;
            }
            Some(Some(false)) => return Err(self.conclude(probe.ip, session, false)),
            Some(None) => {
                session.canary_attempt += 1;
                if session.canary_attempt >= CANARY_ATTEMPTS {
                    return Err(self.conclude(probe.ip, session, false));
                }
            }
            None => {}
        }
        let Some(&port) = CANARY_PORTS.get(session.canary) else {
            return Err(self.conclude(probe.ip, session, true));
        };
        let canary = Probe {
            port,
            ..probe.clone()
        };
        match self.canary.start(&canary, session.canary_attempt, &mut ()) {
            Ok((flight, step)) => {
                let mut flight = CheckFlight::Canary {
                    flight,
                    found: None,
                };
                let step = Self::canary_step(&mut flight, step);
                Ok((flight, step))
            }
            Err(Step::BackOff) => Err(Step::BackOff),
            // No socket for a reason of the path: not open.
            Err(_) => Err(self.conclude(probe.ip, session, false)),
        }
    }

    /// Another session checks the host: a pause (doubling), or, past
    /// [`MAX_VERDICT_WAIT`], the end without a verdict.
    fn wait(&self, session: &mut CheckSession<P::Session>) -> Step {
        let now = Instant::now();
        let since = *session.waiting_since.get_or_insert(now);
        if now.duration_since(since) >= MAX_VERDICT_WAIT {
            return self.end(session, None);
        }
        session.poll = (session.poll * 2).clamp(FIRST_POLL, MAX_POLL);
        Step::RetryAt(now + session.poll)
    }

    /// Records the host's verdict and ends the session with it.
    fn conclude(
        &self,
        ip: IpAddr,
        session: &mut CheckSession<P::Session>,
        accepts_all: bool,
    ) -> Step {
        self.table.decide(ip, accepts_all);
        self.end(session, Some(accepts_all))
    }

    /// Ends the session: the held outcome, marked.
    fn end(&self, session: &mut CheckSession<P::Session>, accepts_all: Option<bool>) -> Step {
        match session.held.take() {
            Some(held) => Step::Done(marked(held, accepts_all)),
            None => Step::Unanswered(self.inner.silence()),
        }
    }
}

impl<P: Prober> Prober for HostCheck<P> {
    type Flight = CheckFlight<P::Flight>;
    type Session = CheckSession<P::Session>;
    type Reply = P::Reply;

    // Every associated const of the trait is the wrapped prober's: a
    // wrapper that fell back to a default would change how the engine
    // sizes the window, times silence or discovers hosts (see the test
    // `a_host_check_is_timed_as_what_it_wraps`).
    const HOLDS_DESCRIPTORS: bool = P::HOLDS_DESCRIPTORS;
    const GROUP_TIMING: bool = P::GROUP_TIMING;
    const ECHO: bool = P::ECHO;
    const MAX_WORKERS: Option<usize> = P::MAX_WORKERS;

    fn technique(&self) -> Technique {
        self.inner.technique()
    }

    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        session: &mut Self::Session,
    ) -> Result<(Self::Flight, Step), Step> {
        if session.held.is_some() {
            return self.go_on(probe, session);
        }
        let started = self.inner.start(probe, attempt, &mut session.inner);
        match started {
            Ok((flight, step)) => {
                let mut flight = CheckFlight::Inner {
                    flight,
                    ip: probe.ip,
                    held: None,
                };
                let step = self.inner_step(&mut flight, step);
                Ok((flight, step))
            }
            // Decided without a flight (a session's end): marked, or held
            // for the next start.
            Err(Step::Done(outcome)) if outcome.state == State::Open => {
                match self.table.decided(probe.ip) {
                    Some(v) => Err(Step::Done(marked(outcome, Some(v)))),
                    None => {
                        let step = next(&outcome);
                        session.held = Some(outcome);
                        Err(step)
                    }
                }
            }
            Err(step) => Err(step),
        }
    }

    fn fd(flight: &Self::Flight) -> Option<BorrowedFd<'_>> {
        match flight {
            CheckFlight::Inner { flight, .. } => P::fd(flight),
            CheckFlight::Canary { flight, .. } => TcpConnect::fd(flight),
        }
    }

    fn ready(&mut self, flight: &mut Self::Flight) -> Step {
        let step = match flight {
            CheckFlight::Inner { flight: f, .. } => self.inner.ready(f),
            CheckFlight::Canary { flight: f, .. } => {
                let step = self.canary.ready(f);
                return Self::canary_step(flight, step);
            }
        };
        self.inner_step(flight, step)
    }

    fn shared_sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.inner.shared_sockets()
    }

    fn demux(
        &mut self,
        socket: usize,
        replies: &mut Vec<(u64, Self::Reply)>,
    ) -> std::io::Result<()> {
        self.inner.demux(socket, replies)
    }

    fn matched(&mut self, flight: &mut Self::Flight, reply: Self::Reply) -> Step {
        let step = match flight {
            CheckFlight::Inner { flight: f, .. } => self.inner.matched(f, reply),
            CheckFlight::Canary { .. } => return Step::Unanswered(self.silence()),
        };
        self.inner_step(flight, step)
    }

    fn deadline(&mut self, flight: &mut Self::Flight) -> Step {
        let step = match flight {
            CheckFlight::Inner { flight: f, .. } => self.inner.deadline(f),
            CheckFlight::Canary { flight: f, .. } => {
                let step = self.canary.deadline(f);
                return Self::canary_step(flight, step);
            }
        };
        self.inner_step(flight, step)
    }

    fn silence(&self) -> Outcome {
        self.inner.silence()
    }

    fn rationed(&self) -> bool {
        self.inner.rationed()
    }

    fn send_queued(&mut self, refused: &mut Vec<(u64, Self::Reply)>) -> std::io::Result<bool> {
        self.inner.send_queued(refused)
    }

    fn sending(&self) -> bool {
        self.inner.sending()
    }

    fn start_echo(&mut self, probe: &Probe, attempt: u32) -> Result<(Self::Flight, Step), Step> {
        let (flight, step) = self.inner.start_echo(probe, attempt)?;
        let flight = CheckFlight::Inner {
            flight,
            ip: probe.ip,
            held: None,
        };
        Ok((flight, step))
    }

    fn finish(&mut self, flight: Self::Flight, session: &mut Self::Session) {
        match flight {
            CheckFlight::Inner { flight, held, .. } => {
                self.inner.finish(flight, &mut session.inner);
                if held.is_some() {
                    session.held = held;
                }
            }
            CheckFlight::Canary { flight, found } => {
                self.canary.finish(flight, &mut ());
                session.last = found;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::syn::SynProber;

    /// The associated consts of a prober, as the engine reads them.
    fn consts<P: Prober>() -> (bool, bool, bool, Option<usize>) {
        (
            P::HOLDS_DESCRIPTORS,
            P::GROUP_TIMING,
            P::ECHO,
            P::MAX_WORKERS,
        )
    }

    #[test]
    fn a_host_check_is_timed_as_what_it_wraps() {
        // The SYN prober differs from the trait's default in every const,
        // so a const the wrapper does not forward shows here.
        let syn = consts::<SynProber>();
        assert_eq!(syn, (false, true, true, Some(1)));
        assert_eq!(consts::<HostCheck<SynProber>>(), syn);
        assert_eq!(consts::<HostCheck<TcpConnect>>(), consts::<TcpConnect>());
    }
}
