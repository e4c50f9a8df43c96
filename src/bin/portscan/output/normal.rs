//! nmap's normal format (`-oN`): per address a report header, the count
//! of ports not shown, and a `PORT STATE SERVICE` table, between a
//! starting and an ending comment line, as `nmap -oN` writes it (but
//! signed by portscan).

use std::io::{self, Write};
use std::net::IpAddr;

use rawnet::sanitize::escape_line;

use super::hosts::{done_comment, started_comment, Host, HostFormat};
use super::{shown_service, state_name, version_line, ScanEnd, ScanInfo};

/// nmap's normal format, for [`super::hosts::ByHost`].
pub struct Normal {
    /// `--reason`: a REASON column, as nmap's.
    pub reasons: bool,
}

impl HostFormat for Normal {
    fn begin(&self, out: &mut dyn Write, info: &ScanInfo) -> io::Result<()> {
        started_comment(out, info)
    }

    fn host(&self, out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()> {
        write_host(out, ip, host, self.reasons)
    }

    fn end(&self, out: &mut dyn Write, end: &ScanEnd, hosts: u64) -> io::Result<()> {
        done_comment(out, end, hosts)
    }
}

fn write_host(out: &mut dyn Write, ip: IpAddr, host: &Host, reasons: bool) -> io::Result<()> {
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
        let versions = host.listed.iter().any(|r| r.service.is_some());
        let mut header = vec!["PORT", "STATE", "SERVICE"];
        if reasons {
            header.push("REASON");
        }
        if versions {
            header.push("VERSION");
        }
        let rows: Vec<Vec<String>> = host
            .listed
            .iter()
            .map(|r| {
                let mut cells = vec![
                    format!("{}/{}", r.port, r.proto),
                    state_name(r.state).to_string(),
                    shown_service(r).unwrap_or("unknown").to_string(),
                ];
                if reasons {
                    cells.push(r.reason.to_string());
                }
                if versions {
                    cells.push(escape_line(&version_line(r)).into_owned());
                }
                cells
            })
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let header: Vec<String> = header.into_iter().map(String::from).collect();
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(&widths) {
                line.push_str(&format!("{cell:<w$} "));
            }
            writeln!(out, "{}", line.trim_end())?;
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
        let rows = vec![
            result("localhost", "127.0.0.1", 22, State::Open, None),
            result("localhost", "127.0.0.1", 23, State::Closed, None),
        ];
        let with_reasons = Options {
            reasons: true,
            ..Options::default()
        };
        let text = render(Format::Normal, with_reasons, rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "PORT   STATE  SERVICE REASON");
        assert_eq!(lines[4], "22/tcp open   ssh     syn-ack");
        assert_eq!(lines[5], "23/tcp closed telnet  conn-refused");
    }
}
