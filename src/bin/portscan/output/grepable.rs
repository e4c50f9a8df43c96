//! nmap's grepable format (`-oG`): one `Host:` line for the status and one
//! for the ports of each address, tab-separated fields, so that
//! `grep open` and `cut` work on it as on nmap's. Ports are
//! `port/state/proto//service//version/`, comma-separated (nmap's rule
//! for which are listed, see [`super::hosts`]); ports not listed are
//! summed up in `Ignored State: closed (997)` (the largest state). Comment
//! lines (`#`) begin and end the file.

use std::io::{self, Write};
use std::net::IpAddr;

use super::hosts::{done_comment, started_comment, Host, HostFormat};
use super::{shown_service, state_name, version_line, ScanEnd, ScanInfo};

/// Text for a grepable port field: its separators (`/`, `,`) and control
/// characters replaced, so a version string cannot break the record.
fn grepable_field(text: &str) -> String {
    rawnet::sanitize::escape_line(text)
        .chars()
        .map(|c| match c {
            '/' => '|',
            ',' => ' ',
            c => c,
        })
        .collect()
}

/// nmap's grepable format, for [`super::hosts::ByHost`].
pub struct Grepable;

impl HostFormat for Grepable {
    fn begin(&self, out: &mut dyn Write, info: &ScanInfo) -> io::Result<()> {
        started_comment(out, info)
    }

    fn host(&self, out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()> {
        let name = host.name(ip).unwrap_or("");
        writeln!(out, "Host: {ip} ({name})\tStatus: Up")?;
        let mut line = format!("Host: {ip} ({name})");
        {
            let ports: Vec<String> = host
                .listed
                .iter()
                .map(|r| {
                    format!(
                        "{}/{}/{}//{}//{}/",
                        r.port,
                        state_name(r.state),
                        r.proto,
                        shown_service(r).unwrap_or(""),
                        grepable_field(&version_line(r))
                    )
                })
                .collect();
            line.push_str("\tPorts: ");
            line.push_str(&ports.join(", "));
        }
        if let Some((_, state, count)) = host.extra_by_state().first() {
            line.push_str(&format!(
                "\tIgnored State: {} ({count})",
                state_name(*state)
            ));
        }
        writeln!(out, "{line}")
    }

    fn end(&self, out: &mut dyn Write, end: &ScanEnd, hosts: u64) -> io::Result<()> {
        done_comment(out, end, hosts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, result};
    use super::super::Format;
    use super::super::Options;
    use rawnet::scan::State;

    #[test]
    fn host_lines_with_ports_and_ignored_state() {
        let rows = vec![
            result("localhost", "127.0.0.1", 22, State::Open, None),
            result("localhost", "127.0.0.1", 80, State::Open, None),
            result("localhost", "127.0.0.1", 23, State::Closed, None),
            result("::1", "::1", 9, State::Filtered, None),
        ];
        let mut rows = rows;
        for p in 1000..1030 {
            rows.push(result("::1", "::1", p, State::Closed, None));
        }
        let text = render(Format::Grepable, Options::default(), rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# portscan "));
        assert_eq!(lines[1], "Host: 127.0.0.1 (localhost)\tStatus: Up");
        assert_eq!(
            lines[2],
            "Host: 127.0.0.1 (localhost)\tPorts: 22/open/tcp//ssh///, 23/closed/tcp//telnet///, 80/open/tcp//http///"
        );
        assert_eq!(
            lines[4],
            "Host: ::1 ()\tPorts: 9/filtered/tcp//discard///\tIgnored State: closed (30)"
        );
        assert!(lines[5].starts_with("# portscan done at "));
        assert!(lines[5].ends_with("-- 2 IP addresses (2 hosts up) scanned in 0.50 seconds"));
    }
}
