//! Replies to a SYN scan, as bytes: what came back on the raw sockets,
//! checked against the scan's [`CookieKey`] and turned into an
//! [`Answer`] about one probe, or into nothing.
//!
//! Parsing is `etherparse`'s (IPv4 options, IPv6 extension headers,
//! truncated ICMP quotes, every length checked); what a packet *means* is
//! decided here. A packet proves itself or is ignored: a SYN-ACK or RST
//! must acknowledge our cookie plus one on the cookie's source port; an
//! ICMP destination-unreachable
//! must quote a SYN of ours with the cookie in its sequence number. Any
//! other packet (our own SYN seen on loopback, traffic of other
//! programs, a forgery, a short or split packet) yields `None`.
//!
//! The TCP checksum is not checked: a raw socket sees packets of local
//! senders (loopback, a veth peer) before their checksum is filled in
//! (`CHECKSUM_PARTIAL`), so a right SYN-ACK would fail it; the 41 bits
//! of the cookie already make a damaged packet that passes as ours
//! unlikely (zmap does not check it either).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, IpSlice, LaxIpSlice, TcpSlice};

use super::cookie::CookieKey;
use super::echo::{ICMP4_ECHO_REPLY, ICMP6_ECHO_REPLY};

/// What a reply says about the probe it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerKind {
    /// SYN-ACK: something listens on the port (open).
    SynAck,
    /// RST: nothing listens there (closed).
    Reset,
    /// ICMP (v4 type 3, v6 type 1) destination unreachable, with its type
    /// and code (filtered; the code says why).
    Unreachable {
        /// ICMPv6 rather than ICMPv4.
        v6: bool,
        /// The ICMP type.
        icmp_type: u8,
        /// The ICMP code.
        code: u8,
    },
    /// An ICMP echo reply to our echo request (host discovery): the
    /// address is up. Its `port` is 0.
    EchoReply,
}

/// A validated reply: which probe it answers, on which attempt, and what
/// it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The target address probed.
    pub ip: IpAddr,
    /// The target port probed.
    pub port: u16,
    /// Which attempt it answers (modulo the cookie's attempt slots).
    pub attempt: u32,
    /// What it says.
    pub kind: AnswerKind,
}

/// Checks replies to the probes a scan sent from `ours` (one address per
/// family) under `key`.
#[derive(Clone, Copy, Debug)]
pub struct Validator {
    key: CookieKey,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

const ICMP4_UNREACH: u8 = 3;
const ICMP6_UNREACH: u8 = 1;

impl Validator {
    /// A validator for probes sent from `v4` and/or `v6` under `key`.
    pub fn new(key: CookieKey, v4: Option<Ipv4Addr>, v6: Option<Ipv6Addr>) -> Validator {
        Validator { key, v4, v6 }
    }

    /// A whole IPv4 packet as a raw `IPPROTO_TCP` or `IPPROTO_ICMP`
    /// socket delivers it (IP header first).
    pub fn ipv4(&self, packet: &[u8]) -> Option<Answer> {
        let ours = self.v4?;
        let ip = IpSlice::from_slice(packet).ok()?;
        let v4 = ip.ipv4()?;
        if ip.is_fragmenting_payload() || v4.header().destination_addr() != ours {
            return None;
        }
        let from = v4.header().source_addr();
        let payload = ip.payload();
        match payload.ip_number {
            IpNumber::TCP => self.tcp(ours.into(), from.into(), payload.payload),
            IpNumber::ICMP => {
                let icmp = payload.payload;
                if icmp.len() >= 8 && icmp[0] == ICMP4_ECHO_REPLY {
                    return self.echo(ours.into(), from.into(), icmp);
                }
                if icmp.len() < 8 || icmp[0] != ICMP4_UNREACH {
                    return None;
                }
                self.quoted(false, icmp[0], icmp[1], &icmp[8..])
            }
            _ => None,
        }
    }

    /// A TCP segment from `from`, as a raw IPv6 `IPPROTO_TCP` socket
    /// delivers it (no IPv6 header; the source from `recvfrom`).
    pub fn ipv6_tcp(&self, from: Ipv6Addr, segment: &[u8]) -> Option<Answer> {
        let ours = self.v6?;
        self.tcp(ours.into(), from.into(), segment)
    }

    /// An ICMPv6 message, as a raw `IPPROTO_ICMPV6` socket delivers it
    /// (no IPv6 header). The sender does not matter (a router may say
    /// it): the quoted SYN does.
    pub fn ipv6_icmp(&self, message: &[u8]) -> Option<Answer> {
        self.v6?;
        if message.len() < 8 || message[0] != ICMP6_UNREACH {
            return None;
        }
        self.quoted(true, message[0], message[1], &message[8..])
    }

    /// An ICMPv6 echo reply from `from`, as a raw `IPPROTO_ICMPV6`
    /// socket delivers it (no IPv6 header; the sender from `recvfrom`).
    pub fn ipv6_echo(&self, from: Ipv6Addr, message: &[u8]) -> Option<Answer> {
        let ours = self.v6?;
        if message.len() < 8 || message[0] != ICMP6_ECHO_REPLY || message[1] != 0 {
            return None;
        }
        self.echo(ours.into(), from.into(), message)
    }

    /// An echo reply (its ICMP header first) that proves itself by the
    /// cookie in its identifier and sequence number.
    fn echo(&self, ours: IpAddr, from: IpAddr, icmp: &[u8]) -> Option<Answer> {
        let id = u16::from_be_bytes([icmp[4], icmp[5]]);
        let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
        let attempt = self.key.check_echo(ours, from, id, seq)?;
        Some(Answer {
            ip: from,
            port: 0,
            attempt,
            kind: AnswerKind::EchoReply,
        })
    }

    fn tcp(&self, ours: IpAddr, from: IpAddr, segment: &[u8]) -> Option<Answer> {
        let tcp = TcpSlice::from_slice(segment).ok()?;
        if !tcp.ack() || !(tcp.rst() || tcp.syn()) || tcp.syn() && tcp.rst() {
            return None;
        }
        let seq = tcp.acknowledgment_number().wrapping_sub(1);
        let port = tcp.source_port();
        let attempt = self
            .key
            .check(ours, from, port, tcp.destination_port(), seq)?;
        let kind = if tcp.syn() {
            AnswerKind::SynAck
        } else {
            AnswerKind::Reset
        };
        Some(Answer {
            ip: from,
            port,
            attempt,
            kind,
        })
    }

    /// The packet an ICMP error quotes: our SYN (its IP header and at
    /// least the first 8 bytes of TCP: ports and sequence number).
    fn quoted(&self, v6: bool, icmp_type: u8, code: u8, quote: &[u8]) -> Option<Answer> {
        let (ip, _) = LaxIpSlice::from_slice(quote).ok()?;
        let payload = ip.payload();
        if payload.ip_number != IpNumber::TCP || payload.fragmented {
            return None;
        }
        let (src, dst) = (ip.source_addr(), ip.destination_addr());
        let ours: IpAddr = match (v6, src) {
            (false, IpAddr::V4(s)) if Some(s) == self.v4 => s.into(),
            (true, IpAddr::V6(s)) if Some(s) == self.v6 => s.into(),
            _ => return None,
        };
        let t = payload.payload;
        if t.len() < 8 {
            return None;
        }
        let sport = u16::from_be_bytes([t[0], t[1]]);
        let port = u16::from_be_bytes([t[2], t[3]]);
        let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
        let attempt = self.key.check(ours, dst, port, sport, seq)?;
        Some(Answer {
            ip: dst,
            port,
            attempt,
            kind: AnswerKind::Unreachable {
                v6,
                icmp_type,
                code,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::syn::{internet_checksum, syn_segment, tcp_checksum};
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
    const THEM: Ipv4Addr = Ipv4Addr::new(10, 9, 3, 7);
    const US6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
    const THEM6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 3, 7);

    fn key() -> CookieKey {
        CookieKey::from_parts(0x1234, 0x5678)
    }

    fn validator() -> Validator {
        Validator::new(key(), Some(US), Some(US6))
    }

    /// A TCP segment from `sport` to `dport` with these flags and ack,
    /// checksummed for `src` -> `dst`.
    fn segment(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, flags: u8, ack: u32) -> Vec<u8> {
        let mut s = vec![0u8; 20];
        s[0..2].copy_from_slice(&sport.to_be_bytes());
        s[2..4].copy_from_slice(&dport.to_be_bytes());
        s[4..8].copy_from_slice(&99u32.to_be_bytes());
        s[8..12].copy_from_slice(&ack.to_be_bytes());
        s[12] = 5 << 4;
        s[13] = flags;
        s[14..16].copy_from_slice(&65535u16.to_be_bytes());
        let sum = tcp_checksum(src, dst, &s);
        s[16..18].copy_from_slice(&sum.to_be_bytes());
        s
    }

    /// An IPv4 packet around `payload`.
    fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 20];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        let sum = internet_checksum(&p);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    /// The answer of THEM:`port` to attempt `attempt`, with `flags`.
    fn reply4(port: u16, attempt: u32, flags: u8) -> Vec<u8> {
        let c = key().cookie(US.into(), THEM.into(), port, attempt);
        let seg = segment(
            THEM.into(),
            US.into(),
            port,
            c.sport,
            flags,
            c.seq.wrapping_add(1),
        );
        ipv4(THEM, US, 6, &seg)
    }

    const SYNACK: u8 = 0x12;
    const RSTACK: u8 = 0x14;

    #[test]
    fn syn_ack_and_reset_prove_themselves() {
        let v = validator();
        let a = v.ipv4(&reply4(80, 0, SYNACK)).unwrap();
        assert_eq!(
            (a.ip, a.port, a.attempt, a.kind),
            (THEM.into(), 80, 0, AnswerKind::SynAck)
        );
        let a = v.ipv4(&reply4(22, 2, RSTACK)).unwrap();
        assert_eq!((a.port, a.attempt, a.kind), (22, 2, AnswerKind::Reset));
    }

    #[test]
    fn forged_cookies_are_ignored() {
        let v = validator();
        let c = key().cookie(US.into(), THEM.into(), 80, 0);
        // Wrong ack, by one and by a lot.
        for ack in [c.seq, c.seq.wrapping_add(2), 0, 0xffff_ffff] {
            let seg = segment(THEM.into(), US.into(), 80, c.sport, SYNACK, ack);
            assert_eq!(v.ipv4(&ipv4(THEM, US, 6, &seg)), None, "ack {ack}");
        }
        // Right ack from the wrong address, port, or to the wrong port.
        let other = Ipv4Addr::new(10, 9, 3, 8);
        let seg = segment(other.into(), US.into(), 80, c.sport, SYNACK, c.seq + 1);
        assert_eq!(v.ipv4(&ipv4(other, US, 6, &seg)), None);
        let seg = segment(THEM.into(), US.into(), 81, c.sport, SYNACK, c.seq + 1);
        assert_eq!(v.ipv4(&ipv4(THEM, US, 6, &seg)), None);
        let seg = segment(THEM.into(), US.into(), 80, 40000, SYNACK, c.seq + 1);
        assert_eq!(v.ipv4(&ipv4(THEM, US, 6, &seg)), None);
        // Sent to another local address.
        let seg = segment(THEM.into(), other.into(), 80, c.sport, SYNACK, c.seq + 1);
        assert_eq!(v.ipv4(&ipv4(THEM, other, 6, &seg)), None);
    }

    #[test]
    fn our_own_syn_and_odd_flags_are_not_answers() {
        let v = validator();
        let c = key().cookie(US.into(), THEM.into(), 80, 0);
        // Our SYN as loopback shows it to a raw socket (from us to us).
        let syn = syn_segment(US.into(), US.into(), c.sport, 80, c.seq);
        assert_eq!(v.ipv4(&ipv4(US, US, 6, &syn)), None);
        for flags in [
            0x10, /* ACK */
            0x02, /* SYN */
            0x16, /* SYN+RST+ACK */
            0x04, /* RST */
        ] {
            let seg = segment(THEM.into(), US.into(), 80, c.sport, flags, c.seq + 1);
            assert_eq!(v.ipv4(&ipv4(THEM, US, 6, &seg)), None, "flags {flags:#x}");
        }
    }

    #[test]
    fn a_damaged_cookie_is_ignored_whatever_the_checksum() {
        let v = validator();
        let p = reply4(80, 0, SYNACK);
        // The ack field (bytes 8..12 of TCP): any single flipped bit.
        for bit in 0..32 {
            let mut q = p.clone();
            q[20 + 8 + bit / 8] ^= 1 << (bit % 8);
            assert_eq!(v.ipv4(&q), None, "bit {bit}");
        }
        // The checksum field itself does not matter (see the module docs).
        let mut q = p.clone();
        q[20 + 16] ^= 0xff;
        assert!(v.ipv4(&q).is_some());
    }

    #[test]
    fn every_prefix_of_a_reply_is_ignored_and_nothing_panics() {
        let v = validator();
        let p = reply4(80, 1, SYNACK);
        for cut in 0..p.len() {
            assert_eq!(v.ipv4(&p[..cut]), None, "cut at {cut}");
        }
        assert!(v.ipv4(&p).is_some());
        // A packet whose IP length claims more than arrived.
        let mut long = p.clone();
        long[2..4].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(v.ipv4(&long), None);
        // Garbage of every length.
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(v.ipv4(&junk), None);
            assert_eq!(v.ipv6_tcp(THEM6, &junk), None);
            assert_eq!(v.ipv6_icmp(&junk), None);
        }
    }

    /// An ICMPv4 unreachable (code `code`) from `router` quoting the first
    /// `quote_tcp` bytes of our SYN to THEM:`port`.
    fn unreach4(router: Ipv4Addr, port: u16, code: u8, quote_tcp: usize, seq_xor: u32) -> Vec<u8> {
        let c = key().cookie(US.into(), THEM.into(), port, 1);
        let syn = syn_segment(US.into(), THEM.into(), c.sport, port, c.seq ^ seq_xor);
        let quoted = ipv4(US, THEM, 6, &syn);
        let mut icmp = vec![3, code, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted[..20 + quote_tcp]);
        let sum = internet_checksum(&icmp);
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        ipv4(router, US, 1, &icmp)
    }

    #[test]
    fn icmp_unreachable_quoting_our_syn_names_the_target() {
        let v = validator();
        let router = Ipv4Addr::new(10, 9, 0, 254);
        let a = v.ipv4(&unreach4(router, 443, 13, 8, 0)).unwrap();
        assert_eq!((a.ip, a.port, a.attempt), (THEM.into(), 443, 1));
        assert_eq!(
            a.kind,
            AnswerKind::Unreachable {
                v6: false,
                icmp_type: 3,
                code: 13
            }
        );
        // The whole SYN quoted works too; fewer than 8 bytes, or a quoted
        // SYN with another sequence number, does not.
        assert!(v.ipv4(&unreach4(router, 443, 1, 24, 0)).is_some());
        assert_eq!(v.ipv4(&unreach4(router, 443, 1, 7, 0)), None);
        assert_eq!(v.ipv4(&unreach4(router, 443, 1, 8, 0x100)), None);
        let p = unreach4(router, 443, 3, 8, 0);
        for cut in 0..p.len() {
            assert_eq!(v.ipv4(&p[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn ipv6_segments_and_icmpv6() {
        let v = validator();
        let c = key().cookie(US6.into(), THEM6.into(), 8080, 0);
        let seg = segment(THEM6.into(), US6.into(), 8080, c.sport, SYNACK, c.seq + 1);
        let a = v.ipv6_tcp(THEM6, &seg).unwrap();
        assert_eq!(
            (a.ip, a.port, a.kind),
            (THEM6.into(), 8080, AnswerKind::SynAck)
        );
        // The same segment claimed by another source fails its cookie.
        assert_eq!(v.ipv6_tcp(Ipv6Addr::LOCALHOST, &seg), None);
        let bad = segment(THEM6.into(), US6.into(), 8080, c.sport, SYNACK, c.seq);
        assert_eq!(v.ipv6_tcp(THEM6, &bad), None);

        // ICMPv6 port unreachable quoting the SYN (IPv6 header + TCP).
        let syn = syn_segment(US6.into(), THEM6.into(), c.sport, 8080, c.seq);
        let mut quoted = vec![0x60, 0, 0, 0];
        quoted.extend_from_slice(&(syn.len() as u16).to_be_bytes());
        quoted.extend_from_slice(&[6, 64]);
        quoted.extend_from_slice(&US6.octets());
        quoted.extend_from_slice(&THEM6.octets());
        quoted.extend_from_slice(&syn);
        let mut icmp = vec![1, 4, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let a = v.ipv6_icmp(&icmp).unwrap();
        assert_eq!(
            (a.ip, a.port, a.kind),
            (
                THEM6.into(),
                8080,
                AnswerKind::Unreachable {
                    v6: true,
                    icmp_type: 1,
                    code: 4
                }
            )
        );
        for cut in 0..icmp.len() {
            if cut < 8 + 40 + 8 {
                assert_eq!(v.ipv6_icmp(&icmp[..cut]), None, "cut at {cut}");
            }
        }
        // An IPv4-only validator ignores IPv6.
        let v4only = Validator::new(key(), Some(US), None);
        assert_eq!(v4only.ipv6_tcp(THEM6, &seg), None);
        assert_eq!(v4only.ipv6_icmp(&icmp), None);
    }

    #[test]
    fn echo_replies_prove_themselves_by_their_cookie() {
        use super::super::echo::echo_request;
        let v = validator();
        let c = key().cookie(US.into(), THEM.into(), 0, 1);
        let mut reply = echo_request(false, c);
        // The target turns our request into its reply: type 0, new sum.
        reply[0] = 0;
        reply[2..4].fill(0);
        let sum = internet_checksum(&reply);
        reply[2..4].copy_from_slice(&sum.to_be_bytes());
        let a = v.ipv4(&ipv4(THEM, US, 1, &reply)).unwrap();
        assert_eq!(
            (a.ip, a.port, a.attempt, a.kind),
            (IpAddr::V4(THEM), 0, 1, AnswerKind::EchoReply)
        );
        // From another address, or with a sequence number changed: not ours.
        let other = Ipv4Addr::new(10, 9, 3, 8);
        assert_eq!(v.ipv4(&ipv4(other, US, 1, &reply)), None);
        let mut forged = reply;
        forged[7] ^= 1;
        assert_eq!(v.ipv4(&ipv4(THEM, US, 1, &forged)), None);
        // Our own request seen on the way out is not an answer.
        let request = echo_request(false, c);
        assert_eq!(v.ipv4(&ipv4(THEM, US, 1, &request)), None);

        let c6 = key().cookie(US6.into(), THEM6.into(), 0, 0);
        let mut reply6 = echo_request(true, c6);
        reply6[0] = 129;
        let a = v.ipv6_echo(THEM6, &reply6).unwrap();
        assert_eq!((a.ip, a.kind), (IpAddr::V6(THEM6), AnswerKind::EchoReply));
        assert_eq!(v.ipv6_echo(US6, &reply6), None);
        assert_eq!(v.ipv6_echo(THEM6, &reply6[..7]), None);
    }
}
