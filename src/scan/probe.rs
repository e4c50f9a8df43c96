//! One probe kind per protocol: the per-probe state machine behind one
//! trait, so that one event loop (slots, deadlines, budget, back-off,
//! batching) can drive TCP connects, UDP datagrams and service probes.
//!
//! A [`ProbeKind`] knows how to open the socket of one attempt and start
//! it, which readiness to wait for, what a ready event or an errno means,
//! what to make of a deadline, and how to finish (close) a flight. It
//! never waits, never sleeps and never reports: the loop owns time (each
//! attempt's deadline, retries, the rate limit), the budget, the
//! round-trip estimates and host discovery, and hands results to the
//! sink. A machine answers every call with a [`Step`]: wait for
//! readiness, listen for what an open port says, the port is decided,
//! the attempt went unanswered, a ghost answer (start again), or the
//! failure is ours (back off and try the same attempt again).
//!
//! A kind takes `&mut self`: it may keep state across the probes of one
//! loop (the TCP connect keeps a refused socket for the next connect and
//! learns whether asking `connect()` twice pays off). Each loop owns its
//! kind, so that state is never shared between threads.
//!
//! The TCP connect probe (`tcp` submodule) is driven by `worker`; the UDP
//! probe (`udp` submodule) is still driven by the UDP loop (`udp_loop`),
//! which is to fold into `worker` too.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use super::{Probe, Reason, State};

/// The readiness a flight waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// Readable (a reply, or an error such as an ICMP unreachable).
    Read,
    /// Writable (a TCP connect that completed, one way or the other).
    Write,
}

/// How one attempt of a probe ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The port's state.
    pub state: State,
    /// The answer (or silence) that decided it.
    pub reason: Reason,
    /// The first bytes the port sent, when it sent any (capped by the
    /// machine).
    pub reply: Option<Vec<u8>>,
}

impl Outcome {
    /// An outcome without reply bytes.
    pub fn new(state: State, reason: Reason) -> Outcome {
        Outcome {
            state,
            reason,
            reply: None,
        }
    }
}

/// What a machine says after each call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait for this readiness, or for the attempt's deadline.
    Wait(Interest),
    /// The port answered and is open; keep the flight and wait up to this
    /// long for it to become readable (what the port says first). The
    /// loop takes its round-trip sample now; the flight ends later with
    /// [`Step::Done`], from [`ProbeKind::ready`] or [`ProbeKind::deadline`].
    Listen(Duration),
    /// The attempt decided the port: finish the flight and report.
    Done(Outcome),
    /// The attempt ended without an answer from the port (as a timeout
    /// does): retry if attempts remain, else report this outcome.
    Unanswered(Outcome),
    /// A ghost answer that says nothing about the port (a TCP connection
    /// to ourselves): finish the flight and start the same attempt again
    /// at once; a probe that meets too many reports this outcome.
    Again(Outcome),
    /// The failure is ours (no descriptor, no buffer, no source port):
    /// finish the flight, pause, and start the same attempt again later.
    /// Never reported.
    BackOff,
}

/// The per-probe state machine of one protocol.
pub trait ProbeKind {
    /// What one attempt in flight holds (at least its socket).
    type Flight: AsFd;

    /// Opens the socket of attempt `attempt` (0 = first) of `probe` and
    /// starts it (TCP: a non-blocking `connect()`; UDP: `connect()` and
    /// the payload). `Err` carries the step when no socket is left to
    /// wait on (decided at once, or back off).
    fn start(&mut self, probe: &Probe, attempt: u32) -> Result<(Self::Flight, Step), Step>;

    /// The readiness asked for in [`Step::Wait`] (or [`Step::Listen`])
    /// arrived (or an error did: error readiness is reported as either
    /// kind).
    fn ready(&mut self, flight: &mut Self::Flight) -> Step;

    /// The attempt's deadline passed without a ready event: a last look
    /// at the socket (TCP asks `connect()` once more; a listening flight
    /// ends with what it heard). By default, [`Step::Unanswered`] with
    /// [`ProbeKind::silence`].
    fn deadline(&mut self, flight: &mut Self::Flight) -> Step {
        let _ = flight;
        Step::Unanswered(self.silence())
    }

    /// What the silence of the *last* attempt means (TCP: `filtered`;
    /// UDP: `open|filtered`). Whether to retry first is the loop's
    /// decision.
    fn silence(&self) -> Outcome;

    /// Closes the flight (TCP may linger 0 on an open port, or keep a
    /// refused socket for the next connect).
    fn finish(&mut self, flight: Self::Flight) {
        drop(flight);
    }
}

/// Maps an errno from `socket()`, `connect()`, `send()` or `recv()` the
/// way every kind does: our resource errors back off, everything else is
/// decided by `classify` (a refusal is `closed` with `refused`).
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
}
