//! The TCP SYN of a SYN scan, as bytes: the TCP header with its checksum
//! over the IPv4 or IPv6 pseudo-header ([`syn_segment`]: the kernel writes
//! the IPv6 header), and for IPv4 the whole packet ([`ipv4_syn_packet`]:
//! sent with `IP_HDRINCL`, which spares the kernel building a header for
//! each SYN).
//!
//! The segment looks like nmap's: window 1024, one option (MSS 1460), so
//! a target answers it as it answers any client's SYN.

use std::net::{IpAddr, Ipv4Addr};

/// Length of the SYN segment: a 20-byte header and the 4-byte MSS option.
pub const SYN_LEN: usize = 24;

const TCP: u8 = 6;
const FLAG_SYN: u8 = 0x02;
const WINDOW: u16 = 1024;
const MSS: u16 = 1460;

/// The SYN from our `sport` to `dport`, sequence number `seq`, its
/// checksum computed for the addresses `ours` -> `theirs` (both of one
/// family; a mixed pair is a bug of the caller and panics in debug
/// builds, and makes a segment the target drops in release builds).
pub fn syn_segment(
    ours: IpAddr,
    theirs: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
) -> [u8; SYN_LEN] {
    debug_assert_eq!(ours.is_ipv4(), theirs.is_ipv4(), "one family");
    let mut s = [0u8; SYN_LEN];
    s[0..2].copy_from_slice(&sport.to_be_bytes());
    s[2..4].copy_from_slice(&dport.to_be_bytes());
    s[4..8].copy_from_slice(&seq.to_be_bytes());
    // ack 0; data offset 6 words (header + option), flags SYN.
    s[12] = ((SYN_LEN / 4) as u8) << 4;
    s[13] = FLAG_SYN;
    s[14..16].copy_from_slice(&WINDOW.to_be_bytes());
    // checksum (16..18) is 0 while it is computed, below; urgent pointer (18..20) stays 0.
    s[20] = 2; // kind: MSS
    s[21] = 4; // length
    s[22..24].copy_from_slice(&MSS.to_be_bytes());
    let sum = tcp_checksum(ours, theirs, &s);
    s[16..18].copy_from_slice(&sum.to_be_bytes());
    s
}

/// Length of the IPv4 SYN packet: a 20-byte IPv4 header and the segment.
pub const IPV4_SYN_LEN: usize = 20 + SYN_LEN;

/// Time to live of our IPv4 SYNs (Linux's default).
const TTL: u8 = 64;

/// The whole IPv4 packet of the SYN [`syn_segment`] makes, for a raw
/// socket with `IP_HDRINCL`: identification 0 and "don't fragment" (as a
/// Linux TCP SYN), the header checksum 0 (the kernel always writes it).
pub fn ipv4_syn_packet(
    ours: Ipv4Addr,
    theirs: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
) -> [u8; IPV4_SYN_LEN] {
    let mut p = [0u8; IPV4_SYN_LEN];
    p[0] = 0x45; // version 4, header of 5 words
    p[2..4].copy_from_slice(&(IPV4_SYN_LEN as u16).to_be_bytes());
    p[6] = 0x40; // don't fragment
    p[8] = TTL;
    p[9] = TCP;
    p[12..16].copy_from_slice(&ours.octets());
    p[16..20].copy_from_slice(&theirs.octets());
    p[20..].copy_from_slice(&syn_segment(ours.into(), theirs.into(), sport, dport, seq));
    p
}

/// The TCP checksum of `segment` (its checksum field zero, or holding a
/// checksum: then the result is 0 when it is right) for the pseudo-header
/// of `src` -> `dst` (RFC 9293 3.1, RFC 8200 8.1).
pub fn tcp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            sum += add_words(&a.octets());
            sum += add_words(&b.octets());
        }
        (a, b) => {
            sum += add_words(&v6_octets(a));
            sum += add_words(&v6_octets(b));
        }
    }
    sum += u64::from(TCP);
    sum += segment.len() as u64;
    sum += add_words(segment);
    fold(sum)
}

/// The Internet checksum (RFC 1071) of `bytes` alone (ICMP).
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    fold(add_words(bytes))
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn add_words(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(2);
    let mut sum: u64 = chunks
        .by_ref()
        .map(|w| u64::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::TcpSlice;

    #[test]
    fn the_ipv4_packet_carries_the_segment_behind_a_dont_fragment_header() {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.7.3".parse().unwrap());
        let p = ipv4_syn_packet(a, b, 61234, 80, 7);
        let ip = etherparse::Ipv4HeaderSlice::from_slice(&p).unwrap();
        assert_eq!((ip.source_addr(), ip.destination_addr()), (a, b));
        assert_eq!(ip.protocol(), etherparse::IpNumber::TCP);
        assert_eq!(usize::from(ip.total_len()), IPV4_SYN_LEN);
        assert!(ip.dont_fragment() && ip.ttl() == 64 && ip.identification() == 0);
        assert_eq!(p[20..], syn_segment(a.into(), b.into(), 61234, 80, 7));
    }

    #[test]
    fn ipv4_syn_parses_and_its_checksum_is_the_one_etherparse_computes() {
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.7.3".parse().unwrap());
        let s = syn_segment(a, b, 61234, 80, 0xdead_beef);
        let tcp = TcpSlice::from_slice(&s).unwrap();
        assert_eq!((tcp.source_port(), tcp.destination_port()), (61234, 80));
        assert_eq!(tcp.sequence_number(), 0xdead_beef);
        assert!(tcp.syn() && !tcp.ack() && !tcp.rst());
        assert_eq!(tcp.window_size(), 1024);
        assert_eq!(tcp.options(), &[2, 4, 0x05, 0xb4]);
        let (IpAddr::V4(a4), IpAddr::V4(b4)) = (a, b) else {
            unreachable!()
        };
        assert_eq!(
            tcp.calc_checksum_ipv4(a4.octets(), b4.octets()).unwrap(),
            tcp.checksum()
        );
        assert_eq!(tcp_checksum(a, b, &s), 0, "a right checksum sums to 0");
    }

    #[test]
    fn ipv6_syn_checksum_covers_the_pseudo_header() {
        let a: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
        let b: std::net::Ipv6Addr = "fd00::2:1".parse().unwrap();
        let s = syn_segment(a.into(), b.into(), 65535, 443, 7);
        let tcp = TcpSlice::from_slice(&s).unwrap();
        assert_eq!(
            tcp.calc_checksum_ipv6(a.octets(), b.octets()).unwrap(),
            tcp.checksum()
        );
        // The same segment is wrong for any other destination.
        // (fd00::3 would sum like fd00::2:1: the checksum is a sum of words.)
        let c: std::net::Ipv6Addr = "fd00::4".parse().unwrap();
        assert_ne!(tcp_checksum(a.into(), c.into(), &s), 0);
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(internet_checksum(&[0x01]), !0x0100);
        assert_eq!(internet_checksum(&[]), 0xffff);
    }
}
