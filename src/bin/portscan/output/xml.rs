//! nmap's XML (`-oX`): what security tooling imports (Metasploit, DefectDojo,
//! `ndiff`, python-libnmap). Valid against nmap's DTD
//! (`/usr/share/nmap/nmap.dtd`; a test checks with `xmllint --dtdvalid`):
//! `scaninfo` of type connect (and udp with `-sU`), one `host` per address with `status`,
//! `address`, `hostnames` (the name typed, type `user`), `ports` with
//! `extraports` counts for what is not listed, each `port` with its state,
//! reason and service (from the table, or probed with `-sV`), and
//! `runstats`.
//!
//! Hosts are written in address order at the end of the scan (they are
//! grouped, see [`super::hosts`]). portscan probes every address as nmap
//! does with `-Pn`: a host none of whose ports answered is still written,
//! `up` for reason `user-set`, its ports filtered.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;

use rawnet::sanitize::escape_str;
use rawnet::scan::detection::ServiceSource;
use rawnet::scan::{PortResult, Proto, State, Technique};

use super::clock::{ctime, unix_seconds};
use super::hosts::{addresses_phrase, Host, HostFormat};
use super::{state_name, ScanEnd, ScanInfo, SHARD_COMMENT};

/// nmap's XML, for [`super::hosts::ByHost`].
pub struct Xml;

impl HostFormat for Xml {
    fn begin(&self, out: &mut dyn Write, info: &ScanInfo) -> io::Result<()> {
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(out, "<!DOCTYPE nmaprun>")?;
        writeln!(
            out,
            "<nmaprun scanner=\"nmap\" args=\"{}\" start=\"{}\" startstr=\"{}\" version=\"portscan-{}\" xmloutputversion=\"1.05\">",
            attr(&info.command),
            unix_seconds(info.started),
            ctime(info.started),
            env!("CARGO_PKG_VERSION"),
        )?;
        for (proto, ports) in info.protocols() {
            let technique = match proto {
                Proto::Tcp if info.syn => Technique::Syn,
                _ => Technique::for_proto(proto),
            };
            let kind = technique.as_str();
            writeln!(
                out,
                "<scaninfo type=\"{kind}\" protocol=\"{proto}\" numservices=\"{}\" services=\"{ports}\"/>",
                ports.len(),
            )?;
        }
        writeln!(out, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>")?;
        shard_comment(out, info)
    }

    fn host(&self, out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()> {
        write_host(out, ip, host)
    }

    fn end(&self, out: &mut dyn Write, end: &ScanEnd, total: u64) -> io::Result<()> {
        // Every address is probed as with nmap's -Pn: all are "up".
        let secs = end.summary.elapsed.as_secs_f64();
        let finished = ctime(end.finished);
        let (exit, error) = if end.summary.stopped {
            ("error", " errormsg=\"the scan was stopped early\"")
        } else {
            ("success", "")
        };
        writeln!(
            out,
            "<runstats><finished time=\"{}\" timestr=\"{finished}\" summary=\"portscan done at {finished}; {} scanned in {secs:.2} seconds\" elapsed=\"{secs:.2}\" exit=\"{exit}\"{error}/><hosts up=\"{total}\" down=\"0\" total=\"{total}\"/>\n</runstats>\n</nmaprun>",
            unix_seconds(end.finished),
            addresses_phrase(total, total),
        )
    }
}

/// The comment that says which scan and shard this document holds:
/// nmap's DTD has no place for it, and every XML reader skips comments
/// (`ndiff` and `xmllint --dtdvalid` included). `--merge` reads it back
/// ([`SHARD_COMMENT`]).
fn shard_comment(out: &mut dyn Write, info: &ScanInfo) -> io::Result<()> {
    writeln!(
        out,
        "<!-- {SHARD_COMMENT} scan_id=\"{}\" shard=\"{}\" addresses=\"{}\" -->",
        info.scan_id, info.shard, info.addresses
    )
}

fn write_host(out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()> {
    let answered = |s: State| matches!(s, State::Open | State::Closed);
    let reason = match host.listed.iter().find(|r| answered(r.state)) {
        Some(r) => r.reason.as_str(),
        None => host
            .extra
            .iter()
            .find(|(_, s, _, _)| answered(*s))
            .map_or("user-set", |(_, _, why, _)| why.as_str()),
    };
    writeln!(
        out,
        "<host><status state=\"up\" reason=\"{reason}\" reason_ttl=\"0\"/>"
    )?;
    let kind = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
    writeln!(out, "<address addr=\"{ip}\" addrtype=\"{kind}\"/>")?;
    match host.name(ip) {
        Some(name) => writeln!(
            out,
            "<hostnames>\n<hostname name=\"{}\" type=\"user\"/>\n</hostnames>",
            attr(name)
        )?,
        None => writeln!(out, "<hostnames>\n</hostnames>")?,
    }
    write!(out, "<ports>")?;
    for (proto, state, count) in host.extra_by_state() {
        writeln!(
            out,
            "<extraports state=\"{}\" count=\"{count}\">",
            state_name(state)
        )?;
        let same = |(p, s, _, _): &&(Proto, State, _, u64)| *p == proto && *s == state;
        for (_, _, why, n) in host.extra.iter().filter(same) {
            writeln!(
                out,
                "<extrareasons reason=\"{why}\" count=\"{n}\" proto=\"{proto}\"/>"
            )?;
        }
        writeln!(out, "</extraports>")?;
    }
    for r in &host.listed {
        write!(
            out,
            "<port protocol=\"{}\" portid=\"{}\"><state state=\"{}\" reason=\"{}\" reason_ttl=\"0\"/>",
            r.proto,
            r.port,
            state_name(r.state),
            r.reason
        )?;
        write_service(out, r)?;
        writeln!(out, "</port>")?;
    }
    writeln!(out, "</ports>\n</host>")
}

/// The `<service>` element of a port: probed (`-sV`, with product,
/// version and extra info when known, `conf="10"`; `unknown` as nmap
/// writes an unrecognised service) or from the table (`conf="3"`).
///
/// An open port [`super::wrapped`] says is not shown to be a service is
/// nmap's `tcpwrapped` (`conf="8"`, as nmap writes it), with what it did
/// after the handshake and whether its host accepts every port as extra
/// information; an identified service on a host that accepts every port
/// says so in its extra information. `--merge` reads both back.
fn write_service(out: &mut dyn Write, r: &PortResult) -> io::Result<()> {
    if super::wrapped(r) {
        return write!(
            out,
            "<service name=\"{}\" extrainfo=\"{}\" method=\"probed\" conf=\"8\"/>",
            super::TCPWRAPPED,
            attr(&super::wrapped_note(r))
        );
    }
    match &r.service {
        Some(s) if s.source == ServiceSource::Probe => {
            write!(out, "<service name=\"{}\"", attr(s.name))?;
            let info = match (&s.info, r.host_accepts_all) {
                (Some(info), Some(true)) => Some(format!("{info}; {}", super::ACCEPTS_ALL_NOTE)),
                (None, Some(true)) => Some(super::ACCEPTS_ALL_NOTE.to_string()),
                (info, _) => info.clone(),
            };
            for (key, value) in [
                ("product", &s.product),
                ("version", &s.version),
                ("extrainfo", &info),
            ] {
                if let Some(v) = value {
                    write!(out, " {key}=\"{}\"", attr(v))?;
                }
            }
            let conf = if s.name == "unknown" { 0 } else { 10 };
            write!(out, " method=\"probed\" conf=\"{conf}\"/>")
        }
        _ => match super::service_name(r) {
            Some(name) => write!(
                out,
                "<service name=\"{}\" method=\"table\" conf=\"3\"/>",
                attr(name)
            ),
            None => Ok(()),
        },
    }
}

/// Text for an attribute value (the one way untrusted text, from the
/// command line, target names or servers, enters the XML): control
/// characters escaped as visible text (`\x01`), and so are U+FFFE and
/// U+FFFF, the other characters outside XML 1.0's `Char` (no document
/// may carry them, even as `&#...;`); then markup characters as entities.
pub(super) fn attr(text: &str) -> Cow<'_, str> {
    let visible = escape_str(text);
    if !visible.contains(['&', '<', '>', '"', '\'', '\u{fffe}', '\u{ffff}']) {
        return visible;
    }
    let mut out = String::with_capacity(visible.len() + 16);
    for c in visible.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{fffe}' | '\u{ffff}' => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, result};
    use super::super::{Format, Options};
    use super::*;

    #[test]
    fn attributes_are_escaped() {
        assert_eq!(attr("a&b<\"c\">'"), "a&amp;b&lt;&quot;c&quot;&gt;&apos;");
        assert_eq!(attr("plain"), "plain");
        assert!(!attr("x\x1by").contains('\x1b'));
        // Outside XML 1.0's Char: visible escapes, never raw.
        assert_eq!(
            attr("a\u{fffe}b\u{ffff}\x01\x7f\u{85}\r"),
            "a\\u{fffe}b\\u{ffff}\\x01\\x7f\\x85\\r"
        );
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let text = attr(&c.to_string()).into_owned();
            assert!(
                text.chars().all(is_xml_char),
                "{:x}: {text:?}",
                u32::from(c)
            );
        }
    }

    /// XML 1.0's `Char` production.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    }

    #[test]
    fn hosts_ports_and_extraports() {
        let rows = vec![
            result("localhost", "127.0.0.1", 22, State::Open, None),
            result("localhost", "127.0.0.1", 23, State::Closed, None),
            result("localhost", "127.0.0.1", 24, State::Closed, None),
            result("::1", "::1", 9, State::Filtered, None),
        ];
        let mut rows = rows;
        for p in 100..130 {
            rows.push(result("localhost", "127.0.0.1", p, State::Closed, None));
        }
        let xml = render(Format::Xml, Options::default(), rows);
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n"));
        assert!(xml.contains("<scaninfo type=\"connect\" protocol=\"tcp\" numservices=\"65535\" services=\"1-65535\"/>"));
        assert!(xml.contains("<hostname name=\"localhost\" type=\"user\"/>"));
        assert!(xml.contains("<extraports state=\"closed\" count=\"32\">\n<extrareasons reason=\"conn-refused\" count=\"32\" proto=\"tcp\"/>"));
        assert!(xml.contains(
            "<port protocol=\"tcp\" portid=\"9\"><state state=\"filtered\" reason=\"no-response\""
        ));
        assert!(xml.contains("<port protocol=\"tcp\" portid=\"22\"><state state=\"open\" reason=\"syn-ack\" reason_ttl=\"0\"/><service name=\"ssh\" method=\"table\" conf=\"3\"/></port>"));
        assert!(xml.contains("<address addr=\"::1\" addrtype=\"ipv6\"/>"));
        assert!(xml.contains("<status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>"));
        assert!(xml.contains("<hosts up=\"2\" down=\"0\" total=\"2\"/>"));
        assert!(xml.trim_end().ends_with("</nmaprun>"));
        assert!(xml.contains(
            "<!-- portscan-shard scan_id=\"00000000000000ab\" shard=\"0/1\" addresses=\"2\" -->"
        ));
    }
}
