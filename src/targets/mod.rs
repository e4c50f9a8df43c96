//! Targets: the `TARGET` argument and `-iL` lists of `portscan`, parsed and
//! expanded into the list of addresses to probe.
//!
//! Two steps, so the syntax can be checked before anything touches the
//! network:
//!
//! 1. **Parsing** ([`TargetSpec`], [`parse_list`], [`parse_file`]) accepts
//!    IPv4 (`10.0.0.1`), IPv6 (`::1`, or `[::1]`), CIDR blocks of either
//!    family (`192.168.1.0/24`, `fd00::/120`; host bits are ignored, as in
//!    nmap), nmap's IPv4 octet ranges (`10.0.0.1-20`, `10.0.1-3.1`,
//!    `10.0.0.*`: each octet a number, a range `A-B` (`A-` and `-B` run to
//!    255 and from 0), `*`, or a comma list of them, `10.0.0.1-3,7`;
//!    with a prefix, `10.0.0-1.0/31`, applied to each address), and
//!    host names, comma-separated on the command line, or one or more per
//!    line in a file (`#` starts a comment, blank lines are skipped). A
//!    comma inside an octet list is told from one between targets as nmap
//!    users mean it: what is not a target on its own belongs to the octet
//!    range before it. Errors here are usage errors.
//! 2. **Expansion** ([`expand`], [`expand_excluding`]) turns every item
//!    into runs of addresses ([`Targets`], see the `runs` submodule): CIDR
//!    blocks and octet ranges into the intervals they cover (network and
//!    broadcast addresses included; never listed one by one), host names
//!    through the system resolver into every address of the wanted family
//!    (or only the first, with [`TargetOptions::first_address`]). An
//!    address that appears twice (a name and its literal, overlapping
//!    blocks) is probed once, under the target that named it first; an
//!    excluded one (`--exclude`) never. Any IPv4 block up to `/0` and IPv6
//!    blocks up to 2^64 - 1 addresses in total are accepted: memory grows
//!    with the number of targets typed, not with their size. Guarding
//!    against a typo (`/8` for `/24`) is the caller's business (the binary
//!    refuses huge unsharded runs).
//!
//! A name that does not resolve is not an error of the whole expansion: it
//! is returned in [`Expansion::failures`] and the caller decides (the
//! binary warns and goes on, and fails only when nothing is left).

mod runs;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::resolve::{Family, ResolveError};
use crate::sanitize::escape_line;

pub use runs::Targets;
use runs::{to_num, Builder, Space};

/// The default cap on the number of addresses a scan may expand to: all a
/// u64 can count (an IPv4 /0 is far below it; an IPv6 /64 is just over).
pub const DEFAULT_MAX_ADDRESSES: u64 = u64::MAX;

/// Most pieces (intervals of consecutive addresses, before merging) the
/// targets and exclusions of one expansion may split into together. Each
/// costs memory (a run and interval-set entries, under 200 bytes) and
/// time to cut out of what is taken, so `-iL` of 262144 scattered
/// addresses with as many exclusions fits, while a file repeating
/// `10.0-255.0-255.1` (65536 pieces a line) is refused at once instead of
/// taking hours and gigabytes.
pub const MAX_PIECES: usize = 1 << 20;

/// Most intervals one octet range may split into (`10.0-255.0-255.1`
/// is 65536 single addresses); beyond, use CIDR blocks.
pub const MAX_OCTET_RUNS: u128 = 65536;

/// One target item as typed, checked for syntax but not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// An IPv4 or IPv6 address literal.
    Addr {
        /// The item as typed.
        text: String,
        /// The address.
        ip: IpAddr,
    },
    /// A CIDR block.
    Cidr {
        /// The item as typed.
        text: String,
        /// The network address (host bits cleared).
        network: IpAddr,
        /// The prefix length (0-32 for IPv4, 0-128 for IPv6).
        prefix: u8,
    },
    /// nmap's IPv4 octet ranges: every address whose octets each fall in
    /// their ranges.
    Octets {
        /// The item as typed.
        text: String,
        /// The inclusive ranges of each octet (ascending, disjoint and not
        /// adjacent: `1-3,7` is `[(1, 3), (7, 7)]`), most significant first.
        octets: [Vec<(u8, u8)>; 4],
    },
    /// A host name, to be resolved.
    Host {
        /// The name as typed.
        name: String,
    },
}

impl TargetSpec {
    /// The item as the user typed it (reported as `target` in results).
    pub fn text(&self) -> &str {
        match self {
            TargetSpec::Addr { text, .. }
            | TargetSpec::Cidr { text, .. }
            | TargetSpec::Octets { text, .. } => text,
            TargetSpec::Host { name } => name,
        }
    }

    /// How many addresses a literal or block stands for; `None` for a host
    /// name (unknown until resolved). Saturates at `u128::MAX` for `::/0`.
    pub fn address_count(&self) -> Option<u128> {
        match self {
            TargetSpec::Addr { .. } => Some(1),
            TargetSpec::Cidr {
                network, prefix, ..
            } => Some(block_size(host_bits(network, *prefix))),
            TargetSpec::Octets { octets, .. } => Some(octets_count(octets)),
            TargetSpec::Host { .. } => None,
        }
    }

    /// The family of a literal or block; `None` for a host name.
    fn family(&self) -> Option<Family> {
        let ip = match self {
            TargetSpec::Addr { ip, .. } => ip,
            TargetSpec::Cidr { network, .. } => network,
            TargetSpec::Octets { .. } => return Some(Family::V4),
            TargetSpec::Host { .. } => return None,
        };
        Some(if ip.is_ipv4() { Family::V4 } else { Family::V6 })
    }
}

fn host_bits(network: &IpAddr, prefix: u8) -> u32 {
    let width = if network.is_ipv4() { 32 } else { 128 };
    width - u32::from(prefix)
}

fn block_size(host_bits: u32) -> u128 {
    1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
}

impl FromStr for TargetSpec {
    type Err = TargetSpecError;

    /// Parses one item: no commas, but for nmap's lists inside an octet
    /// (`10.0.0.1-3,7`).
    ///
    /// ```
    /// use rawnet::targets::TargetSpec;
    /// let net: TargetSpec = "10.0.0.77/24".parse().unwrap();
    /// assert_eq!(net.address_count(), Some(256));
    /// assert!("10.0.0.256".parse::<TargetSpec>().is_err());
    /// assert!(matches!("example.com".parse(), Ok(TargetSpec::Host { .. })));
    /// ```
    fn from_str(item: &str) -> Result<TargetSpec, TargetSpecError> {
        let item = item.trim();
        let invalid = |reason| TargetSpecError::Invalid {
            item: item.to_owned(),
            reason,
        };
        if item.is_empty() {
            return Err(invalid("empty target"));
        }
        if let Some((addr, prefix)) = item.split_once('/') {
            return parse_cidr(item, addr, prefix);
        }
        if let Some(ip) = parse_literal(item) {
            return Ok(TargetSpec::Addr {
                text: item.to_owned(),
                ip,
            });
        }
        if item.contains(':') || item.starts_with('[') {
            return Err(invalid(
                "not a valid IPv6 address (ports go in the PORTS argument)",
            ));
        }
        if is_octet_text(item) {
            let octets = parse_octets(item).ok_or(invalid(
                "not a valid IPv4 address or octet range (each of 4 octets 0-255, A-B, * or a comma list of them)",
            ))?;
            return Ok(TargetSpec::Octets {
                text: item.to_owned(),
                octets,
            });
        }
        if !is_host_name(item) {
            return Err(invalid("not an IP address, CIDR block or host name"));
        }
        Ok(TargetSpec::Host {
            name: item.to_owned(),
        })
    }
}

/// Made only of what octet ranges are written with.
fn is_octet_text(item: &str) -> bool {
    !item.is_empty()
        && item
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'*' | b','))
}

/// Comma-separated items with nmap's lists inside an octet put back
/// together: nmap separates targets by spaces, so `10.0.0.1-3,7` (.1 to
/// .3 and .7) and `10.0.3-5,7.1` are one target each there. An item of
/// octet characters joins the one before it (also of octet characters)
/// while the two hold at most the 3 dots of one address between them.
/// Items that are targets on their own hold 3 dots each, so a list of
/// them is never joined: nothing that parsed before changes meaning.
/// Linear in the input, whatever it holds (`1,1,1,...` is one item).
fn join_octet_lists<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let dots = |t: &str| t.bytes().filter(|&b| b == b'.').count();
    let mut out: Vec<String> = Vec::new();
    // Dots in the last item, when it is of octet characters.
    let mut last_dots: Option<usize> = None;
    for item in items {
        let item = item.trim();
        let item_dots = (!item.is_empty()
            && item
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'*' | b',' | b'/')))
        .then(|| dots(item));
        match (out.last_mut(), last_dots, item_dots) {
            (Some(last), Some(before), Some(more)) if before + more <= 3 => {
                last.push(',');
                last.push_str(item);
                last_dots = Some(before + more);
            }
            _ => {
                last_dots = item_dots;
                out.push(item.to_owned());
            }
        }
    }
    out
}

/// nmap's octet ranges: four dot-separated parts, each a comma-separated
/// list of `N`, `A-B`, `A-`, `-B` or `*`, with `A <= B` (`10.0.3-5,7.1`).
fn parse_octets(text: &str) -> Option<[Vec<(u8, u8)>; 4]> {
    let octet = |t: &str| -> Option<u8> {
        (!t.is_empty() && t.len() <= 3 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let range = |item: &str| -> Option<(u8, u8)> {
        match item.split_once('-') {
            _ if item == "*" => Some((0, 255)),
            None => octet(item).map(|n| (n, n)),
            Some((lo, hi)) => {
                let lo = if lo.is_empty() { 0 } else { octet(lo)? };
                let hi = if hi.is_empty() { 255 } else { octet(hi)? };
                (lo <= hi).then_some((lo, hi))
            }
        }
    };
    let mut parts = text.split('.');
    let mut out: [Vec<(u8, u8)>; 4] = Default::default();
    for slot in &mut out {
        let ranges = parts
            .next()?
            .split(',')
            .map(range)
            .collect::<Option<Vec<_>>>()?;
        *slot = merge_ranges(ranges);
    }
    parts.next().is_none().then_some(out)
}

/// How many values one octet's ranges hold.
fn octet_values(ranges: &[(u8, u8)]) -> u128 {
    ranges.iter().map(|&(lo, hi)| u128::from(hi - lo) + 1).sum()
}

/// Where an octet range's intervals vary: the last octet that does not
/// span 0-255 (the ones after it vary inside each interval).
fn last_partial_octet(octets: &[Vec<(u8, u8)>; 4]) -> usize {
    octets
        .iter()
        .rposition(|r| r[..] != [(0, 255)])
        .unwrap_or(0)
}

/// How many intervals an octet range splits into: one per value of the
/// octets before the last partial one, times the ranges of that one.
fn octet_pieces(octets: &[Vec<(u8, u8)>; 4]) -> u128 {
    let last = last_partial_octet(octets);
    octets[..last]
        .iter()
        .map(|r| octet_values(r))
        .product::<u128>()
        * octets[last].len() as u128
}

fn octets_count(octets: &[Vec<(u8, u8)>; 4]) -> u128 {
    octets.iter().map(|r| octet_values(r)).product()
}

/// The intervals of an octet range, ascending: the trailing octets that
/// span 0-255 make each interval long; the ones before are enumerated.
/// `None` when that gives more than [`MAX_OCTET_RUNS`] intervals.
fn octet_intervals(octets: &[Vec<(u8, u8)>; 4]) -> Option<Vec<(u128, u128)>> {
    // Octets after the last partial one span 0-255: they vary inside
    // each interval.
    let last_partial = last_partial_octet(octets);
    if octet_pieces(octets) > MAX_OCTET_RUNS {
        return None;
    }
    let shift = 8 * (3 - last_partial as u32);
    let mut prefixes: Vec<u128> = vec![0];
    for ranges in &octets[..last_partial] {
        prefixes = prefixes
            .iter()
            .flat_map(|p| {
                ranges
                    .iter()
                    .flat_map(|&(lo, hi)| lo..=hi)
                    .map(move |o| (p << 8) | u128::from(o))
            })
            .collect();
    }
    let tail = &octets[last_partial];
    Some(
        prefixes
            .into_iter()
            .flat_map(|p| {
                let base = p << (8 * (4 - last_partial as u32));
                tail.iter().map(move |&(lo, hi)| {
                    let first = base | (u128::from(lo) << shift);
                    let last = base | (u128::from(hi) << shift) | ((1u128 << shift) - 1);
                    (first, last)
                })
            })
            .collect(),
    )
}

/// An address literal: dotted-quad IPv4 or IPv6, the latter optionally in
/// brackets.
fn parse_literal(text: &str) -> Option<IpAddr> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    text.parse().ok()
}

fn parse_cidr(item: &str, addr: &str, prefix: &str) -> Result<TargetSpec, TargetSpecError> {
    let invalid = |reason| TargetSpecError::Invalid {
        item: item.to_owned(),
        reason,
    };
    let Some(ip) = parse_literal(addr) else {
        return parse_octets_cidr(item, addr, prefix)
            .ok_or(invalid("CIDR needs an IP address before the '/'"));
    };
    let width = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = Some(prefix)
        .filter(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse::<u8>().ok())
        .filter(|p| u32::from(*p) <= width)
        .ok_or(invalid(if ip.is_ipv4() {
            "CIDR prefix must be 0-32 for IPv4"
        } else {
            "CIDR prefix must be 0-128 for IPv6"
        }))?;
    Ok(TargetSpec::Cidr {
        text: item.to_owned(),
        network: mask(ip, prefix),
        prefix,
    })
}

/// nmap's octet range with a prefix (`10.0.0-1.0/31`): the prefix is
/// applied to every address of the range, so each octet's host bits span
/// all their values (nmap -sL -n lists 10.0.0.0, .1, 10.0.1.0, .1).
fn parse_octets_cidr(item: &str, addr: &str, prefix: &str) -> Option<TargetSpec> {
    if !is_octet_text(addr) || prefix.is_empty() || prefix.len() > 2 {
        return None;
    }
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mut octets = parse_octets(addr)?;
    for (i, ranges) in octets.iter_mut().enumerate() {
        // Host bits of this octet: 8 when the prefix ends before it, 0
        // when it ends after it.
        let host = (8 * i as u32 + 8).saturating_sub(prefix).min(8);
        if host == 0 {
            continue;
        }
        let low = ((1u16 << host) - 1) as u8;
        let widened: Vec<(u8, u8)> = ranges
            .iter()
            .map(|&(lo, hi)| (lo & !low, hi | low))
            .collect();
        *ranges = merge_ranges(widened);
    }
    Some(TargetSpec::Octets {
        text: item.to_owned(),
        octets,
    })
}

/// Sorted, disjoint, non-adjacent ranges covering the same values.
fn merge_ranges(mut ranges: Vec<(u8, u8)>) -> Vec<(u8, u8)> {
    ranges.sort_unstable();
    let mut out: Vec<(u8, u8)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if u16::from(lo) <= u16::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Clears the host bits of `ip` beyond `prefix`.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & keep))
        }
        IpAddr::V6(v6) => {
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & keep))
        }
    }
}

/// RFC 1123 host name: dot-separated labels of letters, digits, `-` and
/// `_` (seen in the wild), at most 253 characters, one trailing dot
/// allowed.
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Parses a comma-separated list of targets, as given on the command line.
/// Empty items (`a,,b`) are an error.
///
/// ```
/// use rawnet::targets::parse_list;
/// let specs = parse_list("127.0.0.1,::1,localhost,10.0.0.0/30").unwrap();
/// assert_eq!(specs.len(), 4);
/// assert_eq!(specs[3].text(), "10.0.0.0/30");
/// ```
pub fn parse_list(list: &str) -> Result<Vec<TargetSpec>, TargetSpecError> {
    if list.trim().is_empty() {
        return Err(TargetSpecError::Empty);
    }
    join_octet_lists(list.split(','))
        .iter()
        .map(|item| item.parse())
        .collect()
}

/// Parses a target file (`-iL`): any number of targets per line, separated
/// by whitespace or commas; `#` starts a comment to the end of the line;
/// blank lines are skipped. `source` names the file in errors. An empty
/// file is not an error here (it yields no targets).
///
/// ```
/// use rawnet::targets::parse_file;
/// let specs = parse_file("# lab\n10.0.0.1  10.0.0.2\n\nlocalhost # me\n", "hosts.txt").unwrap();
/// assert_eq!(specs.len(), 3);
/// let err = parse_file("10.0.0.1\n10.0.0.300\n", "hosts.txt").unwrap_err();
/// assert!(err.to_string().starts_with("hosts.txt:2: "));
/// ```
pub fn parse_file(text: &str, source: &str) -> Result<Vec<TargetSpec>, TargetSpecError> {
    let mut specs = Vec::new();
    let too_long = || TargetSpecError::FileTooLong {
        source: source.to_owned(),
        limit: MAX_FILE_ITEMS,
    };
    for (index, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        for item in content
            .split_whitespace()
            .flat_map(|word| join_octet_lists(word.split(',')))
            .filter(|item| !item.is_empty())
        {
            let spec = item.parse().map_err(|e| TargetSpecError::InFile {
                source: source.to_owned(),
                line: index + 1,
                error: Box::new(e),
            })?;
            if specs.len() == MAX_FILE_ITEMS {
                return Err(too_long());
            }
            specs.push(spec);
        }
    }
    Ok(specs)
}

/// Most items a target file may hold: room for any real list (a block is
/// one item however large), and a runaway file (`yes 127.0.0.1 |
/// portscan -iL -`) cannot take memory without bound.
pub const MAX_FILE_ITEMS: usize = 262_144;

/// How to expand targets into addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetOptions {
    /// Which families to keep (`-4`/`-6`). A literal or block of another
    /// family is an error; a name keeps only its addresses of this family.
    pub family: Family,
    /// Keep only the first address a name resolves to (the resolver's
    /// preferred one), instead of all of them.
    pub first_address: bool,
    /// Most addresses in total.
    pub max_addresses: u64,
    /// Most pieces targets and exclusions may split into together
    /// ([`MAX_PIECES`]).
    pub max_pieces: usize,
}

impl Default for TargetOptions {
    fn default() -> Self {
        TargetOptions {
            family: Family::Any,
            first_address: false,
            max_addresses: DEFAULT_MAX_ADDRESSES,
            max_pieces: MAX_PIECES,
        }
    }
}

/// Resolves a host name to its addresses of a family (the system resolver
/// in the binary, a table in tests). Must not return an empty list on
/// success.
pub type Resolver<'a> = &'a (dyn Fn(&str, Family) -> Result<Vec<IpAddr>, ResolveError> + Sync);

/// What [`expand`] produced.
#[derive(Debug)]
pub struct Expansion {
    /// The addresses to probe.
    pub targets: Targets,
    /// Names that gave no address, in the order given.
    pub failures: Vec<ResolveError>,
    /// Exclusions that are names and gave no address: the caller should
    /// not scan, since what they name cannot be kept out.
    pub exclude_failures: Vec<ResolveError>,
}

/// Expands `specs` into addresses: blocks into their addresses, names
/// through `resolver` (in parallel, results kept in the order given).
///
/// Literals and blocks are checked (family, size) before any name is
/// looked up, so a bad block fails without touching DNS; the total is
/// checked as addresses are added. Addresses of a name are
/// sorted unless only the first is kept, so every machine of a sharded
/// scan sees the same order when the resolver returns the same set in a
/// different order (round-robin DNS).
///
/// ```
/// use rawnet::resolve::Family;
/// use rawnet::targets::{expand, parse_list, TargetOptions};
/// let specs = parse_list("10.0.0.0/31,10.0.0.1,localhost").unwrap();
/// let resolver = |_: &str, _: Family| Ok(vec!["127.0.0.1".parse().unwrap()]);
/// let out = expand(&specs, &TargetOptions::default(), &resolver).unwrap();
/// let ips: Vec<String> = out.targets.iter().map(|(_, ip)| ip.to_string()).collect();
/// assert_eq!(ips, ["10.0.0.0", "10.0.0.1", "127.0.0.1"]);
/// ```
pub fn expand(
    specs: &[TargetSpec],
    opts: &TargetOptions,
    resolver: Resolver<'_>,
) -> Result<Expansion, TargetSpecError> {
    expand_excluding(specs, &[], opts, resolver)
}

/// [`expand`], leaving out every address `excludes` names (addresses,
/// blocks, octet ranges, names: all families, whatever `opts.family`).
/// Excluded addresses are taken out before any target is added, so no
/// target can bring them back.
///
/// ```
/// use rawnet::resolve::Family;
/// use rawnet::targets::{expand_excluding, parse_list, TargetOptions};
/// let specs = parse_list("10.0.0.0/29").unwrap();
/// let excludes = parse_list("10.0.0.2,10.0.0.4/31").unwrap();
/// let none = |_: &str, _: Family| unreachable!();
/// let out = expand_excluding(&specs, &excludes, &TargetOptions::default(), &none).unwrap();
/// let ips: Vec<String> = out.targets.iter().map(|(_, ip)| ip.to_string()).collect();
/// assert_eq!(ips, ["10.0.0.0", "10.0.0.1", "10.0.0.3", "10.0.0.6", "10.0.0.7"]);
/// ```
pub fn expand_excluding(
    specs: &[TargetSpec],
    excludes: &[TargetSpec],
    opts: &TargetOptions,
    resolver: Resolver<'_>,
) -> Result<Expansion, TargetSpecError> {
    check_static_sizes(specs, opts)?;
    let mut pieces = Pieces::new(opts.max_pieces);
    // Octet ranges say how many pieces they make: a list of them that
    // cannot fit fails before any work.
    let octet_pieces: u128 = specs
        .iter()
        .chain(excludes)
        .map(|spec| match spec {
            TargetSpec::Octets { octets, .. } => octet_pieces(octets),
            _ => 0,
        })
        .sum();
    if octet_pieces > opts.max_pieces as u128 {
        return Err(pieces.too_many());
    }
    let mut builder = Builder::new(opts.max_addresses);
    let every_family = TargetOptions {
        family: Family::Any,
        first_address: false,
        ..*opts
    };
    let mut exclude_failures = Vec::new();
    for (_, addresses) in addresses_in_order(excludes, &every_family, resolver) {
        match addresses {
            Ok(addresses) => {
                for (space, lo, hi) in pieces.count(addresses.intervals()?)? {
                    builder.exclude(space, lo, hi);
                }
            }
            Err(e) => exclude_failures.push(e),
        }
    }
    let mut failures = Vec::new();
    for (text, addresses) in addresses_in_order(specs, opts, resolver) {
        let addresses = match addresses {
            Ok(addresses) => addresses,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let target: Arc<str> = Arc::from(text);
        for (space, lo, hi) in pieces.count(addresses.intervals()?)? {
            builder
                .add(&target, space, lo, hi)
                .map_err(|_| TargetSpecError::TooMany {
                    limit: opts.max_addresses,
                })?;
        }
    }
    Ok(Expansion {
        targets: builder.finish(),
        failures,
        exclude_failures,
    })
}

/// The pieces seen so far against [`TargetOptions::max_pieces`].
struct Pieces {
    seen: usize,
    limit: usize,
}

impl Pieces {
    fn new(limit: usize) -> Pieces {
        Pieces { seen: 0, limit }
    }

    /// Counts `intervals`; an error once the total passes the limit.
    fn count<T>(&mut self, intervals: Vec<T>) -> Result<Vec<T>, TargetSpecError> {
        self.seen = self.seen.saturating_add(intervals.len());
        if self.seen > self.limit {
            return Err(self.too_many());
        }
        Ok(intervals)
    }

    fn too_many(&self) -> TargetSpecError {
        TargetSpecError::TooManyPieces { limit: self.limit }
    }
}

/// Most name lookups at once. A lookup blocks in `getaddrinfo` (a silent
/// DNS server holds it for the whole resolve timeout), so lookups get
/// threads of their own instead of rayon's one per core: 100 names behind
/// a hung server cost two timeouts, not fifty.
const MAX_PARALLEL_LOOKUPS: usize = 64;

/// The addresses of every name among `specs`, by index, looked up on up
/// to [`MAX_PARALLEL_LOOKUPS`] threads. Literals and blocks are not
/// touched here (a list of 262144 addresses costs no per-item slot):
/// [`addresses_in_order`] computes them as it goes.
fn resolve_names(
    specs: &[TargetSpec],
    opts: &TargetOptions,
    resolver: Resolver<'_>,
) -> HashMap<usize, Result<Addresses, ResolveError>> {
    let names: Vec<usize> = specs
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, TargetSpec::Host { .. }))
        .map(|(i, _)| i)
        .collect();
    let found = Mutex::new(HashMap::with_capacity(names.len()));
    if !names.is_empty() {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..names.len().min(MAX_PARALLEL_LOOKUPS) {
                // A thread that cannot start leaves its share to the others
                // (or to the caller, which looks up what is missing).
                let _ = std::thread::Builder::new().spawn_scoped(scope, || loop {
                    let n = next.fetch_add(1, AtomicOrdering::Relaxed);
                    let Some(&i) = names.get(n) else { break };
                    let addresses = addresses_of(&specs[i], opts, resolver);
                    found
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(i, addresses);
                });
            }
        });
    }
    found.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// Each spec with its addresses, in the order given: names from
/// [`resolve_names`], the rest computed on the way.
fn addresses_in_order<'s>(
    specs: &'s [TargetSpec],
    opts: &'s TargetOptions,
    resolver: Resolver<'s>,
) -> impl Iterator<Item = (&'s str, Result<Addresses, ResolveError>)> + 's {
    let mut names = resolve_names(specs, opts, resolver);
    specs.iter().enumerate().map(move |(i, spec)| {
        let addresses = names
            .remove(&i)
            .unwrap_or_else(|| addresses_of(spec, opts, resolver));
        (spec.text(), addresses)
    })
}

fn addresses_of(
    spec: &TargetSpec,
    opts: &TargetOptions,
    resolver: Resolver<'_>,
) -> Result<Addresses, ResolveError> {
    match spec {
        TargetSpec::Addr { ip, .. } => Ok(Addresses::One(*ip)),
        TargetSpec::Cidr {
            network, prefix, ..
        } => Ok(Addresses::Block(*network, *prefix)),
        TargetSpec::Octets { text, octets } => Ok(Addresses::Octets(text.clone(), octets.clone())),
        TargetSpec::Host { name } => {
            resolver(name, opts.family).map(|ips| Addresses::Named(pick(ips, opts)))
        }
    }
}

/// The addresses one target stands for.
enum Addresses {
    One(IpAddr),
    Block(IpAddr, u8),
    Octets(String, [Vec<(u8, u8)>; 4]),
    Named(Vec<IpAddr>),
}

impl Addresses {
    /// The intervals these addresses cover, ascending within the target.
    fn intervals(self) -> Result<Vec<(Space, u128, u128)>, TargetSpecError> {
        Ok(match self {
            Addresses::One(ip) => {
                let (space, n) = to_num(ip);
                vec![(space, n, n)]
            }
            Addresses::Block(network, prefix) => {
                let (space, first) = to_num(network);
                let bits = host_bits(&network, prefix);
                let host_mask = u128::MAX.checked_shr(128 - bits).unwrap_or(0);
                vec![(space, first, first | host_mask)]
            }
            Addresses::Octets(text, octets) => octet_intervals(&octets)
                .ok_or(TargetSpecError::RangeTooFragmented { range: text })?
                .into_iter()
                .map(|(lo, hi)| (Space::V4, lo, hi))
                .collect(),
            Addresses::Named(ips) => ips
                .into_iter()
                .map(|ip| {
                    let (space, n) = to_num(ip);
                    (space, n, n)
                })
                .collect(),
        })
    }
}

/// The addresses of a name that are kept: its family only, then the first
/// (`--first-address`) or all of them sorted.
fn pick(mut ips: Vec<IpAddr>, opts: &TargetOptions) -> Vec<IpAddr> {
    ips.retain(|ip| opts.family.accepts(ip));
    if opts.first_address {
        ips.truncate(1);
    } else {
        ips.sort_unstable();
    }
    ips
}

/// Family and size checks on literals and blocks, before any lookup.
fn check_static_sizes(specs: &[TargetSpec], opts: &TargetOptions) -> Result<(), TargetSpecError> {
    for spec in specs {
        if let Some(family) = spec.family() {
            if opts.family != Family::Any && family != opts.family {
                return Err(TargetSpecError::WrongFamily {
                    item: spec.text().to_owned(),
                    wanted: opts.family,
                });
            }
        }
        if let TargetSpec::Cidr {
            text,
            network,
            prefix,
        } = spec
        {
            let size = block_size(host_bits(network, *prefix));
            if size > u128::from(opts.max_addresses) {
                return Err(TargetSpecError::CidrTooLarge {
                    cidr: text.clone(),
                    host_bits: host_bits(network, *prefix),
                    limit: opts.max_addresses,
                });
            }
        }
        if let TargetSpec::Octets { text, octets } = spec {
            let size = octets_count(octets);
            if size > u128::from(opts.max_addresses) {
                return Err(TargetSpecError::RangeTooLarge {
                    range: text.clone(),
                    count: size as u64,
                    limit: opts.max_addresses,
                });
            }
        }
    }
    // The total is not checked here: duplicates (`127.0.0.0/16,127.0.0.1`)
    // are probed once, so only `expand`, which removes them, can count it.
    Ok(())
}

/// Why targets could not be parsed or expanded. All of these are mistakes
/// in what was typed (usage errors); failed lookups are reported
/// separately, in [`Expansion::failures`].
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq)]
pub enum TargetSpecError {
    /// No target was given at all.
    Empty,
    /// An item is not an address, block or name.
    Invalid {
        /// The item.
        item: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A CIDR block alone holds more addresses than the cap.
    CidrTooLarge {
        /// The block as typed.
        cidr: String,
        /// Host bits of the block (it holds 2^host_bits addresses).
        host_bits: u32,
        /// The cap.
        limit: u64,
    },
    /// An octet range alone holds more addresses than the cap.
    RangeTooLarge {
        /// The range as typed.
        range: String,
        /// Addresses in it.
        count: u64,
        /// The cap.
        limit: u64,
    },
    /// An octet range splits into more than [`MAX_OCTET_RUNS`] intervals.
    RangeTooFragmented {
        /// The range as typed.
        range: String,
    },
    /// All targets together hold more addresses than the cap.
    TooMany {
        /// The cap.
        limit: u64,
    },
    /// Targets and exclusions split into more than
    /// [`TargetOptions::max_pieces`] intervals together.
    TooManyPieces {
        /// The limit.
        limit: usize,
    },
    /// A literal or block of the family excluded by `-4`/`-6`.
    WrongFamily {
        /// The item.
        item: String,
        /// The family asked for.
        wanted: Family,
    },
    /// A target file holds more items than [`MAX_FILE_ITEMS`].
    FileTooLong {
        /// The file name as given.
        source: String,
        /// The limit.
        limit: usize,
    },
    /// An error in a target file.
    InFile {
        /// The file name as given.
        source: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong on that line.
        error: Box<TargetSpecError>,
    },
}

impl fmt::Display for TargetSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSpecError::Empty => f.write_str("no target given"),
            TargetSpecError::Invalid { item, reason } => {
                write!(f, "invalid target '{}': {reason}", escape_line(item))
            }
            TargetSpecError::CidrTooLarge {
                cidr,
                host_bits,
                limit,
            } => {
                let count = if *host_bits < 64 {
                    (1u64 << host_bits).to_string()
                } else {
                    format!("2^{host_bits}")
                };
                write!(
                    f,
                    "CIDR {cidr} has {count} addresses, more than the limit of {}",
                    limit_text(*limit)
                )
            }
            TargetSpecError::RangeTooLarge {
                range,
                count,
                limit,
            } => write!(
                f,
                "range {range} has {count} addresses, more than the limit of {limit}"
            ),
            TargetSpecError::RangeTooFragmented { range } => write!(
                f,
                "range {range} splits into more than {MAX_OCTET_RUNS} pieces; use CIDR blocks"
            ),
            TargetSpecError::FileTooLong { source, limit } => {
                let source = escape_line(source);
                write!(f, "{source} holds more than {limit} targets; split it")
            }
            TargetSpecError::TooMany { limit } => write!(
                f,
                "targets expand to more than the limit of {} addresses; split the list",
                limit_text(*limit)
            ),
            TargetSpecError::TooManyPieces { limit } => write!(
                f,
                "targets and exclusions split into more than {limit} separate pieces \
                 (octet ranges, scattered addresses); use CIDR blocks or split the list"
            ),
            TargetSpecError::WrongFamily { item, wanted } => {
                let flag = if *wanted == Family::V4 { "-4" } else { "-6" };
                write!(f, "target '{item}' is of the IP version excluded by {flag}")
            }
            TargetSpecError::InFile {
                source,
                line,
                error,
            } => write!(f, "{}:{line}: {error}", escape_line(source)),
        }
    }
}

impl std::error::Error for TargetSpecError {}

/// A limit as people read it: `2^64 - 1` rather than twenty digits.
fn limit_text(limit: u64) -> String {
    if limit == u64::MAX {
        "2^64 - 1".to_string()
    } else {
        limit.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> TargetSpec {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        s.parse::<TargetSpec>().unwrap_err().to_string()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A resolver over a fixed table; unknown names are not found.
    fn table(name: &str, family: Family) -> Result<Vec<IpAddr>, ResolveError> {
        let ips: Vec<IpAddr> = match name {
            "dual.test" => vec![ip("::1"), ip("127.0.0.1"), ip("127.0.0.2")],
            "v4.test" => vec![ip("127.0.0.9")],
            _ => vec![],
        };
        let ips: Vec<IpAddr> = ips.into_iter().filter(|ip| family.accepts(ip)).collect();
        if ips.is_empty() {
            return Err(ResolveError::NotFound {
                host: name.to_owned(),
            });
        }
        Ok(ips)
    }

    fn expand_with(list: &str, opts: TargetOptions) -> Result<Expansion, TargetSpecError> {
        expand(&parse_list(list)?, &opts, &|n: &str, f| table(n, f))
    }

    fn ips_of(e: &Expansion) -> Vec<String> {
        e.targets.iter().map(|(_, ip)| ip.to_string()).collect()
    }

    #[test]
    fn parses_literals() {
        assert_eq!(
            spec("10.0.0.1"),
            TargetSpec::Addr {
                text: "10.0.0.1".into(),
                ip: ip("10.0.0.1")
            }
        );
        assert_eq!(
            spec("[::1]"),
            TargetSpec::Addr {
                text: "[::1]".into(),
                ip: ip("::1")
            }
        );
        assert!(matches!(spec("fe80::1:2"), TargetSpec::Addr { .. }));
    }

    #[test]
    fn parses_cidr_and_clears_host_bits() {
        assert_eq!(
            spec("192.168.1.77/24"),
            TargetSpec::Cidr {
                text: "192.168.1.77/24".into(),
                network: ip("192.168.1.0"),
                prefix: 24
            }
        );
        assert_eq!(spec("10.1.2.3/32").address_count(), Some(1));
        assert_eq!(spec("0.0.0.0/0").address_count(), Some(1 << 32));
        assert_eq!(spec("fd00::1/120").address_count(), Some(256));
        assert_eq!(spec("[fd00::]/126").address_count(), Some(4));
        assert_eq!(spec("::/0").address_count(), Some(u128::MAX));
    }

    #[test]
    fn parses_host_names() {
        for name in [
            "localhost",
            "example.com",
            "a-b.c_d.example.",
            "xn--bcher-kva.ch",
        ] {
            assert_eq!(spec(name), TargetSpec::Host { name: name.into() });
        }
    }

    #[test]
    fn rejects_bad_items() {
        assert!(err("10.0.0.256").contains("not a valid IPv4"));
        assert!(err("1.2.3").contains("not a valid IPv4"));
        assert!(err("10.0.0.20-1").contains("octet range"));
        assert!(err("10.0.0.1-256").contains("octet range"));
        assert!(err("10.0.0-1").contains("octet range"));
        assert!(err("10.0.0.1.2").contains("octet range"));
        assert!(err("10.0.0.0/33").contains("0-32"));
        assert!(err("::/129").contains("0-128"));
        assert!(err("10.0.0.0/").contains("0-32"));
        assert!(err("10.0.0.0/+8").contains("0-32"));
        assert!(err("host/24").contains("needs an IP address"));
        assert!(err("localhost:80").contains("PORTS"));
        assert!(err("[10.0.0.1]").contains("IPv6"));
        assert!(err("a b").contains("not an IP address"));
        assert!(err("-host").contains("not an IP address"));
        assert!(err("bad..name").contains("not an IP address"));
        assert!(err("").contains("empty"));
        // What was typed is shown on one line, control characters escaped
        // (a target list may hold anything).
        let e = err("a\nb\x1b[2J");
        assert!(!e.contains(['\n', '\x1b']), "{e}");
        let e = parse_file("ok\n\x1b]0;x\x07\n", "l\nst")
            .unwrap_err()
            .to_string();
        assert!(!e.contains(['\n', '\x1b', '\x07']), "{e}");
    }

    #[test]
    fn octet_ranges_as_nmap_writes_them() {
        assert_eq!(
            spec("10.0.0.1-20"),
            TargetSpec::Octets {
                text: "10.0.0.1-20".into(),
                octets: [vec![(10, 10)], vec![(0, 0)], vec![(0, 0)], vec![(1, 20)]]
            }
        );
        assert_eq!(spec("10.0.1-3.1").address_count(), Some(3));
        assert_eq!(spec("10.0.0.*").address_count(), Some(256));
        assert_eq!(spec("10.0.0.250-").address_count(), Some(6));
        assert_eq!(spec("10.0.0.-2").address_count(), Some(3));
        let out = expand_with("10.0.1-2.7-8", TargetOptions::default()).unwrap();
        assert_eq!(
            ips_of(&out),
            ["10.0.1.7", "10.0.1.8", "10.0.2.7", "10.0.2.8"]
        );
        assert_eq!(
            expand_with("10.*.*.*", TargetOptions::default())
                .unwrap()
                .targets
                .len(),
            1 << 24
        );
        let v6 = TargetOptions {
            family: Family::V6,
            ..TargetOptions::default()
        };
        assert!(matches!(
            expand_with("10.0.0.1-2", v6),
            Err(TargetSpecError::WrongFamily { .. })
        ));
    }

    #[test]
    fn lists_reject_empty_items() {
        assert_eq!(parse_list("").unwrap_err(), TargetSpecError::Empty);
        assert!(parse_list("10.0.0.1,,10.0.0.2").is_err());
        assert!(parse_list("10.0.0.1,").is_err());
        assert_eq!(parse_list(" 10.0.0.1 , ::1 ").unwrap().len(), 2);
    }

    #[test]
    fn files_skip_comments_and_blank_lines() {
        let text = "# header\n\n10.0.0.1\n  10.0.0.2, 10.0.0.3\tlocalhost # trailing\n#x\n";
        let specs = parse_file(text, "list").unwrap();
        let texts: Vec<&str> = specs.iter().map(TargetSpec::text).collect();
        assert_eq!(texts, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "localhost"]);
        assert!(parse_file("", "empty").unwrap().is_empty());
        assert_eq!(
            parse_file("ok.test\nbad/x\n", "f").unwrap_err().to_string(),
            "f:2: invalid target 'bad/x': CIDR needs an IP address before the '/'"
        );
    }

    #[test]
    fn expands_blocks_in_order_with_their_target() {
        let out = expand_with("10.0.0.6/30,::1", TargetOptions::default()).unwrap();
        assert_eq!(
            ips_of(&out),
            ["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "::1"]
        );
        let (target, _) = out.targets.get(2).unwrap();
        assert_eq!(&**target, "10.0.0.6/30");
        assert_eq!(out.targets.len(), 5);
        assert!(out.targets.get(5).is_none());
    }

    #[test]
    fn expands_ipv6_blocks() {
        let out = expand_with("fd00::ff/126", TargetOptions::default()).unwrap();
        assert_eq!(
            ips_of(&out),
            ["fd00::fc", "fd00::fd", "fd00::fe", "fd00::ff"]
        );
    }

    #[test]
    fn names_give_all_addresses_sorted_or_the_first() {
        let all = expand_with("dual.test", TargetOptions::default()).unwrap();
        assert_eq!(ips_of(&all), ["127.0.0.1", "127.0.0.2", "::1"]);
        let first = TargetOptions {
            first_address: true,
            ..TargetOptions::default()
        };
        assert_eq!(ips_of(&expand_with("dual.test", first).unwrap()), ["::1"]);
        let v4_first = TargetOptions {
            family: Family::V4,
            first_address: true,
            ..TargetOptions::default()
        };
        assert_eq!(
            ips_of(&expand_with("dual.test", v4_first).unwrap()),
            ["127.0.0.1"]
        );
    }

    #[test]
    fn family_filter_applies_to_names_and_rejects_literals() {
        let v6 = TargetOptions {
            family: Family::V6,
            ..TargetOptions::default()
        };
        assert_eq!(ips_of(&expand_with("dual.test", v6).unwrap()), ["::1"]);
        let e = expand_with("dual.test,127.0.0.1", v6).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target '127.0.0.1' is of the IP version excluded by -6"
        );
        let v4 = TargetOptions {
            family: Family::V4,
            ..TargetOptions::default()
        };
        assert!(matches!(
            expand_with("fd00::/64", v4),
            Err(TargetSpecError::WrongFamily { .. })
        ));
        // A name with no address of the family is a lookup failure.
        let out = expand_with("v4.test,::1", v6).unwrap();
        assert_eq!(ips_of(&out), ["::1"]);
        assert_eq!(out.failures.len(), 1);
    }

    #[test]
    fn duplicates_are_probed_once_under_the_first_target() {
        let out =
            expand_with("127.0.0.2,dual.test,127.0.0.0/30", TargetOptions::default()).unwrap();
        assert_eq!(
            ips_of(&out),
            ["127.0.0.2", "127.0.0.1", "::1", "127.0.0.0", "127.0.0.3"]
        );
        let targets: Vec<&str> = out.targets.iter().map(|(t, _)| &**t).collect();
        assert_eq!(
            targets,
            [
                "127.0.0.2",
                "dual.test",
                "dual.test",
                "127.0.0.0/30",
                "127.0.0.0/30"
            ]
        );
    }

    #[test]
    fn unresolvable_names_are_failures_not_errors() {
        let out = expand_with("nothing.test,127.0.0.1", TargetOptions::default()).unwrap();
        assert_eq!(ips_of(&out), ["127.0.0.1"]);
        assert_eq!(out.failures.len(), 1);
        assert!(out.failures[0].to_string().contains("nothing.test"));
    }

    #[test]
    fn no_cap_but_what_a_u64_counts() {
        let out = expand_with("0.0.0.0/0", TargetOptions::default()).unwrap();
        assert_eq!(out.targets.len(), 1 << 32);
        assert_eq!(out.targets.runs(), 1);
        assert_eq!(
            out.targets.get((1 << 32) - 1).unwrap().1,
            ip("255.255.255.255")
        );
        let out = expand_with("fd00::/65,10.0.0.0/8", TargetOptions::default()).unwrap();
        assert_eq!(out.targets.len(), (1 << 63) + (1 << 24));
        assert_eq!(out.targets.get(1 << 63).unwrap().1, ip("10.0.0.0"));
        let e = expand_with("fd00::/64", TargetOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CIDR fd00::/64 has 2^64 addresses, more than the limit of 2^64 - 1"
        );
        let e = expand_with("fd00::/65,fd01::/65", TargetOptions::default()).unwrap_err();
        assert_eq!(e, TargetSpecError::TooMany { limit: u64::MAX });
        let small = TargetOptions {
            max_addresses: 2,
            ..TargetOptions::default()
        };
        assert!(expand_with("127.0.0.1,127.0.0.2", small).is_ok());
        // Duplicates are probed once, so they do not count twice.
        let out = expand_with(
            "127.0.0.0/16,127.0.0.1,127.0.0.0/16,127.0.0.0/17",
            TargetOptions::default(),
        )
        .unwrap();
        assert_eq!(out.targets.len(), 65536);
        assert_eq!(out.targets.runs(), 1);
        // Names count against the cap once resolved.
        assert!(matches!(
            expand_with("dual.test", small),
            Err(TargetSpecError::TooMany { .. })
        ));
    }

    #[test]
    fn overlapping_blocks_merge_as_intervals() {
        let out = expand_with(
            "10.0.0.0/30,10.0.0.2/31,10.0.0.0/29",
            TargetOptions::default(),
        )
        .unwrap();
        let targets: Vec<(String, String)> = out
            .targets
            .iter()
            .map(|(t, ip)| (t.to_string(), ip.to_string()))
            .collect();
        assert_eq!(targets.len(), 8);
        assert_eq!(targets[3], ("10.0.0.0/30".into(), "10.0.0.3".into()));
        assert_eq!(targets[4], ("10.0.0.0/29".into(), "10.0.0.4".into()));
    }

    #[test]
    fn exclusions_of_every_kind_are_never_kept() {
        let specs = parse_list("10.0.0.0/24,dual.test,fd00::/126").unwrap();
        let excludes = parse_list("10.0.0.0/25,10.0.0.200-255,v4.test,127.0.0.2,fd00::1").unwrap();
        let out = expand_excluding(
            &specs,
            &excludes,
            &TargetOptions::default(),
            &|n: &str, f| table(n, f),
        )
        .unwrap();
        let ips = ips_of(&out);
        assert_eq!(ips.len(), 72 + 2 + 3);
        assert_eq!(ips[0], "10.0.0.128");
        assert_eq!(ips[71], "10.0.0.199");
        assert_eq!(&ips[72..74], ["127.0.0.1", "::1"]);
        assert_eq!(&ips[74..], ["fd00::", "fd00::2", "fd00::3"]);
        let bad = parse_list("nothing.test").unwrap();
        let out = expand_excluding(&specs, &bad, &TargetOptions::default(), &|n: &str, f| {
            table(n, f)
        })
        .unwrap();
        assert_eq!(out.exclude_failures.len(), 1);
    }

    #[test]
    fn pieces_are_bounded() {
        let few = TargetOptions {
            max_pieces: 3,
            ..TargetOptions::default()
        };
        assert!(expand_with("127.0.0.1,127.0.0.3,127.0.0.5", few).is_ok());
        assert_eq!(
            expand_with("127.0.0.1,127.0.0.3,127.0.0.5,127.0.0.7", few).unwrap_err(),
            TargetSpecError::TooManyPieces { limit: 3 }
        );
        // Exclusions count too.
        let specs = parse_list("127.0.0.0/24").unwrap();
        let excludes = parse_list("127.0.0.1,127.0.0.3,127.0.0.5").unwrap();
        let e = expand_excluding(&specs, &excludes, &few, &|n: &str, f| table(n, f));
        assert_eq!(e.unwrap_err(), TargetSpecError::TooManyPieces { limit: 3 });
        // Octet ranges are counted before any work: 17 lines of 65536
        // pieces each are refused at once (they took minutes and grew
        // without bound before).
        let line = vec!["127.0-255.0-255.1"; 17].join(",");
        let e = expand_with(&line, TargetOptions::default()).unwrap_err();
        assert_eq!(e, TargetSpecError::TooManyPieces { limit: MAX_PIECES });
        assert!(e.to_string().contains("use CIDR blocks"), "{e}");
        assert!(expand_with("127.0-255.0-255.1", TargetOptions::default()).is_ok());
    }

    #[test]
    fn mapped_ipv6_is_the_ipv4_host_for_dedup_and_exclusion() {
        let out = expand_with("127.0.0.1,::ffff:127.0.0.1", TargetOptions::default()).unwrap();
        assert_eq!(ips_of(&out), ["127.0.0.1"]);
        let specs = parse_list("::ffff:127.0.0.0/126").unwrap();
        let excludes = parse_list("127.0.0.1,127.0.0.2/31").unwrap();
        let out = expand_excluding(
            &specs,
            &excludes,
            &TargetOptions::default(),
            &|n: &str, f| table(n, f),
        )
        .unwrap();
        assert_eq!(ips_of(&out), ["::ffff:127.0.0.0"]);
        let specs = parse_list("127.0.0.0/30").unwrap();
        let excludes = parse_list("::ffff:127.0.0.0/127").unwrap();
        let out = expand_excluding(
            &specs,
            &excludes,
            &TargetOptions::default(),
            &|n: &str, f| table(n, f),
        )
        .unwrap();
        assert_eq!(ips_of(&out), ["127.0.0.2", "127.0.0.3"]);
    }

    fn octets(ranges: [&[(u8, u8)]; 4]) -> [Vec<(u8, u8)>; 4] {
        ranges.map(<[_]>::to_vec)
    }

    #[test]
    fn octet_ranges_become_few_intervals() {
        let all: &[(u8, u8)] = &[(0, 255)];
        assert_eq!(
            octet_intervals(&octets([&[(10, 10)], all, all, all])),
            Some(vec![(0x0a00_0000, 0x0aff_ffff)])
        );
        assert_eq!(
            octet_intervals(&octets([&[(10, 10)], &[(1, 2)], all, all])),
            Some(vec![(0x0a01_0000, 0x0a02_ffff)])
        );
        assert_eq!(
            octet_intervals(&octets([&[(10, 10)], &[(0, 1)], &[(0, 0)], &[(5, 6)]]))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            octet_intervals(&octets([all, all, all, all])),
            Some(vec![(0, 0xffff_ffff)])
        );
        assert_eq!(octet_intervals(&octets([all, all, all, &[(1, 1)]])), None);
        let e = expand_with("*.*.*.1", TargetOptions::default()).unwrap_err();
        assert!(e.to_string().contains("use CIDR"), "{e}");
        // A list in the last partial octet: one interval per range.
        assert_eq!(
            octet_intervals(&octets([&[(10, 10)], &[(1, 1), (3, 4)], all, all])),
            Some(vec![(0x0a01_0000, 0x0a01_ffff), (0x0a03_0000, 0x0a04_ffff)])
        );
    }

    #[test]
    fn octet_lists_as_nmap_writes_them() {
        // nmap: `10.0.0.1-3,7` is .1 to .3 and .7; `10.0.3-5,7.1` is
        // 10.0.3.1, 10.0.4.1, 10.0.5.1 and 10.0.7.1 (nmap -sL -n).
        let ips = |list: &str| ips_of(&expand_with(list, TargetOptions::default()).unwrap());
        assert_eq!(
            ips("127.0.0.1-3,7"),
            ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.7"]
        );
        assert_eq!(
            ips("127.0.3-5,7.1"),
            ["127.0.3.1", "127.0.4.1", "127.0.5.1", "127.0.7.1"]
        );
        assert_eq!(
            ips("127.0.0.9,1,5-6"),
            ["127.0.0.1", "127.0.0.5", "127.0.0.6", "127.0.0.9"]
        );
        assert_eq!(
            ips("127.0.0.1-3,2-4"),
            ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
        );
        assert_eq!(spec("127.0.0.1-3,4,9").address_count(), Some(5));
        assert_eq!(
            spec("127.0.0.1-3,4,9"),
            TargetSpec::Octets {
                text: "127.0.0.1-3,4,9".into(),
                octets: [
                    vec![(127, 127)],
                    vec![(0, 0)],
                    vec![(0, 0)],
                    vec![(1, 4), (9, 9)]
                ]
            }
        );
        // Items that are targets on their own stay apart.
        let specs = parse_list("127.0.0.1,127.0.0.2,localhost,127.0.0.3-4,9").unwrap();
        let texts: Vec<&str> = specs.iter().map(TargetSpec::text).collect();
        assert_eq!(
            texts,
            ["127.0.0.1", "127.0.0.2", "localhost", "127.0.0.3-4,9"]
        );
        // In a file, whitespace separates targets and commas join as above.
        let specs = parse_file("127.0.0.1-3,7 127.0.3-5,7.1\n127.0.0.1,127.0.0.2\n", "f").unwrap();
        let texts: Vec<&str> = specs.iter().map(TargetSpec::text).collect();
        assert_eq!(
            texts,
            ["127.0.0.1-3,7", "127.0.3-5,7.1", "127.0.0.1", "127.0.0.2"]
        );
        // Still errors: a fragment after a name, an empty item, a bad list.
        assert!(parse_list("localhost,7").is_err());
        assert!(parse_list("127.0.0.1,,7").is_err());
        assert!(parse_list("127.0.0.1-3,7.1").is_err());
        assert!(parse_list("127.0.0.1-3,300").is_err());
        assert!(parse_list("127.0.0.1-3,-").is_ok());
        assert!(parse_list("127.0.0.5-3,4").is_err());
        // With a prefix, as nmap applies it to every address of the range.
        assert_eq!(
            ips("127.0.0-1.0/31"),
            ["127.0.0.0", "127.0.0.1", "127.0.1.0", "127.0.1.1"]
        );
        assert_eq!(
            ips("127.0.3,9.0/23"),
            ["127.0.2.0", "127.0.3.0", "127.0.8.0", "127.0.9.0"]
                .iter()
                .flat_map(|net| {
                    let base: Ipv4Addr = net.parse().unwrap();
                    (0..256).map(move |i| Ipv4Addr::from(u32::from(base) + i).to_string())
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(spec("127.0.0-1.5/30").address_count(), Some(8));
        assert!(parse_list("127.0.0-1.0/33").is_err());
        assert!(parse_list("127.0.0-1.0/").is_err());
        // A fragment after a whole address joins it; an address after
        // a fragment does not (4 dots or more can never parse).
        let specs = parse_list("127.0.0.1,2,127.0.0.5").unwrap();
        let texts: Vec<&str> = specs.iter().map(TargetSpec::text).collect();
        assert_eq!(texts, ["127.0.0.1,2", "127.0.0.5"]);
        assert_eq!(
            parse_list("1.2.3,4.5.6.7").unwrap_err().to_string(),
            "invalid target '1.2.3': not a valid IPv4 address or octet range \
             (each of 4 octets 0-255, A-B, * or a comma list of them)"
        );
        // Joining is linear: a million fragments are one bad item, at once.
        let fragments = "1,".repeat(1 << 20) + "1";
        let joined = join_octet_lists(fragments.split(','));
        assert_eq!(joined.len(), 1);
        assert!(parse_list(&fragments).is_err());
    }
}
