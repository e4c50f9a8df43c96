//! JSON Lines: one object per reported port, streamed as results arrive.
//! The field set is a documented contract (docs/portscan-output.md;
//! manual.rs lists it): change it only with a CHANGELOG entry.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;
use std::time::SystemTime;

use serde::Serialize;

use rawnet::sanitize::TerminalSafeJson;
use rawnet::scan::{AfterHandshake, PortResult, Proto, Reason, State, Technique};

use super::clock::rfc3339_millis;
use super::{millis, Event, Options, Printer, ScanEnd, ScanInfo};

/// One JSON Lines record.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// The target as the user wrote it.
    pub target: &'a str,
    /// The address probed.
    pub ip: IpAddr,
    /// The port probed.
    pub port: u16,
    /// "tcp" or "udp".
    pub proto: Proto,
    /// "open", "closed", "filtered" or (UDP) "open|filtered".
    pub state: State,
    /// Why, in nmap's words: "syn-ack", "conn-refused", "no-response", ...
    pub reason: Reason,
    /// Round-trip time in milliseconds, microsecond precision.
    pub rtt_ms: f64,
    /// The service: detected (with -sV, open TCP ports), else the
    /// well-known name for the port, or null.
    pub service: Option<&'static str>,
    /// Where `service` comes from: "probe" (detected) or "table" (the
    /// port number); null when `service` is.
    pub service_source: Option<&'static str>,
    /// The product a signature named (-sV), or null.
    pub product: Option<&'a str>,
    /// Its version (-sV), or null.
    pub version: Option<&'a str>,
    /// What else the reply said (-sV; TLS: protocol and certificate CN),
    /// or null.
    pub service_info: Option<&'a str>,
    /// What the server sent first (with --banner; with -sV, the reply that
    /// identified the service), or null: lossy UTF-8, escaped by JSON.
    pub banner: Option<Cow<'a, str>>,
    /// What an open TCP port did right after the handshake (connect
    /// scans): "greeted", "silent", "closed" or "reset"; else null.
    pub after_handshake: Option<AfterHandshake>,
    /// Whether the open port's host accepts every port (connect scans:
    /// true means the open says nothing about a service); null when not
    /// checked.
    pub host_accepts_all: Option<bool>,
    /// When the state was decided: RFC 3339, UTC, milliseconds.
    pub timestamp: String,
    /// The scan's fingerprint (16 hex digits), the same in every shard
    /// of one scan: what `--merge` checks.
    pub scan_id: &'a str,
    /// The part of the scan this record came from, `I/N` (`0/1`
    /// unsharded or merged).
    pub shard: &'a str,
    /// How the port was probed: "connect" (-sT), "syn" (-sS) or "udp"
    /// (-sU); what `--merge` writes as the scan type.
    pub technique: Technique,
}

impl<'a> Record<'a> {
    /// The record for `r`, decided at `at`, of shard `tag`.
    pub fn new(r: &'a PortResult, at: SystemTime, tag: &'a Tag) -> Record<'a> {
        Record {
            target: &r.target,
            ip: r.ip,
            port: r.port,
            proto: r.proto,
            state: r.state,
            reason: r.reason,
            rtt_ms: millis(r.rtt),
            service: super::service_name(r),
            service_source: match &r.service {
                Some(s) => Some(s.source.as_str()),
                None => super::service_name(r).map(|_| "table"),
            },
            product: r.service.as_ref().and_then(|s| s.product.as_deref()),
            version: r.service.as_ref().and_then(|s| s.version.as_deref()),
            service_info: r.service.as_ref().and_then(|s| s.info.as_deref()),
            banner: r.banner_text(),
            after_handshake: r.after_handshake,
            host_accepts_all: r.host_accepts_all,
            timestamp: rfc3339_millis(at),
            scan_id: &tag.scan_id,
            shard: &tag.shard,
            technique: r.technique,
        }
    }
}

/// Which scan and shard every record of a run belongs to.
#[derive(Clone, Debug, Default)]
pub struct Tag {
    /// [`ScanInfo::scan_id`], as text.
    pub scan_id: String,
    /// [`ScanInfo::shard`], as text.
    pub shard: String,
}

impl Tag {
    /// The tag of the scan `info` describes.
    pub fn of(info: &ScanInfo) -> Tag {
        Tag {
            scan_id: info.scan_id.to_string(),
            shard: info.shard.to_string(),
        }
    }
}

/// Writes one line per reported result, as it arrives.
pub struct JsonPrinter<W: Write> {
    out: W,
    options: Options,
    line: Vec<u8>,
    tag: Tag,
}

impl<W: Write> JsonPrinter<W> {
    /// A printer to `out`.
    pub fn new(out: W, options: Options) -> JsonPrinter<W> {
        JsonPrinter {
            out,
            options,
            line: Vec::with_capacity(256),
            tag: Tag::default(),
        }
    }
}

impl<W: Write + Send> Printer for JsonPrinter<W> {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        self.tag = Tag::of(info);
        Ok(())
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        if !self.options.reports(&event.result) {
            return Ok(());
        }
        self.line.clear();
        let mut ser = serde_json::Serializer::with_formatter(&mut self.line, TerminalSafeJson);
        Record::new(&event.result, event.at, &self.tag).serialize(&mut ser)?;
        self.line.push(b'\n');
        // One write per line: a reader never sees half a record.
        self.out.write_all(&self.line)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn end(&mut self, _end: &ScanEnd) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, sample};
    use super::super::Format;
    use super::*;
    use serde::Deserialize;

    /// The documented schema; unknown fields are an error.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    pub(crate) struct Line {
        pub target: String,
        pub ip: IpAddr,
        pub port: u16,
        pub proto: String,
        pub state: State,
        pub reason: String,
        pub rtt_ms: f64,
        pub service: Option<String>,
        pub service_source: Option<String>,
        pub product: Option<String>,
        pub version: Option<String>,
        pub service_info: Option<String>,
        pub banner: Option<String>,
        pub after_handshake: Option<String>,
        pub host_accepts_all: Option<bool>,
        pub timestamp: String,
        pub scan_id: String,
        pub shard: String,
        pub technique: String,
    }

    const ALL: Options = Options {
        report_all: true,
        open_only: false,
        banners: true,
        versions: false,
        reasons: false,
        ping: false,
    };

    #[test]
    fn json_lines_follow_the_schema() {
        let text = render(Format::Json, ALL, sample());
        let lines: Vec<Line> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].port, 22);
        assert_eq!(lines[1].service.as_deref(), Some("ssh"));
        assert_eq!(lines[1].banner.as_deref(), Some("SSH-2.0-x\r\n\x1b[31m"));
        assert_eq!(lines[2].state, State::Closed);
        assert_eq!(lines[2].reason, "conn-refused");
        assert_eq!(lines[3].reason, "no-response");
        assert!(lines.iter().all(|l| l.proto == "tcp" && l.rtt_ms == 1.234));
        assert_eq!(lines[0].target, "localhost");
    }

    #[test]
    fn json_field_order_and_nulls() {
        let text = render(Format::Json, Options::default(), sample()[..1].to_vec());
        assert_eq!(
            text,
            "{\"target\":\"localhost\",\"ip\":\"127.0.0.1\",\"port\":8080,\"proto\":\"tcp\",\
             \"state\":\"open\",\"reason\":\"syn-ack\",\"rtt_ms\":1.234,\"service\":\"http-proxy\",\"service_source\":\"table\",\"product\":null,\"version\":null,\"service_info\":null,\"banner\":null,\
             \"after_handshake\":null,\"host_accepts_all\":null,\"timestamp\":\"2026-11-21T09:46:38.123Z\",\"scan_id\":\"00000000000000ab\",\"shard\":\"0/1\",\"technique\":\"connect\"}\n"
        );
    }

    #[test]
    fn only_open_ports_without_all() {
        let text = render(Format::Json, Options::default(), sample());
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.contains("\"state\":\"open\"")));
    }
}
