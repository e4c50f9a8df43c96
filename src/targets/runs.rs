//! The addresses of a scan as runs of consecutive addresses, with an index.
//!
//! A /8 is one run, not sixteen million addresses: [`Targets`] holds each
//! run (its target, first address and length) and the prefix sums of the
//! lengths, so [`Targets::get`] finds the `i`-th address with a binary
//! search and no expansion, and memory grows with the number of targets
//! typed, never with the size of the blocks (zmap and masscan do the same
//! with their address ranges). De-duplication and exclusion work on
//! intervals too ([`Builder`]): what an earlier target (or an exclusion)
//! already covers is cut out of a later one by merging intervals, instead
//! of hashing every address.
//!
//! An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, RFC 4291 §2.5.5.2) is
//! the IPv4 host: a connect to it sends IPv4 packets. The builder files
//! what it has taken of that block under IPv4, so `::ffff:10.0.0.1` after
//! `10.0.0.1` is a duplicate, and `--exclude 10.0.0.1` keeps its mapped
//! form out too (and the other way round).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// An address family's number space: IPv4 addresses are `0..2^32`, IPv6
/// `0..2^128`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Space {
    V4,
    V6,
}

/// An address as a number of its space.
pub(crate) fn to_num(ip: IpAddr) -> (Space, u128) {
    match ip {
        IpAddr::V4(v4) => (Space::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Space::V6, u128::from(v6)),
    }
}

/// The address numbered `n` in `space` (`n` fits the space).
fn from_num(space: Space, n: u128) -> IpAddr {
    match space {
        Space::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        Space::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// Where the IPv4-mapped IPv6 addresses begin: `::ffff:0.0.0.0`.
const MAPPED_V4: u128 = 0xffff_0000_0000;

/// `lo..=hi` cut where the builder files it, ascending: the IPv4-mapped
/// part of an IPv6 interval under IPv4, the rest as is. Each piece comes
/// with what to add to its numbers to get the addresses of `space` back.
fn filed(space: Space, lo: u128, hi: u128) -> Vec<(Space, u128, u128, u128)> {
    const LAST: u128 = MAPPED_V4 + 0xffff_ffff;
    if space == Space::V4 || hi < MAPPED_V4 || lo > LAST {
        return vec![(space, lo, hi, 0)];
    }
    let mut out = Vec::with_capacity(3);
    if lo < MAPPED_V4 {
        out.push((space, lo, MAPPED_V4 - 1, 0));
    }
    out.push((
        Space::V4,
        lo.max(MAPPED_V4) - MAPPED_V4,
        hi.min(LAST) - MAPPED_V4,
        MAPPED_V4,
    ));
    if hi > LAST {
        out.push((space, LAST + 1, hi, 0));
    }
    out
}

/// Consecutive addresses named by one target.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Run {
    target: Arc<str>,
    space: Space,
    first: u128,
    len: u64,
}

/// The addresses to probe, each with the target that named it, in the
/// order the targets were given (a block's addresses ascending).
///
/// ```
/// use rawnet::resolve::Family;
/// use rawnet::targets::{expand, parse_list, TargetOptions};
/// let specs = parse_list("10.0.0.0/8,::1").unwrap();
/// let none = |_: &str, _: Family| unreachable!();
/// let t = expand(&specs, &TargetOptions::default(), &none).unwrap().targets;
/// assert_eq!(t.len(), (1 << 24) + 1);
/// let (target, ip) = t.get(65_537).unwrap();
/// assert_eq!((&**target, ip.to_string().as_str()), ("10.0.0.0/8", "10.1.0.1"));
/// assert_eq!(t.get(1 << 24).unwrap().1.to_string(), "::1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    runs: Vec<Run>,
    /// `before[i]`: addresses in `runs[..i]`.
    before: Vec<u64>,
    len: u64,
}

impl Targets {
    /// Number of distinct addresses.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when there is no address to probe.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of runs of consecutive addresses held (what memory grows
    /// with).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The `index`-th address and the target it came from, in
    /// O(log runs).
    pub fn get(&self, index: u64) -> Option<(&Arc<str>, IpAddr)> {
        if index >= self.len {
            return None;
        }
        let r = self.before.partition_point(|&b| b <= index) - 1;
        let run = &self.runs[r];
        let offset = index - self.before[r];
        Some((
            &run.target,
            from_num(run.space, run.first + u128::from(offset)),
        ))
    }

    /// Every address with its target, in order (lazily: a /8 is not
    /// materialised).
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, IpAddr)> + '_ {
        self.runs.iter().flat_map(|run| {
            (0..run.len).map(move |i| (&run.target, from_num(run.space, run.first + u128::from(i))))
        })
    }

    /// Every run of consecutive addresses as `(target, first address,
    /// length)`, in order: what the scan's fingerprint hashes (a /8 is one
    /// run, so hashing stays cheap).
    pub fn run_list(&self) -> impl Iterator<Item = (&str, IpAddr, u64)> + '_ {
        self.runs
            .iter()
            .map(|run| (&*run.target, from_num(run.space, run.first), run.len))
    }

    /// Builds targets from `(target, address)` pairs as they are (no
    /// dedupe, no cap): for tests and callers that expand on their own.
    pub fn from_pairs<I, S>(pairs: I) -> Targets
    where
        I: IntoIterator<Item = (S, IpAddr)>,
        S: Into<Arc<str>>,
    {
        let mut targets = Targets::default();
        for (target, ip) in pairs {
            let (space, n) = to_num(ip);
            targets.push(target.into(), space, n, 1);
        }
        targets
    }

    /// Appends `len` addresses from `first`, extending the last run when
    /// it continues it under the same target. The caller keeps the total
    /// within u64.
    fn push(&mut self, target: Arc<str>, space: Space, first: u128, len: u64) {
        if let Some(last) = self.runs.last_mut() {
            if Arc::ptr_eq(&last.target, &target)
                && last.space == space
                && last.first + u128::from(last.len) == first
            {
                last.len += len;
                self.len += len;
                return;
            }
        }
        self.before.push(self.len);
        self.runs.push(Run {
            target,
            space,
            first,
            len,
        });
        self.len += len;
    }
}

/// Disjoint, non-adjacent inclusive intervals per space.
#[derive(Debug, Default)]
struct IntervalSet {
    /// `(space, start) -> end`.
    map: BTreeMap<(Space, u128), u128>,
}

impl IntervalSet {
    /// The parts of `lo..=hi` not in the set, ascending.
    fn gaps(&self, space: Space, lo: u128, hi: u128) -> Vec<(u128, u128)> {
        let begin = match self.map.range(..=(space, lo)).next_back() {
            Some((&(s, start), _)) if s == space => start,
            _ => lo,
        };
        let mut out = Vec::new();
        let mut cur = lo;
        for (&(_, start), &end) in self.map.range((space, begin)..=(space, hi)) {
            if end < cur {
                continue;
            }
            if start > cur {
                out.push((cur, start - 1));
            }
            if end >= hi {
                return out;
            }
            cur = end + 1;
        }
        out.push((cur, hi));
        out
    }

    /// Adds `lo..=hi`, merging what it overlaps or touches.
    fn insert(&mut self, space: Space, lo: u128, hi: u128) {
        let (mut start, mut end) = (lo, hi);
        if let Some((&(s, prev_start), &prev_end)) = self.map.range(..=(space, lo)).next_back() {
            if s == space && prev_end.saturating_add(1) >= lo {
                start = prev_start;
                end = end.max(prev_end);
            }
        }
        let touching: Vec<(Space, u128)> = self
            .map
            .range((space, start)..=(space, hi.saturating_add(1)))
            .map(|(k, _)| *k)
            .collect();
        for key in touching {
            if let Some(e) = self.map.remove(&key) {
                end = end.max(e);
            }
        }
        self.map.insert((space, start), end);
    }
}

/// Builds [`Targets`] from intervals: each address is kept once, under
/// the first target that names it, and never if excluded.
#[derive(Debug)]
pub(crate) struct Builder {
    targets: Targets,
    taken: IntervalSet,
    limit: u64,
}

/// The total would exceed the builder's limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OverLimit;

impl Builder {
    /// An empty builder that refuses more than `limit` addresses.
    pub(crate) fn new(limit: u64) -> Builder {
        Builder {
            targets: Targets::default(),
            taken: IntervalSet::default(),
            limit,
        }
    }

    /// Addresses `lo..=hi` will never be added.
    pub(crate) fn exclude(&mut self, space: Space, lo: u128, hi: u128) {
        self.take(space, lo, hi);
    }

    /// Marks `lo..=hi` as taken (IPv4-mapped addresses as IPv4).
    fn take(&mut self, space: Space, lo: u128, hi: u128) {
        for (space, lo, hi, _) in filed(space, lo, hi) {
            self.taken.insert(space, lo, hi);
        }
    }

    /// The parts of `lo..=hi` not taken, ascending, in `space`'s numbers.
    fn untaken(&self, space: Space, lo: u128, hi: u128) -> Vec<(u128, u128)> {
        let mut out = Vec::new();
        for (filed_in, lo, hi, back) in filed(space, lo, hi) {
            out.extend(
                self.taken
                    .gaps(filed_in, lo, hi)
                    .into_iter()
                    .map(|(first, last)| (first + back, last + back)),
            );
        }
        out
    }

    /// Adds the addresses of `lo..=hi` not already added or excluded,
    /// under `target`.
    pub(crate) fn add(
        &mut self,
        target: &Arc<str>,
        space: Space,
        lo: u128,
        hi: u128,
    ) -> Result<(), OverLimit> {
        for (first, last) in self.untaken(space, lo, hi) {
            let len = (last - first)
                .checked_add(1)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or(OverLimit)?;
            let total = self.targets.len.checked_add(len).ok_or(OverLimit)?;
            if total > self.limit {
                return Err(OverLimit);
            }
            self.targets.push(Arc::clone(target), space, first, len);
        }
        self.take(space, lo, hi);
        Ok(())
    }

    /// The targets; the interval set is dropped.
    pub(crate) fn finish(self) -> Targets {
        self.targets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn gaps_and_merges() {
        let mut set = IntervalSet::default();
        set.insert(Space::V4, 10, 20);
        set.insert(Space::V4, 30, 40);
        assert_eq!(set.gaps(Space::V4, 0, 50), [(0, 9), (21, 29), (41, 50)]);
        assert_eq!(set.gaps(Space::V4, 12, 18), []);
        assert_eq!(set.gaps(Space::V4, 15, 35), [(21, 29)]);
        assert_eq!(set.gaps(Space::V6, 15, 35), [(15, 35)]);
        set.insert(Space::V4, 21, 29);
        assert_eq!(set.map.len(), 1, "adjacent intervals merge");
        set.insert(Space::V4, 0, u128::MAX);
        assert_eq!(set.gaps(Space::V4, 0, u128::MAX), []);
        set.insert(Space::V6, u128::MAX, u128::MAX);
        assert_eq!(
            set.gaps(Space::V6, u128::MAX - 1, u128::MAX),
            [(u128::MAX - 1, u128::MAX - 1)]
        );
    }

    #[test]
    fn builder_dedupes_excludes_and_indexes() {
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let mut builder = Builder::new(u64::MAX);
        builder.exclude(Space::V4, 5, 6);
        builder.add(&a, Space::V4, 0, 9).unwrap();
        builder.add(&b, Space::V4, 8, 12).unwrap();
        let t = builder.finish();
        assert_eq!(t.len(), 8 + 3);
        let got: Vec<(String, String)> = t
            .iter()
            .map(|(t, ip)| (t.to_string(), ip.to_string()))
            .collect();
        assert_eq!(got[4], ("a".into(), "0.0.0.4".into()));
        assert_eq!(got[5], ("a".into(), "0.0.0.7".into()));
        assert_eq!(got[8], ("b".into(), "0.0.0.10".into()));
        for (i, pair) in t.iter().enumerate() {
            assert_eq!(t.get(i as u64), Some(pair));
        }
        assert_eq!(t.get(11), None);
    }

    #[test]
    fn the_limit_and_u64_hold() {
        let a: Arc<str> = Arc::from("a");
        let mut small = Builder::new(10);
        assert_eq!(small.add(&a, Space::V4, 0, 10), Err(OverLimit));
        let mut huge = Builder::new(u64::MAX);
        assert_eq!(
            huge.add(&a, Space::V6, 0, u128::from(u64::MAX)),
            Err(OverLimit)
        );
        let mut fits = Builder::new(u64::MAX);
        fits.add(&a, Space::V6, 0, u128::from(u64::MAX) - 1)
            .unwrap();
        let t = fits.finish();
        assert_eq!(t.len(), u64::MAX);
        assert_eq!(t.get(u64::MAX - 1).unwrap().1, ip("::ffff:ffff:ffff:fffe"));
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_hosts() {
        let (v4, a) = to_num(ip("10.0.0.1"));
        let (v6, m) = to_num(ip("::ffff:10.0.0.1"));
        assert_eq!(filed(v4, a, a), [(v4, a, a, 0)]);
        assert_eq!(filed(v6, m, m), [(v4, a, a, MAPPED_V4)]);
        assert_eq!(filed(v6, 0, 1), [(v6, 0, 1, 0)]);
        // A block around the mapped /96 is cut in three.
        let last = MAPPED_V4 + 0xffff_ffff;
        assert_eq!(
            filed(v6, MAPPED_V4 - 5, last + 7),
            [
                (v6, MAPPED_V4 - 5, MAPPED_V4 - 1, 0),
                (v4, 0, 0xffff_ffff, MAPPED_V4),
                (v6, last + 1, last + 7, 0)
            ]
        );
        // Every address of such a block is added once, in order, across
        // the cuts, and an IPv4 address already taken stays out.
        let mut builder = Builder::new(u64::MAX);
        let t: Arc<str> = Arc::from("t");
        builder.add(&t, v4, 0, 0).unwrap();
        builder.add(&t, v6, MAPPED_V4 - 1, MAPPED_V4 + 1).unwrap();
        let got: Vec<String> = builder
            .finish()
            .iter()
            .map(|(_, ip)| ip.to_string())
            .collect();
        assert_eq!(got, ["0.0.0.0", "::fffe:ffff:ffff", "::ffff:0.0.0.1"]);
        let t: Arc<str> = Arc::from("t");
        // Excluded as IPv4, never added as mapped IPv6.
        let mut builder = Builder::new(u64::MAX);
        builder.exclude(v4, a, a);
        builder.add(&t, v6, m - 1, m + 1).unwrap();
        let got: Vec<String> = builder
            .finish()
            .iter()
            .map(|(_, ip)| ip.to_string())
            .collect();
        assert_eq!(got, ["::ffff:10.0.0.0", "::ffff:10.0.0.2"]);
        // Excluded as mapped IPv6, never added as IPv4; a duplicate in the
        // other spelling is probed once.
        let mut builder = Builder::new(u64::MAX);
        builder.exclude(v6, m, m);
        builder.add(&t, v4, a - 1, a + 1).unwrap();
        builder.add(&t, v6, m - 1, m + 1).unwrap();
        let got: Vec<String> = builder
            .finish()
            .iter()
            .map(|(_, ip)| ip.to_string())
            .collect();
        assert_eq!(got, ["10.0.0.0", "10.0.0.2"]);
    }

    /// Random adds and exclusions in a small window (IPv4 and its mapped
    /// IPv6 spelling, the border of the mapped block too) against a plain
    /// list: the same addresses, in the same order, under the same target,
    /// and `get(i)` right at every run border.
    #[test]
    fn intervals_agree_with_a_plain_list() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u128| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            u128::from(seed) % n
        };
        // The window: IPv4 addresses 0..64, the same as ::ffff:0.0.0.0/122,
        // and the 32 IPv6 addresses just below the mapped block.
        let spaces = [
            (Space::V4, 0u128),
            (Space::V6, MAPPED_V4),
            (Space::V6, MAPPED_V4 - 32),
        ];
        let host = |space: Space, n: u128| match space {
            Space::V6 if (MAPPED_V4..MAPPED_V4 + (1 << 32)).contains(&n) => {
                (Space::V4, n - MAPPED_V4)
            }
            _ => (space, n),
        };
        for _ in 0..300 {
            let mut builder = Builder::new(u64::MAX);
            let mut plain: Vec<(String, Space, u128)> = Vec::new();
            let mut taken: Vec<(Space, u128)> = Vec::new();
            let names: Vec<Arc<str>> = (0..4).map(|i| Arc::from(format!("t{i}"))).collect();
            for step in 0..8 {
                let (space, base) = spaces[next(3) as usize];
                let lo = base + next(40);
                let hi = (lo + next(24)).min(base + 63);
                if next(4) == 0 {
                    builder.exclude(space, lo, hi);
                    taken.extend((lo..=hi).map(|n| host(space, n)));
                    continue;
                }
                let target = &names[step % 4];
                builder.add(target, space, lo, hi).unwrap();
                for n in lo..=hi {
                    if !taken.contains(&host(space, n)) {
                        taken.push(host(space, n));
                        plain.push((target.to_string(), space, n));
                    }
                }
            }
            let t = builder.finish();
            let want: Vec<(String, IpAddr)> = plain
                .iter()
                .map(|(target, space, n)| (target.clone(), from_num(*space, *n)))
                .collect();
            let got: Vec<(String, IpAddr)> = t
                .iter()
                .map(|(target, ip)| (target.to_string(), ip))
                .collect();
            assert_eq!(got, want);
            assert_eq!(t.len(), want.len() as u64);
            for (i, (target, ip)) in want.iter().enumerate() {
                let (t_got, ip_got) = t.get(i as u64).unwrap();
                assert_eq!((&**t_got, ip_got), (target.as_str(), *ip), "index {i}");
            }
            assert_eq!(t.get(want.len() as u64), None);
        }
    }

    #[test]
    fn from_pairs_keeps_duplicates_and_merges_runs() {
        let t = Targets::from_pairs([("x", ip("10.0.0.1")), ("x", ip("10.0.0.1"))]);
        assert_eq!(t.len(), 2);
        let shared: Arc<str> = Arc::from("y");
        let mut t = Targets::default();
        t.push(Arc::clone(&shared), Space::V4, 1, 1);
        t.push(Arc::clone(&shared), Space::V4, 2, 1);
        assert_eq!(t.runs(), 1);
    }
}
