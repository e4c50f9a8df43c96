//! Reading shard outputs for `--merge`: portscan's JSON Lines and nmap
//! XML (portscan's `-oX` or nmap's own), told apart by their first byte.
//!
//! The files are untrusted: each is read up to [`MAX_FILE_BYTES`], a
//! JSON Lines line up to [`MAX_LINE_BYTES`], and every problem is one
//! [`ReadError`] line naming the file (and line). The XML is parsed by
//! `roxmltree`, which refuses malformed documents and bounds entity
//! expansion; only the elements nmap's DTD defines for ports and hosts
//! are read, the rest is skipped.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;

use rawnet::ports::PortSpec;
use rawnet::scan::detection::{Service, ServiceSource};
use rawnet::scan::{AfterHandshake, PortResult, Proto, Reason, State, Technique};
use rawnet::scanid::ScanId;
use rawnet::shard::Shard;
use rawnet::utc::parse_rfc3339;

use crate::output::{Event, Extra, ACCEPTS_ALL_NOTE, AFTER_NOTE, SHARD_COMMENT, TCPWRAPPED};

/// Largest input file read (XML is parsed whole).
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// Longest JSON Lines record read.
pub const MAX_LINE_BYTES: u64 = 1024 * 1024;
/// Most white space read before the first byte that tells the format.
const MAX_LEAD_BYTES: usize = 1024 * 1024;

/// What kind of file an input was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// portscan's JSON Lines.
    Json,
    /// nmap's XML.
    Xml,
}

/// One input, read.
#[derive(Debug)]
pub struct Input {
    /// Where it came from.
    pub path: PathBuf,
    /// Its format.
    pub kind: Kind,
    /// The scan it says it belongs to (`None`: it does not say).
    pub scan_id: Option<ScanId>,
    /// The shard it says it holds.
    pub shard: Option<Shard>,
    /// Every port record, with when it was decided.
    pub events: Vec<Event>,
    /// Ports known only by count (XML `extraports`).
    pub extras: Vec<Extra>,
    /// The TCP and UDP ports of the scan (XML `scaninfo`).
    pub ports: Option<(PortSpec, PortSpec)>,
    /// Addresses in the whole scan (portscan's XML comment).
    pub addresses: Option<u64>,
    /// When it started and finished, as far as it says.
    pub started: Option<SystemTime>,
    /// See `started`.
    pub finished: Option<SystemTime>,
    /// The scan was stopped early (XML `exit="error"`).
    pub stopped: bool,
    /// How its TCP ports were probed, as it says (XML `scaninfo type`,
    /// JSON Lines `technique`): what the merged report names as the scan
    /// type. `None`: it does not say (no TCP, or an older version).
    pub tcp_technique: Option<Technique>,
}

/// Why an input could not be read: one line.
#[derive(Debug)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads `path` (either format).
pub fn read(path: &Path) -> Result<Input, ReadError> {
    let fail = |what: String| ReadError(format!("{}: {what}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "larger than the limit of {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    read_from(BufReader::new(file.take(MAX_FILE_BYTES + 1)), path)
}

/// Reads one input from `reader`, either format, told apart by its first
/// byte that is not white space; `path` names it in the result and in
/// errors. The bytes-only half of [`read`], fuzzed as it is
/// (`fuzz/fuzz_targets/merge_input.rs`).
pub fn read_from(mut reader: impl BufRead, path: &Path) -> Result<Input, ReadError> {
    let fail = |what: String| ReadError(format!("{}: {what}", path.display()));
    // The white space before the first byte is kept and read again, so
    // that line numbers (JSON Lines) and positions (XML) count it however
    // the reads fall.
    let mut lead = Vec::new();
    let first = loop {
        let buf = reader
            .fill_buf()
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        let found = buf.iter().position(|b| !b.is_ascii_whitespace());
        if lead.len() + found.unwrap_or(buf.len()) > MAX_LEAD_BYTES {
            return Err(fail(format!(
                "starts with more than {} KiB of white space",
                MAX_LEAD_BYTES >> 10
            )));
        }
        match found {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                lead.extend_from_slice(buf);
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    let mut reader = io::Cursor::new(lead).chain(reader);
    let mut input = Input {
        path: path.to_path_buf(),
        kind: Kind::Json,
        scan_id: None,
        shard: None,
        events: Vec::new(),
        extras: Vec::new(),
        ports: None,
        addresses: None,
        started: None,
        finished: None,
        stopped: false,
        tcp_technique: None,
    };
    match first {
        None => Ok(input),
        Some(b'<') => {
            let mut text = String::new();
            reader
                .read_to_string(&mut text)
                .map_err(|e| fail(format!("cannot read as UTF-8 XML: {e}")))?;
            if text.len() as u64 > MAX_FILE_BYTES {
                return Err(fail("too large".into()));
            }
            input.kind = Kind::Xml;
            read_xml(&text, &mut input).map_err(fail)?;
            Ok(input)
        }
        Some(b'{') => {
            read_json_lines(reader, &mut input).map_err(fail)?;
            Ok(input)
        }
        Some(_) => Err(fail(
            "neither JSON Lines nor XML (expected '{' or '<' first)".into(),
        )),
    }
}

/// One JSON Lines record as portscan writes it (`scan_id` and `shard`
/// may be missing in files of older versions).
#[derive(Deserialize)]
struct Line {
    target: String,
    ip: IpAddr,
    port: u16,
    proto: Proto,
    state: State,
    reason: Option<String>,
    rtt_ms: Option<f64>,
    service: Option<String>,
    service_source: Option<String>,
    product: Option<String>,
    version: Option<String>,
    service_info: Option<String>,
    banner: Option<String>,
    #[serde(default)]
    after_handshake: Option<AfterHandshake>,
    #[serde(default)]
    host_accepts_all: Option<bool>,
    timestamp: Option<String>,
    scan_id: Option<String>,
    shard: Option<String>,
    /// Absent in files of older versions: the technique that probes the
    /// protocol without privileges is assumed.
    technique: Option<Technique>,
}

fn read_json_lines(mut reader: impl BufRead, input: &mut Input) -> Result<(), String> {
    let mut line = Vec::new();
    let mut number = 0u64;
    let mut targets = Targets::default();
    loop {
        line.clear();
        number += 1;
        let n = (&mut reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("line {number}: cannot read: {e}"))?;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            if n as u64 > MAX_LINE_BYTES {
                return Err(format!(
                    "line {number}: longer than {} KiB",
                    MAX_LINE_BYTES >> 10
                ));
            }
            // A last record without its newline: a shard killed mid-write
            // leaves none (records are written whole), so this is a cut
            // file; say so rather than guess.
            return Err(format!(
                "line {number}: the last record has no end of line (a cut file?)"
            ));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: Line = serde_json::from_slice(&line)
            .map_err(|e| format!("line {number}: not a portscan JSON Lines record: {e}"))?;
        let scan_id = match &record.scan_id {
            Some(id) => Some(
                id.parse::<ScanId>()
                    .map_err(|e| format!("line {number}: scan_id: {e}"))?,
            ),
            None => None,
        };
        let shard = match &record.shard {
            Some(s) => Some(
                s.parse::<Shard>()
                    .map_err(|e| format!("line {number}: {e}"))?,
            ),
            None => None,
        };
        if number == 1 || (input.scan_id.is_none() && input.shard.is_none()) {
            input.scan_id = scan_id;
            input.shard = shard;
        } else if (scan_id, shard) != (input.scan_id, input.shard) {
            return Err(format!(
                "line {number}: scan_id/shard differ from the first record's: one file per shard"
            ));
        }
        let at = match &record.timestamp {
            Some(t) => Some(
                parse_rfc3339(t)
                    .ok_or_else(|| format!("line {number}: bad timestamp '{}'", clip(t)))?,
            ),
            None => None,
        };
        if let Some(at) = at {
            input.started = Some(input.started.map_or(at, |s| s.min(at)));
            input.finished = Some(input.finished.map_or(at, |f| f.max(at)));
        }
        let target = targets.get(&record.target);
        let record_says_technique = record.technique.is_some();
        let result = to_result(record, target, false);
        if result.proto == Proto::Tcp && record_says_technique {
            input.tcp_technique.get_or_insert(result.technique);
        }
        input.events.push(Event {
            result,
            at: at.unwrap_or(SystemTime::UNIX_EPOCH),
        });
    }
}

/// One JSON Lines record (a line of `-o` or of a `--resume` journal) as
/// the event it was.
pub fn parse_record(text: &str) -> Result<Event, String> {
    let record: Line =
        serde_json::from_str(text).map_err(|e| format!("not a portscan JSON Lines record: {e}"))?;
    let at = match &record.timestamp {
        Some(t) => parse_rfc3339(t).ok_or_else(|| format!("bad timestamp '{}'", clip(t)))?,
        None => SystemTime::UNIX_EPOCH,
    };
    Ok(Event {
        result: to_result(record, Arc::from(""), true),
        at,
    })
}

/// The result a record describes; its target is `target` unless `own`
/// (then the record's own).
fn to_result(record: Line, target: Arc<str>, own: bool) -> PortResult {
    let service = match (record.service_source.as_deref(), &record.service) {
        (Some("probe"), Some(name)) => Some(Service {
            name: intern(name),
            source: ServiceSource::Probe,
            product: record.product,
            version: record.version,
            info: record.service_info,
        }),
        _ => None,
    };
    PortResult {
        target: if own {
            Arc::from(record.target.as_str())
        } else {
            target
        },
        ip: record.ip,
        port: record.port,
        proto: record.proto,
        technique: record
            .technique
            .filter(|t| t.proto() == record.proto)
            .unwrap_or_else(|| Technique::for_proto(record.proto)),
        state: record.state,
        reason: reason(record.reason.as_deref().unwrap_or("unknown")),
        rtt: Duration::from_secs_f64(record.rtt_ms.unwrap_or(0.0).clamp(0.0, 1e9) / 1000.0),
        banner: record.banner.map(String::into_bytes),
        service,
        after_handshake: record.after_handshake,
        host_accepts_all: record.host_accepts_all,
    }
}

fn read_xml(text: &str, input: &mut Input) -> Result<(), String> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "nmaprun" {
        return Err(format!(
            "an XML file but not nmap's (<{}>, expected <nmaprun>)",
            clip(root.tag_name().name())
        ));
    }
    input.started = root.attribute("start").and_then(unix_time);
    let mut tcp = PortSpec::none();
    let mut udp = PortSpec::none();
    let mut saw_scaninfo = false;
    let mut targets = Targets::default();
    for node in root.children() {
        if node.is_comment() {
            read_shard_comment(node.text().unwrap_or(""), input)?;
            continue;
        }
        match node.tag_name().name() {
            "scaninfo" => {
                saw_scaninfo = true;
                let services = node.attribute("services").unwrap_or("");
                let spec: PortSpec = if services.is_empty() {
                    PortSpec::none()
                } else {
                    services
                        .parse()
                        .map_err(|e| format!("scaninfo services: {e}"))?
                };
                match node.attribute("protocol") {
                    Some("tcp") => {
                        tcp = spec;
                        input.tcp_technique = match node.attribute("type") {
                            Some("syn") => Some(Technique::Syn),
                            Some("connect") => Some(Technique::Connect),
                            _ => None,
                        };
                    }
                    Some("udp") => udp = spec,
                    _ => {}
                }
            }
            "host" => read_host(node, input, &mut targets)?,
            "runstats" => {
                if let Some(f) = node.children().find(|n| n.has_tag_name("finished")) {
                    // `time` is in whole seconds; `elapsed` after the
                    // start keeps the fraction.
                    let elapsed = f
                        .attribute("elapsed")
                        .and_then(|e| e.parse::<f64>().ok())
                        .filter(|e| e.is_finite() && (0.0..1e9).contains(e))
                        .map(Duration::from_secs_f64);
                    input.finished = match (input.started, elapsed) {
                        (Some(s), Some(e)) => s.checked_add(e),
                        _ => f.attribute("time").and_then(unix_time),
                    };
                    input.stopped = f.attribute("exit") == Some("error");
                }
            }
            _ => {}
        }
    }
    if saw_scaninfo {
        input.ports = Some((tcp, udp));
    }
    let at = input
        .finished
        .or(input.started)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for e in &mut input.events {
        e.at = at;
    }
    Ok(())
}

/// `portscan-shard scan_id="..." shard="I/N" addresses="N"`.
fn read_shard_comment(text: &str, input: &mut Input) -> Result<(), String> {
    let Some(rest) = text.trim().strip_prefix(SHARD_COMMENT) else {
        return Ok(());
    };
    let field = |name: &str| -> Option<&str> {
        let start = rest.find(&format!("{name}=\""))? + name.len() + 2;
        let len = rest[start..].find('"')?;
        Some(&rest[start..start + len])
    };
    let bad = |what: &str| format!("the {SHARD_COMMENT} comment has a bad {what}");
    input.scan_id = Some(
        field("scan_id")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("scan_id"))?,
    );
    input.shard = Some(
        field("shard")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| bad("shard"))?,
    );
    input.addresses = field("addresses").and_then(|t| t.parse().ok());
    Ok(())
}

fn read_host(
    host: roxmltree::Node,
    input: &mut Input,
    targets: &mut Targets,
) -> Result<(), String> {
    let Some(ip) = host
        .children()
        .filter(|n| n.has_tag_name("address"))
        .find(|n| matches!(n.attribute("addrtype"), Some("ipv4" | "ipv6")))
        .and_then(|n| n.attribute("addr"))
    else {
        return Err("a <host> without an IPv4 or IPv6 <address>".into());
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("<address addr=\"{}\"> is not an IP address", clip(ip)))?;
    if host
        .children()
        .find(|n| n.has_tag_name("status"))
        .and_then(|s| s.attribute("state"))
        == Some("down")
    {
        return Ok(());
    }
    let name = host
        .descendants()
        .find(|n| n.has_tag_name("hostname") && n.attribute("type") == Some("user"))
        .and_then(|n| n.attribute("name"));
    let target = targets.get(name.map_or_else(|| ip.to_string(), str::to_string).as_str());
    let Some(ports) = host.children().find(|n| n.has_tag_name("ports")) else {
        return Ok(());
    };
    for node in ports.children().filter(roxmltree::Node::is_element) {
        match node.tag_name().name() {
            "port" => {
                let proto = proto(node.attribute("protocol"))?;
                let port: u16 = node
                    .attribute("portid")
                    .and_then(|p| p.parse().ok())
                    .ok_or("a <port> without a port number")?;
                let st = node
                    .children()
                    .find(|n| n.has_tag_name("state"))
                    .ok_or("a <port> without a <state>")?;
                let service = node.children().find(|n| n.has_tag_name("service"));
                let probed = service.filter(|s| s.attribute("method") == Some("probed"));
                let evidence = Evidence::of(probed);
                input.events.push(Event {
                    result: PortResult {
                        target: Arc::clone(&target),
                        ip,
                        port,
                        proto,
                        technique: match (proto, input.tcp_technique) {
                            (Proto::Tcp, Some(t)) => t,
                            _ => Technique::for_proto(proto),
                        },
                        state: state(st.attribute("state"))?,
                        reason: reason(st.attribute("reason").unwrap_or("unknown")),
                        rtt: Duration::ZERO,
                        banner: None,
                        service: probed.filter(|_| !evidence.wrapped).map(|s| Service {
                            name: intern(s.attribute("name").unwrap_or("unknown")),
                            source: ServiceSource::Probe,
                            product: s.attribute("product").map(str::to_string),
                            version: s.attribute("version").map(str::to_string),
                            info: evidence.info,
                        }),
                        after_handshake: evidence.after_handshake,
                        host_accepts_all: evidence.accepts_all,
                    },
                    at: SystemTime::UNIX_EPOCH,
                });
            }
            "extraports" => {
                let st = state(node.attribute("state"))?;
                let count: u64 = node
                    .attribute("count")
                    .and_then(|c| c.parse().ok())
                    .ok_or("an <extraports> without a count")?;
                let mut counted = 0u64;
                for why in node.children().filter(|n| n.has_tag_name("extrareasons")) {
                    let n: u64 = why
                        .attribute("count")
                        .and_then(|c| c.parse().ok())
                        .ok_or("an <extrareasons> without a count")?;
                    counted = counted.saturating_add(n);
                    input.extras.push(Extra {
                        target: Arc::clone(&target),
                        ip,
                        proto: proto(why.attribute("proto").or(Some("tcp")))?,
                        state: st,
                        reason: reason(why.attribute("reason").unwrap_or("unknown")),
                        count: n,
                    });
                }
                if counted < count {
                    input.extras.push(Extra {
                        target: Arc::clone(&target),
                        ip,
                        proto: Proto::Tcp,
                        state: st,
                        reason: Reason::Unknown,
                        count: count - counted,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// What a probed `<service>` of `-oX` says beyond the service: the
/// evidence portscan writes there (see `output::xml::write_service`).
struct Evidence {
    /// nmap's `tcpwrapped`: no service, only evidence.
    wrapped: bool,
    after_handshake: Option<AfterHandshake>,
    accepts_all: Option<bool>,
    /// The extra information, the evidence taken out.
    info: Option<String>,
}

impl Evidence {
    fn of(service: Option<roxmltree::Node<'_, '_>>) -> Evidence {
        let mut evidence = Evidence {
            wrapped: false,
            after_handshake: None,
            accepts_all: None,
            info: None,
        };
        let Some(service) = service else {
            return evidence;
        };
        evidence.wrapped = service.attribute("name") == Some(TCPWRAPPED);
        let mut rest = Vec::new();
        for part in service.attribute("extrainfo").unwrap_or("").split("; ") {
            if part == ACCEPTS_ALL_NOTE {
                evidence.accepts_all = Some(true);
            } else if let Some(after) = part
                .strip_prefix(AFTER_NOTE)
                .and_then(AfterHandshake::parse)
                .filter(|_| evidence.wrapped)
            {
                evidence.after_handshake = Some(after);
            } else if !part.is_empty() {
                rest.push(part);
            }
        }
        evidence.info = Some(rest.join("; ")).filter(|i| !i.is_empty());
        evidence
    }
}

fn proto(text: Option<&str>) -> Result<Proto, String> {
    match text {
        Some("tcp") => Ok(Proto::Tcp),
        Some("udp") => Ok(Proto::Udp),
        other => Err(format!(
            "protocol '{}' (portscan merges tcp and udp)",
            clip(other.unwrap_or(""))
        )),
    }
}

fn state(text: Option<&str>) -> Result<State, String> {
    match text {
        Some("open") => Ok(State::Open),
        Some("closed") => Ok(State::Closed),
        Some("filtered") => Ok(State::Filtered),
        Some("open|filtered") => Ok(State::OpenFiltered),
        other => Err(format!(
            "port state '{}' (portscan knows open, closed, filtered, open|filtered)",
            clip(other.unwrap_or(""))
        )),
    }
}

/// nmap's reason word; one portscan does not make is `unknown`.
fn reason(text: &str) -> Reason {
    serde_json::from_value(serde_json::Value::String(text.to_string())).unwrap_or(Reason::Unknown)
}

fn unix_time(text: &str) -> Option<SystemTime> {
    let secs: u64 = text.parse().ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Target names shared between the records of one file.
#[derive(Default)]
struct Targets(std::collections::HashMap<String, Arc<str>>);

impl Targets {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(t) = self.0.get(name) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(name);
        self.0.insert(name.to_string(), Arc::clone(&t));
        t
    }
}

/// Most distinct service names kept; beyond, `unknown`.
const MAX_SERVICE_NAMES: usize = 4096;

/// A service name as the `&'static str` results carry: names are few
/// (nmap-services has about 20,000), so each distinct one is leaked once,
/// up to [`MAX_SERVICE_NAMES`].
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == name) {
        return n;
    }
    if names.len() >= MAX_SERVICE_NAMES || name.len() > 64 {
        return "unknown";
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
}

/// Untrusted text for a message: at most 40 characters.
fn clip(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if text.chars().count() > 40 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target `merge_input` (its seed
    /// `fuzz/seeds/merge_input/lead-then-bad-timestamp`): white space
    /// before the first record was consumed a buffer at a time and never
    /// counted, so the same file said "line 3" or "line 1" depending on
    /// how the reads fell (and an XML error's position moved the same way).
    #[test]
    fn leading_white_space_counts_however_the_reads_fall() {
        let path = Path::new("f");
        let json: &[u8] = b"\n\n \t{\"target\":\"a\",\"ip\":\"::1\",\"port\":1,\"proto\":\"tcp\",\
            \"state\":\"open\",\"timestamp\":\"2026-T12-07T17:53:40.829Z\"}\n";
        let xml: &[u8] = b"\n  \n <nmaprun><host></nmaprun>";
        for (file, want) in [(json, "f: line 3: bad timestamp"), (xml, "3:17")] {
            for size in [1, 2, 3, 7, 8192] {
                let e = read_from(BufReader::with_capacity(size, file), path).unwrap_err();
                assert!(e.0.contains(want), "{size}: {e}");
            }
        }
        let blank = vec![b' '; MAX_LEAD_BYTES + 1];
        for size in [1000, 8192, MAX_LEAD_BYTES + 1] {
            let e = read_from(BufReader::with_capacity(size, &blank[..]), path).unwrap_err();
            assert!(e.0.contains("white space"), "{e}");
        }
        let ok = vec![b' '; MAX_LEAD_BYTES];
        assert!(read_from(&ok[..], path).unwrap().events.is_empty());
    }

    #[test]
    fn bad_inputs_are_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("portscan-merge-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases: &[(&str, &str)] = &[
            ("junk", "neither JSON Lines nor XML"),
            ("{\"x\":1}\n", "line 1: not a portscan JSON Lines record"),
            ("{\"target\":\"a\"", "no end of line"),
            ("<nmaprun><host>", "not well-formed XML"),
            ("<html/>", "not nmap's"),
            ("<nmaprun><host><address addr=\"x\" addrtype=\"ipv4\"/></host></nmaprun>", "not an IP address"),
            (
                "<!DOCTYPE nmaprun [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]><nmaprun args=\"&g;\"/>",
                "XML",
            ),
        ];
        for (i, (text, why)) in cases.iter().enumerate() {
            let path = dir.join(format!("case-{i}"));
            std::fs::write(&path, text).unwrap();
            let e = read(&path).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let long = dir.join("long");
        std::fs::write(&long, "{".repeat(2 << 20)).unwrap();
        assert!(read(&long).unwrap_err().to_string().contains("longer than"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_technique_comes_from_the_records_and_the_scaninfo() {
        let dir = std::env::temp_dir().join(format!("portscan-merge-tech-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let record = |proto: &str, technique: Option<&str>| {
            let t = technique.map_or(String::new(), |t| format!(",\"technique\":\"{t}\""));
            format!("{{\"target\":\"h\",\"ip\":\"10.0.0.1\",\"port\":80,\"proto\":\"{proto}\",\"state\":\"open\",\"scan_id\":\"00000000000000ab\",\"shard\":\"0/2\"{t}}}\n")
        };
        let cases = [
            (
                record("tcp", Some("syn")),
                Some(Technique::Syn),
                Technique::Syn,
            ),
            (
                record("tcp", Some("connect")),
                Some(Technique::Connect),
                Technique::Connect,
            ),
            // Older files say nothing: the unprivileged technique.
            (record("tcp", None), None, Technique::Connect),
            // A technique of the other protocol is not believed.
            (record("udp", Some("syn")), None, Technique::Udp),
        ];
        for (i, (text, tcp, each)) in cases.into_iter().enumerate() {
            let path = dir.join(format!("json-{i}"));
            std::fs::write(&path, &text).unwrap();
            let input = read(&path).unwrap();
            assert_eq!(input.tcp_technique, tcp, "{text}");
            assert_eq!(input.events[0].result.technique, each, "{text}");
        }
        for (kind, tcp) in [("syn", Technique::Syn), ("connect", Technique::Connect)] {
            let xml = format!(
                "<nmaprun><scaninfo type=\"{kind}\" protocol=\"tcp\" numservices=\"1\" services=\"80\"/>\
                 <host><address addr=\"10.0.0.1\" addrtype=\"ipv4\"/><ports><port protocol=\"tcp\" portid=\"80\">\
                 <state state=\"open\" reason=\"syn-ack\"/></port></ports></host></nmaprun>"
            );
            let path = dir.join(format!("xml-{kind}"));
            std::fs::write(&path, xml).unwrap();
            let input = read(&path).unwrap();
            assert_eq!(input.tcp_technique, Some(tcp));
            assert_eq!(input.events[0].result.technique, tcp);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
