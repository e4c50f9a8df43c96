//! Every millisecond of an exchange as data: when the name was resolved,
//! every connect attempt with its address and result (the ones that
//! failed or lost the happy-eyeballs race too), the TLS handshake, and
//! statistics over repeated runs.
//!
//! [`Timeline`] is a [`Handler`] that records the exchange's
//! [`Step`]s into typed spans; it forwards nothing and prints nothing.
//! The printers (JSON, the terminal waterfall, HAR) read it.

use std::net::SocketAddr;
use std::time::Duration;

use super::client::{Handler, Step};
use super::tls::TlsStep;

/// How a connect attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptResult {
    /// It connected (and was used).
    Connected,
    /// It failed: the OS error, as text for people.
    Failed(String),
    /// Another attempt connected first; this one was closed.
    Abandoned,
    /// No answer before the exchange ended (a timeout).
    Pending,
}

impl AttemptResult {
    /// A stable name for JSON.
    pub fn name(&self) -> &'static str {
        match self {
            AttemptResult::Connected => "connected",
            AttemptResult::Failed(_) => "failed",
            AttemptResult::Abandoned => "abandoned",
            AttemptResult::Pending => "no_answer",
        }
    }
}

/// One `socket()` + `connect()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Where to.
    pub addr: SocketAddr,
    /// When it started, since the exchange started.
    pub start: Duration,
    /// How long until it ended (`None` while pending).
    pub duration: Option<Duration>,
    /// How it ended.
    pub result: AttemptResult,
}

/// A phase with a start and (once over) an end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Since the exchange started.
    pub start: Option<Duration>,
    /// Since the exchange started.
    pub end: Option<Duration>,
}

impl Span {
    /// How long it took, once over.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.end?.saturating_sub(self.start?))
    }
}

/// The connection phases of one exchange, recorded from its steps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Timeline {
    /// Name resolution (or `--resolve`).
    pub dns: Span,
    /// Every connect attempt, in the order started.
    pub attempts: Vec<Attempt>,
    /// The TLS handshake.
    pub tls: Span,
    /// The request was handed to the socket (URL mode).
    pub sent: Option<Duration>,
    /// The first response byte (URL mode).
    pub first_byte: Option<Duration>,
    /// The response was complete (URL mode).
    pub last_byte: Option<Duration>,
}

impl Timeline {
    /// Attempts still open when the exchange ended are marked pending.
    pub fn close(&mut self, at: Duration) {
        for a in &mut self.attempts {
            if a.duration.is_none() {
                a.duration = Some(at.saturating_sub(a.start));
                a.result = AttemptResult::Pending;
            }
        }
    }

    /// The connect phase: from the first attempt to the winner's end.
    pub fn connect(&self) -> Span {
        let start = self.attempts.first().map(|a| a.start);
        let end = self
            .attempts
            .iter()
            .find(|a| a.result == AttemptResult::Connected)
            .and_then(|a| Some(a.start + a.duration?));
        Span { start, end }
    }

    fn end_attempt(&mut self, addr: SocketAddr, at: Duration, result: AttemptResult) {
        if let Some(a) = self
            .attempts
            .iter_mut()
            .rev()
            .find(|a| a.addr == addr && a.duration.is_none())
        {
            a.duration = Some(at.saturating_sub(a.start));
            a.result = result;
        }
    }
}

impl Handler for Timeline {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        match step {
            Step::Resolving { .. } => self.dns.start = Some(at),
            Step::Resolved { .. } => self.dns.end = Some(at),
            Step::Connecting { addr, .. } => self.attempts.push(Attempt {
                addr: *addr,
                start: at,
                duration: None,
                result: AttemptResult::Pending,
            }),
            Step::ConnectFailed { addr, error } => {
                self.end_attempt(*addr, at, AttemptResult::Failed(error.to_string()));
            }
            Step::ConnectAbandoned { addr } => {
                self.end_attempt(*addr, at, AttemptResult::Abandoned);
            }
            Step::Connected { peer, .. } => {
                self.end_attempt(*peer, at, AttemptResult::Connected);
            }
            Step::Tls(TlsStep::Hello { .. }) => self.tls.start = Some(at),
            Step::Tls(TlsStep::Done { .. }) => self.tls.end = Some(at),
            Step::Sent { .. } => self.sent = Some(at),
            Step::Received { .. } if self.first_byte.is_none() => self.first_byte = Some(at),
            Step::Complete { .. } | Step::StoppedAtHead => self.last_byte = Some(at),
            _ => {}
        }
    }
}

/// Minimum, median and 95th percentile of a set of durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// How many values.
    pub count: usize,
    /// The smallest.
    pub min: Duration,
    /// The median (the lower middle value for an even count).
    pub median: Duration,
    /// The 95th percentile (nearest rank).
    pub p95: Duration,
    /// The largest.
    pub max: Duration,
}

impl Stats {
    /// The statistics of `values`; `None` when there are none.
    pub fn of(values: &[Duration]) -> Option<Stats> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let n = v.len();
        let last = *v.last()?;
        // Nearest rank: the smallest value with at least p% at or below.
        let rank = |p: usize| v[(n * p).div_ceil(100).clamp(1, n) - 1];
        Some(Stats {
            count: n,
            min: v[0],
            median: v[(n - 1) / 2],
            p95: rank(95),
            max: last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn every_attempt_is_kept_with_its_result() {
        let a: SocketAddr = "[fd00::1]:80".parse().unwrap();
        let b: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut t = Timeline::default();
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        t.trace(ms(0), &Step::Resolving { host: "h" });
        t.trace(ms(1), &Step::Resolved { addrs: &[] });
        t.trace(ms(1), &Step::Connecting { addr: a, racing: 0 });
        t.trace(ms(251), &Step::Connecting { addr: b, racing: 1 });
        t.trace(
            ms(252),
            &Step::Connected {
                local: None,
                peer: b,
            },
        );
        t.trace(ms(252), &Step::ConnectAbandoned { addr: a });
        t.trace(ms(253), &Step::Connecting { addr: a, racing: 0 });
        t.trace(
            ms(254),
            &Step::ConnectFailed {
                addr: a,
                error: &refused,
            },
        );
        t.close(ms(300));
        assert_eq!(t.dns.duration(), Some(ms(1)));
        let results: Vec<(&str, Duration)> = t
            .attempts
            .iter()
            .map(|x| (x.result.name(), x.duration.unwrap()))
            .collect();
        assert_eq!(
            results,
            [
                ("abandoned", ms(251)),
                ("connected", ms(1)),
                ("failed", ms(1))
            ]
        );
        assert_eq!(
            t.connect(),
            Span {
                start: Some(ms(1)),
                end: Some(ms(252))
            }
        );
    }

    #[test]
    fn an_unanswered_attempt_is_pending_at_the_close() {
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let mut t = Timeline::default();
        t.trace(ms(5), &Step::Connecting { addr: a, racing: 0 });
        t.close(ms(1005));
        assert_eq!(t.attempts[0].result, AttemptResult::Pending);
        assert_eq!(t.attempts[0].duration, Some(ms(1000)));
    }

    #[test]
    fn stats_by_nearest_rank() {
        let v: Vec<Duration> = (1..=20).rev().map(ms).collect();
        let s = Stats::of(&v).unwrap();
        assert_eq!(
            (s.min, s.median, s.p95, s.max),
            (ms(1), ms(10), ms(19), ms(20))
        );
        let one = Stats::of(&[ms(7)]).unwrap();
        assert_eq!((one.min, one.median, one.p95), (ms(7), ms(7), ms(7)));
        assert!(Stats::of(&[]).is_none());
    }
}
