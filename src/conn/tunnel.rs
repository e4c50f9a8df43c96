//! The HTTP CONNECT filter: asks an HTTP proxy for a tunnel to the
//! origin (RFC 9110 section 9.3.6), then the transport carries the
//! origin's bytes.
//!
//! The request is built and the reply parsed here, as bytes (httparse
//! reads the status line); the transport is whatever is below (TCP to an
//! `http://` proxy, TLS to an `https://` one). Proxy credentials go in
//! this request and nowhere else.

use std::fmt;
use std::io;
use std::time::Instant;

use base64::Engine as _;

use super::io::{left, send_all};
use crate::http::request::USER_AGENT;
use crate::http::transport::Transport;

/// Most bytes of a CONNECT reply head.
const MAX_REPLY_HEAD: usize = 16 * 1024;

/// Why the tunnel was not made.
#[derive(Debug)]
#[non_exhaustive]
pub enum TunnelError {
    /// The proxy answered with a status other than 2xx (curl exit 56).
    Refused {
        /// The status.
        status: u16,
        /// The reason phrase (lossy UTF-8).
        reason: String,
    },
    /// The reply is not an HTTP response head, or too large.
    BadReply,
    /// The proxy sent bytes after its 2xx reply before we spoke.
    ExtraBytes,
    /// The connection failed or ended before the reply was complete.
    Io(io::Error),
}

impl fmt::Display for TunnelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunnelError::Refused { status, .. } => {
                write!(f, "CONNECT tunnel failed: the proxy answered {status}")
            }
            TunnelError::BadReply => f.write_str("the proxy's CONNECT reply is not HTTP"),
            TunnelError::ExtraBytes => {
                f.write_str("the proxy sent bytes after its CONNECT reply, before the client spoke")
            }
            TunnelError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("the proxy closed the connection before answering CONNECT")
            }
            TunnelError::Io(e) => write!(f, "CONNECT to the proxy failed: {e}"),
        }
    }
}

impl std::error::Error for TunnelError {}

/// `host:port` as the CONNECT target and its `Host`, brackets around an
/// IPv6 literal.
pub fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `Proxy-Authorization` value for Basic credentials.
pub fn basic(credentials: &(String, String)) -> String {
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", credentials.0, credentials.1));
    format!("Basic {token}")
}

/// The CONNECT request head, as curl sends it.
///
/// ```
/// let r = rawnet::conn::tunnel::connect_request("::1", 443, None);
/// assert!(r.starts_with(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n"));
/// ```
pub fn connect_request(host: &str, port: u16, credentials: Option<&(String, String)>) -> Vec<u8> {
    let target = authority(host, port);
    let mut out = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(c) = credentials {
        out.push_str(&format!("Proxy-Authorization: {}\r\n", basic(c)));
    }
    out.push_str(&format!(
        "User-Agent: {USER_AGENT}\r\nProxy-Connection: Keep-Alive\r\n\r\n"
    ));
    out.into_bytes()
}

/// What a complete reply head said.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Bytes of the head (up to and including the empty line).
    pub head_len: usize,
}

/// Parses a reply head from the start of `buf`: `Ok(None)` until it is
/// complete.
pub fn parse_reply(buf: &[u8]) -> Result<Option<Reply>, TunnelError> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(Reply {
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or("").to_owned(),
            head_len: n,
        })),
        Ok(httparse::Status::Partial) if buf.len() < MAX_REPLY_HEAD => Ok(None),
        _ => Err(TunnelError::BadReply),
    }
}

/// Sends `request` over `t` and reads the reply by `deadline`.
pub fn open(
    t: &mut dyn Transport,
    request: &[u8],
    deadline: Option<Instant>,
) -> Result<Reply, TunnelError> {
    send_all(t, request, deadline).map_err(TunnelError::Io)?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = t
            .recv(&mut chunk, left(deadline).map_err(TunnelError::Io)?)
            .map_err(TunnelError::Io)?;
        if n == 0 {
            return Err(TunnelError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(reply) = parse_reply(&buf)? {
            if !(200..300).contains(&reply.status) {
                return Err(TunnelError::Refused {
                    status: reply.status,
                    reason: reply.reason,
                });
            }
            if buf.len() > reply.head_len {
                return Err(TunnelError::ExtraBytes);
            }
            return Ok(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_curls() {
        let creds = ("u".to_owned(), "p".to_owned());
        assert_eq!(
            String::from_utf8(connect_request("example.test", 443, Some(&creds))).unwrap(),
            format!(
                "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\
                 Proxy-Authorization: Basic dTpw\r\nUser-Agent: {USER_AGENT}\r\n\
                 Proxy-Connection: Keep-Alive\r\n\r\n"
            )
        );
    }

    #[test]
    fn replies_split_anywhere() {
        let reply = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n";
        for cut in 0..reply.len() {
            assert_eq!(parse_reply(&reply[..cut]).unwrap(), None, "{cut}");
        }
        let r = parse_reply(reply).unwrap().unwrap();
        assert_eq!((r.status, r.head_len), (200, reply.len()));
        assert!(parse_reply(b"SSH-2.0-x\r\n\r\n").is_err());
        assert!(parse_reply(&vec![b'a'; MAX_REPLY_HEAD]).is_err());
    }
}
