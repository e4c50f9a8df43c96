//! `-sn`, discovery only: which hosts are up, in every output format as
//! nmap prints a ping scan. The engine connects to ports 80 and 443 of
//! every address (what an unprivileged `nmap -sn` does); an address is up
//! when either answers (a connect that succeeds or is refused: both mean
//! a host replied), down otherwise. This printer files those results per
//! address and writes one host record each at the end:
//!
//! - JSON Lines: `{"target","ip","status","reason","rtt_ms","timestamp",
//!   "scan_id","shard"}` per address, up and down (README: `-sn`);
//! - the table: address, status, reason, round-trip time;
//! - nmap's XML, grepable and normal: the hosts that are up, each with
//!   its status and addresses and no ports, as nmap writes them; down
//!   hosts are only counted (`runstats`, the done line).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use rawnet::sanitize::{escape_line, TerminalSafeJson};
use rawnet::scan::{Reason, State};
use rawnet::targets::TargetSpec;

use super::clock::{ctime, rfc3339_millis, unix_seconds};
use super::hosts::{addresses_phrase, done_comment, started_comment};
use super::json::Tag;
use super::xml::attr;
use super::{millis, Event, Format, Printer, ScanEnd, ScanInfo};

/// What one address gave.
#[derive(Debug)]
struct Seen {
    target: Arc<str>,
    /// The fastest answer (up), or the first non-answer (down).
    reason: Reason,
    rtt: Duration,
    up: bool,
    at: SystemTime,
}

/// The `-sn` printer of one format.
pub struct PingPrinter<W: Write> {
    out: W,
    format: Format,
    hosts: BTreeMap<IpAddr, Seen>,
    info: Option<ScanInfo>,
}

impl<W: Write> PingPrinter<W> {
    /// `format` to `out`.
    pub fn new(out: W, format: Format) -> PingPrinter<W> {
        PingPrinter {
            out,
            format,
            hosts: BTreeMap::new(),
            info: None,
        }
    }
}

/// One JSON Lines record of `-sn`.
#[derive(Serialize)]
struct Record<'a> {
    target: &'a str,
    ip: IpAddr,
    status: &'static str,
    reason: Reason,
    rtt_ms: Option<f64>,
    timestamp: String,
    scan_id: &'a str,
    shard: &'a str,
}

/// The name typed for `ip`, when it was a host name.
fn name(target: &str, ip: IpAddr) -> Option<&str> {
    let named = matches!(target.parse::<TargetSpec>(), Ok(TargetSpec::Host { .. }));
    (named && target != ip.to_string()).then_some(target)
}

impl<W: Write + Send> Printer for PingPrinter<W> {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        self.info = Some(info.clone());
        match self.format {
            Format::Grepable | Format::Normal => started_comment(&mut self.out, info),
            Format::Xml => {
                writeln!(self.out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
                writeln!(self.out, "<!DOCTYPE nmaprun>")?;
                writeln!(
                    self.out,
                    "<nmaprun scanner=\"nmap\" args=\"{}\" start=\"{}\" startstr=\"{}\" version=\"portscan-{}\" xmloutputversion=\"1.05\">",
                    attr(&info.command),
                    unix_seconds(info.started),
                    ctime(info.started),
                    env!("CARGO_PKG_VERSION"),
                )?;
                writeln!(self.out, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>")?;
                writeln!(
                    self.out,
                    "<!-- {} scan_id=\"{}\" shard=\"{}\" addresses=\"{}\" -->",
                    super::SHARD_COMMENT,
                    info.scan_id,
                    info.shard,
                    info.addresses
                )
            }
            Format::Json | Format::Table => Ok(()),
        }
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        let r = &event.result;
        let answered = matches!(r.state, State::Open | State::Closed);
        let seen = self.hosts.entry(r.ip).or_insert_with(|| Seen {
            target: Arc::clone(&r.target),
            reason: r.reason,
            rtt: r.rtt,
            up: answered,
            at: event.at,
        });
        if answered && (!seen.up || r.rtt < seen.rtt) {
            *seen = Seen {
                target: Arc::clone(&r.target),
                reason: r.reason,
                rtt: r.rtt,
                up: true,
                at: event.at,
            };
        }
        Ok(())
    }

    fn end(&mut self, end: &ScanEnd) -> io::Result<()> {
        let hosts = std::mem::take(&mut self.hosts);
        let up = hosts.values().filter(|s| s.up).count() as u64;
        let total = self
            .info
            .as_ref()
            .map_or(0, |i| i.addresses)
            .max(hosts.len() as u64);
        let tag = self.info.as_ref().map(Tag::of).unwrap_or_default();
        let out = &mut self.out;
        match self.format {
            Format::Json => {
                for (ip, s) in &hosts {
                    let record = Record {
                        target: &s.target,
                        ip: *ip,
                        status: if s.up { "up" } else { "down" },
                        reason: s.reason,
                        rtt_ms: s.up.then(|| millis(s.rtt)),
                        timestamp: rfc3339_millis(s.at),
                        scan_id: &tag.scan_id,
                        shard: &tag.shard,
                    };
                    let mut line = Vec::new();
                    let mut ser =
                        serde_json::Serializer::with_formatter(&mut line, TerminalSafeJson);
                    record.serialize(&mut ser)?;
                    line.push(b'\n');
                    out.write_all(&line)?;
                }
            }
            Format::Table => {
                if !hosts.is_empty() {
                    let rows: Vec<[String; 5]> = hosts
                        .iter()
                        .map(|(ip, s)| {
                            [
                                escape_line(&s.target).into_owned(),
                                ip.to_string(),
                                if s.up { "up" } else { "down" }.to_string(),
                                s.reason.to_string(),
                                if s.up {
                                    format!("{:.2} ms", millis(s.rtt))
                                } else {
                                    "-".to_string()
                                },
                            ]
                        })
                        .collect();
                    let skip = usize::from(rows.iter().all(|r| r[0] == r[1]));
                    let header = ["TARGET", "ADDRESS", "STATUS", "REASON", "RTT"].map(String::from);
                    let mut widths = [0usize; 5];
                    for row in std::iter::once(&header).chain(&rows) {
                        for (w, cell) in widths.iter_mut().zip(row) {
                            *w = (*w).max(cell.chars().count());
                        }
                    }
                    for row in std::iter::once(&header).chain(&rows) {
                        let mut line = String::new();
                        for (c, cell) in row.iter().enumerate().skip(skip) {
                            line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
                        }
                        writeln!(out, "{}", line.trim_end())?;
                    }
                }
            }
            Format::Xml => {
                for (ip, s) in hosts.iter().filter(|(_, s)| s.up) {
                    writeln!(
                        out,
                        "<host><status state=\"up\" reason=\"{}\" reason_ttl=\"0\"/>",
                        s.reason
                    )?;
                    let kind = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
                    writeln!(out, "<address addr=\"{ip}\" addrtype=\"{kind}\"/>")?;
                    match name(&s.target, *ip) {
                        Some(n) => writeln!(
                            out,
                            "<hostnames>\n<hostname name=\"{}\" type=\"user\"/>\n</hostnames>",
                            attr(n)
                        )?,
                        None => writeln!(out, "<hostnames>\n</hostnames>")?,
                    }
                    writeln!(out, "</host>")?;
                }
                let secs = end.summary.elapsed.as_secs_f64();
                let finished = ctime(end.finished);
                writeln!(
                    out,
                    "<runstats><finished time=\"{}\" timestr=\"{finished}\" summary=\"portscan done at {finished}; {} scanned in {secs:.2} seconds\" elapsed=\"{secs:.2}\" exit=\"success\"/><hosts up=\"{up}\" down=\"{}\" total=\"{total}\"/>\n</runstats>\n</nmaprun>",
                    unix_seconds(end.finished),
                    addresses_phrase(total, up),
                    total - up,
                )?;
            }
            Format::Grepable => {
                for (ip, s) in hosts.iter().filter(|(_, s)| s.up) {
                    let n = name(&s.target, *ip).map(escape_line).unwrap_or_default();
                    writeln!(out, "Host: {ip} ({n})\tStatus: Up")?;
                }
                done_line(out, end, total, up)?;
            }
            Format::Normal => {
                for (ip, s) in hosts.iter().filter(|(_, s)| s.up) {
                    match name(&s.target, *ip) {
                        Some(n) => {
                            writeln!(out, "portscan scan report for {} ({ip})", escape_line(n))?
                        }
                        None => writeln!(out, "portscan scan report for {ip}")?,
                    }
                    writeln!(out, "Host is up ({:.5}s latency).", s.rtt.as_secs_f64())?;
                }
                done_line(out, end, total, up)?;
            }
        }
        out.flush()
    }

    fn needs_every_result(&self) -> bool {
        true
    }
}

/// The last comment of the grepable and normal formats, with the hosts
/// up out of all.
fn done_line(out: &mut dyn Write, end: &ScanEnd, total: u64, up: u64) -> io::Result<()> {
    if total == up {
        return done_comment(out, end, total);
    }
    writeln!(
        out,
        "# portscan done at {} -- {} scanned in {:.2} seconds",
        ctime(end.finished),
        addresses_phrase(total, up),
        end.summary.elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, result};
    use super::super::Options;
    use super::*;

    fn ping() -> Options {
        Options {
            ping: true,
            ..Options::default()
        }
    }

    fn rows() -> Vec<rawnet::scan::PortResult> {
        vec![
            result("localhost", "127.0.0.1", 80, State::Closed, None),
            result("localhost", "127.0.0.1", 443, State::Open, None),
            result("10.0.0.0/30", "10.0.0.1", 80, State::Filtered, None),
            result("10.0.0.0/30", "10.0.0.1", 443, State::Filtered, None),
        ]
    }

    #[test]
    fn hosts_in_every_format() {
        let json = render(Format::Json, ping(), rows());
        let lines: Vec<serde_json::Value> = json
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["ip"], "10.0.0.1");
        assert_eq!(lines[0]["status"], "down");
        assert_eq!(lines[0]["rtt_ms"], serde_json::Value::Null);
        assert_eq!(lines[1]["status"], "up");
        assert_eq!(lines[1]["reason"], "conn-refused");
        let table = render(Format::Table, ping(), rows());
        assert!(
            table.starts_with("TARGET       ADDRESS    STATUS  REASON"),
            "{table}"
        );
        assert!(
            table.contains("localhost    127.0.0.1  up      conn-refused"),
            "{table}"
        );
        let xml = render(Format::Xml, ping(), rows());
        assert_eq!(xml.matches("<host>").count(), 1, "{xml}");
        assert!(!xml.contains("<ports>") && !xml.contains("<scaninfo"));
        assert!(
            xml.contains("<hosts up=\"1\" down=\"1\" total=\"2\"/>"),
            "{xml}"
        );
        let gnmap = render(Format::Grepable, ping(), rows());
        assert!(
            gnmap.contains("Host: 127.0.0.1 (localhost)\tStatus: Up\n"),
            "{gnmap}"
        );
        assert!(gnmap.contains("2 IP addresses (1 host up)"), "{gnmap}");
        let normal = render(Format::Normal, ping(), rows());
        assert!(normal.contains("portscan scan report for localhost (127.0.0.1)\nHost is up"));
        assert!(
            !normal.contains("10.0.0.1"),
            "down hosts only counted: {normal}"
        );
    }
}
