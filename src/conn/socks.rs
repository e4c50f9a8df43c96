//! The SOCKS5 filter (RFC 1928, with RFC 1929 user/password): asks the
//! proxy to connect to the origin, then the transport carries the
//! origin's bytes.
//!
//! Written here rather than taken from a crate: the handshake is three
//! fixed-size message pairs, and the crates on offer (`socks`,
//! `fast-socks5`, `tokio-socks`) each own their socket (a blocking
//! `std::net::TcpStream` or a tokio one), while this filter must run over
//! any [`Transport`] (an `https://` proxy's TLS session could carry it)
//! within the caller's deadline and report each step. The message
//! building and parsing are pure functions, tested byte by byte.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::io::{recv_exact, send_all};
use crate::http::transport::Transport;

/// What the client asks the proxy to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocksTarget {
    /// An address resolved here (`socks5://`).
    Addr(SocketAddr),
    /// A name for the proxy to resolve (`socks5h://`), and the port.
    Name(String, u16),
}

impl fmt::Display for SocksTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksTarget::Addr(a) => a.fmt(f),
            SocksTarget::Name(n, p) => write!(f, "{n}:{p}"),
        }
    }
}

/// Why the SOCKS5 handshake failed (curl exit 97).
#[derive(Debug)]
#[non_exhaustive]
pub enum SocksError {
    /// The proxy accepts none of the offered authentication methods.
    NoAcceptableMethod,
    /// The proxy rejected the user name and password.
    AuthFailed,
    /// The proxy wants a user name and password and none was given.
    AuthRequired,
    /// The proxy refused or failed the connect; the RFC 1928 reply code.
    Refused(u8),
    /// The proxy does not speak SOCKS5 (a bad version or field).
    BadReply,
    /// A name longer than 255 bytes, or user/password longer than 255.
    TooLong,
    /// The connection failed or ended during the handshake.
    Io(io::Error),
}

impl fmt::Display for SocksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocksError::NoAcceptableMethod => {
                f.write_str("the SOCKS5 proxy accepts none of the offered authentication methods")
            }
            SocksError::AuthFailed => {
                f.write_str("the SOCKS5 proxy rejected the user and password")
            }
            SocksError::AuthRequired => {
                f.write_str("the SOCKS5 proxy requires a user and password (--proxy-user)")
            }
            SocksError::Refused(code) => write!(
                f,
                "the SOCKS5 proxy could not connect: {} (reply {code})",
                reply_text(*code)
            ),
            SocksError::BadReply => f.write_str("the proxy's reply is not SOCKS5"),
            SocksError::TooLong => f.write_str("a SOCKS5 field is longer than 255 bytes"),
            SocksError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                f.write_str("the SOCKS5 proxy closed the connection during the handshake")
            }
            SocksError::Io(e) => write!(f, "SOCKS5 handshake failed: {e}"),
        }
    }
}

impl std::error::Error for SocksError {}

/// RFC 1928 section 6 reply codes.
pub fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned reply code",
    }
}

/// A step of the handshake, for `-v`.
#[derive(Debug)]
#[non_exhaustive]
pub enum SocksStep<'a> {
    /// The greeting went out, offering these methods (0 none, 2 password).
    Greeting {
        /// The method codes.
        methods: &'a [u8],
    },
    /// The proxy chose a method.
    Method {
        /// Its code.
        method: u8,
    },
    /// The user name and password were accepted.
    Authenticated,
    /// The CONNECT request went out.
    Request {
        /// What to connect to.
        target: &'a SocksTarget,
    },
    /// The proxy connected.
    Granted {
        /// The address the proxy bound for us, as it reported it.
        bound: Option<SocketAddr>,
    },
}

/// The greeting: version 5 and the methods offered.
pub fn greeting(with_password: bool) -> Vec<u8> {
    if with_password {
        vec![5, 2, 0, 2]
    } else {
        vec![5, 1, 0]
    }
}

/// RFC 1929 sub-negotiation: version 1, user, password.
pub fn password_request(user: &str, pass: &str) -> Result<Vec<u8>, SocksError> {
    let (u, p) = (user.as_bytes(), pass.as_bytes());
    let (Ok(ul), Ok(pl)) = (u8::try_from(u.len()), u8::try_from(p.len())) else {
        return Err(SocksError::TooLong);
    };
    let mut out = vec![1, ul];
    out.extend_from_slice(u);
    out.push(pl);
    out.extend_from_slice(p);
    Ok(out)
}

/// The CONNECT request for `target`.
pub fn connect_request(target: &SocksTarget) -> Result<Vec<u8>, SocksError> {
    let mut out = vec![5, 1, 0];
    let port = match target {
        SocksTarget::Addr(a) => {
            match a.ip() {
                IpAddr::V4(v4) => {
                    out.push(1);
                    out.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    out.push(4);
                    out.extend_from_slice(&v6.octets());
                }
            }
            a.port()
        }
        SocksTarget::Name(name, port) => {
            let len = u8::try_from(name.len()).map_err(|_| SocksError::TooLong)?;
            out.push(3);
            out.push(len);
            out.extend_from_slice(name.as_bytes());
            *port
        }
    };
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// The length of the bound address that follows the first 4 bytes of a
/// reply (`05 REP 00 ATYP`), port included; for a name, `name_len` is the
/// byte after ATYP.
fn bound_len(atyp: u8, name_len: u8) -> Option<usize> {
    match atyp {
        1 => Some(4 + 2),
        4 => Some(16 + 2),
        3 => Some(1 + usize::from(name_len) + 2),
        _ => None,
    }
}

/// Runs the handshake over `t` by `deadline`.
pub fn handshake(
    t: &mut dyn Transport,
    target: &SocksTarget,
    credentials: Option<&(String, String)>,
    deadline: Option<Instant>,
    step: &mut dyn FnMut(SocksStep<'_>),
) -> Result<(), SocksError> {
    let io = SocksError::Io;
    let hello = greeting(credentials.is_some());
    send_all(t, &hello, deadline).map_err(io)?;
    step(SocksStep::Greeting {
        methods: &hello[2..],
    });
    let mut choice = [0u8; 2];
    recv_exact(t, &mut choice, deadline).map_err(io)?;
    if choice[0] != 5 {
        return Err(SocksError::BadReply);
    }
    step(SocksStep::Method { method: choice[1] });
    match (choice[1], credentials) {
        (0, _) => {}
        (2, Some((user, pass))) => {
            send_all(t, &password_request(user, pass)?, deadline).map_err(io)?;
            let mut status = [0u8; 2];
            recv_exact(t, &mut status, deadline).map_err(io)?;
            if status[1] != 0 {
                return Err(SocksError::AuthFailed);
            }
            step(SocksStep::Authenticated);
        }
        (2, None) => return Err(SocksError::AuthRequired),
        _ => return Err(SocksError::NoAcceptableMethod),
    }
    send_all(t, &connect_request(target)?, deadline).map_err(io)?;
    step(SocksStep::Request { target });
    let mut head = [0u8; 5];
    recv_exact(t, &mut head, deadline).map_err(io)?;
    if head[0] != 5 {
        return Err(SocksError::BadReply);
    }
    if head[1] != 0 {
        return Err(SocksError::Refused(head[1]));
    }
    let len = bound_len(head[3], head[4]).ok_or(SocksError::BadReply)?;
    // One byte of the address (or the name's length) came with the head.
    let mut rest = vec![0u8; len - 1];
    recv_exact(t, &mut rest, deadline).map_err(io)?;
    let mut addr = vec![head[4]];
    addr.extend_from_slice(&rest);
    let bound = match head[3] {
        1 => {
            let ip: [u8; 4] = addr[..4].try_into().unwrap_or_default();
            Some(SocketAddr::new(
                IpAddr::from(ip),
                u16::from_be_bytes([addr[4], addr[5]]),
            ))
        }
        4 => {
            let ip: [u8; 16] = addr[..16].try_into().unwrap_or_default();
            Some(SocketAddr::new(
                IpAddr::from(ip),
                u16::from_be_bytes([addr[16], addr[17]]),
            ))
        }
        _ => None,
    };
    step(SocksStep::Granted { bound });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_exact() {
        assert_eq!(greeting(false), [5, 1, 0]);
        assert_eq!(greeting(true), [5, 2, 0, 2]);
        assert_eq!(
            password_request("u", "pw").unwrap(),
            [1, 1, b'u', 2, b'p', b'w']
        );
        let v4 = SocksTarget::Addr("127.0.0.1:80".parse().unwrap());
        assert_eq!(
            connect_request(&v4).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 0, 80]
        );
        let v6 = SocksTarget::Addr("[::1]:443".parse().unwrap());
        let r = connect_request(&v6).unwrap();
        assert_eq!((r[3], r.len(), &r[20..]), (4, 22, &[1u8, 187][..]));
        let name = SocksTarget::Name("a.test".into(), 8080);
        assert_eq!(
            connect_request(&name).unwrap(),
            [5, 1, 0, 3, 6, b'a', b'.', b't', b'e', b's', b't', 0x1f, 0x90]
        );
        let long = SocksTarget::Name("x".repeat(256), 1);
        assert!(matches!(connect_request(&long), Err(SocksError::TooLong)));
        assert!(password_request(&"u".repeat(256), "p").is_err());
    }

    #[test]
    fn bound_lengths() {
        assert_eq!(bound_len(1, 0), Some(6));
        assert_eq!(bound_len(4, 0), Some(18));
        assert_eq!(bound_len(3, 9), Some(12));
        assert_eq!(bound_len(7, 0), None);
    }
}
