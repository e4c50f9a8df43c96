//! One probe kind per protocol: the per-probe state machine behind one
//! trait, so that one event loop (slots, deadlines, budget, back-off,
//! batching) can drive TCP connects, UDP datagrams and service probes.
//!
//! A [`ProbeKind`] knows how to open the socket of one attempt and start
//! it, which readiness to wait for, what a ready event or an errno means,
//! and how to finish (close) a flight. It never waits, never sleeps and
//! never reports: the loop owns time (each attempt's deadline, retries,
//! the rate limit) and hands results to the sink. A machine answers every
//! call with a [`Step`]: wait for readiness, the port is decided, or the
//! failure is ours (back off and try the same attempt again).
//!
//! Today the UDP probe (`udp` submodule) implements it and the UDP loop
//! (`udp_loop`) drives it; the TCP connect logic still lives in `worker`
//! and is to be carved out behind this trait, after which `worker` drives
//! every kind and the UDP loop folds into it.

use std::io;
use std::os::fd::AsFd;

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
    /// The attempt decided the port: finish the flight and report.
    Done(Outcome),
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
    fn start(&self, probe: &Probe, attempt: u32) -> Result<(Self::Flight, Step), Step>;

    /// The readiness asked for in [`Step::Wait`] arrived (or an error
    /// did: error readiness is reported as either kind).
    fn ready(&self, flight: &mut Self::Flight) -> Step;

    /// The attempt's deadline passed without an answer: what the silence
    /// of the *last* attempt means (TCP: `filtered`; UDP: `open|filtered`).
    /// Whether to retry first is the loop's decision.
    fn silence(&self) -> Outcome;

    /// Closes the flight (TCP may linger 0 on an open port).
    fn finish(&self, flight: Self::Flight) {
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
