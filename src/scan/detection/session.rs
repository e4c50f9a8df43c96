//! Service detection as a session of the engine: the TCP connect probe,
//! and on an open port the probes of [`crate::service_probes`], each on a fresh
//! connection, as further flights of the same probe.
//!
//! [`Detect`] wraps the connect prober. Its first flight is the scan's
//! connect; when that finds the port open, the flight ends with
//! [`Step::Continue`] (the engine counts the answer and keeps the state)
//! and the session ([`DetectSession`]) starts: each later flight connects,
//! sends one probe's payload, listens up to the probe's wait (never past
//! the port's [`ServiceConfig::port_budget`]) until the reply is whole,
//! and either identifies the service ([`Step::Done`] with it) or hands the
//! session on to the next probe ([`Step::Continue`]). When the probes are
//! spent, the next start ends the session with `unknown` (or the port's
//! usual name). A text reply is kept as the banner.
//!
//! What it must not do: wait, keep time other than the port's budget, or
//! open a connection the engine did not start (every connection is a
//! flight: window, rate, poller).

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};

use super::{looks_like_text, service_of, ServiceConfig, BANNER_MAX};
use crate::scan::banner::{self, Progress};
use crate::scan::connect::{self, Answer, Completion};
use crate::scan::tcp::{TcpConnect, TcpFlight};
use crate::scan::technique::{step_for_errno, Interest, Outcome, Prober, Step, Technique};
use crate::scan::{Probe, Reason, State};
use crate::service_probes::{self, identify, settled, Identified};

/// The connect prober with service detection on open ports.
pub(crate) struct Detect {
    connect: TcpConnect,
    cfg: ServiceConfig,
}

impl Detect {
    pub(crate) fn new(connect: TcpConnect, cfg: ServiceConfig) -> Detect {
        Detect { connect, cfg }
    }
}

/// What a probe's session carries between its flights.
#[derive(Default)]
pub(crate) struct DetectSession {
    /// Set once the scan's connect found the port open.
    probing: Option<Probing>,
}

/// The detection of one open port.
struct Probing {
    probes: service_probes::Session,
    /// The probe to send next, when its start had to back off.
    again: Option<&'static service_probes::Probe>,
    port: u16,
    /// The port's budget runs out here.
    until: Instant,
    /// The first text reply, kept as the banner.
    banner: Option<Vec<u8>>,
}

/// One flight of a session.
pub(crate) enum DetectFlight {
    /// The scan's connect; `open` once it found the port open.
    Scan { flight: TcpFlight, open: bool },
    /// A probe connection.
    Probe(ProbeConn),
}

/// A connection carrying one detection probe.
pub(crate) struct ProbeConn {
    socket: Socket,
    probe: &'static service_probes::Probe,
    port: u16,
    connected: bool,
    reply: Vec<u8>,
    until: Instant,
    /// The session's banner while the flight holds it (handed back in
    /// `finish`).
    banner: Option<Vec<u8>>,
}

/// What a session flight that moves on says (the engine keeps the state
/// the scan's connect decided).
fn next() -> Step {
    Step::Continue(Outcome::new(State::Open, Reason::SynAck))
}

impl Detect {
    /// A step of the scan's connect: an open port goes on to detection.
    fn scan_step(flight: &mut DetectFlight, step: Step) -> Step {
        match (flight, step) {
            (DetectFlight::Scan { open, .. }, Step::Done(outcome))
                if outcome.state == State::Open =>
            {
                *open = true;
                Step::Continue(outcome)
            }
            (_, step) => step,
        }
    }

    /// Starts the next probe connection of `p`, or ends the session.
    fn next_probe(probe: &Probe, p: &mut Probing) -> Result<(DetectFlight, Step), Step> {
        let chosen = p.again.take().or_else(|| p.probes.next_probe());
        let Some(chosen) = chosen.filter(|_| Instant::now() < p.until) else {
            return Err(Step::Done(verdict(
                Identified::unknown(),
                p.port,
                p.banner.take(),
            )));
        };
        let addr = SocketAddr::new(probe.ip, probe.port);
        let socket = match connect::new_socket(addr) {
            Ok(s) => s,
            Err(e) => {
                let step = step_for_errno(&e, Reason::ConnRefused);
                if step == Step::BackOff {
                    p.again = Some(chosen);
                    return Err(step);
                }
                return Err(next());
            }
        };
        let mut conn = ProbeConn {
            socket,
            probe: chosen,
            port: probe.port,
            connected: false,
            reply: Vec::new(),
            until: p.until,
            banner: p.banner.take(),
        };
        let step = match connect::start(&conn.socket, &SockAddr::from(addr)) {
            Answer::InProgress => Step::Wait(Interest::Write),
            Answer::Connected => conn.send(),
            Answer::Failed(_) => next(),
        };
        Ok((DetectFlight::Probe(conn), step))
    }
}

impl ProbeConn {
    /// Connected: sends the probe's payload and listens for the reply.
    fn send(&mut self) -> Step {
        self.connected = true;
        let payload = &self.probe.payload;
        if !payload.is_empty()
            && !matches!((&self.socket).write(payload), Ok(n) if n == payload.len())
        {
            return next();
        }
        let left = self.until.saturating_duration_since(Instant::now());
        Step::Listen(self.probe.wait.min(left).max(Duration::from_millis(1)))
    }

    fn ready(&mut self) -> Step {
        if !self.connected {
            return match connect::completed(&self.socket) {
                Completion::Connected(..) => self.send(),
                _ => next(),
            };
        }
        match banner::read_available(&self.socket, &mut self.reply, self.probe.max_reply) {
            Progress::WouldBlock if !settled(self.probe, &self.reply) => Step::Wait(Interest::Read),
            _ => self.evaluate(),
        }
    }

    /// The reply is whole (or its wait is over): identified, or on to the
    /// next probe.
    fn evaluate(&mut self) -> Step {
        let reply = std::mem::take(&mut self.reply);
        let text = looks_like_text(&reply);
        if let Some(found) = identify(self.probe, &reply) {
            let banner = if text {
                Some(reply)
            } else {
                self.banner.take()
            };
            return Step::Done(verdict(found, self.port, banner));
        }
        if text && self.banner.is_none() {
            self.banner = Some(reply);
        }
        next()
    }
}

/// The session's result: the service, and the banner kept (capped).
fn verdict(found: Identified, port: u16, banner: Option<Vec<u8>>) -> Outcome {
    Outcome {
        reply: banner.map(|mut b| {
            b.truncate(BANNER_MAX);
            b
        }),
        service: Some(Box::new(service_of(found, port))),
        ..Outcome::new(State::Open, Reason::SynAck)
    }
}

impl Prober for Detect {
    type Flight = DetectFlight;
    type Session = DetectSession;
    type Reply = ();

    // Its first flight of a probe is the connect scan's.
    const GROUP_TIMING: bool = <TcpConnect as Prober>::GROUP_TIMING;

    fn technique(&self) -> Technique {
        Technique::Connect
    }

    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        session: &mut DetectSession,
    ) -> Result<(DetectFlight, Step), Step> {
        if let Some(p) = &mut session.probing {
            return Detect::next_probe(probe, p);
        }
        let (flight, step) = self.connect.start(probe, attempt, &mut ())?;
        let mut flight = DetectFlight::Scan {
            flight,
            open: false,
        };
        let step = Detect::scan_step(&mut flight, step);
        Ok((flight, step))
    }

    fn fd(flight: &DetectFlight) -> Option<BorrowedFd<'_>> {
        match flight {
            DetectFlight::Scan { flight, .. } => TcpConnect::fd(flight),
            DetectFlight::Probe(conn) => Some(conn.socket.as_fd()),
        }
    }

    fn ready(&mut self, flight: &mut DetectFlight) -> Step {
        let step = match flight {
            DetectFlight::Scan { flight: f, .. } => self.connect.ready(f),
            DetectFlight::Probe(conn) => return conn.ready(),
        };
        Detect::scan_step(flight, step)
    }

    fn deadline(&mut self, flight: &mut DetectFlight) -> Step {
        let step = match flight {
            DetectFlight::Scan { flight: f, .. } => self.connect.deadline(f),
            DetectFlight::Probe(conn) if conn.connected => return conn.evaluate(),
            DetectFlight::Probe(_) => return next(),
        };
        Detect::scan_step(flight, step)
    }

    fn silence(&self) -> Outcome {
        self.connect.silence()
    }

    fn finish(&mut self, flight: DetectFlight, session: &mut DetectSession) {
        match flight {
            DetectFlight::Scan { flight, open } => {
                let port = flight.port();
                self.connect.finish(flight, &mut ());
                if open {
                    session.probing = Some(Probing {
                        probes: service_probes::Session::new(port),
                        again: None,
                        port,
                        until: Instant::now() + self.cfg.port_budget,
                        banner: None,
                    });
                }
            }
            DetectFlight::Probe(conn) => {
                if let Some(p) = &mut session.probing {
                    p.banner = p.banner.take().or(conn.banner);
                }
                connect::close_abortively(conn.socket);
            }
        }
    }
}
