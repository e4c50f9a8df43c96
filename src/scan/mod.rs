//! The scan engine: probes `(ip, port)` pairs with a technique (a TCP
//! connect, a UDP datagram) and yields typed results. It never prints and
//! never sees the command line.
//!
//! A [`ProbeSource`] is made with one [`Technique`]
//! ([`ProbeSource::technique`]); [`run`] hands it to the engine's workers
//! (the `engine` submodule: one event loop per thread) with that
//! technique's [`technique::Prober`]: the TCP connect (`tcp`, with the
//! socket calls of `connect` and the banner of `banner`) or the UDP probe
//! (`udp`). The prober owns what one attempt means; the engine owns the
//! event loop, slots, deadlines, the in-flight window (`window`) and the
//! rate schedule (`pacing`), back-off, batching, retries after loss (`loss`),
//! per-host state (round trips in `rtt`, ICMP rationing in `icmp_limit`,
//! discovery and host timeout in `discovery`) and the delivery of results.
//! The SYN scan ([`Technique::Syn`], [`run_syn`]) is a prober too (`syn`):
//! its flights share one set of raw sockets, its SYNs go out in batches,
//! and its replies find their flight by the cookie they carry; its window
//! is a memory bound and its rate adapts (`pacing`). With `-sV` the open
//! ports it finds are identified by a second pass (`followup`).
//! An open TCP port of a connect scan carries evidence of what it is (what
//! it did after the handshake, and whether its host accepts every port):
//! [`evidence`], whose host check is a session wrapped around the connect
//! prober.
//! Service detection ([`detection`], [`run_with_detection`]) is a session
//! prober that wraps the TCP connect: its probe connections are flights of
//! the same engine, drawing on the same [`ConnectBudget`] (in-flight
//! window and rate schedule) as every other start. Every pass of a scan
//! (TCP, UDP) draws on the budget the caller hands it
//! ([`run_with_budget`]).
//!
//! # Design
//!
//! [`run`] splits the probe indices `[0, source.len())` among rayon workers,
//! one per thread. Workers pull small batches from a shared atomic cursor,
//! so one that meets many slow (filtered) ports does not hold up the others,
//! and draw on one shared budget of connects in flight (rather than a fixed
//! share each), so room one worker does not need is used by the other.
//! Inside a worker, connects are *non-blocking*: `socket()` +
//! `connect()` returns `EINPROGRESS` and the socket is registered with the
//! worker's own epoll instance (the `polling` crate) for writability, so
//! thousands of connects are in flight on a couple of cores. When one
//! completes, `SO_ERROR` says how: none is open, `ECONNREFUSED` is closed,
//! unreachable or a local firewall refusal is filtered. A connect that is
//! not answered in time is filtered (or retried, [`ScanConfig::retries`]
//! times). Errors are classified by errno, never by message text.
//!
//! # Why the timeout adapts
//!
//! On filtered ports the scan time is all timeouts, and the right timeout
//! depends on the network: a second is short for a satellite link and two
//! thousand round trips on a LAN. So, like nmap, each worker estimates the
//! round-trip time of every address from its answers (RFC 6298's `srtt` and
//! `rttvar`) and gives attempt `k` to it
//! `clamp((srtt + 4 rttvar) * 2^k, min_timeout, timeout)`. Before the
//! address has answered anything, a TCP attempt (connect or SYN) waits
//! what the answers of every address call for (nmap's group timing: on a
//! mostly silent range a dead address costs a few round trips of the live
//! ones), a UDP one `timeout`; once it answers, the attempts to it still
//! in flight get its own timeout, longer or shorter. Timeouts differ
//! between attempts, so each worker keeps its deadlines in a min-heap. Before
//! deadlines are expired, the worker takes what the poller holds already
//! (one `epoll_wait` without sleeping), so an answer that arrived while it
//! was busy decides its flight and is not taken for silence. Details, and
//! why the estimates are per worker: the `rtt` submodule.
//!
//! On loopback (and over a veth into a local namespace) the answer arrives
//! during the `connect()` call itself; the engine then asks `connect()` once
//! more and has the outcome without touching epoll, and reuses a refused
//! socket for the next probe (details in the `connect` submodule; the
//! `tcp` probe keeps the spare socket). This is
//! what makes a full loopback scan a matter of two syscalls per port.
//!
//! # Concurrency that adapts
//!
//! Connects in flight are what a scan over a slow path is made of: at
//! 100 ms round trip, 1000 in flight are 10000 probes a second at most.
//! So the shared in-flight budget is a window, like TCP's: it starts at
//! [`INITIAL_WINDOW`], grows by one per answer that came on a first
//! attempt (so it doubles per round trip while the path keeps answering),
//! up to [`ScanConfig::concurrency`] (and the descriptor limit), and
//! shrinks by an eighth per answer that came only on a retry (a lost
//! packet), never below where it started. Timeouts do not shrink it: a
//! dropped port and a lost packet look alike, and only the latter is
//! proven by a late answer. A first attempt that times out grows it by
//! one, as an answer does: silence is not loss, and on silent space
//! (most of a large range) the window would otherwise stay where it
//! started, a timeout's worth of probes at a time. With group timing
//! (TCP) a first attempt that waits longer than `min_timeout` (before the
//! scan's first answer it waits `timeout`) grows it once it has been
//! silent for `min_timeout`, without being given up any sooner: the
//! window then leaves its start in a few tenths of a second on silent
//! space instead of a second per doubling. On loopback, where answers come during the
//! `connect()` call, little is ever in flight and the window does not
//! matter.
//!
//! # Retries where packets get lost
//!
//! A port answering only on a retry proves an attempt was lost. Per
//! address, the share of such late answers estimates the loss, and the
//! ports of an address that shows loss get as many attempts as make
//! missing an answering port unlikely (up to 8); an address without late
//! answers gets exactly [`ScanConfig::retries`]. Details: the `loss`
//! submodule.
//!
//! # Host discovery
//!
//! With [`ScanConfig::discover_hosts`], the first probes of an address are
//! its discovery (its first port, 80 and 443, unreported) and its port
//! probes wait until it answers; an address that answers nothing is down
//! and its ports are never probed. A dead /24 then costs a few round trips
//! instead of a timeout per port. Details: the `discovery` submodule.
//!
//! Rate limiting ([`ScanConfig::rate`]) is one pacing schedule shared by all
//! workers (and service detection, and the UDP pass of the same
//! [`ConnectBudget`]), spacing connect starts by `1/rate` with a 2 ms
//! tolerance, so a low rate never bursts.
//!
//! # Things that are not what they look like
//!
//! - **Self-connect.** On loopback, a connect to a port nobody listens on
//!   may be given that very port as its ephemeral source port; the SYN meets
//!   its own socket (TCP simultaneous open) and the connect *succeeds*. A
//!   connection whose local address equals its peer address is therefore
//!   closed and probed again, never reported open.
//! - **Ready is not connected.** A socket the poller reports writable
//!   with no pending `SO_ERROR` may still not be connected: under ICMP
//!   rejects and loss, connects ended by an ICMP error were found in TCP
//!   state `CLOSE` with their errno no longer pending. Open is therefore
//!   reported only on evidence of the peer's SYN-ACK (a connection, a
//!   reset after the handshake, or `TCP_INFO` showing our SYN acknowledged, see the
//!   `connect` submodule); an attempt that ended without one is treated
//!   like a timeout. And a readiness event carries the slot's generation,
//!   so it reaches only the attempt it was registered for.
//! - **Resource errors are ours, not the target's.** `EADDRNOTAVAIL` (no
//!   ephemeral source port left), `EMFILE`/`ENFILE` (no descriptor),
//!   `ENOBUFS`/`ENOMEM` make the worker pause, hold its in-flight cap at what
//!   is in flight, and retry the same probe; they are never reported closed.
//!
//! # Why the file-descriptor cap and its reserve
//!
//! Each connect in flight holds a descriptor. Before scanning, the soft
//! `RLIMIT_NOFILE` is raised toward the hard limit as far as the requested
//! concurrency needs, and the concurrency is then capped at the soft limit
//! minus the descriptors already open minus [`crate::fdlimit::RESERVE`]. The
//! reserve keeps descriptors free for the rest of the process (the binary's
//! output, a resolver, a progress bar): running the table dry would make
//! *their* calls fail, not just ours. With `ulimit -n 64` a full scan is as
//! exact as with the default limit, only slower. [`Summary::concurrency`]
//! reports the cap actually used.
//!
//! # Why `SO_LINGER` 0 on open ports
//!
//! A normal close of a connection we opened leaves our end in `TIME_WAIT`
//! for a minute, holding its ephemeral port. A scan of a host with many open
//! ports (or a scan repeated in a loop) piles those up until `connect()`
//! fails with `EADDRNOTAVAIL`. Closing with `SO_LINGER` 0 sends a RST and
//! keeps no state; for a probe that only wanted to know whether the port
//! answers, nothing is lost. (Closed and filtered ports never reach an
//! established state, so they leave nothing behind anyway.)
//!
//! # Banners
//!
//! With [`ScanConfig::banner`] set, an open connection stays registered for
//! readability in the same poller for up to [`BannerConfig::wait`]; the
//! worker never blocks on it. The bytes are kept raw in
//! [`PortResult::banner`]: how to show them (lossy UTF-8 in JSON, escaped
//! for a terminal in the table) is the printers' job.
//!
//! # Delivery of results
//!
//! Each worker holds its results back briefly and hands them to the
//! [`Sink`] in bursts (at most 2048, and always before the worker sleeps
//! in its poller), so a caller that forwards them to a writer thread wakes
//! it once per burst rather than once per port.
//!
//! # Memory
//!
//! Per worker: a slab of in-flight connects, two deadline heaps (compacted
//! to stay proportional to the concurrency), the held-back results, and a
//! round-trip estimate per address probed (80 bytes each, at most
//! `rtt::MAX_HOSTS` of them per worker: a bounded table whatever the size
//! of the target space), and the addresses it knows to be up. Shared:
//! with host discovery, one entry per address and the probes parked for
//! addresses still being discovered (see the `discovery` submodule).
//! Nothing is kept per finished probe.

mod banner;
mod budget;
mod classify;
mod connect;
pub mod detection;
mod discovery;
mod engine;
pub mod evidence;
mod followup;
pub mod icmp_limit;
mod loss;
mod pacing;
mod rtt;
mod sizing;
mod slots;
mod syn;
mod syn_send;
mod tcp;
pub mod technique;
pub mod udp;
mod window;

pub use budget::{ConnectBudget, SynRate};
pub use classify::Reason;
pub use discovery::HostCounts;
pub use evidence::AfterHandshake;
pub use technique::Technique;

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum State {
    /// TCP: the connect succeeded. UDP: a datagram came back.
    Open,
    /// TCP: the connect was refused (RST). UDP: ICMP port unreachable.
    Closed,
    /// No answer within the timeout (TCP), or the host/network is
    /// unreachable, or a firewall refused the packet (TCP and UDP).
    Filtered,
    /// UDP only: nothing came back after every attempt. An open port whose
    /// service ignored the payload and a port behind a dropping firewall
    /// look the same (nmap's `open|filtered`).
    #[serde(rename = "open|filtered")]
    OpenFiltered,
}

impl State {
    /// The word nmap prints: `open`, `closed`, `filtered`,
    /// `open|filtered`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
            State::Filtered => "filtered",
            State::OpenFiltered => "open|filtered",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport protocol of a probe.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// A TCP connect.
    #[default]
    Tcp,
    /// A UDP datagram from a connected socket (the `udp` submodule).
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as nmap writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl Proto {
    /// The service usually found on `port` of this protocol
    /// ([`crate::port_names`]).
    pub fn service_name(self, port: u16) -> Option<&'static str> {
        match self {
            Proto::Tcp => crate::port_names::tcp_service(port),
            Proto::Udp => crate::port_names::udp_service(port),
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The target as the user wrote it (shared by all its probes).
    pub target: Arc<str>,
    /// The address to connect to.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
    /// TCP or UDP.
    pub proto: Proto,
}

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortResult {
    /// The target as the user wrote it.
    pub target: Arc<str>,
    /// The address probed.
    pub ip: IpAddr,
    /// The port probed.
    pub port: u16,
    /// The protocol probed.
    pub proto: Proto,
    /// How it was probed (a connect, a UDP datagram).
    pub technique: Technique,
    /// What was found.
    pub state: State,
    /// Why: the answer (or its absence) that decided `state`, in nmap's
    /// words.
    pub reason: Reason,
    /// Time from the connect() call to the answer (or the timeout).
    pub rtt: Duration,
    /// What the server said first, when banners were asked for (or,
    /// with service detection, the reply that identified the service; for
    /// UDP, the reply datagram): the raw bytes, capped in length. The
    /// printers decide how to show them ([`PortResult::banner_text`]).
    pub banner: Option<Vec<u8>>,
    /// The service detected from what the port said (`-sV`); `None` when
    /// detection was not asked for or the port is not open TCP.
    pub service: Option<Service>,
    /// What an open port did right after the handshake (connect scans;
    /// see [`evidence`]); `None` for other states and techniques.
    pub after_handshake: Option<AfterHandshake>,
    /// Whether the open port's host accepts every port, so that the open
    /// says nothing about a service (connect scans; see [`evidence`]);
    /// `None` when not checked.
    pub host_accepts_all: Option<bool>,
}

impl PortResult {
    /// The banner as text: lossy UTF-8 (invalid sequences become
    /// U+FFFD), control characters kept. Not escaped for a terminal.
    pub fn banner_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.banner.as_deref().map(String::from_utf8_lossy)
    }
}

/// Where a service name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceSource {
    /// A reply matched a signature (or no probe got one: `unknown`).
    Probe,
    /// No reply matched; the name is the port number's usual service.
    Table,
}

impl ServiceSource {
    /// `probe` or `table`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceSource::Probe => "probe",
            ServiceSource::Table => "table",
        }
    }
}

/// A service found by detection (`-sV`, the `detection` module). It is
/// defined here, beside the result that carries it, so that the
/// techniques (whose outcomes carry it too) and detection (a technique)
/// do not import each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// nmap-services name (`ssh`, `http`, `ssl`, ...), or `unknown`.
    pub name: &'static str,
    /// How the name was found.
    pub source: ServiceSource,
    /// The software, when a signature names it.
    pub product: Option<String>,
    /// Its version, when a signature gives it.
    pub version: Option<String>,
    /// Anything else the reply said (for TLS: protocol and certificate
    /// subject CN).
    pub info: Option<String>,
}

/// The consumer of a scan's results: it sees every result and can stop
/// the scan (ripgrep's `Sink`).
///
/// Called from worker threads, in completion order, in bursts (see the
/// module docs). Returning [`ControlFlow::Break`] from [`Sink::result`]
/// (the output is gone, a write failed) or `true` from
/// [`Sink::cancelled`] (a signal arrived) ends the scan early: workers
/// stop starting probes, close what is in flight without reporting it, and
/// [`run`] returns with [`Summary::stopped`] set. Results already handed
/// over stay handed over; none is reported twice.
pub trait Sink: Sync {
    /// One finished probe. `Break` stops the scan.
    fn result(&self, result: PortResult) -> ControlFlow<()>;
    /// Polled by every worker at least every [`CANCEL_POLL`]: `true` stops
    /// the scan. The default never cancels.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Any `Fn(PortResult)` is a sink that never stops the scan (tests and
/// simple callers).
impl<F: Fn(PortResult) + Sync> Sink for F {
    fn result(&self, result: PortResult) -> ControlFlow<()> {
        self(result);
        ControlFlow::Continue(())
    }
}

/// Connects in flight at the start of a scan (when
/// [`ScanConfig::concurrency`] allows that many); the window grows from
/// here while answers keep coming (see the module docs).
pub const INITIAL_WINDOW: usize = 1000;

/// Longest a worker sleeps in its poller before it asks
/// [`Sink::cancelled`] again, so a signal ends even a scan of silent
/// (filtered) ports promptly.
pub const CANCEL_POLL: Duration = Duration::from_millis(100);

/// Where the probes come from: an indexable, deterministic sequence, so the
/// engine can split it among workers without materialising it.
pub trait ProbeSource: Sync {
    /// Number of probes.
    fn len(&self) -> u64;
    /// True when there is nothing to probe.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The probe at `index` (`index < len()`).
    fn probe(&self, index: u64) -> Probe;
    /// The protocol of every probe of this source: a source is all TCP
    /// or all UDP. TCP unless overridden.
    fn proto(&self) -> Proto {
        Proto::Tcp
    }
    /// How every probe of this source is made ([`run`] hands the source
    /// to that technique's prober): by default, the technique that probes
    /// [`ProbeSource::proto`] without privileges.
    fn technique(&self) -> Technique {
        Technique::for_proto(self.proto())
    }
}

/// Banner grabbing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BannerConfig {
    /// How long to wait for the server to speak first.
    pub wait: Duration,
    /// Most bytes kept.
    pub max_len: usize,
}

/// How to scan (validated; built by the binary from its flags).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanConfig {
    /// Initial and maximum connect timeout per attempt: what an attempt
    /// waits before its address has answered anything, and the most any
    /// attempt waits (like nmap's `--initial-rtt-timeout` and
    /// `--max-rtt-timeout` together). See the module docs.
    pub timeout: Duration,
    /// Least connect timeout per attempt, however fast the address
    /// answers (nmap's `--min-rtt-timeout`). Lowered to `timeout` if above
    /// it; equal to `timeout`, every attempt waits exactly `timeout`.
    pub min_timeout: Duration,
    /// Most connects in flight across all workers: the ceiling of the
    /// adaptive window, which starts at [`INITIAL_WINDOW`] (capped further
    /// by the file-descriptor limit).
    pub concurrency: usize,
    /// Extra attempts for a port that came back filtered (TCP) or
    /// silent (UDP; a host that rations its ICMP may get more, see the
    /// `icmp_limit` submodule): the least any port gets; TCP addresses that
    /// show loss get more (see the module docs).
    pub retries: u32,
    /// Most connects started per second, across all workers.
    pub rate: Option<u32>,
    /// Read a banner from open ports.
    pub banner: Option<BannerConfig>,
    /// Find out which addresses are up, overlapped with the scan, and
    /// probe only those port by port (`false` is nmap's `-Pn`: every
    /// address is treated as up). See the `discovery` submodule.
    pub discover_hosts: bool,
    /// Give up on an address this long after its first probe: probes not
    /// yet started for it are dropped (nmap's `--host-timeout`).
    pub host_timeout: Option<Duration>,
}

/// Totals of a finished scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Ports found open.
    pub open: u64,
    /// Ports found closed.
    pub closed: u64,
    /// Ports found filtered.
    pub filtered: u64,
    /// UDP ports that never answered (`open|filtered`).
    pub open_filtered: u64,
    /// Addresses seen limiting their ICMP port-unreachable rate (UDP):
    /// their closed ports took paced retries to classify. At most
    /// [`icmp_limit::MAX_LISTED`] are listed.
    pub icmp_rate_limited: Vec<IpAddr>,
    /// Wall time of the scan.
    pub elapsed: Duration,
    /// The ceiling of connects in flight the engine used (the requested
    /// one after fd limits).
    pub concurrency: usize,
    /// The adaptive window when the scan ended (see the module docs).
    pub window: usize,
    /// Results handed to the sink (`open + closed + filtered +
    /// open_filtered`); less than
    /// the number of probes when the scan was stopped.
    pub reported: u64,
    /// The sink stopped the scan (or cancelled it) before every probe was
    /// reported.
    pub stopped: bool,
    /// Addresses up, down and timed out, when host discovery or a host
    /// timeout was on. The ports of a down address are not reported, so
    /// `reported` is then less than the number of probes.
    pub hosts: Option<HostCounts>,
}

impl Summary {
    /// Adds the totals of `other` (another protocol's pass of the same
    /// scan) to these: counts add up, times too (the passes run one after
    /// the other), the concurrency is the larger.
    pub fn absorb(&mut self, other: Summary) {
        self.open += other.open;
        self.closed += other.closed;
        self.filtered += other.filtered;
        self.open_filtered += other.open_filtered;
        for ip in other.icmp_rate_limited {
            if !self.icmp_rate_limited.contains(&ip)
                && self.icmp_rate_limited.len() < icmp_limit::MAX_LISTED
            {
                self.icmp_rate_limited.push(ip);
            }
        }
        self.elapsed += other.elapsed;
        self.concurrency = self.concurrency.max(other.concurrency);
        self.reported += other.reported;
        self.stopped |= other.stopped;
        // The same addresses in both passes: the first pass's counts stand.
        self.hosts = self.hosts.or(other.hosts);
    }
}

/// Why a scan could not run (individual probe failures are results, not
/// errors).
#[non_exhaustive]
#[derive(Debug)]
pub enum ScanError {
    /// The readiness poller or another OS resource could not be set up.
    Io(std::io::Error),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ScanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScanError::Io(e) => Some(e),
        }
    }
}

/// Probes every entry of `source` and hands each result to `sink` (from
/// worker threads, in completion order, exactly once per probe; all of
/// them before `run` returns), unless the sink stops the scan early (see
/// [`Sink`]). With [`ScanConfig::discover_hosts`], the probes of an
/// address found down (and those dropped by [`ScanConfig::host_timeout`])
/// are not reported; [`Summary::hosts`] counts those addresses.
///
/// The concurrency used is `cfg.concurrency`, lowered to fit the
/// descriptor limit (see the module docs); it is reported in
/// [`Summary::concurrency`].
///
/// # Errors
///
/// [`ScanError::Io`] when a poller cannot be created or fails mid-scan
/// (probes not yet reported then never are). Failures of single probes are
/// results, not errors.
pub fn run(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    sink: &dyn Sink,
) -> Result<Summary, ScanError> {
    let budget = ConnectBudget::new(cfg.concurrency, cfg.rate);
    run_with_budget(source, cfg, sink, &budget)
}

/// [`run`], drawing connects in flight and starts per second from
/// `budget` (which someone else, such as service detection, also draws
/// on) instead of from one made of `cfg.concurrency` and `cfg.rate`. The
/// scan lowers the budget's ceiling to fit the descriptor limit.
///
/// # Errors
///
/// As [`run`].
pub fn run_with_budget(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    sink: &dyn Sink,
    budget: &ConnectBudget,
) -> Result<Summary, ScanError> {
    match source.technique() {
        Technique::Connect => {
            let table = Arc::new(evidence::HostTable::default());
            run_prober(source, cfg, sink, budget, &|| {
                evidence::HostCheck::new(tcp::TcpConnect::new(cfg.banner), Arc::clone(&table))
            })
        }
        Technique::Udp => run_prober(source, cfg, sink, budget, &|| {
            udp::UdpProbe::new(cfg.banner)
        }),
        // No descriptor per probe: `budget` does not apply, `cfg.rate`
        // caps its packet rate.
        Technique::Syn => {
            let rate = SynRate {
                min: None,
                max: cfg.rate,
            };
            run_syn(source, cfg, rate, None, sink, budget)
        }
    }
}

/// A SYN scan (`-sS`) of `source`'s TCP probes on raw sockets, whatever
/// technique the source names, at a packet rate that adapts within
/// `rate` (see the `pacing` module); with `service` (`-sV`), the open
/// ports are then identified by detection sessions drawing on `budget`
/// and reported from there (see the `followup` module).
///
/// # Errors
///
/// [`ScanError::Io`] when the raw sockets cannot be opened (`EPERM`
/// without `CAP_NET_RAW`) or fail mid-scan; as [`run`] otherwise.
pub fn run_syn(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    rate: SynRate,
    service: Option<&detection::ServiceConfig>,
    sink: &dyn Sink,
    budget: &ConnectBudget,
) -> Result<Summary, ScanError> {
    let first = |sink: &dyn Sink| {
        let prober = syn::SynProber::for_source(source).map_err(ScanError::Io)?;
        let prober = std::sync::Mutex::new(Some(prober));
        let packets = ConnectBudget::for_packets(syn::MAX_IN_FLIGHT, rate);
        // One worker (`SynProber::MAX_WORKERS`) takes the one prober.
        let take = || {
            let mut slot = prober.lock().unwrap_or_else(|e| e.into_inner());
            slot.take().expect("one worker for the SYN prober")
        };
        run_prober(source, cfg, sink, &packets, &take)
    };
    let Some(service) = service else {
        return first(sink);
    };
    followup::detect_open_after(cfg, sink, first, |open, cfg, sink| {
        run_with_detection(open, cfg, service, sink, budget)
    })
}

/// [`run_with_budget`] with service detection (`-sV`): the open TCP ports
/// are identified by sessions of the same engine before they are
/// reported (see [`detection`]). A UDP source is scanned as without it.
///
/// # Errors
///
/// As [`run`].
pub fn run_with_detection(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    service: &detection::ServiceConfig,
    sink: &dyn Sink,
    budget: &ConnectBudget,
) -> Result<Summary, ScanError> {
    match source.technique() {
        Technique::Connect => {
            let table = Arc::new(evidence::HostTable::default());
            run_prober(source, cfg, sink, budget, &|| {
                let detect =
                    detection::session::Detect::new(tcp::TcpConnect::new(cfg.banner), *service);
                evidence::HostCheck::new(detect, Arc::clone(&table))
            })
        }
        _ => run_with_budget(source, cfg, sink, budget),
    }
}

/// Runs the engine's workers over `source`, each with a prober `make`
/// builds, and adds up their totals.
pub(crate) fn run_prober<P>(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    sink: &dyn Sink,
    budget: &ConnectBudget,
    make: &(dyn Fn() -> P + Sync),
) -> Result<Summary, ScanError>
where
    P: technique::Prober + Send,
{
    let started = Instant::now();
    let (pollers, concurrency) = if P::HOLDS_DESCRIPTORS {
        set_up(source.len(), cfg.concurrency, P::MAX_WORKERS)?
    } else {
        set_up_shared(source.len(), budget.permits.max(), P::MAX_WORKERS)?
    };
    budget.permits.cap(concurrency);
    let shared = engine::Shared {
        source,
        cfg,
        sink,
        cursor: AtomicU64::new(0),
        batch: sizing::batch_size(concurrency / pollers.len()),
        permits: &budget.permits,
        rate: budget.rate.as_ref(),
        stop: AtomicBool::new(false),
        stopped: AtomicBool::new(false),
        hand_over: std::sync::Mutex::new(()),
        hosts: discovery::HostTable::new(cfg.discover_hosts, cfg.host_timeout).with_echo(P::ECHO),
    };
    let results: Vec<_> = pollers
        .into_par_iter()
        .with_max_len(1)
        .map(|poller| {
            let r = engine::Worker::new(&shared, poller, make()).and_then(engine::Worker::run);
            if r.is_err() {
                shared.stop.store(true, Ordering::Relaxed);
            }
            r
        })
        .collect();
    let mut summary = summarize(results, concurrency, started)?;
    summary.stopped = shared.stopped.load(Ordering::Relaxed);
    if !shared.hosts.is_idle() {
        summary.hosts = Some(shared.hosts.counts());
    }
    summary.window = shared.permits.window();
    Ok(summary)
}

/// Raises the descriptor limit, creates one poller per worker, and returns
/// them with the total concurrency the descriptor budget allows.
fn set_up(
    probes: u64,
    wanted: usize,
    max_workers: Option<usize>,
) -> Result<(Vec<polling::Poller>, usize), ScanError> {
    let wanted = wanted.max(1);
    let threads = rayon::current_num_threads().min(max_workers.unwrap_or(usize::MAX));
    let workers = sizing::worker_count(threads, wanted, probes);
    let open = crate::fdlimit::open_fd_count().map_err(ScanError::Io)?;
    let need =
        open + crate::fdlimit::RESERVE + sizing::FDS_PER_POLLER * workers as u64 + wanted as u64;
    let limit = crate::fdlimit::raise_soft_limit(need).map_err(ScanError::Io)?;
    let mut pollers = (0..workers)
        .map(|_| polling::Poller::new())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(ScanError::Io)?;
    // Counted again now that the pollers hold their descriptors.
    let open = crate::fdlimit::open_fd_count().map_err(ScanError::Io)?;
    let spares = sizing::SPARES_PER_WORKER * pollers.len() as u64;
    let budget = crate::fdlimit::connect_budget(limit, open + spares, crate::fdlimit::RESERVE);
    let concurrency = sizing::total_concurrency(wanted, budget);
    pollers.truncate(concurrency);
    Ok((pollers, concurrency))
}

/// [`set_up`] for flights that hold no descriptor: the pollers, and the
/// window the budget allows as it is.
fn set_up_shared(
    probes: u64,
    window: usize,
    max_workers: Option<usize>,
) -> Result<(Vec<polling::Poller>, usize), ScanError> {
    let threads = rayon::current_num_threads().min(max_workers.unwrap_or(usize::MAX));
    let workers = sizing::worker_count(threads, window, probes);
    let pollers = (0..workers)
        .map(|_| polling::Poller::new())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(ScanError::Io)?;
    Ok((pollers, window))
}

/// Adds up the workers' counts, or returns the first worker's error.
fn summarize(
    results: Vec<std::io::Result<engine::Counts>>,
    concurrency: usize,
    started: Instant,
) -> Result<Summary, ScanError> {
    let mut summary = Summary {
        concurrency,
        ..Summary::default()
    };
    for counts in results {
        let counts = counts.map_err(ScanError::Io)?;
        summary.open += counts.open;
        summary.closed += counts.closed;
        summary.filtered += counts.filtered;
        summary.open_filtered += counts.open_filtered;
        for ip in counts.icmp_rate_limited {
            if !summary.icmp_rate_limited.contains(&ip)
                && summary.icmp_rate_limited.len() < icmp_limit::MAX_LISTED
            {
                summary.icmp_rate_limited.push(ip);
            }
        }
    }
    summary.reported = summary.open + summary.closed + summary.filtered + summary.open_filtered;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_banner(banner: Option<&[u8]>) -> PortResult {
        PortResult {
            target: std::sync::Arc::from("t"),
            ip: IpAddr::from([127, 0, 0, 1]),
            port: 22,
            state: State::Open,
            reason: Reason::SynAck,
            rtt: Duration::ZERO,
            banner: banner.map(<[u8]>::to_vec),
            proto: Proto::Tcp,
            technique: Technique::Connect,
            service: None,
            after_handshake: None,
            host_accepts_all: None,
        }
    }

    #[test]
    fn banner_bytes_stay_raw_and_read_as_lossy_unstripped_text() {
        assert_eq!(with_banner(None).banner_text(), None);
        let r = with_banner(Some(b"220 hi\r\n\x1b[2J"));
        assert_eq!(r.banner_text().unwrap(), "220 hi\r\n\x1b[2J");
        let r = with_banner(Some(&[b'a', 0xff, b'b']));
        assert_eq!(r.banner.as_deref(), Some(&[b'a', 0xff, b'b'][..]));
        assert_eq!(r.banner_text().unwrap(), "a\u{fffd}b");
    }
}
