//! Printers: JSON Lines and the human table over the same
//! [`PortResult`] values, the one writer thread that owns the output, and
//! the summary line.
//!
//! Engine workers never write: `on_result` counts each result on the
//! progress bar (lock-free) and sends only the results that will be
//! printed over a bounded channel (back-pressure instead of unbounded
//! memory when the output is slow) to the writer thread, which prints. A
//! full scan of mostly closed ports thus wakes the writer once per open
//! port, not once per probe. JSON is streamed, one line per reported port, as results
//! arrive; the table is collected (only reported ports are kept) and
//! printed sorted and aligned at the end.

use std::cmp::Ordering;
use std::io::{self, Write};
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use indicatif::ProgressBar;
use serde::Serialize;

use rawnet::sanitize::{escape_line, TerminalSafeJson};
use rawnet::scan::{PortResult, Reason, Sink, State, Summary};
use rawnet::services::tcp_service;
use rawnet::shard::Plan;

/// How results are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, streamed.
    Json,
    /// An aligned table, sorted, after the scan.
    Table,
}

/// One JSON Lines record. The field set is a documented contract
/// (README): change it only with a CHANGELOG entry.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    /// The target as the user wrote it.
    pub target: &'a str,
    /// The address probed.
    pub ip: IpAddr,
    /// The port probed.
    pub port: u16,
    /// Always "tcp".
    pub proto: &'static str,
    /// "open", "closed" or "filtered".
    pub state: State,
    /// Why, in nmap's words: "syn-ack", "conn-refused", "no-response", ...
    pub reason: Reason,
    /// Round-trip time in milliseconds, microsecond precision.
    pub rtt_ms: f64,
    /// Well-known service name for the port, or null.
    pub service: Option<&'static str>,
    /// What the server sent first (with --banner), or null.
    pub banner: Option<&'a str>,
}

impl<'a> Record<'a> {
    /// The record for `r`.
    pub fn new(r: &'a PortResult) -> Record<'a> {
        Record {
            target: &r.target,
            ip: r.ip,
            port: r.port,
            proto: "tcp",
            state: r.state,
            reason: r.reason,
            rtt_ms: millis(r.rtt),
            service: tcp_service(r.port),
            banner: r.banner.as_deref(),
        }
    }
}

/// A duration in milliseconds, rounded to the microsecond.
fn millis(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1000.0).round() / 1000.0
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Open => "open",
        State::Closed => "closed",
        State::Filtered => "filtered",
    }
}

/// Turns results into text on `out`.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    report_all: bool,
    banners: bool,
    rows: Vec<PortResult>,
    line: Vec<u8>,
}

impl<W: Write> Printer<W> {
    /// A printer of `format` to `out`; `report_all` keeps closed and
    /// filtered ports, `banners` adds the table's banner column.
    pub fn new(out: W, format: Format, report_all: bool, banners: bool) -> Printer<W> {
        Printer {
            out,
            format,
            report_all,
            banners,
            rows: Vec::new(),
            line: Vec::with_capacity(256),
        }
    }

    /// Takes one reported result: writes a JSON line now, or keeps a
    /// table row for [`Printer::finish`].
    pub fn print(&mut self, r: PortResult) -> io::Result<()> {
        match self.format {
            Format::Json => {
                self.line.clear();
                let mut ser =
                    serde_json::Serializer::with_formatter(&mut self.line, TerminalSafeJson);
                Record::new(&r).serialize(&mut ser)?;
                self.line.push(b'\n');
                // One write per line: a reader never sees half a record.
                self.out.write_all(&self.line)
            }
            Format::Table => {
                self.rows.push(r);
                Ok(())
            }
        }
    }

    /// Writes what was held back (the table) and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        if self.format == Format::Table {
            self.rows.sort_by(by_address_then_port);
            write_table(&mut self.out, &self.rows, self.banners)?;
        }
        self.out.flush()
    }
}

/// True when `r` is printed at all: open ports always, the rest with
/// `--all`.
fn reported(r: &PortResult, report_all: bool) -> bool {
    report_all || r.state == State::Open
}

fn by_address_then_port(a: &PortResult, b: &PortResult) -> Ordering {
    (a.ip, a.port).cmp(&(b.ip, b.port))
}

/// The table: a header and one row per port, columns padded to their
/// widest cell. The TARGET column is left out when every target is just
/// its address. Banners are escaped to one line of visible text.
///
/// Cells are formatted twice (once to measure, once to write) rather than
/// all held at once: a `--table --all` of 65535 ports stays small.
fn write_table(out: &mut dyn Write, rows: &[PortResult], banners: bool) -> io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let with_target = rows.iter().any(|r| *r.target != *r.ip.to_string());
    let mut header = vec!["TARGET", "ADDRESS", "PORT", "STATE", "SERVICE", "RTT"];
    if banners {
        header.push("BANNER");
    }
    let skip = usize::from(!with_target);
    let header: Vec<String> = header.into_iter().skip(skip).map(String::from).collect();
    let mut widths: Vec<usize> = header.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(row_cells(r, banners, skip)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    write_row(out, &header, &widths)?;
    for r in rows {
        write_row(out, &row_cells(r, banners, skip), &widths)?;
    }
    Ok(())
}

/// The cells of one row, the first `skip` columns left out.
fn row_cells(r: &PortResult, banners: bool, skip: usize) -> Vec<String> {
    let mut cells = vec![
        r.target.to_string(),
        r.ip.to_string(),
        format!("{}/tcp", r.port),
        state_name(r.state).to_string(),
        tcp_service(r.port).unwrap_or("-").to_string(),
        format!("{:.2} ms", millis(r.rtt)),
    ];
    if banners {
        cells.push(escape_line(r.banner.as_deref().unwrap_or("")).into_owned());
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

/// The output thread: owns the printer and the progress bar.
pub struct Writer {
    sender: SyncSender<PortResult>,
    handle: JoinHandle<io::Result<()>>,
    bar: ProgressBar,
    report_all: bool,
    open: AtomicU64,
    /// Set by the writer thread when a write failed: the scan should stop.
    failed: Arc<AtomicBool>,
}

/// Results in flight between the engine and the writer.
const CHANNEL_CAPACITY: usize = 4096;
/// Longest a written result waits in a buffer before it is flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// Prints a batch of results and flushes: a result reaches the output
/// (an `-o FILE` too) within a batch, not at the end of the scan, and a
/// failing output is noticed at once.
fn print_batch<W: Write>(printer: &mut Printer<W>, batch: Vec<PortResult>) -> io::Result<()> {
    for r in batch {
        printer.print(r)?;
    }
    printer.out.flush()
}

/// The results waiting in the channel, a batch at a time: whatever has
/// arrived when the writer looks, but no longer than [`FLUSH_EVERY`]
/// after the first of them.
struct Batches<'a> {
    receiver: &'a mpsc::Receiver<PortResult>,
}

impl<'a> Batches<'a> {
    fn new(receiver: &'a mpsc::Receiver<PortResult>) -> Batches<'a> {
        Batches { receiver }
    }
}

impl Iterator for Batches<'_> {
    type Item = Vec<PortResult>;

    fn next(&mut self) -> Option<Vec<PortResult>> {
        let first = self.receiver.recv().ok()?;
        let started = std::time::Instant::now();
        let mut batch = vec![first];
        while started.elapsed() < FLUSH_EVERY && batch.len() < CHANNEL_CAPACITY {
            match self.receiver.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}

impl Writer {
    /// Starts the writer thread. `suspend_bar` hides the bar around each
    /// write (when results and bar share a terminal). A failed write (the
    /// reader went away, the disk is full) makes [`Sink::result`] say
    /// stop, and [`Writer::finish`] returns the error.
    pub fn spawn<W: Write + Send + 'static>(
        mut printer: Printer<W>,
        bar: ProgressBar,
        suspend_bar: bool,
    ) -> io::Result<Writer> {
        let (sender, receiver) = mpsc::sync_channel::<PortResult>(CHANNEL_CAPACITY);
        let report_all = printer.report_all;
        let writer_bar = bar.clone();
        let failed_flag = Arc::new(AtomicBool::new(false));
        let writer_failed = Arc::clone(&failed_flag);
        let handle = thread::Builder::new()
            .name("portscan-writer".into())
            .spawn(move || {
                let bar = writer_bar;
                let mut failed: Option<io::Error> = None;
                for batch in Batches::new(&receiver) {
                    if failed.is_some() {
                        continue;
                    }
                    let written = if suspend_bar {
                        bar.suspend(|| print_batch(&mut printer, batch))
                    } else {
                        print_batch(&mut printer, batch)
                    };
                    if let Err(e) = written {
                        writer_failed.store(true, AtomicOrdering::Relaxed);
                        bar.finish_and_clear();
                        // Keep draining so the engine never blocks on us.
                        failed = Some(e);
                    }
                }
                bar.finish_and_clear();
                match failed {
                    Some(e) => Err(e),
                    None => printer.finish(),
                }
            })?;
        Ok(Writer {
            sender,
            handle,
            bar,
            report_all,
            open: AtomicU64::new(0),
            failed: failed_flag,
        })
    }

    /// Waits for everything sent to be written, and the table printed.
    pub fn finish(self) -> io::Result<()> {
        drop(self.sender);
        self.bar.finish_and_clear();
        self.handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output thread panicked")))
    }
}

impl Sink for Writer {
    /// Takes a result (called from engine workers): counts it, and hands it
    /// to the writer thread if it is printed. After a write error the
    /// writer still drains, so this never blocks for good, and the scan is
    /// told to stop.
    fn result(&self, r: PortResult) -> ControlFlow<()> {
        if self.failed.load(AtomicOrdering::Relaxed) {
            return ControlFlow::Break(());
        }
        self.bar.inc(1);
        if r.state == State::Open {
            let n = self.open.fetch_add(1, AtomicOrdering::Relaxed) + 1;
            self.bar.set_message(format!("{n} open"));
        }
        if reported(&r, self.report_all) {
            let _ = self.sender.send(r);
        }
        ControlFlow::Continue(())
    }

    /// A SIGINT or SIGTERM arrived, or the output failed: stop.
    fn cancelled(&self) -> bool {
        crate::signals::caught().is_some() || self.failed.load(AtomicOrdering::Relaxed)
    }
}

/// The line printed to stderr after a scan: what was scanned, how long it
/// took, and the count per state.
pub fn summary_line(summary: &Summary, plan: &Plan) -> String {
    let probes = summary.open + summary.closed + summary.filtered;
    let secs = summary.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        probes as f64 / secs
    } else {
        0.0
    };
    let addresses = plan.targets().len();
    let ports = plan.ports().len();
    let scope = if plan.shard().count() > 1 {
        let total = plan.total();
        let noun = plural(total, "probe", "probes");
        format!("shard {} of {total} {noun}", plan.shard())
    } else {
        format!(
            "{addresses} {} x {ports} {}",
            plural(addresses, "address", "addresses"),
            plural(u64::from(ports), "port", "ports")
        )
    };
    // Slow scans (--rate 1) keep a decimal, so the rate is never "0".
    let rate = if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.0}")
    };
    let hosts = summary.hosts.map_or(String::new(), |h| {
        let timed_out = if h.timed_out > 0 {
            format!(", {} timed out", h.timed_out)
        } else {
            String::new()
        };
        format!("; hosts: {} up, {} down{timed_out}", h.up, h.down)
    });
    format!(
        "{} open, {} closed, {} filtered: {probes} {} ({scope}) in {secs:.2} s, {rate} probes/s{hosts}",
        summary.open,
        summary.closed,
        summary.filtered,
        plural(probes, "probe", "probes"),
    )
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rawnet::shard::Shard;
    use rawnet::targets::Targets;
    use serde::Deserialize;
    use std::sync::Arc;

    fn result(target: &str, ip: &str, port: u16, state: State, banner: Option<&str>) -> PortResult {
        PortResult {
            target: Arc::from(target),
            ip: ip.parse().unwrap(),
            port,
            state,
            reason: match state {
                State::Open => Reason::SynAck,
                State::Closed => Reason::ConnRefused,
                State::Filtered => Reason::NoResponse,
            },
            rtt: Duration::from_micros(1234),
            banner: banner.map(String::from),
        }
    }

    fn sample() -> Vec<PortResult> {
        vec![
            result("localhost", "127.0.0.1", 8080, State::Open, None),
            result(
                "localhost",
                "127.0.0.1",
                22,
                State::Open,
                Some("SSH-2.0-x\r\n\x1b[31m"),
            ),
            result("::1", "::1", 443, State::Closed, None),
            result("localhost", "127.0.0.1", 9, State::Filtered, None),
        ]
    }

    fn render(format: Format, all: bool, banners: bool, rows: Vec<PortResult>) -> String {
        let mut out = Vec::new();
        let mut p = Printer::new(&mut out, format, all, banners);
        for r in rows {
            if reported(&r, all) {
                p.print(r).unwrap();
            }
        }
        p.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The documented schema; unknown fields are an error.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        target: String,
        ip: IpAddr,
        port: u16,
        proto: String,
        state: State,
        reason: String,
        rtt_ms: f64,
        service: Option<String>,
        banner: Option<String>,
    }

    #[test]
    fn json_lines_follow_the_schema() {
        let text = render(Format::Json, true, true, sample());
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
        let text = render(Format::Json, false, false, sample()[..1].to_vec());
        assert_eq!(
            text,
            "{\"target\":\"localhost\",\"ip\":\"127.0.0.1\",\"port\":8080,\"proto\":\"tcp\",\
             \"state\":\"open\",\"reason\":\"syn-ack\",\"rtt_ms\":1.234,\"service\":\"http-proxy\",\"banner\":null}\n"
        );
    }

    #[test]
    fn only_open_ports_without_all() {
        let text = render(Format::Json, false, false, sample());
        assert_eq!(text.lines().count(), 2);
        assert!(text.lines().all(|l| l.contains("\"state\":\"open\"")));
    }

    #[test]
    fn table_is_sorted_aligned_and_escaped() {
        let text = render(Format::Table, true, true, sample());
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
        let text = render(Format::Table, false, false, rows);
        assert_eq!(
            text,
            "ADDRESS    PORT    STATE  SERVICE  RTT\n127.0.0.1  22/tcp  open   ssh      1.23 ms\n"
        );
    }

    #[test]
    fn empty_table_prints_nothing() {
        assert_eq!(render(Format::Table, false, false, vec![]), "");
    }

    #[test]
    fn writer_thread_prints_everything_sent() {
        let out = SharedBuf::default();
        let printer = Printer::new(out.clone(), Format::Json, true, false);
        let writer = Writer::spawn(printer, ProgressBar::hidden(), false).unwrap();
        thread::scope(|s| {
            for t in 0..4u16 {
                let writer = &writer;
                s.spawn(move || {
                    for p in 0..100u16 {
                        let r = result("x", "127.0.0.1", t * 100 + p + 1, State::Closed, None);
                        assert!(writer.result(r).is_continue());
                    }
                });
            }
        });
        writer.finish().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut ports: Vec<u16> = text
            .lines()
            .map(|l| serde_json::from_str::<Line>(l).unwrap().port)
            .collect();
        ports.sort();
        assert_eq!(ports, (1..=400).collect::<Vec<u16>>());
    }

    #[test]
    fn a_failed_write_stops_the_scan() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("no space left on device"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let printer = Printer::new(Full, Format::Json, true, false);
        let writer = Writer::spawn(printer, ProgressBar::hidden(), false).unwrap();
        let mut said_stop = false;
        for p in 1..=1000u16 {
            if writer
                .result(result("x", "127.0.0.1", p, State::Open, None))
                .is_break()
            {
                said_stop = true;
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        assert!(said_stop, "the sink never asked the scan to stop");
        assert!(writer.finish().is_err());
    }

    #[derive(Clone, Default)]
    struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn summary_counts_and_scope() {
        let targets = Targets::from_pairs([("a", "127.0.0.1".parse().unwrap())]);
        let plan = Plan::new(targets.clone(), "1-100".parse().unwrap(), 0, Shard::WHOLE);
        let summary = Summary {
            open: 2,
            closed: 97,
            filtered: 1,
            elapsed: Duration::from_millis(500),
            concurrency: 100,
            reported: 100,
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&summary, &plan),
            "2 open, 97 closed, 1 filtered: 100 probes (1 address x 100 ports) in 0.50 s, 200 probes/s"
        );
        let shard = Plan::new(
            targets,
            "1-100".parse().unwrap(),
            0,
            Shard::new(1, 4).unwrap(),
        );
        assert!(summary_line(&summary, &shard).contains("(shard 1/4 of 100 probes)"));
    }
}
