//! Service detection: which probes to send to an open TCP port, and what
//! a reply says about the service (name, product, version).
//!
//! This module owns the *content* of detection and nothing of transport:
//! it never opens a socket, never waits and never prints. A driver (the
//! scan engine, or the blocking one in the tests) connects, asks a
//! [`Session`] for the next [`Probe`], sends its payload, reads for at most
//! `probe.wait` and `probe.max_reply` bytes, stops early once [`settled`]
//! says the reply is whole, and hands the bytes to [`identify`]. So the
//! same table serves a blocking test and the non-blocking engine, and a
//! probe connection goes through the engine's own budget and rate limit.
//!
//! # Why probes, and in this order
//!
//! Port numbers lie (SSH on 2222, Redis on 7000, TLS on 8443), and many
//! services say nothing until spoken to. So the first probe sends nothing
//! and waits [`BANNER_WAIT`] for a greeting (SSH, FTP, SMTP, POP3, IMAP,
//! MySQL speak first); then, each on a fresh connection, a TLS ClientHello
//! (a plain HTTP server answers it with `400`, which identifies HTTP too),
//! `GET / HTTP/1.0`, Redis `INFO`, a PostgreSQL SSLRequest, memcached
//! `version`, MongoDB `isMaster`, a DNS query over TCP, an RDP connection
//! request and an empty line. On a port where a silent protocol usually
//! lives (443, 5432, 6379, ...) that protocol's probe goes first, before
//! the banner wait: a greeting service still greets in its reply. Every
//! probe is bounded: [`BANNER_WAIT`] or [`PROBE_WAIT`], and
//! [`MAX_REPLY`] bytes ([`MAX_TLS_REPLY`] for TLS).
//!
//! # Signatures are data
//!
//! The table in [`signatures`] maps replies to services: byte regexes
//! with `product`/`version`/`info` groups for text protocols, small
//! parsers for length-prefixed binary ones. Names follow nmap-services
//! (`domain` for DNS, `ms-wbt-server` for RDP, `ssl` for a TLS service
//! whose inner protocol is not probed), so results compare with
//! `nmap -sV`. A TLS service is read without a TLS stack: the hello offers
//! at most TLS 1.2, so the certificate comes back in clear (the `tls`
//! submodule says why) and `x509-parser` reads its subject.
//!
//! # Things that are not what they look like
//!
//! - **A reply to the wrong probe.** A greeting arrives whatever was sent,
//!   so greeting signatures match any probe; binary answers (PostgreSQL's
//!   single `N`) only count as a reply to their own probe.
//! - **`unknown` is an answer.** When every probe is spent without a
//!   match, the service is [`Identified::unknown`]; the driver keeps the
//!   raw bytes for the user.

mod probes;
pub mod signatures;
pub mod tls;

pub use probes::{
    probe_by_id, Probe, ProbeId, BANNER_WAIT, MAX_REPLY, MAX_TLS_REPLY, MONGO_REQUEST_ID,
    PROBE_WAIT,
};

/// What a signature found out about a service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// The software, e.g. `OpenSSH`, `nginx`, `MariaDB`.
    pub product: Option<String>,
    /// Its version, e.g. `9.2p1`.
    pub version: Option<String>,
    /// Anything else the reply says (distribution, security protocol).
    pub info: Option<String>,
    /// For a TLS service: what its first flight said.
    pub tls: Option<TlsDetails>,
}

/// What the TLS handshake revealed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsDetails {
    /// The negotiated protocol version, e.g. `TLSv1.2` (none when the
    /// server sent an alert instead).
    pub version: Option<&'static str>,
    /// The subject common name of the server's certificate.
    pub subject_cn: Option<String>,
}

/// A detected service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// The service name (nmap-services names: `ssh`, `http`, `ssl`,
    /// `domain`, ..., or `unknown`).
    pub name: &'static str,
    /// Product, version, extra information.
    pub details: Details,
    /// The probe whose reply identified it (`None` for `unknown`).
    pub probe: Option<ProbeId>,
}

impl Identified {
    /// The verdict when no probe's reply matched a signature.
    pub fn unknown() -> Identified {
        Identified {
            name: "unknown",
            details: Details::default(),
            probe: None,
        }
    }
}

/// Matches `reply`, the bytes read after sending `probe`'s payload,
/// against the signature table. `None` when no signature matches (try the
/// next probe).
///
/// ```
/// use rawnet::service_probes::{identify, probe_by_id, ProbeId};
/// let banner = probe_by_id(ProbeId::Banner);
/// let found = identify(banner, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").unwrap();
/// assert_eq!(found.name, "ssh");
/// assert_eq!(found.details.product.as_deref(), Some("OpenSSH"));
/// assert_eq!(found.details.version.as_deref(), Some("9.2p1"));
/// ```
pub fn identify(probe: &Probe, reply: &[u8]) -> Option<Identified> {
    let reply = &reply[..reply.len().min(probe.max_reply)];
    let (sig, details) = signatures::first_match(probe.id, reply)?;
    Some(Identified {
        name: sig.name,
        details,
        probe: Some(probe.id),
    })
}

/// True when reading on is pointless: `reply` holds a whole message (a
/// line, a header block, a TLS flight, the length a binary header
/// announces) or `probe.max_reply` bytes. A driver stops reading then
/// instead of waiting out `probe.wait`, and calls [`identify`]; a whole
/// reply that matches nothing moves on to the next probe at once (many
/// services answer a foreign probe with one error line and keep the
/// connection open).
pub fn settled(probe: &Probe, reply: &[u8]) -> bool {
    reply.len() >= probe.max_reply || probes::reply_complete(probe.id, reply)
}

/// The probes to try on one port, in order.
///
/// ```
/// use rawnet::service_probes::{ProbeId, Session};
/// let mut s = Session::new(8443);
/// assert_eq!(s.next_probe().unwrap().id, ProbeId::Tls, "hinted first");
/// assert_eq!(s.next_probe().unwrap().id, ProbeId::Banner);
/// assert_eq!(Session::new(2222).next_probe().unwrap().id, ProbeId::Banner);
/// ```
#[derive(Debug, Clone)]
pub struct Session {
    /// Indices into the probe table, in the order to send them.
    order: Vec<usize>,
    next: usize,
}

impl Session {
    /// A session for a service on `port`: the probes that `port` hints at
    /// first, then the banner wait, then the rest in table order.
    pub fn new(port: u16) -> Session {
        let table = &*probes::PROBES;
        let hinted = |i: &usize| table[*i].ports.contains(&port);
        let all = 0..table.len();
        let order = all
            .clone()
            .filter(hinted)
            .chain(all.filter(|i| !hinted(i)))
            .collect();
        Session { order, next: 0 }
    }

    /// The next probe to send, or `None` when all have been sent (the
    /// service is then [`Identified::unknown`]).
    pub fn next_probe(&mut self) -> Option<&'static Probe> {
        let i = *self.order.get(self.next)?;
        self.next += 1;
        Some(&probes::PROBES[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_send_every_probe_once() {
        for port in [0, 22, 443, 5432, 6379, 11211, 27017, 53, 3389, 65535] {
            let mut s = Session::new(port);
            let mut seen = Vec::new();
            while let Some(p) = s.next_probe() {
                assert!(!seen.contains(&p.id), "{port}: {:?} twice", p.id);
                seen.push(p.id);
            }
            assert_eq!(seen.len(), probes::PROBES.len());
            assert!(s.next_probe().is_none());
        }
    }

    #[test]
    fn banner_first_unless_the_port_hints() {
        let first = |port| Session::new(port).next_probe().unwrap().id;
        assert_eq!(first(2222), ProbeId::Banner);
        assert_eq!(first(9999), ProbeId::Banner);
        assert_eq!(first(7000), ProbeId::Banner);
        assert_eq!(first(443), ProbeId::Tls);
        assert_eq!(first(6379), ProbeId::Redis);
        assert_eq!(first(5432), ProbeId::Postgres);
    }

    #[test]
    fn settled_needs_a_whole_message() {
        let banner = probe_by_id(ProbeId::Banner);
        assert!(!settled(banner, b"SSH-2.0-Open"));
        assert!(settled(banner, b"SSH-2.0-OpenSSH_9.2\r\n"));
        assert!(settled(banner, b"hello there\r\n"), "whole, if unknown");
        assert!(settled(banner, &vec![b'x'; MAX_REPLY]), "cap reached");
        let http = probe_by_id(ProbeId::Http);
        assert!(!settled(http, b"HTTP/1.1 200 OK\r\nServer: nginx"));
        assert!(settled(http, b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n"));
    }

    #[test]
    fn lengths_a_server_announces_cannot_overflow() {
        // A RESP bulk length near usize::MAX overflowed the "is it all
        // there" sum: a panic in a debug build, a wrong answer in release.
        let redis = probe_by_id(ProbeId::Redis);
        for huge in [
            &b"$18446744073709551615\r\n"[..],
            b"$18446744073709551613\r\nab",
            b"$9223372036854775807\r\n",
            b"$99999999999999999999999\r\n",
        ] {
            assert!(!settled(redis, huge), "{huge:?}");
            let _ = identify(redis, huge);
        }
        assert!(settled(redis, b"$-1\r\n"), "the null bulk string is whole");
        assert!(settled(redis, b"$2\r\nok\r\n"));
        assert!(!settled(redis, b"$3\r\nok\r\n"));
    }

    #[test]
    fn identify_sees_at_most_max_reply_bytes() {
        let banner = probe_by_id(ProbeId::Banner);
        let mut long = vec![b'x'; MAX_REPLY];
        long.extend_from_slice(b"\r\nSSH-2.0-x\r\n");
        assert_eq!(identify(banner, &long), None);
    }
}
