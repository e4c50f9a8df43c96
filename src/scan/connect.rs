//! The socket calls of one probe, and what their answers mean.
//!
//! # Asking `connect()` twice
//!
//! A non-blocking `connect()` returns `EINPROGRESS`. On loopback (and over
//! a veth pair into a local namespace) the answer usually arrives *during*
//! that very call: the SYN is looped back, and the reply (RST or SYN-ACK) is
//! processed before the syscall returns. Calling `connect()` a second time
//! then reports the outcome at once: `0` for connected, `ECONNREFUSED` for a
//! reset, `EALREADY` if it is really still in progress. That saves the
//! epoll registration, the wait and the deregistration of most probes.
//!
//! The second call has a second benefit: on a failure Linux takes the
//! socket back to the unconnected state (`tcp_disconnect`), so a socket
//! refused this way can start the next probe's connect without a `close()`
//! and a new `socket()`. [`Eagerness`] stops asking twice where it never
//! pays off (remote targets, where the answer always comes later).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{SockAddr, Socket};

/// What a `connect()` call said.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Still in progress: wait for writability.
    InProgress,
    /// Connected.
    Connected,
    /// Failed with this error.
    Failed(io::Error),
}

/// A non-blocking probe socket for `addr` ([`crate::sock::tcp_probe_socket`]).
pub(crate) fn new_socket(addr: SocketAddr) -> io::Result<Socket> {
    crate::sock::tcp_probe_socket(&addr)
}

/// Calls `connect()` on a socket that is not yet connecting.
pub(crate) fn start(socket: &Socket, addr: &SockAddr) -> Answer {
    match socket.connect(addr) {
        Ok(()) => Answer::Connected,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Answer::InProgress,
        Err(e) => Answer::Failed(e),
    }
}

/// Calls `connect()` again on a connecting socket (see the module docs).
pub(crate) fn ask_again(socket: &Socket, addr: &SockAddr) -> Answer {
    match socket.connect(addr) {
        Ok(()) => Answer::Connected,
        Err(e) => match e.raw_os_error() {
            Some(libc::EISCONN) => Answer::Connected,
            Some(libc::EALREADY | libc::EINPROGRESS) => Answer::InProgress,
            _ => Answer::Failed(e),
        },
    }
}

/// True when an error from [`ask_again`] left the socket reusable: a reset
/// answered the SYN, and the kernel took the socket back to unconnected.
pub(crate) fn reusable_after(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::ECONNREFUSED)
}

/// How a connect that the poller reported finished.
#[derive(Debug)]
pub(crate) enum Completion {
    /// Connected: `(local, peer)`.
    Connected(SocketAddr, SocketAddr),
    /// Failed with this error (`SO_ERROR`).
    Failed(io::Error),
    /// Not connected and no error pending, but the peer did answer the
    /// SYN with a SYN-ACK before the connection went away: a port that
    /// accepts and resets at once (see [`super::classify`]).
    ResetAfterHandshake,
    /// Not connected, no error pending, and no SYN-ACK ever came back: the
    /// attempt was ended by something other than the peer's TCP (an ICMP
    /// error whose errno was no longer pending when we looked). Says
    /// nothing about the port.
    EndedWithoutAnswer,
}

/// After a writability event: how the connect ended.
///
/// # Notes
///
/// A socket the poller reports ready with no pending `SO_ERROR` is not
/// necessarily connected. `getpeername()` then fails with `ENOTCONN`, and
/// that alone does not say whether the port accepted: under ICMP rejects
/// and loss, a connect closed by an ICMP admin-prohibited (TCP state
/// `CLOSE`, one SYN sent, no segment received) was seen in exactly this
/// state. So the answer is looked up in `TCP_INFO`: only a SYN-ACK
/// acknowledges our SYN, which counts one byte in `tcpi_bytes_acked` and
/// takes a round-trip sample (`tcpi_rtt`); a RST or an ICMP error does
/// neither. (The sample alone is not enough: on loopback it can be under
/// the 8 µs that `tcpi_rtt` rounds down to zero.) Open is reported only
/// on that evidence.
pub(crate) fn completed(socket: &Socket) -> Completion {
    match socket.take_error() {
        Ok(Some(e)) | Err(e) => return Completion::Failed(e),
        Ok(None) => {}
    }
    match endpoints(socket) {
        Ok((local, peer)) => Completion::Connected(local, peer),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => match syn_acked(socket) {
            Ok(true) => Completion::ResetAfterHandshake,
            Ok(false) => Completion::EndedWithoutAnswer,
            Err(e) => Completion::Failed(e),
        },
        Err(e) => Completion::Failed(e),
    }
}

/// True when a SYN-ACK answered this socket's SYN: `getsockopt(TCP_INFO)`
/// shows our SYN acknowledged or a round-trip sample (see [`completed`]).
fn syn_acked(socket: &Socket) -> io::Result<bool> {
    // SAFETY: tcp_info is plain old data; zero is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: the buffer and its length describe `info`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.tcpi_bytes_acked > 0 || info.tcpi_rtt > 0)
}

/// A connected socket's `(local, peer)` addresses.
pub(crate) fn endpoints(socket: &Socket) -> io::Result<(SocketAddr, SocketAddr)> {
    let peer = socket.peer_addr()?;
    let local = socket.local_addr()?;
    match (local.as_socket(), peer.as_socket()) {
        (Some(l), Some(p)) => Ok((l, p)),
        _ => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
    }
}

/// Closes a connected socket with `SO_LINGER` 0, so the kernel sends a RST
/// instead of a FIN and keeps no `TIME_WAIT` state (see the [`super`]
/// module docs for why).
pub(crate) fn close_abortively(socket: Socket) {
    // A failure only means the close is graceful after all.
    let _ = socket.set_linger(Some(Duration::ZERO));
    drop(socket);
}

/// Decides whether asking `connect()` twice is worth a syscall: always
/// while it keeps paying off, and only every [`Eagerness::PROBE_EVERY`]th
/// connect after a run of misses, to notice when it starts paying again.
#[derive(Debug)]
pub(crate) struct Eagerness {
    score: u32,
    since_last_try: u32,
}

impl Eagerness {
    /// Misses tolerated in a row before asking twice becomes occasional.
    const PATIENCE: u32 = 32;
    /// How often to try anyway once it has stopped paying off.
    const PROBE_EVERY: u32 = 32;

    /// Starts out eager.
    pub(crate) fn new() -> Eagerness {
        Eagerness {
            score: Self::PATIENCE,
            since_last_try: 0,
        }
    }

    /// Should this connect be asked about twice?
    pub(crate) fn should_try(&mut self) -> bool {
        self.since_last_try += 1;
        if self.score > 0 || self.since_last_try >= Self::PROBE_EVERY {
            self.since_last_try = 0;
            return true;
        }
        false
    }

    /// Records whether the second ask had the answer.
    pub(crate) fn record(&mut self, answered: bool) {
        self.score = if answered {
            Self::PATIENCE
        } else {
            self.score.saturating_sub(1)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::closed_tcp_port;
    use std::net::TcpListener;

    /// Waits (briefly) for the loopback answer and returns it.
    fn settle(socket: &Socket, addr: &SockAddr) -> Answer {
        for _ in 0..200 {
            match ask_again(socket, addr) {
                Answer::InProgress => std::thread::sleep(Duration::from_millis(5)),
                other => return other,
            }
        }
        Answer::InProgress
    }

    #[test]
    fn asking_again_reports_refusal_and_the_socket_is_reusable() {
        let (_reserved, addr) = closed_tcp_port();
        let sockaddr = SockAddr::from(addr);
        let socket = new_socket(addr).unwrap();
        for _ in 0..3 {
            match start(&socket, &sockaddr) {
                Answer::InProgress => {}
                other => panic!("{other:?}"),
            }
            match settle(&socket, &sockaddr) {
                Answer::Failed(e) => assert!(reusable_after(&e), "{e}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn reused_socket_can_then_connect_to_a_listener() {
        let (_reserved, closed) = closed_tcp_port();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = SockAddr::from(listener.local_addr().unwrap());
        let socket = new_socket(closed).unwrap();
        let closed = SockAddr::from(closed);
        start(&socket, &closed);
        assert!(matches!(settle(&socket, &closed), Answer::Failed(_)));
        start(&socket, &open);
        assert!(matches!(settle(&socket, &open), Answer::Connected));
        let (local, peer) = endpoints(&socket).unwrap();
        assert_eq!(peer, listener.local_addr().unwrap());
        assert_ne!(local, peer);
    }

    #[test]
    fn a_real_self_connection_is_recognised() {
        // Binding first and connecting to our own address forces what the
        // ephemeral port choice does by bad luck: a TCP simultaneous open of
        // a socket with itself, which "succeeds" with nobody listening.
        let socket = new_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        let own = socket.local_addr().unwrap();
        start(&socket, &own);
        assert!(matches!(settle(&socket, &own), Answer::Connected));
        let (local, peer) = endpoints(&socket).unwrap();
        assert!(crate::scan::classify::is_self_connect(local, peer));
    }

    #[test]
    fn syn_acked_tells_a_reset_after_the_handshake_from_a_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let socket = new_socket(open).unwrap();
        start(&socket, &SockAddr::from(open));
        let (accepted, _) = listener.accept().unwrap();
        // Reset the accepted connection: SO_LINGER 0, then close.
        Socket::from(accepted)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(syn_acked(&socket).unwrap());

        let (_reserved, closed) = closed_tcp_port();
        let refused = new_socket(closed).unwrap();
        let closed = SockAddr::from(closed);
        start(&refused, &closed);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!syn_acked(&refused).unwrap());
    }

    #[test]
    fn eagerness_backs_off_after_misses_and_recovers() {
        let mut e = Eagerness::new();
        for _ in 0..Eagerness::PATIENCE {
            assert!(e.should_try());
            e.record(false);
        }
        let tries = (0..Eagerness::PROBE_EVERY * 4)
            .filter(|_| e.should_try())
            .count();
        assert_eq!(tries, 4);
        e.record(true);
        assert!(e.should_try());
        assert!(e.should_try());
    }
}
