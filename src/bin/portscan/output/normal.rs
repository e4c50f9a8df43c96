//! nmap's normal format (`-oN`): per address a report header, the count
//! of ports not shown, and a `PORT STATE SERVICE` table, between a
//! starting and an ending comment line, as `nmap -oN` writes it (but
//! signed by portscan).

use std::io::{self, Write};
use std::net::IpAddr;

use rawnet::sanitize::escape_line;

use super::hosts::{done_comment, started_comment, Host, HostFormat};
use super::{service_name, state_name, version_line, ScanEnd, ScanInfo};

/// nmap's normal format, for [`super::hosts::ByHost`].
pub struct Normal;

impl HostFormat for Normal {
    fn begin(&self, out: &mut dyn Write, info: &ScanInfo) -> io::Result<()> {
        started_comment(out, info)
    }

    fn host(&self, out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()> {
        write_host(out, ip, host)
    }

    fn end(&self, out: &mut dyn Write, end: &ScanEnd, hosts: u64) -> io::Result<()> {
        done_comment(out, end, hosts)
    }
}

fn write_host(out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()> {
    match host.name(ip) {
        Some(name) => writeln!(out, "portscan scan report for {name} ({ip})")?,
        None => writeln!(out, "portscan scan report for {ip}")?,
    }
    match host.best_rtt {
        Some(rtt) => writeln!(out, "Host is up ({:.5}s latency).", rtt.as_secs_f64())?,
        None => writeln!(out, "Host is up (no port answered).")?,
    }
    for (proto, state, count) in host.extra_by_state() {
        let reasons: Vec<_> = host
            .extra
            .iter()
            .filter(|(p, s, _, _)| *p == proto && *s == state)
            .collect();
        // nmap names a lone reason without its count.
        let reasons = match reasons[..] {
            [(_, _, why, _)] => why.to_string(),
            _ => reasons
                .iter()
                .map(|(_, _, why, n)| format!("{n} {why}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let noun = if count == 1 { "port" } else { "ports" };
        writeln!(
            out,
            "Not shown: {count} {} {proto} {noun} ({reasons})",
            state_name(state),
        )?;
    }
    if !host.listed.is_empty() {
        let width = host
            .listed
            .iter()
            .map(|r| r.port.to_string().len() + 1 + r.proto.as_str().len())
            .max()
            .unwrap_or(0)
            .max(4);
        let state_width = host
            .listed
            .iter()
            .map(|r| state_name(r.state).len())
            .max()
            .unwrap_or(0)
            .max(5);
        let versions = host.listed.iter().any(|r| r.service.is_some());
        let service_width = host
            .listed
            .iter()
            .map(|r| service_name(r).unwrap_or("unknown").len())
            .max()
            .unwrap_or(0)
            .max(7);
        let header = format!("{:<width$} {:<state_width$} SERVICE", "PORT", "STATE");
        if versions {
            writeln!(
                out,
                "{header:<w$} VERSION",
                w = width + state_width + service_width + 2
            )?;
        } else {
            writeln!(out, "{header}")?;
        }
        for r in &host.listed {
            let port = format!("{}/{}", r.port, r.proto);
            let service = service_name(r).unwrap_or("unknown");
            let line = format!(
                "{port:<width$} {:<state_width$} {service}",
                state_name(r.state)
            );
            let version = escape_line(&version_line(r)).into_owned();
            if versions && !version.is_empty() {
                let w = width + state_width + service_width + 2;
                writeln!(out, "{line:<w$} {version}")?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, result};
    use super::super::Format;
    use super::super::Options;
    use rawnet::scan::State;

    #[test]
    fn report_per_host() {
        let rows = vec![
            result("localhost", "127.0.0.1", 22, State::Open, None),
            result("localhost", "127.0.0.1", 8080, State::Open, None),
            result("localhost", "127.0.0.1", 23, State::Closed, None),
            result("localhost", "127.0.0.1", 24, State::Closed, None),
        ];
        let mut rows = rows;
        for p in 30000..30030 {
            rows.push(result("localhost", "127.0.0.1", p, State::Filtered, None));
        }
        let text = render(Format::Normal, Options::default(), rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# portscan "));
        assert_eq!(lines[1], "portscan scan report for localhost (127.0.0.1)");
        assert_eq!(lines[2], "Host is up (0.00123s latency).");
        assert_eq!(lines[3], "Not shown: 30 filtered tcp ports (no-response)");
        assert_eq!(lines[4], "PORT     STATE  SERVICE");
        assert_eq!(lines[5], "22/tcp   open   ssh");
        assert_eq!(lines[6], "23/tcp   closed telnet");
        assert_eq!(lines[7], "24/tcp   closed unknown");
        assert_eq!(lines[8], "8080/tcp open   http-proxy");
        assert_eq!(lines[9], "");
        assert!(lines[10].starts_with("# portscan done at "));
    }
}
