//! Printers: every output format is a [`Printer`] over the same
//! [`PortResult`] values (one file per format, as ripgrep's printer crate),
//! driven by the one writer thread ([`Writer`]).
//!
//! A printer sees the scan in three steps: [`Printer::begin`] with what is
//! about to be scanned ([`ScanInfo`]), [`Printer::result`] once per result
//! the writer forwards ([`Event`]: the result and when it reached the
//! sink), and [`Printer::end`] with the engine's totals ([`ScanEnd`]).
//! Streaming formats write in `result`; formats that group or sort (the
//! table) keep what they print and write in `end`. Several printers can
//! run at once ([`Printers`]), each on its own output.
//!
//! Engine workers never write: the writer's `Sink::result` counts each
//! result on the progress bar (lock-free) and sends only the results some
//! printer wants over a bounded channel to the writer thread.

mod clock;
mod event;
mod grepable;
mod hosts;
pub mod json;
mod normal;
mod ping;
mod summary;
mod table;
mod writer;
mod xml;

use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use rawnet::ports::PortSpec;
use rawnet::scan::{PortResult, Proto, State, Summary};
use rawnet::scanid::ScanId;
use rawnet::shard::{Plan, Shard};

pub use event::{Event, Extra, ACCEPTS_ALL_NOTE, AFTER_NOTE, SHARD_COMMENT, TCPWRAPPED};
use hosts::ByHost;
pub use json::JsonPrinter;
pub use summary::SummaryPrinter;
pub use table::TablePrinter;
pub use writer::Writer;

/// How results are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, streamed.
    Json,
    /// An aligned table, sorted, after the scan.
    Table,
    /// nmap's XML (`-oX`).
    Xml,
    /// nmap's grepable format (`-oG`).
    Grepable,
    /// nmap's normal format (`-oN`).
    Normal,
}

/// What every printer is told about the user's choices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Report closed and filtered ports too (`--all`), not only open ones.
    pub report_all: bool,
    /// `--open`: nmap's formats list no closed or filtered port, not even
    /// the few they list by default (as nmap's `--open`).
    pub open_only: bool,
    /// Banners were asked for (the table gets a banner column).
    pub banners: bool,
    /// Service detection was asked for (the table gets a version column).
    pub versions: bool,
    /// `--reason`: the table and `-oN` get a reason column.
    pub reasons: bool,
    /// `-sn`: hosts up or down, not ports ([`ping`]).
    pub ping: bool,
}

impl Options {
    /// True when `r` is printed as a port line: open ports always, the rest
    /// with `--all`.
    pub fn reports(&self, r: &PortResult) -> bool {
        self.report_all || r.state == State::Open
    }
}

/// What is about to be scanned, for [`Printer::begin`].
#[derive(Clone, Debug)]
pub struct ScanInfo {
    /// When the scan started (wall clock).
    pub started: SystemTime,
    /// The command line as typed, arguments joined by spaces.
    pub command: String,
    /// TCP ports probed on every address (empty: no TCP scan).
    pub ports: PortSpec,
    /// UDP ports probed on every address (empty: no UDP scan).
    pub udp_ports: PortSpec,
    /// Number of distinct addresses in the whole scan.
    pub addresses: u64,
    /// The part of the scan this run covers.
    pub shard: Shard,
    /// Probes of the whole scan, all shards together.
    pub total: u64,
    /// The TCP ports were probed with SYNs (`-sS`), not connects.
    pub syn: bool,
    /// The scan's fingerprint, the same in every shard.
    pub scan_id: ScanId,
}

impl ScanInfo {
    /// The info of `plans` (one per protocol, same targets and shard),
    /// started now.
    pub fn new(plans: &[Plan], command: String, scan_id: ScanId) -> ScanInfo {
        let ports = |proto| {
            plans
                .iter()
                .find(|p| p.protocol() == proto)
                .map_or_else(PortSpec::none, |p| p.ports().clone())
        };
        ScanInfo {
            started: SystemTime::now(),
            command,
            ports: ports(Proto::Tcp),
            udp_ports: ports(Proto::Udp),
            addresses: plans.first().map_or(0, |p| p.targets().len()),
            shard: plans.first().map_or(Shard::WHOLE, |p| p.shard()),
            total: plans.iter().map(|p| p.total()).sum(),
            syn: false,
            scan_id,
        }
    }

    /// The protocols scanned, with their ports.
    pub fn protocols(&self) -> Vec<(Proto, &PortSpec)> {
        [(Proto::Tcp, &self.ports), (Proto::Udp, &self.udp_ports)]
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }
}

/// How the scan ended, for [`Printer::end`].
#[derive(Clone, Debug)]
pub struct ScanEnd {
    /// The engine's totals.
    pub summary: Summary,
    /// When the scan ended (wall clock).
    pub finished: SystemTime,
    /// The signal that stopped the scan early (`SIGINT`, `SIGTERM`), if
    /// one did.
    pub interrupted_by: Option<&'static str>,
    /// Probes this run was to make (all protocols), for "how far it got".
    pub planned: u64,
}

impl ScanEnd {
    /// The end of a scan that returned `summary`, now.
    pub fn new(summary: Summary) -> ScanEnd {
        let planned = summary.reported;
        ScanEnd {
            summary,
            finished: SystemTime::now(),
            interrupted_by: None,
            planned,
        }
    }

    /// The same end, stopped by `signal` (if any) out of `planned` probes.
    pub fn interrupted_by(self, signal: Option<&'static str>, planned: u64) -> ScanEnd {
        ScanEnd {
            interrupted_by: signal,
            planned,
            ..self
        }
    }
}

/// One output format on one output.
pub trait Printer: Send {
    /// Called once, before any result.
    fn begin(&mut self, _info: &ScanInfo) -> io::Result<()> {
        Ok(())
    }
    /// Called for every forwarded result: all of them if
    /// [`Printer::needs_every_result`], else those [`Options::reports`]
    /// accepts (or more, when another printer needs them: filter).
    fn result(&mut self, event: &Event) -> io::Result<()>;
    /// Ports known only by their count (`--merge` of nmap XML: its
    /// "extra ports"), between `begin` and `end`. Only the printers that
    /// count ports per host care.
    fn extra(&mut self, _extra: &Extra) -> io::Result<()> {
        Ok(())
    }
    /// Called once after the last result when the scan ended (not after
    /// a failed write): write what was held back, then flush.
    fn end(&mut self, end: &ScanEnd) -> io::Result<()>;
    /// Called after each batch of results (the writer batches whatever
    /// arrived within [`writer::FLUSH_EVERY`]): a streaming printer pushes
    /// what it wrote to its output, so an `-o FILE` holds every result
    /// found so far, and a failing output is noticed at once.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// True when the printer counts results it does not print (closed and
    /// filtered ports), so the writer must forward every result.
    fn needs_every_result(&self) -> bool {
        false
    }
}

/// The printer of `format` writing to `out`.
pub fn printer(format: Format, out: Box<dyn Write + Send>, options: Options) -> Box<dyn Printer> {
    if options.ping {
        return Box::new(ping::PingPrinter::new(out, format));
    }
    match format {
        Format::Json => Box::new(JsonPrinter::new(out, options)),
        Format::Table => Box::new(TablePrinter::new(out, options)),
        Format::Xml => Box::new(ByHost::new(out, options, xml::Xml)),
        Format::Grepable => Box::new(ByHost::new(out, options, grepable::Grepable)),
        Format::Normal => Box::new(ByHost::new(
            out,
            options,
            normal::Normal {
                reasons: options.reasons,
            },
        )),
    }
}

/// Several printers, each on its own output, fed the same events in the
/// order given.
#[derive(Default)]
pub struct Printers(Vec<Box<dyn Printer>>);

impl Printers {
    /// No printer yet.
    pub fn new() -> Printers {
        Printers(Vec::new())
    }

    /// Adds a printer.
    pub fn push(&mut self, printer: Box<dyn Printer>) {
        self.0.push(printer);
    }
}

impl Printer for Printers {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|p| p.begin(info))
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|p| p.result(event))
    }

    fn extra(&mut self, extra: &Extra) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|p| p.extra(extra))
    }

    fn end(&mut self, end: &ScanEnd) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|p| p.end(end))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.iter_mut().try_for_each(|p| p.flush())
    }

    fn needs_every_result(&self) -> bool {
        self.0.iter().any(|p| p.needs_every_result())
    }
}

/// A duration in milliseconds, rounded to the microsecond.
fn millis(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1000.0).round() / 1000.0
}

fn state_name(s: State) -> &'static str {
    s.as_str()
}

/// The service name to show for `r`: the detected one (`-sV`), else the
/// usual one for its port and protocol.
fn service_name(r: &PortResult) -> Option<&'static str> {
    match &r.service {
        Some(s) => Some(s.name),
        None => r.proto.service_name(r.port),
    }
}

/// The service name the nmap formats and the table show for `r`: nmap's
/// `tcpwrapped` for a port [`wrapped`] says is one, else
/// [`service_name`]'s.
fn shown_service(r: &PortResult) -> Option<&'static str> {
    if wrapped(r) {
        Some(TCPWRAPPED)
    } else {
        service_name(r)
    }
}

/// True for an open TCP port that -sV did not identify and that either
/// ended the connection without a byte (nmap's `tcpwrapped`) or belongs
/// to a host that accepts every port: the nmap formats and the table call
/// it `tcpwrapped` (see docs/portscan-output.md).
pub fn wrapped(r: &PortResult) -> bool {
    let identified = r.service.as_ref().is_some_and(|s| s.name != "unknown");
    r.state == State::Open
        && r.proto == Proto::Tcp
        && !identified
        && (r.after_handshake.is_some_and(|a| a.is_wrapped()) || r.host_accepts_all == Some(true))
}

/// The evidence of a [`wrapped`] port as the nmap formats' extra
/// information: `host accepts every port; after handshake: reset`.
pub fn wrapped_note(r: &PortResult) -> String {
    let mut parts: Vec<String> = Vec::new();
    if r.host_accepts_all == Some(true) {
        parts.push(ACCEPTS_ALL_NOTE.to_string());
    }
    if let Some(after) = r.after_handshake {
        parts.push(format!("{AFTER_NOTE}{}", after.as_str()));
    }
    parts.join("; ")
}

/// Product, version and extra information of a detected service, as one
/// line (`OpenSSH 9.2p1 (protocol 2.0)`); empty when unknown. Not yet
/// escaped for a terminal.
fn version_line(r: &PortResult) -> String {
    let Some(s) = &r.service else {
        return String::new();
    };
    let mut parts: Vec<String> = [&s.product, &s.version]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    if let Some(info) = &s.info {
        parts.push(format!("({info})"));
    }
    if r.host_accepts_all == Some(true) {
        parts.push(format!("({ACCEPTS_ALL_NOTE})"));
    }
    parts.join(" ")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared by the printers' tests: sample results and a runner.

    use super::*;
    use rawnet::scan::Reason;
    use std::sync::{Arc, Mutex};

    pub fn result(
        target: &str,
        ip: &str,
        port: u16,
        state: State,
        banner: Option<&str>,
    ) -> PortResult {
        PortResult {
            target: Arc::from(target),
            ip: ip.parse().unwrap(),
            port,
            state,
            reason: match state {
                State::Open => Reason::SynAck,
                State::Closed => Reason::ConnRefused,
                _ => Reason::NoResponse,
            },
            rtt: Duration::from_micros(1234),
            banner: banner.map(|b| b.as_bytes().to_vec()),
            proto: Proto::Tcp,
            technique: rawnet::scan::Technique::Connect,
            service: None,
            after_handshake: None,
            host_accepts_all: None,
        }
    }

    pub fn sample() -> Vec<PortResult> {
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

    /// 2026-11-21T09:46:38.123Z, a fixed clock for the tests.
    pub fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_254_398_123)
    }

    pub fn info(ports: &str, addresses: u64) -> ScanInfo {
        let ports: PortSpec = ports.parse().unwrap();
        ScanInfo {
            started: at(),
            command: "portscan 127.0.0.1".into(),
            total: addresses * u64::from(ports.len()),
            ports,
            udp_ports: PortSpec::none(),
            addresses,
            shard: Shard::WHOLE,
            syn: false,
            scan_id: "00000000000000ab".parse().unwrap(),
        }
    }

    pub fn end(rows: &[PortResult]) -> ScanEnd {
        let count = |s| rows.iter().filter(|r| r.state == s).count() as u64;
        let summary = Summary {
            open: count(State::Open),
            closed: count(State::Closed),
            filtered: count(State::Filtered),
            open_filtered: count(State::OpenFiltered),
            icmp_rate_limited: Vec::new(),
            elapsed: Duration::from_millis(500),
            concurrency: 100,
            reported: rows.len() as u64,
            ..Summary::default()
        };
        ScanEnd {
            finished: at() + Duration::from_millis(500),
            ..ScanEnd::new(summary)
        }
    }

    /// A `Write` whose bytes can be read after the printer took it.
    #[derive(Clone, Default)]
    pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

    impl SharedBuf {
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Runs `format` over `rows` as the writer would (forwarding what the
    /// printer asks for) and returns the text.
    pub fn render(format: Format, options: Options, rows: Vec<PortResult>) -> String {
        let buf = SharedBuf::default();
        let mut p = printer(format, Box::new(buf.clone()), options);
        let info = info("1-65535", 2);
        p.begin(&info).unwrap();
        let end = end(&rows);
        for r in rows {
            if p.needs_every_result() || options.reports(&r) {
                p.result(&Event {
                    result: r,
                    at: at(),
                })
                .unwrap();
            }
        }
        p.end(&end).unwrap();
        buf.text()
    }
}
