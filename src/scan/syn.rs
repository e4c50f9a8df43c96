//! The SYN scan technique (nmap's `-sS`): one hand-built TCP SYN per
//! attempt on a raw socket shared by every probe, replies matched
//! statelessly by the cookie they carry. A [`Prober`] whose flights
//! share its sockets: the engine keeps the retry schedule of the probes
//! not yet answered, this module what the packets mean.
//!
//! What one probe costs here is 44 bytes (IPv4, header included) or 24
//! (IPv6) of a `sendmmsg()` batch and,
//! when the target answers, one packet read: no socket, no descriptor, no
//! ephemeral port. [`Prober::start`] only queues the SYN; the engine has
//! the queue sent after each round of starts ([`Prober::send_queued`]),
//! up to [`SEND_BATCH`] packets a system call, by the send path of
//! `syn_send` (on two threads when there are two CPUs). The sockets (a raw
//! `IPPROTO_TCP` one and a raw ICMP one per family) are opened once,
//! bound to the address that routes to the targets, and read by
//! [`Prober::demux`], which validates each packet with
//! [`crate::packet::Validator`] and names the probe it answers by its
//! match key ([`match_key`]). A reply that does not prove itself is
//! dropped there; a proven reply that no flight waits for any more (a
//! duplicate, an answer to a retry after the first answer) is dropped by
//! the engine, which holds the table of waiting flights.
//!
//! With host discovery on, the prober also sends an ICMP echo request to
//! each address being discovered ([`Prober::start_echo`]), on the raw
//! ICMP socket, its cookie in the identifier and sequence number; an echo
//! reply that proves itself makes the address up.
//!
//! States and reasons are nmap's for `-sS`: a SYN-ACK is `open`
//! (`syn-ack`), a RST `closed` (`reset`), an ICMP unreachable
//! `filtered` with its reason, silence after every attempt `filtered`
//! (`no-response`).
//!
//! The kernel answers each SYN-ACK we receive with a RST of its own: no
//! socket of ours owns the connection it opens (our source ports lie
//! above the ephemeral range, see [`crate::packet::cookie`]). nmap and
//! zmap behave the same; the target sees a half-open connection torn
//! down at once, and no service ever sees a connection.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, BorrowedFd};

use crate::packet::{echo_request, Answer, AnswerKind, CookieKey, Validator, ECHO_LEN};
use crate::rawsock::{Outgoing, RawSocket, RECV_BATCH, SEND_BATCH};

use super::classify::{icmp_reason, Reason};
use super::syn_send::{send_all, Queued, SendPath};
use super::technique::{Outcome, Prober, Step, Technique};
use super::{Probe, ProbeSource, State};

/// Most SYNs unanswered at once (a memory bound: the engine keeps about
/// 300 bytes per flight; the rate, not this, sets the pace).
pub(crate) const MAX_IN_FLIGHT: usize = 100_000;

/// Room for replies that arrive while the loop is busy sending: 8 MiB
/// per receiving socket (a reply costs the kernel about 1 KiB of buffer
/// accounting, so some thousands of replies).
const RECV_BUFFER: usize = 8 << 20;

/// Largest packet read: a reply to a SYN is small; an ICMP error quotes
/// at most a few hundred bytes.
const MAX_PACKET: usize = 2048;

/// The match key of the echo request to `ip`: its "port" 0's key with
/// bit 62 flipped, which no IPv4 probe's key has (see [`match_key`]).
pub(crate) fn echo_key(hash: &CookieKey, ip: IpAddr) -> u64 {
    match_key(hash, ip, 0) ^ (1 << 62)
}

/// The match key of the probe of `ip`:`port`: exact for IPv4 (address
/// and port in 48 bits); for IPv6 a keyed hash of them with the top bit
/// set, so the two families never share a key.
pub(crate) fn match_key(hash: &CookieKey, ip: IpAddr, port: u16) -> u64 {
    match ip {
        IpAddr::V4(v4) => (u64::from(u32::from(v4)) << 16) | u64::from(port),
        IpAddr::V6(_) => {
            let c = hash.cookie(ip, ip, port, 0);
            (1 << 63) | (u64::from(c.seq) << 16) | u64::from(port) | (u64::from(c.sport) << 48)
        }
    }
}

/// One family's sockets.
#[derive(Debug)]
struct Family {
    tcp: RawSocket,
    icmp: RawSocket,
}

impl Family {
    fn open(src: IpAddr) -> io::Result<Family> {
        let v6 = src.is_ipv6();
        let tcp = RawSocket::tcp(v6)?;
        // Before anything is queued: only what may answer a probe.
        tcp.attach_filter(&crate::packet::filter::tcp_replies(v6))?;
        tcp.bind(src)?;
        tcp.set_dont_fragment()?;
        tcp.set_header_included()?;
        // Echo requests go out from, and every reply comes to, `src`.
        let icmp = RawSocket::icmp(v6)?;
        icmp.bind(src)?;
        // As for the SYNs: no IP identifier to pick for each echo request.
        icmp.set_dont_fragment()?;
        for s in [&tcp, &icmp] {
            s.set_recv_buffer(RECV_BUFFER)?;
        }
        Ok(Family { tcp, icmp })
    }
}

/// The sending and receiving side of a SYN scan (see the module docs).
#[derive(Debug)]
pub(crate) struct SynProber {
    key: CookieKey,
    validator: Validator,
    v4: Option<(Ipv4Addr, Family)>,
    v6: Option<(Ipv6Addr, Family)>,
    bufs: Vec<Vec<u8>>,
    /// SYNs started and not sent yet.
    queue: Vec<Queued>,
    /// What sends them.
    send: SendPath,
    /// Echo requests started and not sent yet: `(address, attempt)`.
    echoes: Vec<(IpAddr, u32)>,
}

/// One SYN in flight: what its reply must name.
#[derive(Debug)]
pub(crate) struct SynFlight {
    key: u64,
    ip: IpAddr,
    port: u16,
    /// An echo request (discovery), not a SYN.
    echo: bool,
}

/// What a flight hears: a packet that proved itself, or the send path's
/// refusal of its SYN.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Heard {
    Packet(Answer),
    Refused(Reason),
}

impl SynProber {
    /// Opens the raw sockets for probes sent from `v4` and/or `v6`, with
    /// a fresh random cookie key.
    ///
    /// # Errors
    ///
    /// `EPERM` without `CAP_NET_RAW`; any other error of `socket()`,
    /// `bind()` or `setsockopt()`.
    pub(crate) fn open(v4: Option<Ipv4Addr>, v6: Option<Ipv6Addr>) -> io::Result<SynProber> {
        let key = CookieKey::random()?;
        let v4 = v4
            .map(|a| Family::open(a.into()).map(|f| (a, f)))
            .transpose()?;
        let v6 = v6
            .map(|a| Family::open(a.into()).map(|f| (a, f)))
            .transpose()?;
        let send = SendPath::new(
            key,
            v4.as_ref().map(|(a, f)| (*a, &f.tcp)),
            v6.as_ref().map(|(a, f)| (*a, &f.tcp)),
        )?;
        Ok(SynProber {
            key,
            validator: Validator::new(key, v4.as_ref().map(|x| x.0), v6.as_ref().map(|x| x.0)),
            v4,
            v6,
            send,
            bufs: vec![vec![0; MAX_PACKET]; RECV_BATCH],
            queue: Vec::with_capacity(SEND_BATCH),
            echoes: Vec::new(),
        })
    }

    /// Opens the raw sockets for the probes of `source`, sent from the
    /// address that routes to them (see [`sources`]).
    ///
    /// # Errors
    ///
    /// As [`SynProber::open`], and a failure to find a route.
    pub(crate) fn for_source(source: &dyn ProbeSource) -> io::Result<SynProber> {
        let (v4, v6) = sources(source)?;
        SynProber::open(v4, v6)
    }

    /// The match key of the probe of `ip`:`port` (see [`match_key`]).
    pub(crate) fn key_of(&self, ip: IpAddr, port: u16) -> u64 {
        match_key(&self.key, ip, port)
    }

    /// Sends the echo requests queued, one `sendmmsg()` per family and
    /// batch; what the send path refused for good goes to `refused`.
    /// False when it is full (the rest stays queued).
    fn send_echoes(&mut self, refused: &mut Vec<(u64, Heard)>) -> bool {
        let key = self.key;
        let (sent, full) = send_all(
            &self.echoes,
            |rest| self.send_echo_batch(rest),
            |&(ip, _), reason| refused.push((echo_key(&key, ip), Heard::Refused(reason))),
        );
        self.echoes.drain(..sent);
        !full
    }

    /// Sends the echo requests of `(address, attempt)` in one
    /// `sendmmsg()` (at most [`SEND_BATCH`], all of the first one's
    /// family), as the send path does SYNs.
    fn send_echo_batch(&self, echoes: &[(IpAddr, u32)]) -> io::Result<usize> {
        let Some(&(first, _)) = echoes.first() else {
            return Ok(0);
        };
        let (src, sock): (IpAddr, &RawSocket) = match first {
            IpAddr::V4(_) => self.v4.as_ref().map(|(a, f)| ((*a).into(), &f.icmp)),
            IpAddr::V6(_) => self.v6.as_ref().map(|(a, f)| ((*a).into(), &f.icmp)),
        }
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))?;
        let n = echoes
            .iter()
            .take(SEND_BATCH)
            .take_while(|e| e.0.is_ipv6() == first.is_ipv6())
            .count();
        let mut messages = [[0u8; ECHO_LEN]; SEND_BATCH];
        for (m, &(ip, attempt)) in messages.iter_mut().zip(&echoes[..n]) {
            *m = echo_request(ip.is_ipv6(), self.key.cookie(src, ip, 0, attempt));
        }
        let out: Vec<Outgoing<'_>> = echoes[..n]
            .iter()
            .zip(&messages)
            .map(|(e, m)| Outgoing { dst: e.0, bytes: m })
            .collect();
        sock.send_batch(&out)
    }

    /// The sockets replies arrive on, in the order [`SynProber::demux`]
    /// numbers them.
    pub(crate) fn sockets(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = Vec::with_capacity(4);
        for f in [
            self.v4.as_ref().map(|x| &x.1),
            self.v6.as_ref().map(|x| &x.1),
        ]
        .into_iter()
        .flatten()
        {
            v.push(f.tcp.as_fd());
            v.push(f.icmp.as_fd());
        }
        v
    }

    fn socket(&self, index: usize) -> Option<&RawSocket> {
        let fams = [
            self.v4.as_ref().map(|x| &x.1),
            self.v6.as_ref().map(|x| &x.1),
        ];
        let f = fams.into_iter().flatten().nth(index / 2)?;
        Some(if index.is_multiple_of(2) {
            &f.tcp
        } else {
            &f.icmp
        })
    }

    /// Reads every packet waiting on socket `index` (of
    /// [`SynProber::sockets`]) and pushes `(match key, answer)` for each
    /// that proves itself; the rest are dropped. Stops when the socket is
    /// empty, or after a bounded number of packets, so a flood of traffic
    /// that is not ours cannot keep the loop from sending and timing out.
    ///
    /// # Errors
    ///
    /// A failure of the socket itself (not `WouldBlock`).
    fn read_into(
        &self,
        index: usize,
        bufs: &mut [Vec<u8>],
        out: &mut Vec<(u64, Heard)>,
    ) -> io::Result<()> {
        let Some(sock) = self.socket(index) else {
            return Ok(());
        };
        for _ in 0..64 {
            let got = sock.recv_batch(bufs)?;
            for (i, &(n, from)) in got.iter().enumerate() {
                let packet = &bufs[i][..n];
                let answer = match (sock.is_v6(), from, index % 2) {
                    (false, _, _) => self.validator.ipv4(packet),
                    (true, IpAddr::V6(from), 0) => self.validator.ipv6_tcp(from, packet),
                    (true, _, _) => self.validator.ipv6_icmp(packet),
                };
                let answer = match (answer, sock.is_v6(), from, index % 2) {
                    (None, true, IpAddr::V6(from), 1) => self.validator.ipv6_echo(from, packet),
                    (answer, ..) => answer,
                };
                if let Some(a) = answer {
                    let key = match a.kind {
                        AnswerKind::EchoReply => echo_key(&self.key, a.ip),
                        _ => match_key(&self.key, a.ip, a.port),
                    };
                    out.push((key, Heard::Packet(a)));
                }
            }
            if got.len() < bufs.len() {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Prober for SynProber {
    type Flight = SynFlight;
    type Session = ();
    type Reply = Heard;
    /// One set of raw sockets: each would see every reply.
    const MAX_WORKERS: Option<usize> = Some(1);
    const HOLDS_DESCRIPTORS: bool = false;
    const GROUP_TIMING: bool = true;

    fn technique(&self) -> Technique {
        Technique::Syn
    }

    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        _: &mut (),
    ) -> Result<(SynFlight, Step), Step> {
        let key = self.key_of(probe.ip, probe.port);
        self.queue.push((probe.ip, probe.port, attempt));
        let flight = SynFlight {
            key,
            ip: probe.ip,
            port: probe.port,
            echo: false,
        };
        Ok((flight, Step::Expect(key)))
    }

    const ECHO: bool = true;

    fn start_echo(&mut self, probe: &Probe, attempt: u32) -> Result<(SynFlight, Step), Step> {
        let key = echo_key(&self.key, probe.ip);
        self.echoes.push((probe.ip, attempt));
        let flight = SynFlight {
            key,
            ip: probe.ip,
            port: 0,
            echo: true,
        };
        Ok((flight, Step::Expect(key)))
    }

    fn fd(_: &SynFlight) -> Option<BorrowedFd<'_>> {
        None
    }

    fn ready(&mut self, _: &mut SynFlight) -> Step {
        // No flight has a socket of its own; never called.
        Step::Unanswered(self.silence())
    }

    fn shared_sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.sockets()
    }

    fn demux(&mut self, socket: usize, replies: &mut Vec<(u64, Heard)>) -> io::Result<()> {
        let mut bufs = std::mem::take(&mut self.bufs);
        let r = self.read_into(socket, &mut bufs, replies);
        self.bufs = bufs;
        r
    }

    fn send_queued(&mut self, refused: &mut Vec<(u64, Heard)>) -> io::Result<bool> {
        if !self.send_echoes(refused) {
            return Ok(false);
        }
        let mut gone = Vec::new();
        let took = self.send.send(&mut self.queue, &mut gone);
        for (ip, port, reason) in gone {
            refused.push((self.key_of(ip, port), Heard::Refused(reason)));
        }
        Ok(took)
    }

    fn sending(&self) -> bool {
        self.send.busy()
    }

    fn dropped(&self) -> u64 {
        [
            &self.v4.as_ref().map(|x| &x.1),
            &self.v6.as_ref().map(|x| &x.1),
        ]
        .into_iter()
        .flatten()
        .flat_map(|f| [&f.tcp, &f.icmp])
        .map(|s| s.drops().unwrap_or(0))
        .sum()
    }

    fn matched(&mut self, flight: &mut SynFlight, reply: Heard) -> Step {
        match reply {
            Heard::Packet(a)
                if a.ip != flight.ip
                    || a.port != flight.port
                    || (a.kind == AnswerKind::EchoReply) != flight.echo =>
            {
                // Another probe under the same (IPv6, hashed) key.
                Step::Expect(flight.key)
            }
            Heard::Packet(a) => {
                let (state, reason) = verdict(a.kind);
                Step::Done(Outcome::new(state, reason))
            }
            Heard::Refused(reason) => Step::Done(Outcome::new(State::Filtered, reason)),
        }
    }

    fn silence(&self) -> Outcome {
        Outcome::new(State::Filtered, Reason::NoResponse)
    }
}

/// The routing source address of each family of `source`'s probes.
fn sources(source: &dyn ProbeSource) -> io::Result<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let (mut v4, mut v6) = (None, None);
    // The first probes of each family name the route; a scan whose
    // targets lie behind several interfaces sends from the first one's.
    let n = source.len();
    let step = (n / 4096).max(1);
    let mut i = 0;
    while i < n && (v4.is_none() || v6.is_none()) {
        match source.probe(i).ip {
            IpAddr::V4(a) if v4.is_none() => {
                if let IpAddr::V4(s) = crate::rawsock::route_source(a.into())? {
                    v4 = Some(s);
                }
            }
            IpAddr::V6(a) if v6.is_none() => {
                if let IpAddr::V6(s) = crate::rawsock::route_source(a.into())? {
                    v6 = Some(s);
                }
            }
            _ => {}
        }
        i += step;
    }
    Ok((v4, v6))
}

/// What an answer means for its port, as nmap -sS says it.
pub(crate) fn verdict(kind: AnswerKind) -> (State, Reason) {
    match kind {
        AnswerKind::SynAck => (State::Open, Reason::SynAck),
        AnswerKind::Reset => (State::Closed, Reason::Reset),
        AnswerKind::Unreachable {
            v6,
            icmp_type,
            code,
        } => {
            let reason = match (v6, code) {
                // Port unreachable for TCP: nmap says port-unreach.
                (false, 3) | (true, 4) => Reason::PortUnreach,
                _ => icmp_reason(v6, icmp_type, code).unwrap_or(Reason::Unknown),
            };
            (State::Filtered, reason)
        }
        // The address is up; the state is never reported (an echo
        // request is a discovery probe, and those are silent).
        AnswerKind::EchoReply => (State::Open, Reason::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_nmap_states_and_reasons() {
        assert_eq!(verdict(AnswerKind::SynAck), (State::Open, Reason::SynAck));
        assert_eq!(verdict(AnswerKind::Reset), (State::Closed, Reason::Reset));
        let un = |v6, icmp_type, code| AnswerKind::Unreachable {
            v6,
            icmp_type,
            code,
        };
        assert_eq!(
            verdict(un(false, 3, 3)),
            (State::Filtered, Reason::PortUnreach)
        );
        assert_eq!(
            verdict(un(false, 3, 13)),
            (State::Filtered, Reason::AdminProhibited)
        );
        assert_eq!(
            verdict(un(false, 3, 1)),
            (State::Filtered, Reason::HostUnreach)
        );
        assert_eq!(
            verdict(un(true, 1, 4)),
            (State::Filtered, Reason::PortUnreach)
        );
        assert_eq!(
            verdict(un(true, 1, 1)),
            (State::Filtered, Reason::AdminProhibited)
        );
        assert_eq!(
            verdict(un(true, 1, 3)),
            (State::Filtered, Reason::HostUnreach)
        );
    }

    #[test]
    fn match_keys_are_exact_for_ipv4_and_apart_between_families() {
        let k = CookieKey::from_parts(3, 4);
        let a: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(match_key(&k, a, 80), 0x0a01_0203_0050);
        assert_ne!(match_key(&k, a, 80), match_key(&k, a, 81));
        let b: IpAddr = "fd00::1".parse().unwrap();
        assert!(match_key(&k, b, 80) >> 63 == 1);
        assert!(match_key(&k, a, 65535) >> 63 == 0);
        assert_ne!(
            match_key(&k, b, 80),
            match_key(&k, "fd00::2".parse().unwrap(), 80)
        );
    }
}
