//! The human table: reported ports are kept (only those) and printed
//! sorted by address and port, columns aligned, after the scan. Banners
//! are escaped to one line of visible text.

use std::cmp::Ordering;
use std::io::{self, Write};

use rawnet::sanitize::escape_line;
use rawnet::scan::PortResult;

use super::{millis, shown_service, state_name, version_line, Event, Options, Printer, ScanEnd};

/// Collects reported rows; writes the table in [`Printer::end`].
pub struct TablePrinter<W: Write> {
    out: W,
    options: Options,
    rows: Vec<PortResult>,
}

impl<W: Write> TablePrinter<W> {
    /// A printer to `out`.
    pub fn new(out: W, options: Options) -> TablePrinter<W> {
        TablePrinter {
            out,
            options,
            rows: Vec::new(),
        }
    }
}

impl<W: Write + Send> Printer for TablePrinter<W> {
    fn result(&mut self, event: &Event) -> io::Result<()> {
        if self.options.reports(&event.result) {
            self.rows.push(event.result.clone());
        }
        Ok(())
    }

    fn end(&mut self, _end: &ScanEnd) -> io::Result<()> {
        self.rows.sort_by(by_address_then_port);
        write_table(&mut self.out, &self.rows, self.options)?;
        self.out.flush()
    }
}

pub(crate) fn by_address_then_port(a: &PortResult, b: &PortResult) -> Ordering {
    (a.ip, a.port, a.proto).cmp(&(b.ip, b.port, b.proto))
}

/// The table: a header and one row per port, columns padded to their
/// widest cell. The TARGET column is left out when every target is just
/// its address.
///
/// Cells are formatted twice (once to measure, once to write) rather than
/// all held at once: a `--table --all` of 65535 ports stays small.
fn write_table(out: &mut dyn Write, rows: &[PortResult], options: Options) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let with_target = rows.iter().any(|r| *r.target != *r.ip.to_string());
    let mut header = vec!["TARGET", "ADDRESS", "PORT", "STATE"];
    if options.reasons {
        header.push("REASON");
    }
    header.push("SERVICE");
    if options.versions {
        header.push("VERSION");
    }
    header.push("RTT");
    if options.banners {
        header.push("BANNER");
    }
    let skip = usize::from(!with_target);
    let header: Vec<String> = header.into_iter().skip(skip).map(String::from).collect();
    let mut widths: Vec<usize> = header.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(row_cells(r, options, skip)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    write_row(out, &header, &widths)?;
    for r in rows {
        write_row(out, &row_cells(r, options, skip), &widths)?;
    }
    Ok(())
}

/// The cells of one row, the first `skip` columns left out.
fn row_cells(r: &PortResult, options: Options, skip: usize) -> Vec<String> {
    let mut cells = vec![
        r.target.to_string(),
        r.ip.to_string(),
        format!("{}/{}", r.port, r.proto),
        state_name(r.state).to_string(),
    ];
    if options.reasons {
        cells.push(r.reason.to_string());
    }
    cells.push(shown_service(r).unwrap_or("-").to_string());
    if options.versions {
        cells.push(escape_line(&version_line(r)).into_owned());
    }
    cells.push(format!("{:.2} ms", millis(r.rtt)));
    if options.banners {
        let banner = r.banner_text();
        cells.push(escape_line(banner.as_deref().unwrap_or("")).into_owned());
    }
    cells.drain(..skip);
    cells
}

fn write_row(out: &mut dyn Write, cells: &[String], widths: &[usize]) -> io::Result<()> {
    let mut line = String::new();
    for (c, cell) in cells.iter().enumerate() {
        if c + 1 == cells.len() {
            line.push_str(cell);
        } else {
            // Format width counts chars, as `widths` does.
            line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
        }
    }
    writeln!(out, "{}", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{render, result, sample};
    use super::super::Format;
    use super::*;
    use rawnet::scan::State;

    #[test]
    fn table_is_sorted_aligned_and_escaped() {
        let all = Options {
            report_all: true,
            open_only: false,
            banners: true,
            versions: false,
            reasons: false,
            ping: false,
        };
        let text = render(Format::Table, all, sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("TARGET"));
        assert!(lines[1].contains("9/tcp") && lines[2].contains("22/tcp"));
        assert!(lines[4].contains("::1"), "IPv6 sorts after IPv4");
        let state_col = lines[0].find("STATE").unwrap();
        for line in &lines[1..] {
            let rest = &line[state_col..];
            assert!(
                ["open", "closed", "filtered"]
                    .iter()
                    .any(|s| rest.starts_with(s)),
                "{line}"
            );
        }
        assert!(
            lines[2].ends_with("SSH-2.0-x\\r\\n\\x1b[31m"),
            "{}",
            lines[2]
        );
        assert!(!text.contains('\x1b'));
        assert!(lines[1].contains("1.23 ms"));
    }

    #[test]
    fn table_drops_the_target_column_when_it_repeats_the_address() {
        let rows = vec![result("127.0.0.1", "127.0.0.1", 22, State::Open, None)];
        let text = render(Format::Table, Options::default(), rows);
        assert_eq!(
            text,
            "ADDRESS    PORT    STATE  SERVICE  RTT\n127.0.0.1  22/tcp  open   ssh      1.23 ms\n"
        );
    }

    #[test]
    fn reason_column_with_reason() {
        let rows = vec![result("127.0.0.1", "127.0.0.1", 22, State::Open, None)];
        let options = Options {
            reasons: true,
            ..Options::default()
        };
        assert_eq!(
            render(Format::Table, options, rows),
            "ADDRESS    PORT    STATE  REASON   SERVICE  RTT\n127.0.0.1  22/tcp  open   syn-ack  ssh      1.23 ms\n"
        );
    }

    #[test]
    fn empty_table_prints_nothing() {
        assert_eq!(render(Format::Table, Options::default(), vec![]), "");
    }
}
