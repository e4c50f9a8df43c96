//! The probe plan: which `(address, port)` pairs to probe, in which order,
//! and which of them belong to this machine when a scan is split with
//! `--shard I/N`.
//!
//! The space is the product *addresses x ports*, numbered `0..total` (the
//! address-major position `a * ports + p`). It is never materialised: a
//! [`Plan`] maps an index to a [`Probe`] on demand, so a /8 x 65535 plan
//! holds only the target runs and the port ranges.
//!
//! **Order.** Position `j` of the scan probes pair `π(j)`, where `π` is a
//! seeded pseudo-random permutation of `0..total` ([`Permutation`]: a
//! balanced Feistel network with cycle walking, as in zmap/masscan), so
//! consecutive connects spread over addresses and ports instead of
//! hammering one host, and what the user typed does not decide the order.
//!
//! **Sharding.** Shard `I` of `N` ([`Shard`], 0-based) takes the positions
//! `j` with `j % N == I`. Since `π` is a bijection, the shards are disjoint
//! and together cover every pair exactly once, provided every shard uses
//! the same targets (same addresses in the same order), ports and seed.
//! Each shard is itself spread over the whole space.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::ports::PortSpec;
use crate::scan::{Probe, ProbeSource, Proto};
use crate::targets::Targets;

/// One part of a scan split `count` ways: `index` in `0..count`.
///
/// Written `I/N` on the command line (`--shard 0/4` .. `--shard 3/4`).
///
/// ```
/// use rawnet::shard::Shard;
/// let s: Shard = "2/4".parse().unwrap();
/// assert_eq!((s.index(), s.count()), (2, 4));
/// assert!("4/4".parse::<Shard>().is_err());
/// assert!("1/0".parse::<Shard>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// The whole scan, unsplit (`0/1`).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u64, count: u64) -> Option<Shard> {
        (index < count).then_some(Shard { index, count })
    }

    /// This shard's number, 0-based.
    pub fn index(self) -> u64 {
        self.index
    }

    /// How many shards the scan is split into.
    pub fn count(self) -> u64 {
        self.count
    }

    /// How many of the positions `0..total` belong to this shard.
    pub fn len_of(self, total: u64) -> u64 {
        if self.index >= total {
            0
        } else {
            (total - self.index - 1) / self.count + 1
        }
    }

    /// The global position of this shard's `k`-th probe (`k < len_of`).
    pub fn position(self, k: u64) -> u64 {
        self.index + k * self.count
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let error = |reason: &'static str| ShardError::new(s, reason);
        let (i, n) = s.split_once('/').ok_or(error("expected I/N, like 0/4"))?;
        let number = |t: &str| {
            Some(t.trim())
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse::<u64>().ok())
        };
        let (i, n) = match (number(i), number(n)) {
            (Some(i), Some(n)) => (i, n),
            _ => return Err(error("expected I/N with whole numbers, like 0/4")),
        };
        if n == 0 {
            return Err(error("the number of shards N must be at least 1"));
        }
        Shard::new(i, n).ok_or(error("the shard index I is 0-based and must be below N"))
    }
}

/// Why a `--shard` value was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardError {
    text: String,
    reason: Cow<'static, str>,
}

impl ShardError {
    /// `text` (what was typed) was rejected for `reason`.
    pub(crate) fn new(text: &str, reason: impl Into<Cow<'static, str>>) -> ShardError {
        ShardError {
            text: text.chars().take(80).collect(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid shard '{}': {}", self.text, self.reason)
    }
}

impl std::error::Error for ShardError {}

/// A seeded pseudo-random bijection of `0..size`.
///
/// A balanced Feistel network permutes the smallest even-bit-width domain
/// `0..2^(2h)` that holds `size` (less than 4 times `size`); values that
/// land outside `0..size` are encrypted again ("cycle walking") until they
/// land inside, which keeps the map a bijection of `0..size` at an
/// expected cost under 4 network evaluations. Pure integer arithmetic: the
/// same seed gives the same order on every machine.
///
/// ```
/// use rawnet::shard::Permutation;
/// let p = Permutation::new(10, 7);
/// let mut seen: Vec<u64> = (0..10).map(|i| p.apply(i)).collect();
/// seen.sort();
/// assert_eq!(seen, (0..10).collect::<Vec<_>>());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permutation {
    size: u64,
    half_bits: u32,
    keys: [u64; ROUNDS],
}

const ROUNDS: usize = 6;

impl Permutation {
    /// The permutation of `0..size` chosen by `seed`.
    pub fn new(size: u64, seed: u64) -> Permutation {
        // Bits needed for the largest value, size - 1; at least 2 so each
        // half has a bit.
        let bits = (64 - size.saturating_sub(1).leading_zeros()).max(2);
        let half_bits = bits.div_ceil(2);
        let mut state = seed;
        let keys = std::array::from_fn(|_| splitmix64(&mut state));
        Permutation {
            size,
            half_bits,
            keys,
        }
    }

    /// The size of the permuted range.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The image of `index` (`index < size`).
    pub fn apply(&self, index: u64) -> u64 {
        debug_assert!(index < self.size, "{index} >= {}", self.size);
        let mut x = index;
        loop {
            x = self.feistel(x);
            if x < self.size {
                return x;
            }
        }
    }

    fn feistel(&self, x: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut left, mut right) = (x >> self.half_bits, x & mask);
        for key in &self.keys {
            let next = left ^ (mix(right ^ key) & mask);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }
}

/// splitmix64: expands a seed into round keys.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    mix(*state)
}

/// The splitmix64 finaliser: a cheap, well-mixing 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The probes of one shard of a scan, in permuted order; implements
/// [`ProbeSource`] for the engine without listing the pairs.
///
/// ```
/// use rawnet::ports::PortSpec;
/// use rawnet::scan::ProbeSource;
/// use rawnet::shard::{Plan, Shard};
/// use rawnet::targets::Targets;
///
/// let targets = Targets::from_pairs([("localhost", "127.0.0.1".parse().unwrap())]);
/// let ports: PortSpec = "1-10".parse().unwrap();
/// let halves: Vec<Plan> = (0..2)
///     .map(|i| Plan::new(targets.clone(), ports.clone(), 0, Shard::new(i, 2).unwrap()))
///     .collect();
/// assert_eq!(halves[0].total(), 10);
/// assert_eq!(halves[0].len() + halves[1].len(), 10);
/// let mut all: Vec<u16> = halves
///     .iter()
///     .flat_map(|p| (0..p.len()).map(move |i| p.probe(i).port))
///     .collect();
/// all.sort();
/// assert_eq!(all, (1..=10).collect::<Vec<u16>>());
/// ```
#[derive(Clone, Debug)]
pub struct Plan {
    targets: Targets,
    ports: PortSpec,
    shard: Shard,
    seed: u64,
    permutation: Permutation,
    len: u64,
    proto: Proto,
}

impl Plan {
    /// The plan for `shard` of the scan of `targets` x `ports`, in the
    /// order chosen by `seed`.
    ///
    /// # Panics
    ///
    /// When `targets.len() * ports.len()` does not fit in a u64 (callers
    /// check first: the binary refuses such a scan as a usage error).
    pub fn new(targets: Targets, ports: PortSpec, seed: u64, shard: Shard) -> Plan {
        let total = targets
            .len()
            .checked_mul(u64::from(ports.len()))
            .expect("the scan's probe count fits in a u64");
        Plan {
            permutation: Permutation::new(total, seed),
            len: shard.len_of(total),
            targets,
            ports,
            shard,
            seed,
            proto: Proto::Tcp,
        }
    }

    /// The same plan for `proto` (TCP unless set): a scan of both
    /// protocols is two plans, one per protocol, each with its ports,
    /// sharded alike.
    pub fn with_proto(mut self, proto: Proto) -> Plan {
        self.proto = proto;
        self
    }

    /// The protocol of every probe of the plan.
    pub fn protocol(&self) -> Proto {
        self.proto
    }

    /// Number of pairs in the whole scan, all shards together.
    pub fn total(&self) -> u64 {
        self.permutation.size()
    }

    /// The addresses scanned.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The ports scanned on every address.
    pub fn ports(&self) -> &PortSpec {
        &self.ports
    }

    /// The part of the scan this plan covers.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The seed of the probe order.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The pair at global position `position` of the permuted order, as
    /// `(address index, port index)`.
    fn pair_at(&self, position: u64) -> (u64, u32) {
        let pair = self.permutation.apply(position);
        let ports = u64::from(self.ports.len());
        (pair / ports, (pair % ports) as u32)
    }
}

impl ProbeSource for Plan {
    fn len(&self) -> u64 {
        self.len
    }

    /// # Panics
    ///
    /// When `index >= len()` (a bug in the caller).
    fn probe(&self, index: u64) -> Probe {
        assert!(index < self.len, "probe {index} of {}", self.len);
        let (address, port) = self.pair_at(self.shard.position(index));
        let (target, ip) = self.targets.get(address).expect("address index in range");
        Probe {
            target: target.clone(),
            ip,
            port: self.ports.nth(port).expect("port index in range"),
            proto: self.proto,
        }
    }

    fn proto(&self) -> Proto {
        self.proto
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv4Addr};

    fn targets(n: u32) -> Targets {
        Targets::from_pairs((0..n).map(|i| {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            (ip.to_string(), ip)
        }))
    }

    #[test]
    fn parses_shards() {
        assert_eq!("0/1".parse(), Ok(Shard::WHOLE));
        assert_eq!("3/4".parse(), Ok(Shard::new(3, 4).unwrap()));
        assert_eq!(" 1 / 2 ".parse::<Shard>().unwrap().to_string(), "1/2");
        for bad in [
            "4/4", "5/4", "1/0", "0/0", "1", "a/b", "-1/4", "1/4/5", "/4", "1/", "",
        ] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(
            "4/4".parse::<Shard>().unwrap_err().to_string(),
            "invalid shard '4/4': the shard index I is 0-based and must be below N"
        );
    }

    #[test]
    fn shard_lengths_add_up() {
        for total in [0u64, 1, 2, 7, 100, 101] {
            for n in 1..=9 {
                let sum: u64 = (0..n)
                    .map(|i| Shard::new(i, n).unwrap().len_of(total))
                    .sum();
                assert_eq!(sum, total, "total {total}, {n} shards");
            }
        }
    }

    #[test]
    fn permutation_is_a_bijection() {
        let sizes = (0..=70u64).chain([127, 128, 129, 255, 256, 1000, 4097, 65535, 65536, 70001]);
        for size in sizes {
            for seed in [0, 1, 0xdead_beef] {
                let p = Permutation::new(size, seed);
                let mut seen = vec![false; size as usize];
                for i in 0..size {
                    let j = p.apply(i);
                    assert!(j < size, "size {size}: {i} -> {j}");
                    assert!(!seen[j as usize], "size {size} seed {seed}: {j} twice");
                    seen[j as usize] = true;
                }
            }
        }
    }

    #[test]
    fn permutation_depends_on_the_seed_and_shuffles() {
        let order = |seed| {
            let p = Permutation::new(1000, seed);
            (0..1000).map(move |i| p.apply(i))
        };
        let a: Vec<u64> = order(0).collect();
        let b: Vec<u64> = order(1).collect();
        assert_ne!(a, b);
        assert_eq!(a, order(0).collect::<Vec<_>>(), "deterministic");
        let fixed_points = a
            .iter()
            .enumerate()
            .filter(|(i, j)| *i as u64 == **j)
            .count();
        assert!(fixed_points < 20, "{fixed_points} fixed points");
    }

    #[test]
    fn huge_spaces_are_cheap() {
        // A /16 x all ports: the plan holds 65536 addresses and one range.
        let plan = Plan::new(targets(65536), PortSpec::all(), 0, Shard::WHOLE);
        assert_eq!(plan.total(), 65536 * 65535);
        assert_eq!(plan.len(), plan.total());
        let last = plan.probe(plan.len() - 1);
        assert!(last.port >= 1);
    }

    /// Every shard's probes as (ip, port) pairs.
    fn shard_pairs(plan_for: &dyn Fn(Shard) -> Plan, n: u64) -> Vec<Vec<(IpAddr, u16)>> {
        (0..n)
            .map(|i| {
                let plan = plan_for(Shard::new(i, n).unwrap());
                (0..plan.len())
                    .map(|k| plan.probe(k))
                    .map(|p| (p.ip, p.port))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn shards_are_disjoint_and_complete() {
        for (addresses, spec) in [
            (1, "80"),
            (1, "1-10"),
            (3, "22,80,443"),
            (7, "1-100"),
            (16, "1-31,1000-1003"),
        ] {
            let ports: PortSpec = spec.parse().unwrap();
            let expected: HashSet<(IpAddr, u16)> = targets(addresses)
                .iter()
                .flat_map(|(_, ip)| ports.iter().map(move |p| (ip, p)))
                .collect();
            for n in [1, 2, 3, 4, 5, 8, 13, 64] {
                for seed in [0, 42] {
                    let plan_for = |s| Plan::new(targets(addresses), ports.clone(), seed, s);
                    let mut union = HashSet::new();
                    for pairs in shard_pairs(&plan_for, n) {
                        for pair in pairs {
                            assert!(union.insert(pair), "{pair:?} in two shards (n {n})");
                        }
                    }
                    assert_eq!(union, expected, "{addresses} x {spec}, {n} shards");
                }
            }
        }
    }

    #[test]
    fn every_probe_keeps_its_target() {
        let t = Targets::from_pairs([
            ("a", "127.0.0.1".parse().unwrap()),
            ("b", "::1".parse().unwrap()),
        ]);
        let plan = Plan::new(t, "1-50".parse().unwrap(), 3, Shard::WHOLE);
        for k in 0..plan.len() {
            let p = plan.probe(k);
            assert_eq!(&*p.target, if p.ip.is_ipv4() { "a" } else { "b" });
        }
    }

    #[test]
    fn order_spreads_over_addresses() {
        // The first 64 probes of 64 addresses x 1000 ports should touch
        // many addresses, not one address's ports in a row.
        let plan = Plan::new(targets(64), "1-1000".parse().unwrap(), 0, Shard::WHOLE);
        let hit: HashSet<IpAddr> = (0..64).map(|k| plan.probe(k).ip).collect();
        assert!(hit.len() > 30, "only {} addresses", hit.len());
    }

    #[test]
    fn empty_plans_have_no_probes() {
        let plan = Plan::new(Targets::default(), PortSpec::all(), 0, Shard::WHOLE);
        assert!(plan.is_empty());
        let tiny = Plan::new(
            targets(1),
            "80".parse().unwrap(),
            0,
            Shard::new(3, 4).unwrap(),
        );
        assert_eq!(tiny.len(), 0);
    }
}
