//! Scan techniques: what a probe *means* on the wire, behind one trait
//! ([`Prober`]), so that one event loop (the `engine` submodule) drives
//! every technique the same way.
//!
//! # What a prober owns, and what it must not do
//!
//! A [`Prober`] knows how to start one attempt of a probe (open its
//! socket, or write to a socket it shares), which readiness to wait for,
//! what a ready event, a reply or an errno means, what to make of a
//! deadline, and how to close a flight. It never waits, never sleeps,
//! never keeps time and never reports: the engine owns the clock (each
//! attempt's deadline, retries, timed retries, the rate schedule), the
//! in-flight window, the per-host state (round-trip and loss estimates,
//! ICMP rationing, discovery, host timeout), back-off on our own resource
//! errors, and hands results to the sink. A prober answers every call
//! with a [`Step`].
//!
//! # Three shapes of flight
//!
//! - **A socket per flight** (TCP connect, connected UDP): the flight
//!   holds its socket and [`Prober::fd`] returns it; the engine registers
//!   it in its poller and calls [`Prober::ready`] when it is ready
//!   ([`Step::Wait`]).
//! - **One socket shared by many flights** (a raw sender and receiver, an
//!   ICMP listener): the prober lists its shared sockets once
//!   ([`Prober::shared_sockets`]); a flight has no socket of its own
//!   ([`Prober::fd`] returns `None`) and waits for a reply carrying its
//!   match key ([`Step::Expect`]). When a shared socket is readable the
//!   engine asks the prober to read it ([`Prober::demux`]), which yields
//!   `(key, reply)` pairs; the engine hands each reply to the flight that
//!   waits under that key ([`Prober::matched`]) and drops the rest (a
//!   reply nobody waits for, or a forged one, changes nothing).
//! - **A session of several flights** (service detection: connect, send a
//!   probe, read, and again on a fresh connection): a flight that is done
//!   with its connection but not with its probe answers
//!   [`Step::Continue`]; the engine closes it and starts the next flight
//!   of the same probe like any other start (a permit of the window and a
//!   slot of the rate schedule first). What the session carries from one
//!   flight to the next is the prober's [`Prober::Session`], kept by the
//!   engine with the probe and handed to [`Prober::start`] and
//!   [`Prober::finish`]. Several phases on one connection are
//!   [`Step::Listen`] again with the next phase's wait.
//!
//! A timed retry ("try again at T", as UDP needs under a target's ICMP
//! rate limit) is [`Step::RetryAt`]; the engine also schedules one itself
//! when a prober's closed ports answer through rationed ICMP
//! ([`Prober::rationed`], see the `icmp_limit` submodule).
//!
//! A prober takes `&mut self`: it may keep state across the probes of one
//! loop (the TCP connect keeps a refused socket for the next connect).
//! Each worker owns its prober, so that state is never shared between
//! threads.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Probe, Proto, Reason, State};

/// How a port was probed, apart from the protocol it speaks: a result of
/// a TCP port may come from a connect (and later from other techniques).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Technique {
    /// A full TCP handshake with `connect()` (nmap's `-sT`).
    #[default]
    Connect,
    /// A datagram from a connected UDP socket (nmap's `-sU`).
    Udp,
    /// A hand-built TCP SYN on a raw socket (nmap's `-sS`).
    Syn,
}

impl Technique {
    /// The name nmap gives the scan type: `connect`, `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Technique::Connect => "connect",
            Technique::Udp => "udp",
            Technique::Syn => "syn",
        }
    }

    /// The transport protocol the technique probes.
    pub fn proto(self) -> Proto {
        match self {
            Technique::Connect | Technique::Syn => Proto::Tcp,
            Technique::Udp => Proto::Udp,
        }
    }

    /// The technique that probes `proto` without privileges.
    pub fn for_proto(proto: Proto) -> Technique {
        match proto {
            Proto::Tcp => Technique::Connect,
            Proto::Udp => Technique::Udp,
        }
    }
}

impl std::fmt::Display for Technique {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The readiness a flight waits for on its own socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Readable (a reply, or an error such as an ICMP unreachable).
    Read,
    /// Writable (a TCP connect that completed, one way or the other).
    Write,
}

/// How a probe ended (or, for [`Step::Continue`], what its first flight
/// decided).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The port's state.
    pub state: State,
    /// The answer (or silence) that decided it.
    pub reason: Reason,
    /// The bytes the port sent, when it sent any (capped by the prober).
    pub reply: Option<Vec<u8>>,
    /// The service a session identified (`-sV`).
    pub service: Option<Box<super::Service>>,
    /// What an open TCP port did after the handshake (see the `evidence`
    /// submodule).
    pub after_handshake: Option<super::AfterHandshake>,
    /// Whether the open port's host accepts every port (see the
    /// `evidence` submodule); `None` when not checked.
    pub host_accepts_all: Option<bool>,
}

impl Outcome {
    /// An outcome without reply bytes or service.
    pub fn new(state: State, reason: Reason) -> Outcome {
        Outcome {
            state,
            reason,
            reply: None,
            service: None,
            after_handshake: None,
            host_accepts_all: None,
        }
    }
}

/// What a prober says after each call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for this readiness of the flight's own socket, or for the
    /// attempt's deadline.
    Wait(Interest),
    /// Wait for a reply that [`Prober::demux`] reads from a shared socket
    /// under this match key, or for the attempt's deadline.
    Expect(u64),
    /// The port answered (the engine takes its round-trip sample now, once
    /// per flight); keep the flight and wait up to this long for its own
    /// socket to become readable. The flight ends later from
    /// [`Prober::ready`] or [`Prober::deadline`]; a later `Listen` starts
    /// the next phase with its own wait.
    Listen(Duration),
    /// As [`Step::Listen`], for a wait the engine derives from the host's
    /// round-trip estimate: its retransmission timeout (`srtt + 4
    /// rttvar`), at least this floor, at most the scan's timeout. What a
    /// port does after the handshake arrives about one round trip after
    /// it, so a wait in round trips fits every path.
    Watch(Duration),
    /// The attempt decided the port: finish the flight and report.
    Done(Outcome),
    /// The flight decided the port, and the probe's session goes on:
    /// finish the flight, count the answer now, and start the probe's next
    /// flight as soon as the window and the rate allow. The session's last
    /// flight ends with [`Step::Done`]; the port is reported with this
    /// outcome's state, reason and rtt, and that step's service and reply.
    Continue(Outcome),
    /// The attempt ended without an answer from the port (as a timeout
    /// does): retry if attempts remain, else report this outcome.
    Unanswered(Outcome),
    /// Finish the flight and start the next attempt not before this
    /// instant (a timed retry; the attempt counts like a timed-out one).
    RetryAt(Instant),
    /// A ghost answer that says nothing about the port (a TCP connection
    /// to ourselves): finish the flight and start the same attempt again
    /// at once; a probe that meets too many reports this outcome.
    Again(Outcome),
    /// The failure is ours (no descriptor, no buffer, no source port):
    /// finish the flight, pause, and start the same attempt again later
    /// (a bounded number of times). Never reported.
    BackOff,
}

/// The per-probe state machine of one technique (see the module docs).
pub trait Prober {
    /// What one flight holds (its socket, or its match key).
    type Flight;
    /// What a probe's session carries from one flight to the next (`()`
    /// for a technique whose probes are one flight per attempt).
    type Session: Default;
    /// What [`Prober::demux`] reads from a shared socket for one flight
    /// (`()` for a technique without shared sockets). Cloned when several
    /// flights wait under one match key (each gets the reply).
    type Reply: Clone;

    /// The technique results of this prober carry.
    fn technique(&self) -> Technique;

    /// Opens the socket of attempt `attempt` (0 = first) of `probe`, or
    /// the next flight of its session, and starts it. `Err` carries the
    /// step when no flight is left to wait on (decided at once, or back
    /// off).
    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        session: &mut Self::Session,
    ) -> Result<(Self::Flight, Step), Step>;

    /// The flight's own socket, which the engine registers in its poller;
    /// `None` for a flight that waits on a shared socket.
    fn fd(flight: &Self::Flight) -> Option<BorrowedFd<'_>>;

    /// The readiness asked for in [`Step::Wait`] or [`Step::Listen`]
    /// arrived on the flight's own socket (or an error did: error
    /// readiness is reported as either kind).
    fn ready(&mut self, flight: &mut Self::Flight) -> Step;

    /// The sockets this prober shares between flights; the engine
    /// registers them once, for readability. None by default.
    fn shared_sockets(&self) -> Vec<BorrowedFd<'_>> {
        Vec::new()
    }

    /// Shared socket `socket` (its index in [`Prober::shared_sockets`]) is
    /// readable: read what it holds and push `(match key, reply)` for each
    /// reply that proves itself. Unmatched keys are dropped by the engine.
    ///
    /// # Errors
    ///
    /// A failure of the socket itself, which ends the scan.
    fn demux(&mut self, socket: usize, replies: &mut Vec<(u64, Self::Reply)>) -> io::Result<()> {
        let _ = (socket, replies);
        Ok(())
    }

    /// A reply for the flight that waits under its key ([`Step::Expect`]).
    fn matched(&mut self, flight: &mut Self::Flight, reply: Self::Reply) -> Step {
        let _ = (flight, reply);
        Step::Unanswered(self.silence())
    }

    /// The flight's deadline passed without an answer (a listening flight
    /// ends with what it heard). Readiness and replies the kernel held at
    /// the deadline have been handed to [`Prober::ready`] and
    /// [`Prober::matched`] already (the engine takes them without waiting
    /// before it expires deadlines), so a prober needs no last system
    /// call to be sure. By default, [`Step::Unanswered`] with
    /// [`Prober::silence`].
    fn deadline(&mut self, flight: &mut Self::Flight) -> Step {
        let _ = flight;
        Step::Unanswered(self.silence())
    }

    /// What the silence of the *last* attempt means (TCP: `filtered`;
    /// UDP: `open|filtered`). Whether to retry first is the engine's
    /// decision.
    fn silence(&self) -> Outcome;

    /// True when closed ports answer with ICMP port unreachables, which
    /// hosts ration: the engine then believes silence only when the host
    /// could have answered, and retries at the host's pace otherwise (the
    /// `icmp_limit` submodule). False by default.
    fn rationed(&self) -> bool {
        false
    }

    /// True when each flight holds a descriptor of its own (a socket per
    /// flight): the in-flight window is then fitted to the descriptor
    /// limit. A prober whose flights share its sockets says false, and
    /// its window is what its budget says.
    const HOLDS_DESCRIPTORS: bool = true;

    /// True when an attempt to an address that has not answered yet waits
    /// what the answers of *every* address call for (nmap's group timing,
    /// as discovery probes do), not the maximum: the TCP connect and the
    /// SYN scan, which sweep space where most addresses never answer.
    /// Once an address answers, its own estimate times its attempts, and
    /// those still in flight get the deadline it calls for, later than the
    /// group's if it is slower (see the `rtt` module for the price). False
    /// by default (UDP): each address's own round trips decide its
    /// timeouts, and an unheard address waits the maximum.
    const GROUP_TIMING: bool = false;

    /// Sends what [`Prober::start`] queued rather than sent at once (a
    /// prober that batches its packets, one system call for many
    /// flights); the engine calls it after each round of starts. A packet
    /// the send path refused for good (a local firewall, no route) is
    /// pushed to `refused` as a reply under its flight's match key, which
    /// the engine hands to [`Prober::matched`] like any reply. Returns
    /// false when the send path is full (`ENOBUFS`): what was not sent
    /// stays queued, and the engine slows down and calls again.
    ///
    /// # Errors
    ///
    /// A failure of the socket itself, which ends the scan.
    fn send_queued(&mut self, refused: &mut Vec<(u64, Self::Reply)>) -> io::Result<bool> {
        let _ = refused;
        Ok(true)
    }

    /// True while packets [`Prober::send_queued`] handed to another
    /// thread may still be on their way: the engine then calls it again
    /// at once rather than sleep, so their refusals, and a full send
    /// path, are known before it waits. False by default.
    fn sending(&self) -> bool {
        false
    }

    /// Packets its shared sockets' receive queues dropped so far (they
    /// were full): replies lost on our side, evidence of loss that no
    /// retry shows otherwise. The engine looks now and then. Zero by
    /// default.
    fn dropped(&self) -> u64 {
        0
    }

    /// True when the prober can ask whether an address is up with an ICMP
    /// echo request ([`Prober::start_echo`]): host discovery then sends
    /// one in place of a TCP probe (a privileged nmap's discovery, see the
    /// `discovery` module). False by default.
    const ECHO: bool = false;

    /// Starts attempt `attempt` of an ICMP echo request to `probe.ip` (a
    /// discovery probe: `probe.port` means nothing), as [`Prober::start`]
    /// does a probe. Called only when [`Prober::ECHO`] says so; by
    /// default, decided at once as silence.
    fn start_echo(&mut self, probe: &Probe, attempt: u32) -> Result<(Self::Flight, Step), Step> {
        let _ = (probe, attempt);
        Err(Step::Done(self.silence()))
    }

    /// Most workers (threads) worth running this prober on; `None` for as
    /// many as the machine has. A prober whose per-host evidence must all
    /// reach one worker, or whose shared sockets cannot be split between
    /// threads, says `Some(1)`.
    const MAX_WORKERS: Option<usize> = None;

    /// Closes the flight; what the session keeps of it goes to `session`.
    fn finish(&mut self, flight: Self::Flight, session: &mut Self::Session) {
        let _ = session;
        drop(flight);
    }
}

/// Maps an errno from `socket()`, `connect()`, `send()` or `recv()` the
/// way every technique does: our resource errors back off, everything
/// else is decided by `classify` (a refusal is `closed` with `refused`).
pub(crate) fn step_for_errno(err: &io::Error, refused: Reason) -> Step {
    use super::classify::{classify, Verdict};
    match classify(err) {
        Verdict::BackOff => Step::BackOff,
        Verdict::Closed => Step::Done(Outcome::new(State::Closed, refused)),
        Verdict::Filtered(reason) => Step::Done(Outcome::new(State::Filtered, reason)),
        // ECONNRESET/ENOTCONN mean "accepted" only for a TCP connect.
        Verdict::Open => Step::Done(Outcome::new(State::Filtered, Reason::Unknown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_map_to_steps() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(
            step_for_errno(&os(libc::ECONNREFUSED), Reason::PortUnreach),
            Step::Done(Outcome::new(State::Closed, Reason::PortUnreach))
        );
        assert_eq!(
            step_for_errno(&os(libc::EMFILE), Reason::PortUnreach),
            Step::BackOff
        );
        assert_eq!(
            step_for_errno(&os(libc::EHOSTUNREACH), Reason::PortUnreach),
            Step::Done(Outcome::new(State::Filtered, Reason::HostUnreach))
        );
    }

    #[test]
    fn techniques_name_their_scan_type_and_protocol() {
        assert_eq!(Technique::Connect.as_str(), "connect");
        assert_eq!(Technique::Udp.to_string(), "udp");
        assert_eq!(Technique::for_proto(Proto::Udp).proto(), Proto::Udp);
        assert_eq!(Technique::for_proto(Proto::Tcp), Technique::Connect);
    }
}
