//! What a connect error means for a probe.
//!
//! Classification is by `raw_os_error()` only, never by message text: the
//! text is localised and differs between libc versions, the errno does not.

use std::io;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Why a port got its state: the answer that decided it, named as nmap's
/// `--reason` names it, so results compare line by line with nmap's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Reason {
    /// The handshake completed (also when the peer reset right after it).
    SynAck,
    /// The SYN was answered with a reset (TCP connect: the `connect()`
    /// was refused).
    ConnRefused,
    /// SYN scan: the SYN was answered with a reset (nmap -sS's word).
    Reset,
    /// Nothing came back within the timeout, on every attempt.
    NoResponse,
    /// ICMP host unreachable (or the host is down).
    HostUnreach,
    /// ICMP network unreachable.
    NetUnreach,
    /// ICMP communication administratively prohibited, or a local
    /// firewall refused the packet.
    AdminProhibited,
    /// UDP: a datagram came back.
    UdpResponse,
    /// UDP: ICMP port unreachable.
    PortUnreach,
    /// An error that says nothing about the target (a local resource
    /// that stayed exhausted, an errno this table does not know).
    Unknown,
}

impl Reason {
    /// nmap's word for it (`syn-ack`, `conn-refused`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::SynAck => "syn-ack",
            Reason::ConnRefused => "conn-refused",
            Reason::Reset => "reset",
            Reason::NoResponse => "no-response",
            Reason::HostUnreach => "host-unreach",
            Reason::NetUnreach => "net-unreach",
            Reason::AdminProhibited => "admin-prohibited",
            Reason::UdpResponse => "udp-response",
            Reason::PortUnreach => "port-unreach",
            Reason::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a probe after `socket()`/`connect()` or `SO_ERROR`
/// reported an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The handshake completed and the peer reset the connection at once
    /// (nmap's "tcpwrapped": hosts.deny, MaxStartups, a balancer with no
    /// backend). Something accepted the connection: the port is open.
    Open,
    /// The target answered the SYN with a reset: nothing listens there.
    Closed,
    /// The target or its network is unreachable, or a firewall refused the
    /// packet locally, for the reason given. Final: not retried.
    Filtered(Reason),
    /// The error is ours, not the target's: out of descriptors, buffers or
    /// ephemeral source ports. Back off and try the same probe again later;
    /// never report it.
    BackOff,
}

/// Classifies an error from `socket()`, `connect()` or `SO_ERROR`.
///
/// Unknown errors are `Filtered`: the port could not be shown open or
/// closed, and a scan must not stall or abort on one odd destination.
pub(crate) fn classify(err: &io::Error) -> Verdict {
    match err.raw_os_error() {
        // On a connecting socket Linux reports a reset that answers the SYN
        // as ECONNREFUSED, and one after the handshake as ECONNRESET (or
        // ENOTCONN from getpeername() right after a connect() that
        // succeeded): the latter means the port accepted. (A socket that
        // is merely *ready* and not connected proves nothing; the TCP probe
        // never brings that case here, see connect::completed.)
        Some(libc::ECONNREFUSED) => Verdict::Closed,
        Some(libc::ECONNRESET | libc::ENOTCONN) => Verdict::Open,
        Some(
            libc::EADDRNOTAVAIL
            | libc::EAGAIN
            | libc::EMFILE
            | libc::ENFILE
            | libc::ENOBUFS
            | libc::ENOMEM
            | libc::EINTR,
        ) => Verdict::BackOff,
        Some(libc::ETIMEDOUT) => Verdict::Filtered(Reason::NoResponse),
        Some(libc::EHOSTUNREACH | libc::EHOSTDOWN) => Verdict::Filtered(Reason::HostUnreach),
        Some(libc::ENETUNREACH | libc::ENETDOWN) => Verdict::Filtered(Reason::NetUnreach),
        Some(libc::EACCES | libc::EPERM) => Verdict::Filtered(Reason::AdminProhibited),
        _ => Verdict::Filtered(Reason::Unknown),
    }
}

/// The reason an ICMP destination-unreachable error gives, by its type
/// and code (ICMPv4 type 3, ICMPv6 type 1), for a probe already found
/// filtered: the errno alone cannot tell a firewall's refusal from an
/// unreachable host (Linux maps ICMPv4 code 13 to `EHOSTUNREACH`). `None`
/// for other ICMP messages, which leave the errno's reason as it is.
pub(crate) fn icmp_reason(v6: bool, icmp_type: u8, code: u8) -> Option<Reason> {
    match (v6, icmp_type, code) {
        // Network unreachable (and ICMPv6 "no route").
        (false, 3, 0 | 6 | 11) | (true, 1, 0) => Some(Reason::NetUnreach),
        // Administratively prohibited: net, host, communication, and
        // precedence cutoff (v4; RFC 1812 5.2.7.1); prohibited, source
        // policy, reject route (v6).
        (false, 3, 9 | 10 | 13 | 15) | (true, 1, 1 | 5 | 6) => Some(Reason::AdminProhibited),
        (false, 3, _) | (true, 1, _) => Some(Reason::HostUnreach),
        _ => None,
    }
}

/// True when a connection's two ends are the same address and port: a TCP
/// "simultaneous open" of a socket with itself.
///
/// On loopback, connecting to a port that nobody listens on can pick that
/// very port as the ephemeral source port; the SYN then meets its own socket
/// and the connect *succeeds*. Such a ghost must never be reported open.
pub(crate) fn is_self_connect(local: SocketAddr, peer: SocketAddr) -> bool {
    local.ip() == peer.ip() && local.port() == peer.port()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn refusals_are_closed() {
        assert_eq!(classify(&os(libc::ECONNREFUSED)), Verdict::Closed);
    }

    #[test]
    fn resets_after_the_handshake_are_open() {
        assert_eq!(classify(&os(libc::ECONNRESET)), Verdict::Open);
        assert_eq!(classify(&os(libc::ENOTCONN)), Verdict::Open);
    }

    #[test]
    fn unreachable_and_local_refusal_are_filtered_with_their_reason() {
        for (code, reason) in [
            (libc::EHOSTUNREACH, Reason::HostUnreach),
            (libc::ENETUNREACH, Reason::NetUnreach),
            (libc::ETIMEDOUT, Reason::NoResponse),
            (libc::EPERM, Reason::AdminProhibited),
            (libc::EACCES, Reason::AdminProhibited),
            (libc::EPROTO, Reason::Unknown),
        ] {
            assert_eq!(
                classify(&os(code)),
                Verdict::Filtered(reason),
                "errno {code}"
            );
        }
    }

    #[test]
    fn reasons_use_nmaps_words() {
        let words: Vec<_> = [Reason::SynAck, Reason::ConnRefused, Reason::AdminProhibited]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        assert_eq!(
            words,
            [r#""syn-ack""#, r#""conn-refused""#, r#""admin-prohibited""#]
        );
        assert_eq!(Reason::NoResponse.to_string(), "no-response");
    }

    #[test]
    fn resource_exhaustion_backs_off() {
        for code in [
            libc::EADDRNOTAVAIL,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOBUFS,
            libc::EAGAIN,
        ] {
            assert_eq!(classify(&os(code)), Verdict::BackOff, "errno {code}");
        }
    }

    #[test]
    fn errors_without_errno_are_filtered_not_panics() {
        let e = io::Error::other("connection refused (but only in the text)");
        assert_eq!(classify(&e), Verdict::Filtered(Reason::Unknown));
    }

    #[test]
    fn icmp_codes_give_nmaps_reasons() {
        assert_eq!(icmp_reason(false, 3, 13), Some(Reason::AdminProhibited));
        assert_eq!(icmp_reason(false, 3, 10), Some(Reason::AdminProhibited));
        assert_eq!(icmp_reason(false, 3, 1), Some(Reason::HostUnreach));
        assert_eq!(icmp_reason(false, 3, 0), Some(Reason::NetUnreach));
        assert_eq!(icmp_reason(true, 1, 1), Some(Reason::AdminProhibited));
        assert_eq!(icmp_reason(true, 1, 3), Some(Reason::HostUnreach));
        assert_eq!(icmp_reason(false, 11, 0), None);
    }

    #[test]
    fn self_connect_is_same_ip_and_port() {
        let a: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let c: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        assert!(is_self_connect(a, a));
        assert!(!is_self_connect(a, b));
        assert!(!is_self_connect(a, c));
    }

    #[test]
    fn self_connect_ipv6_ignores_flowinfo_and_scope_id() {
        let a: SocketAddr = "[::1]:40000".parse().unwrap();
        let mut b = a;
        if let SocketAddr::V6(v6) = &mut b {
            v6.set_flowinfo(7);
        }
        assert!(is_self_connect(a, b));
        let c: SocketAddr = "[::1]:40001".parse().unwrap();
        assert!(!is_self_connect(a, c));
    }
}
