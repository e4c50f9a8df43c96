//! Blocking steps over a [`Transport`] within a deadline, for the
//! handshakes of the connection layer (a CONNECT request, SOCKS5
//! messages): they are short and strictly request/response, so each one
//! sends all of its bytes, then reads exactly what it expects.

use std::io;
use std::time::{Duration, Instant};

use crate::http::transport::Transport;

/// Time left until `deadline`; an expired one is a timeout error.
pub(crate) fn left(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(t) if !t.is_zero() => Ok(Some(t)),
            _ => Err(io::ErrorKind::TimedOut.into()),
        },
    }
}

/// Sends all of `buf` and flushes every layer below, by `deadline`.
pub(crate) fn send_all(
    t: &mut dyn Transport,
    mut buf: &[u8],
    deadline: Option<Instant>,
) -> io::Result<()> {
    while !buf.is_empty() || t.has_pending() {
        match t.send_nowait(buf) {
            Ok(n) => {
                buf = &buf[n..];
                if n > 0 || !t.has_pending() {
                    continue;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if !t.wait_writable(left(deadline)?)? {
            return Err(io::ErrorKind::TimedOut.into());
        }
    }
    Ok(())
}

/// Fills all of `buf`, by `deadline`; the end of the stream first is an
/// `UnexpectedEof` error.
pub(crate) fn recv_exact(
    t: &mut dyn Transport,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        match t.recv(&mut buf[at..], left(deadline)?)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => at += n,
        }
    }
    Ok(())
}
