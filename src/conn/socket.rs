//! The socket filter: resolve the first hop, then happy eyeballs (RFC
//! 8305) over its addresses, each socket bound as `--interface` and
//! `--local-port` ask; or a Unix socket (`--unix-socket`).
//!
//! Every attempt is reported when it starts and when it ends (connected,
//! failed with its OS error, or abandoned because another won), with its
//! time, and kept in the [`Report`]; one still running when the deadline
//! passes is recorded there as timed out.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::{Attempt, AttemptOutcome, Clock, Event, Report};
use crate::sock::{self, Bind, Conn};

/// Happy eyeballs: how long an attempt has before the next address is
/// started beside it (RFC 8305 recommends 250 ms).
pub const STAGGER: Duration = Duration::from_millis(250);

/// Why no address accepted.
pub(crate) enum DialError {
    /// The deadline passed.
    Timeout,
    /// Every address failed; the last one and its error.
    Failed(SocketAddr, io::Error),
    /// Binding the socket (`--interface`, `--local-port`) failed.
    Bind(io::Error),
}

/// `--interface` as curl reads it: `if!NAME` is an interface, `host!ADDR`
/// a local address, and a bare value an address if it parses as one, else
/// an interface name. Returns `(device, address)`; host names are not
/// resolved here (give the address).
///
/// ```
/// use rawnet::conn::socket::parse_interface;
/// assert_eq!(parse_interface("lo").unwrap(), (Some("lo".into()), None));
/// assert_eq!(parse_interface("127.0.0.1").unwrap().1, Some("127.0.0.1".parse().unwrap()));
/// assert!(parse_interface("host!name.test").is_err());
/// ```
pub fn parse_interface(s: &str) -> Result<(Option<String>, Option<IpAddr>), String> {
    let bad_name = |n: &str| n.is_empty() || n.len() >= 16 || n.contains(['/', '\0', ' ']);
    if let Some(name) = s.strip_prefix("if!") {
        if bad_name(name) {
            return Err(format!("'{name}' is not an interface name"));
        }
        return Ok((Some(name.to_owned()), None));
    }
    if let Some(host) = s.strip_prefix("host!") {
        return host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map(|ip| (None, Some(ip)))
            .map_err(|_| {
                format!("'{host}' is not an IP address (rawget binds to addresses, not names)")
            });
    }
    if let Ok(ip) = s.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok((None, Some(ip)));
    }
    if bad_name(s) {
        return Err(format!(
            "'{s}' is neither an interface name nor an IP address"
        ));
    }
    Ok((Some(s.to_owned()), None))
}

/// `--local-port N` or `N-M` (1 to 65535, `N <= M`).
///
/// ```
/// use rawnet::conn::socket::parse_port_range;
/// assert_eq!(parse_port_range("4000-4010"), Ok((4000, 4010)));
/// assert_eq!(parse_port_range("5000"), Ok((5000, 5000)));
/// assert!(parse_port_range("70000").is_err() && parse_port_range("9-1").is_err());
/// ```
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("'{s}' is not a port or a range N-M of ports from 1 to 65535");
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)
    };
    let (first, last) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(s)?, port(s)?),
    };
    if first > last {
        return Err(bad());
    }
    Ok((first, last))
}

/// The order to try addresses in: IPv6 first, then the families
/// alternate, each family in the resolver's order (RFC 8305 section 4).
pub fn interleave(ips: &[IpAddr]) -> Vec<IpAddr> {
    let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) = ips.iter().partition(|ip| ip.is_ipv6());
    let mut out = Vec::with_capacity(ips.len());
    let (mut a, mut b) = (v6.into_iter(), v4.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// Happy eyeballs: IPv6 first, families interleaved, the next address
/// started [`STAGGER`] after the last one if nothing has answered yet (at
/// once when an attempt fails); the first connection wins and the others
/// are closed. `deadline` bounds the whole race. With one address this is
/// a plain connect.
pub(crate) fn dial(
    ips: &[IpAddr],
    port: u16,
    bind: &Bind,
    deadline: Option<Instant>,
    clock: &Clock,
    report: &mut Report,
    events: &mut dyn FnMut(Duration, &Event<'_>),
) -> Result<Conn, DialError> {
    let order = interleave(ips);
    let mut next = 0;
    let mut next_start = Instant::now();
    // Each racing attempt with the index of its record in the report.
    let mut racing: Vec<(sock::Connecting, usize)> = Vec::new();
    let mut last_err: Option<(SocketAddr, io::Error)> = None;
    let close_losers = |racing: &mut Vec<(sock::Connecting, usize)>,
                        report: &mut Report,
                        events: &mut dyn FnMut(Duration, &Event<'_>),
                        outcome: AttemptOutcome| {
        for (loser, i) in racing.drain(..) {
            let at = clock.elapsed();
            report.attempts[i].end(at, outcome.clone());
            let after = report.attempts[i].duration;
            if outcome == AttemptOutcome::Abandoned {
                events(
                    at,
                    &Event::ConnectAbandoned {
                        addr: loser.addr(),
                        after,
                    },
                );
            }
        }
    };
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            close_losers(&mut racing, report, events, AttemptOutcome::TimedOut);
            return Err(DialError::Timeout);
        }
        if next < order.len() && (racing.is_empty() || now >= next_start) {
            let addr = SocketAddr::new(order[next], port);
            next += 1;
            report.peer = Some(addr);
            let at = clock.elapsed();
            events(
                at,
                &Event::Connecting {
                    addr,
                    racing: racing.len(),
                },
            );
            report.attempts.push(Attempt::started(addr, at));
            let i = report.attempts.len() - 1;
            match sock::Connecting::start_bound(addr, bind) {
                Ok(c) => {
                    racing.push((c, i));
                    next_start = now + STAGGER;
                }
                Err(error) => {
                    attempt_failed(clock, report, i, addr, &error, events);
                    // The local end cannot be what was asked (curl exit 45).
                    if sock::BindError::is(&error) {
                        close_losers(&mut racing, report, events, AttemptOutcome::Abandoned);
                        return Err(DialError::Bind(error));
                    }
                    last_err = Some((addr, error));
                    next_start = now;
                }
            }
            continue;
        }
        if racing.is_empty() {
            let (addr, source) = last_err.expect("every address was tried and failed");
            if sock::is_timeout(&source) {
                return Err(DialError::Timeout);
            }
            return Err(DialError::Failed(addr, source));
        }
        let until = match (deadline, next < order.len()) {
            (Some(d), true) => Some(d.min(next_start)),
            (Some(d), false) => Some(d),
            (None, true) => Some(next_start),
            (None, false) => None,
        };
        let wait = until.map(|u| u.saturating_duration_since(now));
        let done = poll(&racing, wait).map_err(|e| DialError::Failed(racing[0].0.addr(), e))?;
        for k in done.into_iter().rev() {
            let (attempt, i) = racing.remove(k);
            let addr = attempt.addr();
            match attempt.finish() {
                Ok(conn) => {
                    let at = clock.elapsed();
                    report.attempts[i].end(at, AttemptOutcome::Connected);
                    let after = report.attempts[i].duration;
                    close_losers(&mut racing, report, events, AttemptOutcome::Abandoned);
                    report.peer = Some(addr);
                    report.timing.connect = Some(at);
                    let local = conn.local_addr().ok();
                    report.local = local;
                    events(
                        at,
                        &Event::Connected {
                            local,
                            peer: addr,
                            after,
                        },
                    );
                    return Ok(conn);
                }
                Err(error) => {
                    attempt_failed(clock, report, i, addr, &error, events);
                    last_err = Some((addr, error));
                    // RFC 8305: a failure starts the next one at once.
                    next_start = Instant::now();
                }
            }
        }
    }
}

/// Attempt `i` (to `addr`) failed with `error`: its record ends, and
/// the event says so.
fn attempt_failed(
    clock: &Clock,
    report: &mut Report,
    i: usize,
    addr: SocketAddr,
    error: &io::Error,
    events: &mut dyn FnMut(Duration, &Event<'_>),
) {
    let at = clock.elapsed();
    report.attempts[i].end(at, AttemptOutcome::failed(error));
    let after = report.attempts[i].duration;
    events(at, &Event::ConnectFailed { addr, error, after });
}

fn poll(racing: &[(sock::Connecting, usize)], wait: Option<Duration>) -> io::Result<Vec<usize>> {
    let attempts: Vec<&sock::Connecting> = racing.iter().map(|(c, _)| c).collect();
    sock::poll_connecting(&attempts, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_starts_with_ipv6_and_alternates() {
        let ips: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "fd00::1", "10.0.0.3", "fd00::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got: Vec<String> = interleave(&ips).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["fd00::1", "10.0.0.1", "fd00::2", "10.0.0.2", "10.0.0.3"]
        );
    }
}
