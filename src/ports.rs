//! Port specifications: the `PORTS` argument of `portscan`, parsed into a
//! sorted set of disjoint ranges.
//!
//! The syntax follows nmap's `-p`: single ports (`22`), inclusive ranges
//! (`8000-8100`), ranges open at one end (`8000-` up to 65535, `-100`
//! from 1), comma-separated lists of them (`22,80,443,8000-8100`), and
//! `-` or `all` for every port (1-65535), service names from
//! [`crate::port_names`] (`http,ssh`: every port the table gives that name),
//! and nmap's protocol prefixes: [`ProtoPorts`] reads `T:` (TCP) and `U:`
//! (UDP) as nmap does (a prefix holds until the next one; items before
//! any prefix are for every protocol scanned); a plain [`PortSpec`] is one
//! protocol's set and refuses `U:`; `S:` (SCTP) is refused.
//! [`PortSpec::top`] and [`PortSpec::top_udp`] are nmap's `--top-ports`,
//! from nmap's rankings by open frequency (compiled in, see
//! `scripts/gen-top-ports.py`); the default is its top 1000, so that
//! `portscan HOST` and `nmap -sT HOST` (`-sU`: `nmap -sU HOST`) scan the
//! same ports. Overlapping and adjacent items
//! are merged, so each port appears once however often it was typed; the
//! order the user typed does not matter, because the probe order is decided
//! by [`crate::shard`]. Port 0 is scanned only when named (`0`, `0-10`),
//! as nmap does: open ranges and `-` start at 1. Anything else is an
//! error: ports above 65535, reversed ranges, empty items (`80,,81`),
//! signs, spaces inside numbers, words, and nmap's wildcard and bracket
//! items (`http*`, `[1-1024]`), which select from nmap's larger service
//! table (matching portscan's smaller one would scan other ports).
//!
//! This module owns only the syntax and the set; it does no I/O.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The lowest port of `-`, `all` and of a range open at its start; port 0
/// is scanned only when named.
pub const MIN_PORT: u16 = 1;
/// The highest port a spec may name.
pub const MAX_PORT: u16 = 65535;
/// How many of nmap's top ports are scanned by default.
pub const DEFAULT_TOP_PORTS: u32 = 1000;

/// A validated set of TCP ports, stored as sorted, disjoint, non-adjacent
/// inclusive ranges.
///
/// ```
/// use rawnet::ports::PortSpec;
/// let spec: PortSpec = "443,80,8000-8002,81".parse().unwrap();
/// assert_eq!(spec.len(), 6);
/// assert_eq!(spec.iter().collect::<Vec<_>>(), [80, 81, 443, 8000, 8001, 8002]);
/// assert_eq!(spec.to_string(), "80-81,443,8000-8002");
/// assert!("65536".parse::<PortSpec>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    /// Sorted, disjoint, non-adjacent ranges.
    ranges: Vec<RangeInclusive<u16>>,
    /// `before[i]`: number of ports in `ranges[..i]`, for [`PortSpec::nth`].
    before: Vec<u32>,
}

impl PortSpec {
    /// Every port, 1-65535 (what `-` and `all` mean).
    pub fn all() -> PortSpec {
        PortSpec::from_ranges(vec![MIN_PORT..=MAX_PORT])
    }

    /// The default when no ports are given: nmap's top 1000 TCP ports
    /// (as `nmap -sT` scans by default).
    pub fn default_ports() -> PortSpec {
        PortSpec::top(DEFAULT_TOP_PORTS)
    }

    /// nmap's `--top-ports n`: the `n` TCP ports nmap finds open most
    /// often, exactly nmap's list for every `n`; past the end of nmap's
    /// ranking (8366 ports), all of it, as nmap does. Empty for `n == 0`.
    ///
    /// ```
    /// use rawnet::ports::PortSpec;
    /// assert_eq!(PortSpec::top(3).to_string(), "23,80,443");
    /// assert_eq!(PortSpec::top(100).len(), 100);
    /// assert_eq!(PortSpec::top(65535), PortSpec::top(100_000));
    /// ```
    pub fn top(n: u32) -> PortSpec {
        let ranked = crate::top_ports::TCP_BY_FREQUENCY;
        let n = (n as usize).min(ranked.len());
        PortSpec::from_ranges(ranked[..n].iter().map(|&p| p..=p).collect())
    }

    /// nmap's `--top-ports n` with `-sU`: the `n` UDP ports nmap finds
    /// open most often, exactly nmap's list (its ranking has 19022
    /// ports).
    ///
    /// ```
    /// use rawnet::ports::PortSpec;
    /// assert_eq!(PortSpec::top_udp(4).to_string(), "123,137,161,631");
    /// assert_eq!(PortSpec::top_udp(1000).len(), 1000);
    /// ```
    pub fn top_udp(n: u32) -> PortSpec {
        let ranked = crate::top_ports::UDP_BY_FREQUENCY;
        let n = (n as usize).min(ranked.len());
        PortSpec::from_ranges(ranked[..n].iter().map(|&p| p..=p).collect())
    }

    /// The empty set (a protocol that is not scanned).
    pub fn none() -> PortSpec {
        PortSpec::from_ranges(Vec::new())
    }

    /// Number of distinct ports in the set (at most 65536, with port 0).
    pub fn len(&self) -> u32 {
        self.ranges.last().map_or(0, |last| {
            self.before[self.before.len() - 1] + range_len(last)
        })
    }

    /// True when the set is empty (a parsed spec never is).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The `index`-th smallest port of the set, in O(log ranges).
    ///
    /// ```
    /// use rawnet::ports::PortSpec;
    /// let spec: PortSpec = "22,80-82".parse().unwrap();
    /// assert_eq!(spec.nth(0), Some(22));
    /// assert_eq!(spec.nth(3), Some(82));
    /// assert_eq!(spec.nth(4), None);
    /// ```
    pub fn nth(&self, index: u32) -> Option<u16> {
        if index >= self.len() {
            return None;
        }
        // The last range that starts at or before `index`.
        let i = self.before.partition_point(|&b| b <= index) - 1;
        let offset = index - self.before[i];
        // `offset` < the range length, so the sum stays within u16.
        Some(self.ranges[i].start() + offset as u16)
    }

    /// True when `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        let i = self.ranges.partition_point(|r| *r.end() < port);
        self.ranges.get(i).is_some_and(|r| r.contains(&port))
    }

    /// The merged ranges, sorted.
    pub fn ranges(&self) -> &[RangeInclusive<u16>] {
        &self.ranges
    }

    /// Every port of the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }

    /// Builds the set from any ranges: sorts them and merges overlapping
    /// and adjacent ones. Ranges must be non-empty.
    fn from_ranges(mut ranges: Vec<RangeInclusive<u16>>) -> PortSpec {
        ranges.sort_by_key(|r| *r.start());
        let mut merged: Vec<RangeInclusive<u16>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(*r.start()) <= u32::from(*last.end()) + 1 => {
                    if r.end() > last.end() {
                        *last = *last.start()..=*r.end();
                    }
                }
                _ => merged.push(r),
            }
        }
        let mut before = Vec::with_capacity(merged.len());
        let mut count = 0;
        for r in &merged {
            before.push(count);
            count += range_len(r);
        }
        PortSpec {
            ranges: merged,
            before,
        }
    }
}

fn range_len(r: &RangeInclusive<u16>) -> u32 {
    u32::from(*r.end()) - u32::from(*r.start()) + 1
}

impl Default for PortSpec {
    /// nmap's top 1000, as [`PortSpec::default_ports`].
    fn default() -> Self {
        PortSpec::default_ports()
    }
}

impl fmt::Display for PortSpec {
    /// The canonical form: merged ranges, ascending, comma-separated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

impl FromStr for PortSpec {
    type Err = PortSpecError;

    /// One protocol's ports: `T:` prefixes are accepted, `U:` is not (see
    /// [`ProtoPorts`]).
    fn from_str(spec: &str) -> Result<PortSpec, PortSpecError> {
        let parsed: ProtoPorts = spec.parse()?;
        if parsed.udp_only {
            return Err(PortSpecError {
                spec: spec.to_owned(),
                reason: Reason::NotTcp,
            });
        }
        Ok(parsed.tcp)
    }
}

/// A port list with nmap's protocol prefixes: `22,U:53,161,T:80`.
///
/// A `T:` or `U:` prefix holds for its item and the ones after it, up to
/// the next prefix; items before any prefix are for both protocols (nmap:
/// "every protocol scanned"). `S:` (SCTP) is refused.
///
/// ```
/// use rawnet::ports::ProtoPorts;
/// let p: ProtoPorts = "22,U:53,161,T:80".parse().unwrap();
/// assert_eq!(p.tcp.to_string(), "22,80");
/// assert_eq!(p.udp.to_string(), "22,53,161");
/// assert!(p.tcp_only && p.udp_only);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtoPorts {
    /// The TCP ports (unprefixed and `T:` items).
    pub tcp: PortSpec,
    /// The UDP ports (unprefixed and `U:` items).
    pub udp: PortSpec,
    /// Some item was prefixed `T:`.
    pub tcp_only: bool,
    /// Some item was prefixed `U:`.
    pub udp_only: bool,
}

impl FromStr for ProtoPorts {
    type Err = PortSpecError;

    fn from_str(spec: &str) -> Result<ProtoPorts, PortSpecError> {
        let whole = spec.trim();
        if whole == "-" || whole.eq_ignore_ascii_case("all") {
            return Ok(ProtoPorts {
                tcp: PortSpec::all(),
                udp: PortSpec::all(),
                tcp_only: false,
                udp_only: false,
            });
        }
        let error = |reason| PortSpecError {
            spec: spec.to_owned(),
            reason,
        };
        if whole.is_empty() {
            return Err(error(Reason::Empty));
        }
        let (mut tcp, mut udp) = (Vec::new(), Vec::new());
        let (mut tcp_only, mut udp_only) = (false, false);
        // None: both protocols; Some(false): TCP; Some(true): UDP.
        let mut current: Option<bool> = None;
        for item in whole.split(',') {
            let (prefix, rest) = split_prefix(item.trim()).map_err(error)?;
            if let Some(is_udp) = prefix {
                current = Some(is_udp);
                tcp_only |= !is_udp;
                udp_only |= is_udp;
            }
            let ranges = parse_item(rest, current == Some(true)).map_err(error)?;
            if current != Some(true) {
                tcp.extend(ranges.iter().cloned());
            }
            if current != Some(false) {
                udp.extend(ranges);
            }
        }
        Ok(ProtoPorts {
            tcp: PortSpec::from_ranges(tcp),
            udp: PortSpec::from_ranges(udp),
            tcp_only,
            udp_only,
        })
    }
}

/// Splits a `T:`/`U:` prefix off an item (`Some(true)` for UDP); `S:` is
/// refused.
fn split_prefix(item: &str) -> Result<(Option<bool>, &str), Reason> {
    match item.get(..2) {
        Some(p) if p.eq_ignore_ascii_case("T:") => Ok((Some(false), &item[2..])),
        Some(p) if p.eq_ignore_ascii_case("U:") => Ok((Some(true), &item[2..])),
        Some(p) if p.eq_ignore_ascii_case("S:") => Err(Reason::Sctp(item.to_owned())),
        _ => Ok((None, item)),
    }
}

/// One comma-separated item, prefix removed: `N`, `A-B`, `A-`, `-B`, or
/// a service name (looked up among `udp` names or TCP ones); a name may stand for
/// several ports.
fn parse_item(item: &str, udp: bool) -> Result<Vec<RangeInclusive<u16>>, Reason> {
    let item = item.trim();
    if item.is_empty() {
        return Err(Reason::EmptyItem);
    }
    if item.contains(['*', '?', '[', ']']) {
        return Err(Reason::Pattern(item.to_owned()));
    }
    if item.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let ports: Vec<_> = if udp {
            crate::port_names::udp_ports_named(item)
                .map(|p| p..=p)
                .collect()
        } else {
            crate::port_names::tcp_ports_named(item)
                .map(|p| p..=p)
                .collect()
        };
        if ports.is_empty() {
            return Err(Reason::UnknownService(item.to_owned()));
        }
        return Ok(ports);
    }
    parse_range(item).map(|r| vec![r])
}

/// `N`, `A-B`, or a range open at one end or both (`A-` up to 65535,
/// `-B` from 1, `-` for 1-65535), as nmap reads them.
fn parse_range(item: &str) -> Result<RangeInclusive<u16>, Reason> {
    match item.split_once('-') {
        None => {
            let port = parse_port(item)?;
            Ok(port..=port)
        }
        Some((lo, hi)) => {
            let end = |text: &str, open: u16| match text.trim() {
                "" => Ok(open),
                text => parse_port(text),
            };
            let (lo, hi) = (end(lo, MIN_PORT)?, end(hi, MAX_PORT)?);
            if lo > hi {
                return Err(Reason::Reversed(lo, hi));
            }
            Ok(lo..=hi)
        }
    }
}

/// A port number: ASCII digits only (no sign, no spaces), 0-65535.
fn parse_port(text: &str) -> Result<u16, Reason> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reason::NotANumber(text.to_owned()));
    }
    match text.parse::<u32>() {
        Ok(n) if n <= u32::from(MAX_PORT) => Ok(n as u16),
        _ => Err(Reason::OutOfRange(text.to_owned())),
    }
}

/// Why a port spec was rejected; its message names the whole spec and the
/// offending part on one line.
///
/// ```
/// use rawnet::ports::PortSpec;
/// let err = "22,1-70000".parse::<PortSpec>().unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid port spec '22,1-70000': port 70000 is out of range 0-65535"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpecError {
    spec: String,
    reason: Reason,
}

impl PortSpecError {
    /// The spec as it was given.
    pub fn spec(&self) -> &str {
        &self.spec
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Reason {
    Empty,
    EmptyItem,
    NotANumber(String),
    OutOfRange(String),
    Pattern(String),
    Reversed(u16, u16),
    UnknownService(String),
    NotTcp,
    Sctp(String),
}

impl fmt::Display for PortSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid port spec '{}': ", self.spec)?;
        match &self.reason {
            Reason::Empty => f.write_str("no ports given"),
            Reason::EmptyItem => f.write_str("empty item in the list"),
            Reason::NotANumber(s) => write!(f, "'{s}' is not a port number"),
            Reason::OutOfRange(s) => {
                write!(f, "port {s} is out of range 0-{MAX_PORT}")
            }
            Reason::Pattern(s) => write!(
                f,
                "'{s}': wildcard and bracket patterns are not supported (they select from \
                 nmap's service table, larger than portscan's); name the ports or services"
            ),
            Reason::Reversed(lo, hi) => {
                write!(f, "range {lo}-{hi} is backwards (did you mean {hi}-{lo}?)")
            }
            Reason::UnknownService(s) => {
                write!(f, "'{s}' is not a port number or a known service name")
            }
            Reason::NotTcp => f.write_str("U: items in a TCP-only port list"),
            Reason::Sctp(s) => write!(
                f,
                "'{s}': portscan scans TCP (T:) and UDP (U:); SCTP is not supported"
            ),
        }
    }
}

impl std::error::Error for PortSpecError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(spec: &str) -> Vec<u16> {
        spec.parse::<PortSpec>().unwrap().iter().collect()
    }

    fn reason(spec: &str) -> String {
        spec.parse::<PortSpec>().unwrap_err().to_string()
    }

    #[test]
    fn service_names_and_protocol_prefixes() {
        assert_eq!(ports("http,ssh"), [22, 80, 8008]);
        assert_eq!(ports("T:22,T:80-81,https"), [22, 80, 81, 443]);
        assert_eq!(ports("http-proxy,ms-wbt-server"), [3389, 8080]);
        assert!(reason("U:53").contains("TCP-only"));
        assert!(reason("T:22,S:1").contains("SCTP is not supported"));
        assert!(reason("T:").contains("empty item"));
        assert!(reason("nosuchservice").contains("known service name"));
    }

    #[test]
    fn top_ports_follow_nmaps_ranking() {
        assert_eq!(PortSpec::top(0).len(), 0);
        assert_eq!(PortSpec::top(1).to_string(), "80");
        assert_eq!(
            PortSpec::top(10).to_string(),
            "21-23,25,80,110,139,443,445,3389"
        );
        assert_eq!(PortSpec::top(1000).len(), 1000);
        assert_eq!(PortSpec::default_ports(), PortSpec::top(1000));
        for p in [3306, 5432, 8080] {
            assert!(PortSpec::default_ports().contains(p), "{p}");
        }
        let ranked = crate::top_ports::TCP_BY_FREQUENCY;
        let mut unique = ranked.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ranked.len(), "a port ranked twice");
        assert!(!unique.contains(&0));
    }

    #[test]
    fn single_ports_ranges_and_lists() {
        assert_eq!(ports("80"), [80]);
        assert_eq!(ports("1-3"), [1, 2, 3]);
        assert_eq!(ports("22,80,443"), [22, 80, 443]);
        assert_eq!(ports("8000-8002,22"), [22, 8000, 8001, 8002]);
        assert_eq!(ports("65535"), [65535]);
        assert_eq!(ports("5-5"), [5]);
    }

    #[test]
    fn dash_and_all_mean_every_port() {
        for spec in ["-", "all", "ALL", " - "] {
            let s: PortSpec = spec.parse().unwrap();
            assert_eq!(s, PortSpec::all());
            assert_eq!(s.len(), 65535);
            assert_eq!(s.nth(0), Some(1));
            assert_eq!(s.nth(65534), Some(65535));
        }
    }

    #[test]
    fn default_is_nmaps_top_1000() {
        assert_eq!(PortSpec::default().len(), 1000);
        assert_eq!(PortSpec::default(), PortSpec::top(1000));
    }

    #[test]
    fn overlaps_and_duplicates_are_merged() {
        let s: PortSpec = "80,80,79-81,100-200,150-250,251,1-2,3".parse().unwrap();
        assert_eq!(s.to_string(), "1-3,79-81,100-251");
        assert_eq!(s.len(), 3 + 3 + 152);
        let all: Vec<u16> = s.iter().collect();
        let mut sorted = all.clone();
        sorted.dedup();
        assert_eq!(all, sorted);
    }

    #[test]
    fn spaces_around_items_are_allowed() {
        assert_eq!(ports(" 22 , 80 - 81 "), [22, 80, 81]);
    }

    #[test]
    fn nth_matches_iteration() {
        let s: PortSpec = "1,5-9,100,200-300,65535".parse().unwrap();
        let all: Vec<u16> = s.iter().collect();
        assert_eq!(all.len() as u32, s.len());
        for (i, p) in all.iter().enumerate() {
            assert_eq!(s.nth(i as u32), Some(*p));
            assert!(s.contains(*p));
        }
        assert_eq!(s.nth(s.len()), None);
        assert!(!s.contains(2) && !s.contains(99) && !s.contains(301));
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(reason("65536").contains("port 65536 is out of range 0-65535"));
        assert!(reason("1-70000").contains("port 70000 is out of range"));
        assert!(reason("70000-").contains("port 70000 is out of range"));
        assert!(reason("99999999999999999999").contains("out of range"));
    }

    #[test]
    fn port_zero_only_when_named() {
        assert_eq!(ports("0"), [0]);
        assert_eq!(ports("0-2"), [0, 1, 2]);
        assert_eq!(ports("0,65535"), [0, 65535]);
        let s: PortSpec = "0-".parse().unwrap();
        assert_eq!(
            (s.len(), s.nth(0), s.nth(65535)),
            (65536, Some(0), Some(65535))
        );
        assert!(!PortSpec::all().contains(0));
        assert!(!"-10".parse::<PortSpec>().unwrap().contains(0));
    }

    #[test]
    fn wildcards_and_brackets_are_refused() {
        for bad in ["http*", "ht?p", "[1-1024]", "22,T:ssh*"] {
            assert!(reason(bad).contains("not supported"), "{bad}");
        }
    }

    #[test]
    fn rejects_non_numbers() {
        assert_eq!(
            reason("abc"),
            "invalid port spec 'abc': 'abc' is not a port number or a known service name"
        );
        assert!(reason("+80").contains("not a port number"));
        assert!(reason("8 0").contains("not a port number"));
        assert!(reason("80-90-100").contains("not a port number"));
        assert!(reason("0x50").contains("not a port number"));
    }

    #[test]
    fn rejects_empty_items() {
        assert!(reason("").contains("no ports given"));
        assert!(reason("  ").contains("no ports given"));
        assert!(reason("80,,81").contains("empty item"));
        assert!(reason("80,").contains("empty item"));
        assert!(reason(",80").contains("empty item"));
    }

    #[test]
    fn open_ranges_run_to_the_ends() {
        assert_eq!(
            "65530-".parse::<PortSpec>().unwrap().to_string(),
            "65530-65535"
        );
        assert_eq!(ports("-3"), [1, 2, 3]);
        assert_eq!(ports("T:-2,65535-"), [1, 2, 65535]);
        assert_eq!("22,-".parse::<PortSpec>().unwrap(), PortSpec::all());
        assert!(reason("10-5-").contains("not a port number"));
    }

    #[test]
    fn rejects_reversed_ranges() {
        assert_eq!(
            reason("90-80"),
            "invalid port spec '90-80': range 90-80 is backwards (did you mean 80-90?)"
        );
    }

    #[test]
    fn errors_are_one_line() {
        for bad in ["65536", "1-70000", "abc", "80,,81", "http*", ""] {
            assert!(!reason(bad).contains('\n'), "{bad}");
        }
    }
}
