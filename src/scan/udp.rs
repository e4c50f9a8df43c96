//! The UDP probe: one connected, non-blocking UDP socket per attempt,
//! without privileges.
//!
//! # How an unprivileged process learns a UDP port's state
//!
//! The socket is `connect()`ed to the port, so the kernel matches the
//! answers to it: a reply datagram (`recv` returns bytes: **open**,
//! `udp-response`), or an ICMP error about our datagram. With
//! `IP_RECVERR` / `IPV6_RECVERR` set, every ICMP error is queued on the
//! socket's *error queue* with its type and code (`recvmsg` with
//! `MSG_ERRQUEUE`, a `sock_extended_err` control message), which is more
//! than the errno says: port unreachable is **closed** (`port-unreach`),
//! communication administratively prohibited is **filtered**
//! (`admin-prohibited`), host and network unreachable are **filtered**
//! (`host-unreach`, `net-unreach`). Without the option, Linux reports only
//! "hard" ICMP errors, and as bare errnos. Silence after every attempt is
//! **open|filtered** (`no-response`), decided by the loop.
//!
//! What is sent is [`crate::udp_payloads::for_attempt`]: a request the
//! service on a well-known port answers, cycling through a port's
//! payloads on retries, and an empty datagram elsewhere.
//!
//! # Things that are not what they look like
//!
//! - **Error readiness.** A queued ICMP error makes the socket report
//!   `EPOLLERR`, which the poller reports as readable; the error queue is
//!   read first, so the pending `sk_err` (the same error as an errno) is
//!   never mistaken for a second answer.
//! - **A local firewall** rejecting our datagram in OUTPUT makes `send()`
//!   fail with `EPERM`: filtered, `admin-prohibited`, as for TCP.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use super::classify::icmp_reason;
use super::technique::{step_for_errno, Interest, Outcome, Prober, Step, Technique};
use super::{BannerConfig, Probe, Reason, State};
use crate::udp_payloads;

/// Most reply bytes kept (for the banner field).
pub const MAX_REPLY: usize = 512;

/// The UDP prober: one connected socket per attempt.
#[derive(Debug, Default, Clone, Copy)]
pub struct UdpProbe {
    /// Keep reply bytes (capped) when banners were asked for.
    banner: Option<BannerConfig>,
}

impl UdpProbe {
    /// A prober that keeps the reply datagram (up to `banner.max_len`
    /// bytes) when `banner` is set.
    pub fn new(banner: Option<BannerConfig>) -> UdpProbe {
        UdpProbe { banner }
    }
}

/// One UDP attempt in flight.
#[derive(Debug)]
pub struct UdpFlight {
    sock: UdpSocket,
}

impl Prober for UdpProbe {
    type Flight = UdpFlight;
    type Session = ();
    type Reply = ();

    fn technique(&self) -> Technique {
        Technique::Udp
    }

    fn fd(flight: &UdpFlight) -> Option<BorrowedFd<'_>> {
        Some(flight.sock.as_fd())
    }

    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        _session: &mut (),
    ) -> Result<(UdpFlight, Step), Step> {
        let addr = SocketAddr::new(probe.ip, probe.port);
        let sock = crate::sock::udp_connected(&addr)
            .map_err(|e| step_for_errno(&e, Reason::PortUnreach))?;
        let payload = &udp_payloads::for_attempt(probe.port, attempt).bytes;
        match sock.send(payload) {
            Ok(_) => Ok((UdpFlight { sock }, Step::Wait(Interest::Read))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Step::BackOff),
            Err(e) => Err(step_for_errno(&e, Reason::PortUnreach)),
        }
    }

    fn ready(&mut self, flight: &mut UdpFlight) -> Step {
        match crate::sock::recv_icmp_error(&flight.sock) {
            Ok(Some(icmp)) => return Step::Done(icmp.outcome()),
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return step_for_errno(&e, Reason::PortUnreach),
        }
        let mut buf = [0u8; MAX_REPLY];
        match flight.sock.recv(&mut buf) {
            Ok(n) => Step::Done(Outcome {
                reply: self.banner.map(|b| buf[..n.min(b.max_len)].to_vec()),
                ..Outcome::new(State::Open, Reason::UdpResponse)
            }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Wait(Interest::Read),
            Err(e) => step_for_errno(&e, Reason::PortUnreach),
        }
    }

    /// A last look: an answer that arrived while the worker was busy.
    fn deadline(&mut self, flight: &mut UdpFlight) -> Step {
        match self.ready(flight) {
            Step::Wait(_) => Step::Unanswered(self.silence()),
            step => step,
        }
    }

    fn silence(&self) -> Outcome {
        Outcome::new(State::OpenFiltered, Reason::NoResponse)
    }

    /// Closed UDP ports answer with ICMP port unreachables, which hosts
    /// ration (see the `icmp_limit` submodule).
    fn rationed(&self) -> bool {
        true
    }

    /// One worker: a UDP probe is two syscalls and its answers come at
    /// the target's ICMP pace, not our CPU's; and one worker sees every
    /// ICMP answer of a host, which the rationing rule needs.
    const MAX_WORKERS: Option<usize> = Some(1);
}

/// An ICMP (or ICMPv6) error about our datagram, from the error queue.
pub use crate::sock::IcmpError;

impl IcmpError {
    /// What the ICMP error says about the port.
    ///
    /// ```
    /// use rawnet::scan::udp::IcmpError;
    /// use rawnet::scan::{Reason, State};
    /// let port_unreach = IcmpError { v6: false, kind: 3, code: 3 };
    /// assert_eq!(port_unreach.outcome().state, State::Closed);
    /// let prohibited = IcmpError { v6: true, kind: 1, code: 1 };
    /// assert_eq!(prohibited.outcome().reason, Reason::AdminProhibited);
    /// ```
    pub fn outcome(self) -> Outcome {
        match (self.v6, self.kind, self.code) {
            // Destination unreachable, port unreachable (RFC 792, RFC 4443).
            (false, 3, 3) | (true, 1, 4) => Outcome::new(State::Closed, Reason::PortUnreach),
            // The rest as for TCP: one table (classify).
            (v6, kind, code) => Outcome::new(
                State::Filtered,
                icmp_reason(v6, kind, code).unwrap_or(Reason::Unknown),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn probe(addr: SocketAddr) -> Probe {
        Probe {
            target: Arc::from("t"),
            ip: addr.ip(),
            port: addr.port(),
            proto: super::super::Proto::Udp,
        }
    }

    /// Drives one attempt to its end by polling `ready` (at most 2 s).
    fn attempt(addr: SocketAddr) -> Outcome {
        let mut udp = UdpProbe::new(Some(BannerConfig {
            wait: Duration::ZERO,
            max_len: MAX_REPLY,
        }));
        let (mut flight, mut step) = match udp.start(&probe(addr), 0, &mut ()) {
            Ok(started) => started,
            Err(Step::Done(outcome)) => return outcome,
            Err(step) => panic!("{step:?}"),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            match step {
                Step::Done(outcome) => return outcome,
                Step::Wait(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    step = udp.ready(&mut flight);
                }
                other => panic!("{other:?}"),
            }
        }
        udp.silence()
    }

    const LOOPBACKS: [IpAddr; 2] = [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];

    #[test]
    fn a_reply_is_open_and_kept() {
        for ip in LOOPBACKS {
            let (addr, t) = test_support::udp_server(ip, |server| {
                let mut buf = [0u8; 64];
                let (_, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(b"pong", from).unwrap();
            });
            let out = attempt(addr);
            t.join().unwrap();
            assert_eq!(out.state, State::Open, "{ip}");
            assert_eq!(out.reason, Reason::UdpResponse);
            assert_eq!(out.reply.as_deref(), Some(&b"pong"[..]));
        }
    }

    #[test]
    fn port_unreachable_is_closed_with_its_reason() {
        for ip in LOOPBACKS {
            let out = attempt(test_support::closed_udp_port(ip));
            assert_eq!(
                out,
                Outcome::new(State::Closed, Reason::PortUnreach),
                "{ip}"
            );
        }
    }

    #[test]
    fn icmp_codes_map_to_states() {
        let o = |v6, kind, code| IcmpError { v6, kind, code }.outcome();
        assert_eq!(o(false, 3, 3).state, State::Closed);
        assert_eq!(o(false, 3, 13).reason, Reason::AdminProhibited);
        assert_eq!(o(false, 3, 1).reason, Reason::HostUnreach);
        assert_eq!(o(false, 3, 0).reason, Reason::NetUnreach);
        assert_eq!(o(true, 1, 4).state, State::Closed);
        assert_eq!(o(true, 1, 3).reason, Reason::HostUnreach);
        assert_eq!(
            o(false, 11, 0),
            Outcome::new(State::Filtered, Reason::Unknown)
        );
    }
}
