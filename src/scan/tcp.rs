//! The TCP connect probe: the per-probe state machine of a connect scan,
//! as a [`Prober`] that the `engine` drives.
//!
//! It owns what one connect means: a non-blocking `connect()` on a spare
//! or new socket, asking `connect()` twice where that pays off, what
//! `SO_ERROR`, `TCP_INFO` and the queued ICMP error say once the socket
//! is ready, the self-connect check, and the banner an open port sends
//! first. The socket calls themselves live in `connect` and `banner`; the
//! errno policy in `classify`. What it must not do: wait, keep time, take
//! round-trip samples, retry or report; those are the loop's.
//!
//! An open port is listened to briefly after the handshake
//! ([`Step::Watch`], or the banner's wait when banners are asked for):
//! whether it greets, closes, resets or stays silent is kept in the result
//! as [`AfterHandshake`] (see the `evidence` submodule for why).
//!
//! It keeps two things across probes, which is why a prober takes
//! `&mut self`: a socket refused during the second `connect()` (reset by
//! the kernel, ready for the next connect of its family, see `connect`),
//! and the [`Eagerness`] that says whether asking twice pays off.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd};

use socket2::{SockAddr, Socket};

use super::banner::{self, Progress};
use super::classify::{classify, icmp_reason, is_self_connect, Reason, Verdict};
use super::connect::{self, Answer, Completion, Eagerness};
use super::evidence::{AfterHandshake, WATCH_FLOOR};
use super::technique::{Interest, Outcome, Prober, Step, Technique};
use super::{BannerConfig, Probe, State};

/// The TCP connect probe of one worker.
#[derive(Debug)]
pub(crate) struct TcpConnect {
    /// Listen for a banner on open ports (only with a non-zero length).
    banner: Option<BannerConfig>,
    /// Sockets refused at once and reset by the kernel, ready for the next
    /// connect (one per address family: IPv4, IPv6).
    spare: [Option<Socket>; 2],
    eagerness: Eagerness,
    /// Listen to open ports after the handshake (off for the canaries of
    /// the `evidence` submodule, which only ask whether a port is open).
    watch: bool,
}

/// How a flight's socket is to be closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// Plainly (never connected).
    Plain,
    /// With `SO_LINGER` 0: it connected (see `connect::close_abortively`).
    Abort,
    /// Not at all: refused and reset, kept for the next connect.
    Keep,
}

/// Where a connect attempt is.
#[derive(Debug)]
enum Phase {
    /// Waiting for the connect to complete.
    Connecting,
    /// Connected; collecting what the server does first (its banner).
    After(Vec<u8>),
}

/// One connect attempt in flight.
#[derive(Debug)]
pub(crate) struct TcpFlight {
    socket: Socket,
    addr: SockAddr,
    phase: Phase,
    close: Close,
}

impl TcpFlight {
    /// The port this flight connects to.
    pub(crate) fn port(&self) -> u16 {
        self.addr.as_socket().map_or(0, |a| a.port())
    }
}

impl TcpConnect {
    /// A probe that reads a banner from open ports when `banner` asks for
    /// a non-zero length.
    pub(crate) fn new(banner: Option<BannerConfig>) -> TcpConnect {
        TcpConnect {
            banner: banner.filter(|b| b.max_len > 0),
            spare: [None, None],
            eagerness: Eagerness::new(),
            watch: true,
        }
    }

    /// A probe that only asks whether ports are open: no banner, nothing
    /// listened to after the handshake.
    pub(crate) fn bare() -> TcpConnect {
        TcpConnect {
            watch: false,
            ..TcpConnect::new(None)
        }
    }

    /// Calls `connect()` on a spare socket of `addr`'s family, or on a new
    /// one if there is none or the spare one misbehaves (not the target's
    /// fault: it is dropped).
    fn connect(&mut self, addr: SocketAddr, sockaddr: &SockAddr) -> Result<(Socket, Answer), Step> {
        if let Some(socket) = self.spare[usize::from(addr.is_ipv6())].take() {
            match connect::start(&socket, sockaddr) {
                Answer::Failed(_) => {}
                answer => return Ok((socket, answer)),
            }
        }
        let socket = connect::new_socket(addr).map_err(|e| errno_step(&e, None))?;
        let answer = connect::start(&socket, sockaddr);
        Ok((socket, answer))
    }

    /// Asks `connect()` a second time if that has been paying off (see
    /// `connect`); otherwise, or if still in progress, waits for
    /// writability.
    fn ask_again_or_wait(&mut self, flight: &mut TcpFlight) -> Step {
        if !self.eagerness.should_try() {
            return Step::Wait(Interest::Write);
        }
        match connect::ask_again(&flight.socket, &flight.addr) {
            Answer::InProgress => {
                self.eagerness.record(false);
                Step::Wait(Interest::Write)
            }
            Answer::Connected => {
                self.eagerness.record(true);
                self.settle(flight, None)
            }
            Answer::Failed(e) => {
                self.eagerness.record(true);
                if connect::reusable_after(&e) {
                    // Refused, and the socket was reset by the kernel:
                    // closed, and the socket serves the next connect.
                    flight.close = Close::Keep;
                    return Step::Done(Outcome::new(State::Closed, Reason::ConnRefused));
                }
                self.settle(flight, Some(e))
            }
        }
    }

    /// Decides a finished connect: `error` is why it failed, `None` means
    /// it connected.
    fn settle(&mut self, flight: &mut TcpFlight, error: Option<io::Error>) -> Step {
        if let Some(e) = error {
            let icmp = match classify(&e) {
                Verdict::Filtered(_) => icmp_reason_of(&flight.socket),
                _ => None,
            };
            return errno_step(&e, icmp);
        }
        match connect::endpoints(&flight.socket) {
            Ok((local, peer)) => self.connected_to(flight, local, peer),
            Err(e) => errno_step(&e, None),
        }
    }

    /// A connection from `local` to `peer`: open, unless it is a ghost
    /// connection to ourselves (closed and probed again; repeated ones
    /// prove the port closed, as only a port nobody listens on can be
    /// picked as a source port).
    fn connected_to(
        &mut self,
        flight: &mut TcpFlight,
        local: SocketAddr,
        peer: SocketAddr,
    ) -> Step {
        flight.close = Close::Abort;
        if is_self_connect(local, peer) {
            return Step::Again(Outcome::new(State::Closed, Reason::ConnRefused));
        }
        match self.banner {
            Some(cfg) => {
                flight.phase = Phase::After(Vec::new());
                Step::Listen(cfg.wait)
            }
            None if self.watch => {
                flight.phase = Phase::After(Vec::new());
                Step::Watch(WATCH_FLOOR)
            }
            None => Step::Done(Outcome::new(State::Open, Reason::SynAck)),
        }
    }

    /// The poller says the connect finished: find out how.
    fn connect_done(&mut self, flight: &mut TcpFlight) -> Step {
        match connect::completed(&flight.socket) {
            Completion::Connected(local, peer) => self.connected_to(flight, local, peer),
            Completion::Failed(e) => self.settle(flight, Some(e)),
            Completion::ResetAfterHandshake => Step::Done(Outcome {
                after_handshake: Some(AfterHandshake::Reset),
                ..Outcome::new(State::Open, Reason::SynAck)
            }),
            // An ICMP error whose errno we missed is still an answer, from
            // the network if not from the port: final.
            Completion::EndedWithoutAnswer => match icmp_reason_of(&flight.socket) {
                Some(reason) => Step::Done(Outcome::new(State::Filtered, reason)),
                None => Step::Unanswered(Outcome::new(State::Filtered, Reason::Unknown)),
            },
        }
    }
}

impl TcpConnect {
    /// An open port that did `after` once connected, with the banner it
    /// sent when banners are asked for (an open port that said nothing
    /// has none).
    fn open_with(&self, banner: Vec<u8>, after: AfterHandshake) -> Outcome {
        Outcome {
            reply: Some(banner).filter(|b| !b.is_empty() && self.banner.is_some()),
            after_handshake: Some(after),
            ..Outcome::new(State::Open, Reason::SynAck)
        }
    }
}

impl Prober for TcpConnect {
    type Flight = TcpFlight;
    type Session = ();
    type Reply = ();

    /// nmap times every host without samples of its own by the group
    /// (`-sT` included): on a range that is mostly silent, a dead address
    /// costs a few round trips of the live ones, not `--timeout`.
    const GROUP_TIMING: bool = true;

    fn technique(&self) -> Technique {
        Technique::Connect
    }

    fn fd(flight: &TcpFlight) -> Option<BorrowedFd<'_>> {
        Some(flight.socket.as_fd())
    }

    /// Calls `connect()`. The answer comes later through the poller unless
    /// the kernel has it at once.
    fn start(
        &mut self,
        probe: &Probe,
        _attempt: u32,
        _session: &mut (),
    ) -> Result<(TcpFlight, Step), Step> {
        let addr = SocketAddr::new(probe.ip, probe.port);
        let sockaddr = SockAddr::from(addr);
        let (socket, answer) = self.connect(addr, &sockaddr)?;
        let mut flight = TcpFlight {
            socket,
            addr: sockaddr,
            phase: Phase::Connecting,
            close: Close::Plain,
        };
        let step = match answer {
            Answer::InProgress => self.ask_again_or_wait(&mut flight),
            Answer::Connected => self.settle(&mut flight, None),
            Answer::Failed(e) => self.settle(&mut flight, Some(e)),
        };
        Ok((flight, step))
    }

    fn ready(&mut self, flight: &mut TcpFlight) -> Step {
        // Without a banner to keep, one byte tells that the port greets.
        let max_len = self.banner.map_or(1, |b| b.max_len);
        match &mut flight.phase {
            Phase::Connecting => self.connect_done(flight),
            // Bytes, an end of stream or a reset arrived on an open
            // connection.
            Phase::After(buf) => {
                let progress = banner::read_available(&flight.socket, buf, max_len);
                let after = match progress {
                    Progress::WouldBlock => return Step::Wait(Interest::Read),
                    _ if !buf.is_empty() => AfterHandshake::Greeted,
                    Progress::Ended => AfterHandshake::Closed,
                    Progress::Reset | Progress::Done => AfterHandshake::Reset,
                };
                Step::Done(self.open_with(std::mem::take(buf), after))
            }
        }
    }

    /// A connect not answered in time is silence: an answer that arrived
    /// while the worker was busy (or descheduled on a loaded machine) made
    /// the socket writable, and the engine hands out every readiness the
    /// kernel holds before it expires deadlines, so none is pending here
    /// (no last `connect()` per timed-out flight). A banner wait that ran
    /// out reports what was heard.
    fn deadline(&mut self, flight: &mut TcpFlight) -> Step {
        if let Phase::After(buf) = &mut flight.phase {
            let after = if buf.is_empty() {
                AfterHandshake::Silent
            } else {
                AfterHandshake::Greeted
            };
            return Step::Done(self.open_with(std::mem::take(buf), after));
        }
        Step::Unanswered(self.silence())
    }

    fn silence(&self) -> Outcome {
        Outcome::new(State::Filtered, Reason::NoResponse)
    }

    fn finish(&mut self, flight: TcpFlight, _session: &mut ()) {
        match flight.close {
            Close::Plain => drop(flight.socket),
            Close::Abort => connect::close_abortively(flight.socket),
            Close::Keep => {
                let family = usize::from(flight.addr.is_ipv6());
                self.spare[family] = Some(flight.socket);
            }
        }
    }
}

/// What an errno from `socket()`, `connect()` or `SO_ERROR` means for a
/// connect; `icmp` is the reason the ICMP error queued on the socket gave,
/// which wins over the errno's for a filtered port.
fn errno_step(err: &io::Error, icmp: Option<Reason>) -> Step {
    match classify(err) {
        // Reset (or gone) after the handshake.
        Verdict::Open => Step::Done(Outcome {
            after_handshake: Some(AfterHandshake::Reset),
            ..Outcome::new(State::Open, Reason::SynAck)
        }),
        Verdict::Closed => Step::Done(Outcome::new(State::Closed, Reason::ConnRefused)),
        Verdict::Filtered(reason) => {
            Step::Done(Outcome::new(State::Filtered, icmp.unwrap_or(reason)))
        }
        Verdict::BackOff => Step::BackOff,
    }
}

/// The reason the ICMP error queued on `socket` gives, if any.
fn icmp_reason_of(socket: &Socket) -> Option<Reason> {
    let icmp = crate::sock::recv_icmp_error(socket).ok().flatten()?;
    icmp_reason(icmp.v6, icmp.kind, icmp.code)
}
