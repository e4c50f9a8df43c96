//! The ICMP echo request of privileged host discovery, as bytes: the
//! ICMP message only (the kernel writes the IP header of a raw ICMP
//! socket), carrying the scan's cookie in its identifier and sequence
//! number, so that an echo reply proves itself as a SYN-ACK does
//! ([`super::cookie`], [`super::Validator`]).

use super::cookie::Cookie;
use super::syn::internet_checksum;

/// Length of the echo request: the 8-byte ICMP header, no data.
pub const ECHO_LEN: usize = 8;

/// ICMPv4 echo request and reply types.
pub(crate) const ICMP4_ECHO: u8 = 8;
pub(crate) const ICMP4_ECHO_REPLY: u8 = 0;
/// ICMPv6 echo request and reply types.
pub(crate) const ICMP6_ECHO: u8 = 128;
pub(crate) const ICMP6_ECHO_REPLY: u8 = 129;

/// The identifier and sequence number that carry `cookie` (the cookie of
/// the address's "port" 0): the source port's bits as identifier, the
/// low 16 bits of the sequence number as sequence.
pub fn echo_ids(cookie: Cookie) -> (u16, u16) {
    (cookie.sport, cookie.seq as u16)
}

/// The echo request carrying `cookie`, ICMPv6 when `v6` (whose checksum
/// the kernel computes over its pseudo-header, so it is left 0 here).
pub fn echo_request(v6: bool, cookie: Cookie) -> [u8; ECHO_LEN] {
    let (id, seq) = echo_ids(cookie);
    let mut m = [0u8; ECHO_LEN];
    m[0] = if v6 { ICMP6_ECHO } else { ICMP4_ECHO };
    m[4..6].copy_from_slice(&id.to_be_bytes());
    m[6..8].copy_from_slice(&seq.to_be_bytes());
    if !v6 {
        let sum = internet_checksum(&m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_carries_its_cookie_and_a_valid_checksum() {
        let c = Cookie {
            seq: 0xdead_beef,
            sport: 61234,
        };
        let m = echo_request(false, c);
        assert_eq!((m[0], m[1]), (ICMP4_ECHO, 0));
        assert_eq!(u16::from_be_bytes([m[4], m[5]]), 61234);
        assert_eq!(u16::from_be_bytes([m[6], m[7]]), 0xbeef);
        assert_eq!(internet_checksum(&m), 0, "checksum verifies");
        let m6 = echo_request(true, c);
        assert_eq!((m6[0], &m6[2..4]), (ICMP6_ECHO, &[0u8, 0][..]));
        assert_eq!(&m6[4..], &m[4..]);
    }
}
