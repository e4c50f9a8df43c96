//! Targets given as `(address, port)` pairs, for two-stage pipelines: a
//! fast sweep (masscan, zmap, naabu, or portscan itself) finds the open
//! ports, and a second pass (`portscan --pairs FILE -sV`) probes just
//! those, instead of the product of every address and every port.
//!
//! [`parse`] reads one pair (or none) per line, in any of the forms those
//! tools write, told apart line by line:
//!
//! | form | example | from |
//! |---|---|---|
//! | `ADDRESS:PORT`, `[IPv6]:PORT` | `10.0.0.1:80` | naabu, zmap `-f saddr,sport` with `:` |
//! | `ADDRESS,PORT` (CSV; a header line is skipped) | `10.0.0.1,80` | zmap `-O csv -f saddr,sport` |
//! | `ADDRESS PORT` | `10.0.0.1 80` | hand-written lists |
//! | `open PROTO PORT ADDRESS TIME` | `open tcp 80 10.0.0.1 1700000000` | masscan `-oL` |
//! | a JSON object with `ip` and `port` | portscan's JSON Lines, naabu `-json` | |
//! | a JSON object with `ip` and `ports: [{port, proto, status}]` | masscan `-oJ` (its `[`, `]` and trailing commas too) | |
//!
//! `#` comments, blank lines and masscan's `banner` lines (`--banners`)
//! are skipped. A record that says its port is not open
//! (`"state":"closed"`, masscan's `closed` lines) gives no pair: only
//! what the sweep found open is probed again. The protocol is TCP unless
//! the record says `udp`. Every problem is a [`PairsError`]
//! naming the line; duplicates are dropped, first one kept.
//!
//! [`PairPlan`] is the seam to the engine: a [`ProbeSource`] over an
//! explicit list, in a seeded order and sharded like [`crate::shard::Plan`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::scan::{Probe, ProbeSource, Proto};
use crate::shard::{Permutation, Shard};

/// One pair to probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair {
    /// The address.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// TCP or UDP.
    pub proto: Proto,
}

/// Why a pairs list was refused: the line and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairsError {
    source: String,
    line: usize,
    reason: String,
}

impl fmt::Display for PairsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.source, self.line, self.reason)
    }
}

impl std::error::Error for PairsError {}

/// Longest line read; beyond it, the list is refused.
pub const MAX_LINE: usize = 64 * 1024;

/// The pairs of `text` (read from `source`, named in errors), duplicates
/// dropped, in the order first seen.
///
/// ```
/// use rawnet::pairs::parse;
/// let text = "10.0.0.1:80\nopen tcp 22 10.0.0.2 1700000000\n{\"ip\":\"::1\",\"port\":443,\"proto\":\"tcp\",\"state\":\"open\"}\n";
/// let pairs = parse(text, "list").unwrap();
/// assert_eq!(pairs.len(), 3);
/// assert_eq!(pairs[1].port, 22);
/// ```
pub fn parse(text: &str, source: &str) -> Result<Vec<Pair>, PairsError> {
    let mut seen = HashSet::new();
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let error = |reason: String| PairsError {
            source: source.to_string(),
            line: i + 1,
            reason,
        };
        if line.len() > MAX_LINE {
            return Err(error(format!("longer than {} KiB", MAX_LINE / 1024)));
        }
        for pair in parse_line(line).map_err(error)? {
            if seen.insert(pair) {
                pairs.push(pair);
            }
        }
    }
    Ok(pairs)
}

/// The pairs of one line (none for a comment, a header or a port not
/// open; several for a masscan `-oJ` record with several ports).
fn parse_line(line: &str) -> Result<Vec<Pair>, String> {
    let line = line.trim();
    let line = line.strip_suffix(',').unwrap_or(line).trim_end();
    if line.is_empty() || line.starts_with('#') || line == "[" || line == "]" {
        return Ok(Vec::new());
    }
    if line.starts_with('{') {
        return json_line(line);
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    // masscan -oL with --banners: `banner tcp 80 10.0.0.1 1700000000 http
    // ...` repeats a port its `open` line gave.
    if words.len() >= 6 && words[0] == "banner" && matches!(words[1], "tcp" | "udp") {
        return Ok(Vec::new());
    }
    // masscan -oL: `open tcp 80 10.0.0.1 1700000000`.
    if words.len() == 5
        && matches!(words[0], "open" | "closed")
        && matches!(words[1], "tcp" | "udp")
    {
        if words[0] == "closed" {
            return Ok(Vec::new());
        }
        return Ok(vec![Pair {
            ip: address(words[3])?,
            port: port(words[2])?,
            proto: protocol(words[1])?,
        }]);
    }
    if words.len() == 2 {
        return Ok(vec![Pair {
            ip: address(words[0])?,
            port: port(words[1])?,
            proto: Proto::Tcp,
        }]);
    }
    if let Some((ip, p)) = line.split_once(',') {
        if ip.parse::<IpAddr>().is_err() && p.parse::<u16>().is_err() {
            // A CSV header (zmap's `saddr,sport`).
            return Ok(Vec::new());
        }
        return Ok(vec![Pair {
            ip: address(ip)?,
            port: port(p)?,
            proto: Proto::Tcp,
        }]);
    }
    let (ip, p) = match line.strip_prefix('[') {
        Some(rest) => rest
            .split_once("]:")
            .ok_or_else(|| format!("expected [IPv6]:PORT, got '{}'", clip(line)))?,
        None => line
            .rsplit_once(':')
            .filter(|(ip, _)| !ip.contains(':'))
            .ok_or_else(|| {
                format!(
                    "expected ADDRESS:PORT (or a masscan, zmap, naabu or portscan record), got '{}'",
                    clip(line)
                )
            })?,
    };
    Ok(vec![Pair {
        ip: address(ip)?,
        port: port(p)?,
        proto: Proto::Tcp,
    }])
}

fn json_line(line: &str) -> Result<Vec<Pair>, String> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON record: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let ip_text = object
        .get("ip")
        .or_else(|| object.get("host"))
        .and_then(|v| v.as_str())
        .ok_or("a JSON record without \"ip\"")?;
    let ip = address(ip_text)?;
    let open = |o: &serde_json::Map<String, serde_json::Value>| match o
        .get("state")
        .or_else(|| o.get("status"))
        .and_then(|s| s.as_str())
    {
        None => true,
        Some(s) => s == "open",
    };
    let proto_of = |o: &serde_json::Map<String, serde_json::Value>| -> Result<Proto, String> {
        match o
            .get("proto")
            .or_else(|| o.get("protocol"))
            .and_then(|p| p.as_str())
        {
            None => Ok(Proto::Tcp),
            Some(p) => protocol(p),
        }
    };
    if let Some(ports) = object.get("ports") {
        // masscan -oJ.
        let ports = ports.as_array().ok_or("\"ports\" is not a list")?;
        let mut out = Vec::new();
        for entry in ports {
            let entry = entry
                .as_object()
                .ok_or("a \"ports\" entry is not an object")?;
            if !open(entry) {
                continue;
            }
            out.push(Pair {
                ip,
                port: json_port(entry.get("port"))?,
                proto: proto_of(entry)?,
            });
        }
        return Ok(out);
    }
    if !open(object) {
        return Ok(Vec::new());
    }
    Ok(vec![Pair {
        ip,
        port: json_port(object.get("port"))?,
        proto: proto_of(object)?,
    }])
}

/// A port as JSON: a number, a numeric string, or naabu's `{"Port": N}`.
fn json_port(value: Option<&serde_json::Value>) -> Result<u16, String> {
    let value = value.ok_or("a JSON record without \"port\"")?;
    let number = match value {
        serde_json::Value::Object(o) => o
            .get("Port")
            .or_else(|| o.get("port"))
            .and_then(|p| p.as_u64()),
        serde_json::Value::String(s) => s.parse().ok(),
        v => v.as_u64(),
    };
    number
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            format!(
                "\"port\" is not a port number: {}",
                clip(&value.to_string())
            )
        })
}

fn address(text: &str) -> Result<IpAddr, String> {
    let text = text.trim();
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse()
        .map_err(|_| format!("'{}' is not an IP address", clip(text)))
}

fn port(text: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("'{}' is not a port (1-65535)", clip(text)))
}

fn protocol(text: &str) -> Result<Proto, String> {
    match text {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        other => Err(format!("protocol '{}' (tcp or udp)", clip(other))),
    }
}

fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        out.push_str("...");
    }
    crate::sanitize::escape_line(&out).into_owned()
}

/// The probes of an explicit list of pairs of one protocol, in the order
/// chosen by a seed, one shard of them: a [`ProbeSource`] for the engine.
///
/// ```
/// use rawnet::pairs::{parse, PairPlan};
/// use rawnet::scan::{ProbeSource, Proto};
/// use rawnet::shard::Shard;
/// let pairs = parse("10.0.0.1:80\n10.0.0.2:22\n10.0.0.3:443\n", "x").unwrap();
/// let halves: Vec<PairPlan> = (0..2)
///     .map(|i| PairPlan::new(&pairs, Proto::Tcp, 0, Shard::new(i, 2).unwrap()))
///     .collect();
/// assert_eq!(halves[0].len() + halves[1].len(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct PairPlan {
    probes: Vec<Probe>,
    permutation: Permutation,
    shard: Shard,
    proto: Proto,
    len: u64,
}

impl PairPlan {
    /// The pairs of `proto` among `pairs`, ordered by `seed`, shard
    /// `shard` of them.
    pub fn new(pairs: &[Pair], proto: Proto, seed: u64, shard: Shard) -> PairPlan {
        let mut names: HashMap<IpAddr, Arc<str>> = HashMap::new();
        let probes: Vec<Probe> = pairs
            .iter()
            .filter(|p| p.proto == proto)
            .map(|p| Probe {
                target: Arc::clone(
                    names
                        .entry(p.ip)
                        .or_insert_with(|| Arc::from(p.ip.to_string())),
                ),
                ip: p.ip,
                port: p.port,
                proto,
            })
            .collect();
        let total = probes.len() as u64;
        PairPlan {
            permutation: Permutation::new(total, seed),
            len: shard.len_of(total),
            probes,
            shard,
            proto,
        }
    }

    /// Pairs of this protocol in the whole list, all shards together.
    pub fn total(&self) -> u64 {
        self.probes.len() as u64
    }

    /// The part of the list this plan covers.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Every probe of the whole list (all shards), in list order.
    pub fn all(&self) -> &[Probe] {
        &self.probes
    }
}

impl ProbeSource for PairPlan {
    fn len(&self) -> u64 {
        self.len
    }

    /// # Panics
    ///
    /// When `index >= len()` (a bug in the caller).
    fn probe(&self, index: u64) -> Probe {
        assert!(index < self.len, "probe {index} of {}", self.len);
        let at = self.permutation.apply(self.shard.position(index));
        self.probes[at as usize].clone()
    }

    fn proto(&self) -> Proto {
        self.proto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, u16, Proto)> {
        parse(text, "t")
            .unwrap()
            .into_iter()
            .map(|p| (p.ip.to_string(), p.port, p.proto))
            .collect()
    }

    #[test]
    fn every_tools_form() {
        let text = "\
# portscan pairs
10.0.0.1:80
[::1]:22
10.0.0.2 8080
saddr,sport
10.0.0.3,443
#masscan
open tcp 25 10.0.0.4 1700000000
closed tcp 26 10.0.0.4 1700000000
open udp 53 10.0.0.4 1700000000
# end
[
{   \"ip\": \"10.0.0.5\",   \"timestamp\": \"1700000000\", \"ports\": [ {\"port\": 21, \"proto\": \"tcp\", \"status\": \"open\", \"reason\": \"syn-ack\", \"ttl\": 64} ] },
{\"ip\":\"10.0.0.6\",\"port\":{\"Port\":3306,\"Protocol\":0,\"TLS\":false},\"host\":\"db\"}
{\"target\":\"h\",\"ip\":\"10.0.0.7\",\"port\":6379,\"proto\":\"tcp\",\"state\":\"open\"}
{\"target\":\"h\",\"ip\":\"10.0.0.7\",\"port\":6380,\"proto\":\"tcp\",\"state\":\"closed\"}
]
10.0.0.1:80
";
        assert_eq!(
            pairs(text),
            [
                ("10.0.0.1".to_string(), 80, Proto::Tcp),
                ("::1".into(), 22, Proto::Tcp),
                ("10.0.0.2".into(), 8080, Proto::Tcp),
                ("10.0.0.3".into(), 443, Proto::Tcp),
                ("10.0.0.4".into(), 25, Proto::Tcp),
                ("10.0.0.4".into(), 53, Proto::Udp),
                ("10.0.0.5".into(), 21, Proto::Tcp),
                ("10.0.0.6".into(), 3306, Proto::Tcp),
                ("10.0.0.7".into(), 6379, Proto::Tcp),
            ]
        );
    }

    /// masscan -oL --banners writes a `banner` line after a port's `open`
    /// line: it was refused as "expected ADDRESS:PORT" (its banner holds a
    /// `:`), failing the whole list.
    #[test]
    fn masscan_banner_lines_are_skipped() {
        let text = "#masscan\n\
open tcp 80 10.0.0.1 1700000000\n\
banner tcp 80 10.0.0.1 1700000003 http HTTP/1.1 200 OK\\x0d\\x0aServer: nginx\\x0d\\x0a\n\
banner tcp 22 10.0.0.1 1700000004 ssh SSH-2.0-OpenSSH_9.6\n\
# end\n";
        assert_eq!(pairs(text), [("10.0.0.1".to_string(), 80, Proto::Tcp)]);
    }

    /// Found by the fuzz target `pairs` (seed
    /// `fuzz/seeds/pairs/json-ip-with-line-breaks`): a JSON string holds
    /// escaped line breaks, which the error quoted as real ones, so the
    /// one-line error was several lines.
    #[test]
    fn a_quoted_json_string_stays_on_one_line() {
        let e = parse("{\"ip\":\"127.0.0 OK\\r\\nServer: x\",\"port\":80}\n", "t")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "t line 1: '127.0.0 OK\\r\\nServer: x' is not an IP address"
        );
    }

    #[test]
    fn bad_lines_name_the_line() {
        for (text, why) in [
            ("10.0.0.1:80\nnonsense\n", "t line 2: expected ADDRESS:PORT"),
            ("10.0.0.1:0\n", "not a port"),
            ("10.0.0.1:65536\n", "not a port"),
            ("300.0.0.1:80\n", "not an IP address"),
            ("{\"ip\":\"10.0.0.1\"}\n", "without \"port\""),
            ("{\"port\":1}\n", "without \"ip\""),
            ("{oops\n", "not a JSON record"),
            ("open sctp 1 10.0.0.1 1\n", "expected ADDRESS:PORT"),
            ("::1:80\n", "expected ADDRESS:PORT"),
        ] {
            let e = parse(text, "t").unwrap_err().to_string();
            assert!(e.contains(why), "{text:?}: {e}");
            assert!(!e.contains('\n'));
        }
        let long = format!("10.0.0.1:{}\n", "1".repeat(MAX_LINE));
        assert!(parse(&long, "t")
            .unwrap_err()
            .to_string()
            .contains("longer than"));
    }

    #[test]
    fn plans_shard_the_list_disjointly() {
        let text: String = (1..=50)
            .map(|p| format!("10.0.0.{}:{}\n", p % 7, 1000 + p))
            .collect();
        let list = parse(&text, "t").unwrap();
        let mut union = HashSet::new();
        for i in 0..3 {
            let plan = PairPlan::new(&list, Proto::Tcp, 9, Shard::new(i, 3).unwrap());
            for k in 0..plan.len() {
                let p = plan.probe(k);
                assert!(union.insert((p.ip, p.port)), "twice");
            }
        }
        assert_eq!(union.len(), 50);
        let udp = PairPlan::new(&list, Proto::Udp, 9, Shard::WHOLE);
        assert!(udp.is_empty());
    }
}
