//! `--retry N` and its companions, with curl 7.88's meaning: which
//! failures are transient, how long to wait, when to give up.
//!
//! Transient: a timeout or a name that did not resolve (exits 28, 6, 5);
//! with `--retry-connrefused`, a refused connection; an HTTP(S) response
//! with status 408, 429, 500, 502, 503 or 504 (with or without `-f`);
//! with `--retry-all-errors`, any failure at all. The wait starts at one
//! second and doubles after each retry (at most ten minutes), unless
//! `--retry-delay` fixes it; a `Retry-After: SECS` of an HTTP response
//! replaces it for that retry, and so does an HTTP date (the time left
//! until then); 0, or a date past, leaves the back-off as it is, as in
//! curl. `--retry-max-time` stops retrying once that
//! long has passed since the first attempt, or when a `Retry-After`
//! would go past it.
//!
//! This module decides; `main.rs` runs the attempts and says "Will retry"
//! on stderr.

use std::io;
use std::time::{Duration, Instant};

use rawnet::conn::ProxyError;
use rawnet::http::client::{Exchange, FetchError};

use crate::exit::Exit;

/// The longest back-off, as curl's.
const MAX_SLEEP: Duration = Duration::from_secs(600);

/// What the retry flags ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `--retry N`: at most N more attempts.
    pub count: u32,
    /// `--retry-delay SECS` (`None` or 0: the doubling back-off).
    pub delay: Option<Duration>,
    /// `--retry-max-time SECS` (`None`: no limit).
    pub max_time: Option<Duration>,
    /// `--retry-all-errors`.
    pub all_errors: bool,
    /// `--retry-connrefused`.
    pub connrefused: bool,
}

/// Why an attempt is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `--retry-all-errors` and a failure of another kind.
    AllErrors,
    Timeout,
    ConnectionRefused,
    /// A transient HTTP status.
    Http(u16),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::AllErrors => f.write_str("(retrying all errors)"),
            Reason::Timeout => f.write_str("timeout"),
            Reason::ConnectionRefused => f.write_str("connection refused"),
            Reason::Http(status) => write!(f, "HTTP error {status}"),
        }
    }
}

/// The decision to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    pub reason: Reason,
    /// How long to wait first.
    pub wait: Duration,
    /// Retries left, this one included (the count curl prints).
    pub left: u32,
}

impl std::fmt::Display for Retry {
    /// curl's sentence, in rawget's line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reason == Reason::AllErrors {
            " "
        } else {
            ": "
        };
        write!(
            f,
            "Problem{sep}{}. Will retry in {} seconds. {} retries left.",
            self.reason,
            self.wait.as_secs(),
            self.left
        )
    }
}

/// The retries of one URL.
pub struct Retries {
    policy: RetryPolicy,
    left: u32,
    sleep: Duration,
    start: Instant,
}

impl Retries {
    /// Starts counting (the first attempt starts now).
    pub fn new(policy: RetryPolicy) -> Retries {
        Retries {
            policy,
            left: policy.count,
            sleep: policy
                .delay
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(1)),
            start: Instant::now(),
        }
    }

    /// After an attempt that ended with `exit` (the run's status for it)
    /// on exchange `ex` (`None`: nothing was fetched): whether to try
    /// again, and after how long. Counts the retry.
    pub fn after(&mut self, exit: Exit, ex: Option<&Exchange>) -> Option<Retry> {
        if self.left == 0 {
            return None;
        }
        if let Some(max) = self.policy.max_time {
            if self.start.elapsed() >= max {
                return None;
            }
        }
        let reason = self.reason(exit, ex)?;
        let mut wait = self.sleep;
        if let Reason::Http(_) = reason {
            if let Some(after) = ex.and_then(retry_after).filter(|a| !a.is_zero()) {
                if let Some(max) = self.policy.max_time {
                    if self.start.elapsed() + after > max {
                        crate::report(
                            "warning: the Retry-After time would go past --retry-max-time: \
                             no more retries",
                        );
                        return None;
                    }
                }
                wait = after;
            }
        }
        let left = self.left;
        self.left -= 1;
        if self.policy.delay.is_none_or(|d| d.is_zero()) {
            self.sleep = (self.sleep * 2).min(MAX_SLEEP);
        }
        Some(Retry { reason, wait, left })
    }

    fn reason(&self, exit: Exit, ex: Option<&Exchange>) -> Option<Reason> {
        let reason = match exit {
            Exit::Timeout | Exit::CannotResolve | Exit::CannotResolveProxy => Some(Reason::Timeout),
            Exit::CannotConnect
                if self.policy.connrefused
                    && ex.and_then(|e| e.error.as_ref()).is_some_and(refused) =>
            {
                Some(Reason::ConnectionRefused)
            }
            Exit::Ok | Exit::HttpError => ex
                .filter(|e| e.error.is_none())
                .and_then(|e| e.head.as_ref())
                .map(|h| h.status)
                .filter(|s| matches!(s, 408 | 429 | 500 | 502 | 503 | 504))
                .map(Reason::Http),
            _ => None,
        };
        match reason {
            None if exit != Exit::Ok && self.policy.all_errors => Some(Reason::AllErrors),
            r => r,
        }
    }
}

/// True for a connection the peer (or the proxy) refused.
fn refused(e: &FetchError) -> bool {
    let source = match e {
        FetchError::Connect { source, .. } | FetchError::Unix { source, .. } => source,
        FetchError::Proxy(ProxyError::Connect { source, .. }) => source,
        _ => return false,
    };
    source.kind() == io::ErrorKind::ConnectionRefused
}

/// A `Retry-After`: whole seconds, or an HTTP date (what is left until
/// then; a date past is 0).
fn retry_after(ex: &Exchange) -> Option<Duration> {
    let head = ex.head.as_ref()?;
    let (_, value) = head
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))?;
    parse_retry_after(value.trim(), std::time::SystemTime::now())
}

fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let when = std::time::SystemTime::from(when);
    // Whole seconds, as curl counts them.
    Some(Duration::from_secs(
        when.duration_since(now).unwrap_or_default().as_secs(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(count: u32) -> RetryPolicy {
        RetryPolicy {
            count,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn timeouts_retry_with_a_doubling_wait_then_stop() {
        let mut r = Retries::new(policy(3));
        let waits: Vec<_> = (0..4)
            .map(|_| {
                r.after(Exit::Timeout, None)
                    .map(|d| (d.wait.as_secs(), d.left))
            })
            .collect();
        assert_eq!(waits, [Some((1, 3)), Some((2, 2)), Some((4, 1)), None]);
    }

    #[test]
    fn a_fixed_delay_does_not_double_and_other_errors_need_all_errors() {
        let delay = Some(Duration::from_secs(3));
        let mut r = Retries::new(RetryPolicy { delay, ..policy(2) });
        assert_eq!(r.after(Exit::RecvError, None), None);
        assert_eq!(r.after(Exit::CannotConnect, None), None);
        assert_eq!(r.after(Exit::Ok, None), None);
        let d = r.after(Exit::CannotResolve, None).unwrap();
        assert_eq!(
            (d.wait, d.reason),
            (Duration::from_secs(3), Reason::Timeout)
        );
        assert_eq!(r.after(Exit::Timeout, None).unwrap().wait.as_secs(), 3);
        let mut all = Retries::new(RetryPolicy {
            all_errors: true,
            ..policy(1)
        });
        assert_eq!(
            all.after(Exit::HttpError, None).unwrap().reason,
            Reason::AllErrors
        );
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let at = |v| parse_retry_after(v, now).map(|d| d.as_secs());
        assert_eq!(at("7"), Some(7));
        // RFC 9110's example date, 1994-11-06 08:49:37 UTC.
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        assert_eq!(at("Sun, 06 Nov 1994 08:50:37 GMT"), Some(60));
        assert_eq!(at("soon"), None);
    }

    #[test]
    fn the_sentence_is_curls() {
        let r = Retry {
            reason: Reason::Http(503),
            wait: Duration::from_secs(1),
            left: 2,
        };
        assert_eq!(
            r.to_string(),
            "Problem: HTTP error 503. Will retry in 1 seconds. 2 retries left."
        );
    }
}
