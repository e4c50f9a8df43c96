//! The byte stream an exchange talks to, behind one trait, as curl's
//! connection filters keep `lib/http.c` from knowing whether bytes are
//! TLS: [`Plain`] is the socket itself; `tls::TlsTransport` encrypts on top
//! of any transport, a TLS one included; the connection layer
//! ([`crate::conn`]) stacks them and hands the exchange the top one.
//!
//! The exchange only asks three things: can the server's answer be read
//! yet (plaintext, or the end of the stream: not mere socket readability,
//! since a TLS 1.3 server sends session tickets right after the
//! handshake), take these request bytes without blocking, and give me
//! response bytes within this time.

use std::io;
use std::time::Duration;

use crate::sock::Conn;

/// A connected byte stream the exchange sends on and reads from.
///
/// `Send`: a connection kept in the pool may be taken by another worker
/// thread.
pub trait Transport: Send {
    /// Waits until the peer's answer can be read (bytes, or the end of the
    /// stream) or, when `want_write`, until more can be sent; at most
    /// `timeout` (`None`: no limit). Returns `(answer, writable)`;
    /// `(false, false)` means the time ran out.
    fn wait(&mut self, want_write: bool, timeout: Option<Duration>) -> io::Result<(bool, bool)>;

    /// Takes what it can of `buf` now, without blocking; returns how many
    /// bytes were taken. Nothing fits now: an error of kind `WouldBlock`.
    fn send_nowait(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// True while bytes taken by [`Transport::send_nowait`] are still held
    /// here, not yet handed to the socket.
    fn has_pending(&self) -> bool {
        false
    }

    /// Waits until more can be sent (held bytes flushed below this layer),
    /// at most `timeout`; `false`: the time ran out. Unlike
    /// [`Transport::wait`], bytes waiting to be read do not end the wait.
    fn wait_writable(&mut self, timeout: Option<Duration>) -> io::Result<bool>;

    /// For a transport with its own end-of-stream signal (TLS
    /// `close_notify`): whether it was received. `None` for plain TCP,
    /// where the end of the stream is the only signal.
    fn clean_end(&self) -> Option<bool> {
        None
    }

    /// Reads response bytes, waiting at most `timeout`; `Ok(0)` is the end
    /// of the stream. An expired time is an error that
    /// [`crate::sock::is_timeout`] recognises.
    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize>;
}

/// Plain TCP: the connection's own bytes.
pub struct Plain {
    conn: Conn,
    /// A receive timeout is set on the socket (without a deadline none
    /// ever is, and the two `setsockopt()` per read are saved).
    limited: bool,
}

impl Plain {
    /// The transport over `conn`.
    pub fn new(conn: Conn) -> Plain {
        Plain {
            conn,
            limited: false,
        }
    }
}

impl Transport for Plain {
    fn wait(&mut self, want_write: bool, timeout: Option<Duration>) -> io::Result<(bool, bool)> {
        self.conn.poll(want_write, timeout)
    }

    fn send_nowait(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.conn.send_nowait(buf)
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.conn.poll_writable(timeout)
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> io::Result<usize> {
        if timeout.is_some() || self.limited {
            self.conn.set_timeouts(timeout)?;
            self.limited = timeout.is_some();
        }
        self.conn.recv(buf)
    }
}
