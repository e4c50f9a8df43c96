//! The summary: one line on stderr after the scan (what was scanned, how
//! long it took, the count per state), as a printer so it gets the same
//! scan info and totals as the others.

use std::io::{self, Write};

use super::{Event, Printer, ScanEnd, ScanInfo};
use rawnet::scan::Summary;

/// Writes [`summary_line`] in [`Printer::end`].
pub struct SummaryPrinter<W: Write> {
    out: W,
    info: Option<ScanInfo>,
    hint: bool,
    /// `-sn`: the addresses that answered, for a hosts line.
    ping: Option<std::collections::BTreeSet<std::net::IpAddr>>,
}

impl<W: Write> SummaryPrinter<W> {
    /// A printer to `out` (stderr in the binary).
    pub fn new(out: W) -> SummaryPrinter<W> {
        SummaryPrinter {
            out,
            info: None,
            hint: false,
            ping: None,
        }
    }

    /// Counts hosts up and down instead of ports (`-sn`).
    pub fn for_ping(self, ping: bool) -> SummaryPrinter<W> {
        SummaryPrinter {
            ping: ping.then(Default::default),
            ..self
        }
    }

    /// Also [`hidden_line`] after the summary (when a table without
    /// `--all` is what the user reads).
    pub fn with_hint(self, hint: bool) -> SummaryPrinter<W> {
        SummaryPrinter { hint, ..self }
    }
}

impl<W: Write + Send> Printer for SummaryPrinter<W> {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        self.info = Some(info.clone());
        Ok(())
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        let r = &event.result;
        if let Some(up) = &mut self.ping {
            if matches!(
                r.state,
                rawnet::scan::State::Open | rawnet::scan::State::Closed
            ) {
                up.insert(r.ip);
            }
        }
        Ok(())
    }

    fn needs_every_result(&self) -> bool {
        self.ping.is_some()
    }

    fn end(&mut self, end: &ScanEnd) -> io::Result<()> {
        if let Some(info) = &self.info {
            // stderr going away is no reason to fail the scan.
            let line = match &self.ping {
                Some(up) => ping_line(&end.summary, info, up.len() as u64),
                None => summary_line(&end.summary, info),
            };
            let _ = match end.interrupted_by {
                Some(signal) => writeln!(
                    self.out,
                    "interrupted by {signal} after {} of {} probes; {line}",
                    end.summary.reported, end.planned
                ),
                None => writeln!(self.out, "{line}"),
            };
            if let Some(line) = rate_limit_line(&end.summary) {
                let _ = writeln!(self.out, "{line}");
            }
            if let Some(line) = hidden_line(&end.summary).filter(|_| self.hint) {
                let _ = writeln!(self.out, "{line}");
            }
            let _ = self.out.flush();
        }
        Ok(())
    }
}

/// The line printed to stderr after a scan: what was scanned, how long it
/// took, and the count per state.
pub fn summary_line(summary: &Summary, info: &ScanInfo) -> String {
    let probes = summary.open + summary.closed + summary.filtered + summary.open_filtered;
    let secs = summary.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        probes as f64 / secs
    } else {
        0.0
    };
    let ports = u64::from(info.ports.len()) + u64::from(info.udp_ports.len());
    let scope = if info.shard.count() > 1 {
        let noun = plural(info.total, "probe", "probes");
        format!("shard {} of {} {noun}", info.shard, info.total)
    } else {
        format!(
            "{} {} x {ports} {}",
            info.addresses,
            plural(info.addresses, "address", "addresses"),
            plural(ports, "port", "ports")
        )
    };
    // Slow scans (--rate 1) keep a decimal, so the rate is never "0".
    let rate = if rate < 10.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.0}")
    };
    let open_filtered = if info.udp_ports.is_empty() {
        String::new()
    } else {
        format!(", {} open|filtered", summary.open_filtered)
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
        "{} open, {} closed, {} filtered{open_filtered}: {probes} {} ({scope}) in {secs:.2} s, \
         {rate} probes/s{hosts}",
        summary.open,
        summary.closed,
        summary.filtered,
        plural(probes, "probe", "probes"),
    )
}

/// The line after `-sn`: hosts up and down, and how long it took.
pub fn ping_line(summary: &Summary, info: &ScanInfo, up: u64) -> String {
    let total = info.addresses.max(up);
    format!(
        "{up} {} up, {} down: {total} {} pinged (TCP connects to 80 and 443) in {:.2} s",
        plural(up, "host", "hosts"),
        total - up,
        plural(total, "address", "addresses"),
        summary.elapsed.as_secs_f64()
    )
}

/// The hint that closed and filtered ports were counted but left out of
/// the table, and how to see them; `None` when there were none.
pub fn hidden_line(summary: &Summary) -> Option<String> {
    let hidden = summary.filtered + summary.open_filtered;
    if hidden == 0 {
        return None;
    }
    let noun = plural(hidden, "port", "ports");
    Some(format!(
        "hint: {hidden} filtered {noun} (and closed ones) not shown; -a/--all lists them"
    ))
}

/// The note about hosts that rationed their ICMP port unreachables (UDP),
/// if any did.
pub fn rate_limit_line(summary: &Summary) -> Option<String> {
    let hosts = &summary.icmp_rate_limited;
    if hosts.is_empty() {
        return None;
    }
    let list: Vec<String> = hosts.iter().map(|ip| ip.to_string()).collect();
    Some(format!(
        "note: ICMP rate limit seen from {} (closed UDP ports answered about once a second; \
         retries were paced to classify them)",
        list.join(", ")
    ))
}

pub(crate) fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::info;
    use super::*;
    use rawnet::shard::Shard;
    use std::time::Duration;

    #[test]
    fn summary_counts_and_scope() {
        let summary = Summary {
            open: 2,
            closed: 97,
            filtered: 1,
            elapsed: Duration::from_millis(500),
            concurrency: 100,
            reported: 100,
            ..Summary::default()
        };
        assert_eq!(rate_limit_line(&summary), None);
        assert_eq!(
            hidden_line(&summary).as_deref(),
            Some("hint: 1 filtered port (and closed ones) not shown; -a/--all lists them")
        );
        assert_eq!(hidden_line(&Summary::default()), None);
        let mut whole = info("1-100", 1);
        assert_eq!(
            summary_line(&summary, &whole),
            "2 open, 97 closed, 1 filtered: 100 probes (1 address x 100 ports) in 0.50 s, 200 probes/s"
        );
        whole.shard = Shard::new(1, 4).unwrap();
        assert!(summary_line(&summary, &whole).contains("(shard 1/4 of 100 probes)"));
    }
}
