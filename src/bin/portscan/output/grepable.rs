//! nmap's grepable format (`-oG`): one `Host:` line for the status and one
//! for the ports of each address, tab-separated fields, so that
//! `grep open` and `cut` work on it as on nmap's. Ports are
//! `port/state/tcp//service///`, comma-separated; ports not listed are
//! summed up in `Ignored State: closed (997)` (the largest state). Comment
//! lines (`#`) begin and end the file.

use std::io::{self, Write};

use rawnet::sanitize::escape_line;
use rawnet::services::tcp_service;

use super::clock::ctime;
use super::hosts::{addresses_phrase, Book};
use super::{state_name, Event, Options, Printer, ScanEnd, ScanInfo};

/// Collects hosts; writes them in `end`.
pub struct GrepablePrinter<W: Write> {
    out: W,
    book: Book,
}

impl<W: Write> GrepablePrinter<W> {
    /// A printer to `out`.
    pub fn new(out: W, options: Options) -> GrepablePrinter<W> {
        GrepablePrinter {
            out,
            book: Book::new(options),
        }
    }
}

impl<W: Write + Send> Printer for GrepablePrinter<W> {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        writeln!(
            self.out,
            "# portscan {} scan initiated {} as: {}",
            env!("CARGO_PKG_VERSION"),
            ctime(info.started),
            escape_line(&info.command)
        )
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        self.book.add(&event.result);
        Ok(())
    }

    fn end(&mut self, end: &ScanEnd) -> io::Result<()> {
        let book = std::mem::take(&mut self.book);
        let total = book.len();
        for (ip, host) in book.into_hosts() {
            let name = host.name(ip).unwrap_or("");
            writeln!(self.out, "Host: {ip} ({name})\tStatus: Up")?;
            let mut line = format!("Host: {ip} ({name})");
            if !host.listed.is_empty() {
                let ports: Vec<String> = host
                    .listed
                    .iter()
                    .map(|r| {
                        format!(
                            "{}/{}/tcp//{}///",
                            r.port,
                            state_name(r.state),
                            tcp_service(r.port).unwrap_or("")
                        )
                    })
                    .collect();
                line.push_str("\tPorts: ");
                line.push_str(&ports.join(", "));
            }
            if let Some((state, count)) = host.extra_by_state().first() {
                line.push_str(&format!(
                    "\tIgnored State: {} ({count})",
                    state_name(*state)
                ));
            }
            writeln!(self.out, "{line}")?;
        }
        writeln!(
            self.out,
            "# portscan done at {} -- {} scanned in {:.2} seconds",
            ctime(end.finished),
            addresses_phrase(total, total),
            end.summary.elapsed.as_secs_f64()
        )?;
        self.out.flush()
    }

    fn needs_every_result(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, result};
    use super::super::Format;
    use super::*;
    use rawnet::scan::State;

    #[test]
    fn host_lines_with_ports_and_ignored_state() {
        let rows = vec![
            result("localhost", "127.0.0.1", 22, State::Open, None),
            result("localhost", "127.0.0.1", 80, State::Open, None),
            result("localhost", "127.0.0.1", 23, State::Closed, None),
        ];
        let text = render(Format::Grepable, Options::default(), rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("# portscan "));
        assert_eq!(lines[1], "Host: 127.0.0.1 (localhost)\tStatus: Up");
        assert_eq!(
            lines[2],
            "Host: 127.0.0.1 (localhost)\tPorts: 22/open/tcp//ssh///, 80/open/tcp//http///\tIgnored State: closed (1)"
        );
        assert!(lines[3].starts_with("# portscan done at "));
        assert!(lines[3].ends_with("-- 1 IP address (1 host up) scanned in 0.50 seconds"));
    }
}
