//! Results grouped by address, for nmap's formats (XML, grepable, normal),
//! which write one block per host: the ports listed, and the rest counted
//! per state ("extra ports", nmap's "Not shown: 997 closed ports"). The
//! three formats are [`HostFormat`]s driven by one printer, [`ByHost`],
//! which files results in a [`Book`] and writes the hosts at the end.
//!
//! What is listed follows nmap's rule, so that `ndiff` sees the same ports
//! as in nmap's output of the same scan: open ports always, and per host
//! the ports of each other state (closed, filtered) when that state has at
//! most [`MAX_SHOWN_PER_STATE`] of them; a state with more is only counted
//! ("extra ports", with their reasons). `--all` lists every port, and
//! `--open` (as nmap's) only the open ones. Memory
//! grows with the number of addresses and listed ports: at most
//! [`MAX_SHOWN_PER_STATE`] results of a non-open state are held per host
//! until the state is known to be folded, never all the closed ones.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rawnet::sanitize::escape_line;
use rawnet::scan::{PortResult, Proto, Reason, State};
use rawnet::targets::TargetSpec;

use super::clock::ctime;
use super::{Event, Extra, Options, Printer, ScanEnd, ScanInfo};

/// One of nmap's formats: what it writes before the hosts, for each host
/// (in address order), and after them.
pub trait HostFormat: Send {
    /// The head of the document.
    fn begin(&self, out: &mut dyn Write, info: &ScanInfo) -> io::Result<()>;
    /// One host.
    fn host(&self, out: &mut dyn Write, ip: IpAddr, host: &Host) -> io::Result<()>;
    /// The tail, given the number of hosts written.
    fn end(&self, out: &mut dyn Write, end: &ScanEnd, hosts: u64) -> io::Result<()>;
}

/// The printer of a [`HostFormat`]: files every result in a [`Book`]
/// and writes the hosts at the end.
pub struct ByHost<W: Write, F: HostFormat> {
    out: W,
    book: Book,
    format: F,
}

impl<W: Write, F: HostFormat> ByHost<W, F> {
    /// `format` to `out`, listing what `options` reports.
    pub fn new(out: W, options: Options, format: F) -> ByHost<W, F> {
        ByHost {
            out,
            book: Book::new(options),
            format,
        }
    }
}

impl<W: Write + Send, F: HostFormat> Printer for ByHost<W, F> {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        self.format.begin(&mut self.out, info)
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        self.book.add(&event.result);
        Ok(())
    }

    fn extra(&mut self, extra: &Extra) -> io::Result<()> {
        self.book.add_extra(extra);
        Ok(())
    }

    fn end(&mut self, end: &ScanEnd) -> io::Result<()> {
        let book = std::mem::take(&mut self.book);
        let total = book.len();
        for (ip, host) in book.into_hosts() {
            self.format.host(&mut self.out, ip, &host)?;
        }
        self.format.end(&mut self.out, end, total)?;
        self.out.flush()
    }

    fn needs_every_result(&self) -> bool {
        true
    }
}

/// The first line of the grepable and normal formats.
pub fn started_comment(out: &mut dyn Write, info: &ScanInfo) -> io::Result<()> {
    writeln!(
        out,
        "# portscan {} scan initiated {} as: {}",
        env!("CARGO_PKG_VERSION"),
        ctime(info.started),
        escape_line(&info.command)
    )
}

/// The last line of the grepable and normal formats.
pub fn done_comment(out: &mut dyn Write, end: &ScanEnd, hosts: u64) -> io::Result<()> {
    writeln!(
        out,
        "# portscan done at {} -- {} scanned in {:.2} seconds",
        ctime(end.finished),
        addresses_phrase(hosts, hosts),
        end.summary.elapsed.as_secs_f64()
    )
}

/// nmap's limit: a non-open state with more ports than this on a host is
/// folded into "extra ports" instead of listed port by port.
pub const MAX_SHOWN_PER_STATE: u64 = 25;

/// What one address gave.
#[derive(Debug)]
pub struct Host {
    /// The target that named it first.
    pub target: Arc<str>,
    /// Listed ports, sorted by [`Book::into_hosts`].
    pub listed: Vec<PortResult>,
    /// Ports not listed, per `(protocol, state, reason)`, in the order
    /// first seen (while filing: every port of a non-open state, listed or
    /// not).
    pub extra: Vec<(Proto, State, Reason, u64)>,
    /// The fastest answer (open or closed), if any.
    pub best_rtt: Option<Duration>,
    /// While filing: the ports of non-open states that may still be
    /// listed (their state has at most [`MAX_SHOWN_PER_STATE`] so far).
    held: Vec<PortResult>,
    /// States known only as counts ([`Book::add_extra`]): never listed.
    folded: Vec<(Proto, State)>,
}

impl Host {
    /// The name given for this address, if the target was a host name:
    /// never an address, a CIDR block or an octet range (`10.0.0.1-3`),
    /// which nmap never writes as a host name either (and `ndiff`
    /// matches hosts by name).
    pub fn name(&self, ip: IpAddr) -> Option<&str> {
        let t = &*self.target;
        let named = matches!(t.parse::<TargetSpec>(), Ok(TargetSpec::Host { .. }));
        (named && t != ip.to_string()).then_some(t)
    }

    /// Extra ports per protocol and state (`(proto, state, count)`,
    /// largest first).
    pub fn extra_by_state(&self) -> Vec<(Proto, State, u64)> {
        let mut by: Vec<(Proto, State, u64)> = Vec::new();
        for &(proto, state, _, n) in &self.extra {
            match by.iter_mut().find(|(p, s, _)| *p == proto && *s == state) {
                Some((_, _, total)) => *total += n,
                None => by.push((proto, state, n)),
            }
        }
        by.sort_by_key(|&(_, _, n)| std::cmp::Reverse(n));
        by
    }
}

/// Hosts by address.
#[derive(Debug, Default)]
pub struct Book {
    options: Options,
    hosts: BTreeMap<IpAddr, Host>,
}

impl Book {
    /// An empty book listing what `options` reports.
    pub fn new(options: Options) -> Book {
        Book {
            options,
            hosts: BTreeMap::new(),
        }
    }

    /// Files one result under its address.
    pub fn add(&mut self, r: &PortResult) {
        let options = self.options;
        let host = self.host(r.ip, &r.target);
        if matches!(r.state, State::Open | State::Closed) {
            host.best_rtt = Some(host.best_rtt.map_or(r.rtt, |b| b.min(r.rtt)));
        }
        if options.reports(r) {
            host.listed.push(r.clone());
            return;
        }
        match host
            .extra
            .iter_mut()
            .find(|(p, s, why, _)| *p == r.proto && *s == r.state && *why == r.reason)
        {
            Some((_, _, _, n)) => *n += 1,
            None => host.extra.push((r.proto, r.state, r.reason, 1)),
        }
        let in_state: u64 = host
            .extra
            .iter()
            .filter(|(p, s, _, _)| *p == r.proto && *s == r.state)
            .map(|(_, _, _, n)| n)
            .sum();
        if options.open_only || host.folded.contains(&(r.proto, r.state)) {
            return;
        }
        if in_state <= MAX_SHOWN_PER_STATE {
            host.held.push(r.clone());
        } else if in_state == MAX_SHOWN_PER_STATE + 1 {
            // Folded from now on: only the counts are kept.
            host.held
                .retain(|h| h.proto != r.proto || h.state != r.state);
        }
    }

    fn host(&mut self, ip: IpAddr, target: &Arc<str>) -> &mut Host {
        self.hosts.entry(ip).or_insert_with(|| Host {
            target: Arc::clone(target),
            listed: Vec::new(),
            extra: Vec::new(),
            best_rtt: None,
            held: Vec::new(),
            folded: Vec::new(),
        })
    }

    /// Files ports known only by their count (an input's "extra ports",
    /// when shard outputs are merged): their state is folded on this
    /// host, so none of its ports is listed, as nmap folds a state it
    /// saw too often to list.
    pub fn add_extra(&mut self, e: &Extra) {
        let host = self.host(e.ip, &e.target);
        match host
            .extra
            .iter_mut()
            .find(|(p, s, why, _)| *p == e.proto && *s == e.state && *why == e.reason)
        {
            Some((_, _, _, n)) => *n += e.count,
            None => host.extra.push((e.proto, e.state, e.reason, e.count)),
        }
        if !host.folded.contains(&(e.proto, e.state)) {
            host.folded.push((e.proto, e.state));
        }
        host.held
            .retain(|h| h.proto != e.proto || h.state != e.state);
    }

    /// The hosts in address order, each with its ports sorted: the held
    /// ports of states that stayed small are listed, and no longer
    /// counted as extra.
    pub fn into_hosts(self) -> impl Iterator<Item = (IpAddr, Host)> {
        self.hosts.into_iter().map(|(ip, mut host)| {
            let held = std::mem::take(&mut host.held);
            host.extra.retain(|(proto, state, _, _)| {
                !held.iter().any(|h| h.proto == *proto && h.state == *state)
            });
            host.listed.extend(held);
            host.listed.sort_by_key(|r| (r.port, r.proto));
            (ip, host)
        })
    }

    /// Number of hosts.
    pub fn len(&self) -> u64 {
        self.hosts.len() as u64
    }
}

/// "1 IP address (1 host up)", nmap's phrase for the end of a scan.
pub fn addresses_phrase(total: u64, up: u64) -> String {
    let noun = if total == 1 {
        "IP address"
    } else {
        "IP addresses"
    };
    let hosts = if up == 1 { "host" } else { "hosts" };
    format!("{total} {noun} ({up} {hosts} up)")
}

#[cfg(test)]
mod tests {
    use super::super::testing::result;
    use super::*;

    #[test]
    fn groups_lists_and_counts() {
        let mut book = Book::new(Options::default());
        book.add(&result("h", "127.0.0.2", 80, State::Open, None));
        for p in 1..=30 {
            book.add(&result("h", "127.0.0.2", p, State::Closed, None));
        }
        book.add(&result(
            "10.0.0.0/30",
            "10.0.0.1",
            22,
            State::Filtered,
            None,
        ));
        let hosts: Vec<_> = book.into_hosts().collect();
        assert_eq!(hosts[0].0.to_string(), "10.0.0.1");
        assert!(hosts[0].1.best_rtt.is_none());
        assert_eq!(hosts[0].1.name(hosts[0].0), None);
        // An octet range is no host name (nor a literal, nor a block).
        for target in ["10.236.7.1-3", "10.0.0.1", "10.0.0.0/30", "::1", "[::1]"] {
            let mut book = Book::new(Options::default());
            book.add(&result(target, "10.0.0.1", 22, State::Open, None));
            let (ip, host) = book.into_hosts().next().unwrap();
            assert_eq!(host.name(ip), None, "{target}");
        }
        // 25 filtered ports or fewer are listed, as nmap lists them.
        assert_eq!(hosts[0].1.listed.len(), 1);
        assert!(hosts[0].1.extra.is_empty());
        let h = &hosts[1].1;
        assert_eq!(h.name(hosts[1].0), Some("h"));
        assert_eq!(h.listed.len(), 1);
        assert_eq!(
            h.extra,
            vec![(Proto::Tcp, State::Closed, Reason::ConnRefused, 30)]
        );
        assert_eq!(h.extra_by_state(), vec![(Proto::Tcp, State::Closed, 30)]);
        assert_eq!(addresses_phrase(2, 1), "2 IP addresses (1 host up)");
    }

    #[test]
    fn nmaps_rule_per_host_and_state() {
        let mut book = Book::new(Options::default());
        for p in 1..=25 {
            book.add(&result("h", "127.0.0.1", p, State::Closed, None));
        }
        for p in 100..=140 {
            book.add(&result("h", "127.0.0.1", p, State::Filtered, None));
        }
        book.add(&result("h", "127.0.0.1", 99, State::Open, None));
        for p in 1..=26 {
            book.add(&result("h", "127.0.0.2", p, State::Closed, None));
        }
        // Never more than 25 held per host and state while filing.
        let held = |b: &Book, ip: &str| b.hosts[&ip.parse::<IpAddr>().unwrap()].held.len();
        assert_eq!(
            (held(&book, "127.0.0.1"), held(&book, "127.0.0.2")),
            (25, 0)
        );
        let hosts: Vec<_> = book.into_hosts().collect();
        let one = &hosts[0].1;
        let ports: Vec<u16> = one.listed.iter().map(|r| r.port).collect();
        assert_eq!(ports, (1..=25).chain([99]).collect::<Vec<_>>());
        assert_eq!(
            one.extra,
            vec![(Proto::Tcp, State::Filtered, Reason::NoResponse, 41)]
        );
        assert!(hosts[1].1.listed.is_empty());
        assert_eq!(
            hosts[1].1.extra_by_state(),
            vec![(Proto::Tcp, State::Closed, 26)]
        );
        // --all lists everything.
        let mut book = Book::new(Options {
            report_all: true,
            ..Options::default()
        });
        for p in 1..=30 {
            book.add(&result("h", "127.0.0.1", p, State::Closed, None));
        }
        let (_, host) = book.into_hosts().next().unwrap();
        assert_eq!((host.listed.len(), host.extra.len()), (30, 0));
        // --open lists open ports only, as nmap's.
        let mut book = Book::new(Options {
            open_only: true,
            ..Options::default()
        });
        book.add(&result("h", "127.0.0.1", 1, State::Closed, None));
        book.add(&result("h", "127.0.0.1", 2, State::Open, None));
        let (_, host) = book.into_hosts().next().unwrap();
        assert_eq!(host.listed.iter().map(|r| r.port).collect::<Vec<_>>(), [2]);
        assert_eq!(
            host.extra,
            vec![(Proto::Tcp, State::Closed, Reason::ConnRefused, 1)]
        );
    }
}
