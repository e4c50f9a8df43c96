//! The scan fingerprint: one short value that says which scan a shard
//! output (or a resume state) belongs to, so that outputs of different
//! scans are never merged as if they were parts of one.
//!
//! It hashes (SHA-256, first 64 bits) everything that decides which
//! `(address, port)` pairs a shard probes and in which order: the
//! addresses in order with the target that named them (exclusions are
//! already cut out of them), the ports of each protocol in order, the
//! seed, and the technique (`connect`, `udp`, with or without `-sV`).
//! The shard is not part of it: every shard of one scan has the same
//! fingerprint. Timing settings are not part of it either: they change
//! how fast, not what.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::ports::PortSpec;
use crate::scan::Proto;
use crate::targets::Targets;

/// A scan's fingerprint, written as 16 lower-case hex digits.
///
/// ```
/// use rawnet::scanid::ScanId;
/// use rawnet::scan::Proto;
/// use rawnet::targets::Targets;
/// let t = Targets::from_pairs([("h", "10.0.0.1".parse().unwrap())]);
/// let ports = "22,80".parse().unwrap();
/// let a = ScanId::of(&t, &[(Proto::Tcp, &ports)], 0, "connect");
/// assert_eq!(a, ScanId::of(&t, &[(Proto::Tcp, &ports)], 0, "connect"));
/// assert_ne!(a, ScanId::of(&t, &[(Proto::Tcp, &ports)], 1, "connect"));
/// assert_eq!(a.to_string().parse::<ScanId>().unwrap(), a);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScanId(u64);

impl ScanId {
    /// The fingerprint of a scan of `targets` on `protocols`' ports, in
    /// the order of `seed`, by `technique` (a short word naming how ports
    /// are probed; the binary passes e.g. `connect+version`).
    pub fn of(
        targets: &Targets,
        protocols: &[(Proto, &PortSpec)],
        seed: u64,
        technique: &str,
    ) -> ScanId {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        };
        field(b"portscan-scan-v1");
        field(technique.as_bytes());
        field(&seed.to_be_bytes());
        for (target, first, len) in targets.run_list() {
            field(target.as_bytes());
            field(first.to_string().as_bytes());
            field(&len.to_be_bytes());
        }
        for (proto, ports) in protocols {
            field(proto.to_string().as_bytes());
            let list: Vec<u8> = ports.iter().flat_map(u16::to_be_bytes).collect();
            field(&list);
        }
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        ScanId(u64::from_be_bytes(first))
    }
}

impl ScanId {
    /// The fingerprint of a scan of an explicit list of pairs
    /// (`--pairs`): the pairs in order, the seed and the technique.
    pub fn of_pairs(pairs: &[crate::pairs::Pair], seed: u64, technique: &str) -> ScanId {
        let mut h = Sha256::new();
        h.update(b"portscan-pairs-v1");
        h.update((technique.len() as u64).to_be_bytes());
        h.update(technique.as_bytes());
        h.update(seed.to_be_bytes());
        for p in pairs {
            let ip = match p.ip {
                std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                std::net::IpAddr::V6(v6) => v6.octets(),
            };
            h.update(ip);
            h.update(p.port.to_be_bytes());
            h.update([p.proto as u8]);
        }
        let digest = h.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        ScanId(u64::from_be_bytes(first))
    }
}

impl fmt::Display for ScanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Not 16 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadScanId;

impl fmt::Display for BadScanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scan id is 16 hex digits")
    }
}

impl std::error::Error for BadScanId {}

impl FromStr for ScanId {
    type Err = BadScanId;

    fn from_str(s: &str) -> Result<ScanId, BadScanId> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadScanId);
        }
        u64::from_str_radix(s, 16)
            .map(ScanId)
            .map_err(|_| BadScanId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_that_decides_the_pairs_changes_it() {
        let t =
            |name: &str, ip: &str| Targets::from_pairs([(name.to_string(), ip.parse().unwrap())]);
        let p: PortSpec = "22,80".parse().unwrap();
        let q: PortSpec = "80,22".parse().unwrap();
        let base = ScanId::of(&t("h", "10.0.0.1"), &[(Proto::Tcp, &p)], 0, "connect");
        let others = [
            ScanId::of(&t("h", "10.0.0.2"), &[(Proto::Tcp, &p)], 0, "connect"),
            ScanId::of(&t("g", "10.0.0.1"), &[(Proto::Tcp, &p)], 0, "connect"),
            ScanId::of(&t("h", "10.0.0.1"), &[(Proto::Udp, &p)], 0, "connect"),
            ScanId::of(
                &t("h", "10.0.0.1"),
                &[(Proto::Tcp, &p)],
                0,
                "connect+version",
            ),
            ScanId::of(&t("h", "10.0.0.1"), &[(Proto::Tcp, &p)], 9, "connect"),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        if p.iter().collect::<Vec<_>>() != q.iter().collect::<Vec<_>>() {
            assert_ne!(
                base,
                ScanId::of(&t("h", "10.0.0.1"), &[(Proto::Tcp, &q)], 0, "connect")
            );
        }
        assert_eq!(base.to_string().len(), 16);
        for bad in ["", "xyz", "0123456789abcdeg", "0123456789abcdef0"] {
            assert!(bad.parse::<ScanId>().is_err(), "{bad}");
        }
    }
}
