//! The stateless proof a reply carries: a keyed hash of the probe's
//! addresses and ports in the SYN's sequence number and source port.
//!
//! A SYN scan keeps no socket per probe, so a reply must prove by itself
//! that it answers a probe of this scan (zmap's `validate`, masscan's
//! `syn-cookie`): the sequence number of our SYN is 32 bits of
//! SipHash-1-3 of (our address, the target address, the target port)
//! under a key drawn at random for each scan, and the target echoes it
//! plus one in its acknowledgement number (SYN-ACK and RST alike). The
//! source port carries more of the same hash (which block of
//! [`ATTEMPT_SLOTS`] ports) and, inside that block, the attempt number,
//! so a late answer says which attempt it answers without a table. A
//! packet that does not carry the right 32 + 9 bits is not ours and
//! changes nothing: a forger must guess them.
//!
//! Source ports lie in [`PORT_BASE`]`..=65535`, above Linux's default
//! ephemeral range (32768-60999), so the kernel never gives one of them to
//! a connection of its own (an `-sV` connect of the same scan) and our
//! SYN-ACKs never land on a real socket.
//!
//! Bytes and arithmetic only: no sockets, no clock.

use std::hash::Hasher;
use std::io;
use std::net::IpAddr;

use siphasher::sip::SipHasher13;

/// First source port of a SYN scan.
pub const PORT_BASE: u16 = 61000;

/// Source ports per hash block: attempt `k` of a probe uses port
/// `block + k % ATTEMPT_SLOTS`.
pub const ATTEMPT_SLOTS: u16 = 8;

/// Blocks of [`ATTEMPT_SLOTS`] source ports above [`PORT_BASE`].
const BLOCKS: u16 = (u16::MAX - PORT_BASE + 1) / ATTEMPT_SLOTS;

/// The per-scan secret of the hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret stays out of logs and panics.
        f.write_str("CookieKey(..)")
    }
}

/// What a SYN of a probe carries: its sequence number and source port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    /// The SYN's sequence number; the answer acknowledges `seq + 1`.
    pub seq: u32,
    /// Our source port for this attempt.
    pub sport: u16,
}

impl CookieKey {
    /// A fresh key from the kernel's random source (`getrandom(2)`).
    ///
    /// # Errors
    ///
    /// The `getrandom` error, should the kernel refuse (it does not block
    /// once the pool is initialised).
    pub fn random() -> io::Result<CookieKey> {
        let mut buf = [0u8; 16];
        let mut filled = 0;
        while filled < buf.len() {
            // SAFETY: the pointer and length describe the unfilled tail of
            // `buf`, which lives for the duration of the call.
            let n = unsafe {
                libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0)
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
                continue;
            }
            filled += n as usize;
        }
        let (a, b) = buf.split_at(8);
        Ok(CookieKey::from_parts(
            u64::from_le_bytes(a.try_into().expect("8 bytes")),
            u64::from_le_bytes(b.try_into().expect("8 bytes")),
        ))
    }

    /// A key given by its two halves (tests, and reproducible runs).
    pub fn from_parts(k0: u64, k1: u64) -> CookieKey {
        CookieKey { k0, k1 }
    }

    fn hash(&self, ours: IpAddr, theirs: IpAddr, port: u16) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        match (ours, theirs) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.write(&a.octets());
                h.write(&b.octets());
            }
            (a, b) => {
                h.write(&to_v6(a));
                h.write(&to_v6(b));
            }
        }
        h.write_u16(port);
        h.finish()
    }

    /// The cookie of attempt `attempt` (0 = first) of the probe from our
    /// address `ours` to `theirs` port `port`.
    pub fn cookie(&self, ours: IpAddr, theirs: IpAddr, port: u16, attempt: u32) -> Cookie {
        let h = self.hash(ours, theirs, port);
        let block = ((h >> 32) % u64::from(BLOCKS)) as u16;
        let slot = (attempt % u32::from(ATTEMPT_SLOTS)) as u16;
        Cookie {
            seq: h as u32,
            sport: PORT_BASE + block * ATTEMPT_SLOTS + slot,
        }
    }

    /// Checks a reply to our address `ours`, port `sport`, from `theirs`
    /// port `port`, whose probe's sequence number was `seq` (the reply's
    /// acknowledgement minus one, or the sequence number an ICMP error
    /// quotes). `Some(attempt slot)` when it proves itself, else `None`.
    pub fn check(
        &self,
        ours: IpAddr,
        theirs: IpAddr,
        port: u16,
        sport: u16,
        seq: u32,
    ) -> Option<u32> {
        if sport < PORT_BASE {
            return None;
        }
        let slot = (sport - PORT_BASE) % ATTEMPT_SLOTS;
        let want = self.cookie(ours, theirs, port, u32::from(slot));
        (want.seq == seq && want.sport == sport).then_some(u32::from(slot))
    }
}

impl CookieKey {
    /// Checks an echo reply from `theirs` to `ours` with identifier `id`
    /// and sequence number `seq` against the cookie of `theirs`'s "port" 0
    /// (see [`super::echo::echo_ids`]). `Some(attempt slot)` when it
    /// proves itself.
    pub fn check_echo(&self, ours: IpAddr, theirs: IpAddr, id: u16, seq: u16) -> Option<u32> {
        if id < PORT_BASE {
            return None;
        }
        let slot = (id - PORT_BASE) % ATTEMPT_SLOTS;
        let want = self.cookie(ours, theirs, 0, u32::from(slot));
        (super::echo::echo_ids(want) == (id, seq)).then_some(u32::from(slot))
    }
}

fn to_v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_cookie_checks_and_names_its_attempt() {
        let key = CookieKey::from_parts(1, 2);
        for attempt in 0..ATTEMPT_SLOTS as u32 {
            let c = key.cookie(ip("10.0.0.1"), ip("10.0.5.9"), 80, attempt);
            assert!(c.sport >= PORT_BASE);
            assert_eq!(
                key.check(ip("10.0.0.1"), ip("10.0.5.9"), 80, c.sport, c.seq),
                Some(attempt)
            );
        }
    }

    #[test]
    fn every_field_is_part_of_the_proof() {
        let key = CookieKey::from_parts(1, 2);
        let (us, them) = (ip("10.0.0.1"), ip("10.0.5.9"));
        let c = key.cookie(us, them, 80, 0);
        assert_eq!(key.check(us, them, 81, c.sport, c.seq), None);
        assert_eq!(key.check(us, ip("10.0.5.8"), 80, c.sport, c.seq), None);
        assert_eq!(key.check(ip("10.0.0.2"), them, 80, c.sport, c.seq), None);
        assert_eq!(key.check(us, them, 80, c.sport, c.seq ^ 1), None);
        // Another block of source ports, even with the right sequence.
        let other = c
            .sport
            .checked_add(ATTEMPT_SLOTS)
            .unwrap_or(c.sport - ATTEMPT_SLOTS);
        assert_eq!(key.check(us, them, 80, other, c.seq), None);
        assert_eq!(key.check(us, them, 80, 1234, c.seq), None);
        // Another key (another scan) does not accept it.
        let other_key = CookieKey::from_parts(1, 3);
        assert_eq!(other_key.check(us, them, 80, c.sport, c.seq), None);
    }

    #[test]
    fn ipv6_and_random_keys() {
        let key = CookieKey::random().unwrap();
        assert_ne!(key, CookieKey::random().unwrap());
        let (us, them) = (ip("fd00::1"), ip("fd00::2"));
        let c = key.cookie(us, them, 443, 3);
        assert_eq!(key.check(us, them, 443, c.sport, c.seq), Some(3));
        assert_eq!(format!("{key:?}"), "CookieKey(..)");
    }

    #[test]
    fn source_ports_spread_over_the_range() {
        let key = CookieKey::from_parts(7, 9);
        let us = ip("10.0.0.1");
        let ports: std::collections::HashSet<u16> = (0..2000u16)
            .map(|p| key.cookie(us, ip("10.0.0.2"), p, 0).sport)
            .collect();
        assert!(ports.len() > 400, "{} distinct source ports", ports.len());
        assert!(ports.iter().all(|&p| p >= PORT_BASE));
    }
}
