//! Service detection (`-sV`) as a stage between the engine and the sink:
//! open TCP ports are identified by what they say, on a small pool of
//! threads, while the scan goes on.
//!
//! # Why a stage, and why threads
//!
//! What to send and how to read the replies is [`crate::detect`]'s; this
//! module only drives it. Detection talks to few ports (the open ones) for
//! seconds each (a silent service costs one wait per probe), so it runs
//! beside the scan rather than inside the engine's loop: [`with_detection`]
//! wraps the caller's sink, passes every other result straight through,
//! and queues open TCP ports to [`ServiceConfig::parallel`] threads, each
//! running the probe sequence on fresh blocking connections bounded by
//! [`ServiceConfig::connect_timeout`], the probes' own waits and byte caps,
//! and [`ServiceConfig::port_budget`]. A full queue makes the engine's
//! worker wait, so memory stays bounded.
//!
//! # Why probes draw on the scan's budget
//!
//! `-c` and `--rate` are promises to the target about the whole scan, and
//! a probe connection is a connection. So every probe connect first takes
//! a permit from the scan's in-flight window and then a slot of its rate
//! schedule, both from the [`ConnectBudget`] the engine's workers draw on
//! (see [`super::run_with_budget`]), and gives the permit back once the
//! connection is closed. A detector waits for its turn rather than skip
//! the port. It takes a permit over the window only when the engine is
//! itself waiting on a full detection queue: the engine's connects in
//! flight may then hold the whole window, and nobody could move (the
//! `budget` submodule has the details).
//!
//! Results with a detected service reach the sink later than the others
//! (after their probes); a sink that stops the scan stops detection too,
//! and cancellation makes the remaining open ports pass through undetected.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::budget::Permit;
use super::{ConnectBudget, PortResult, Proto, Sink, State};
use crate::detect::{identify, settled, Identified, Session};

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

/// A service found by detection.
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

/// Settings of the detection stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Ports identified at once.
    pub parallel: usize,
    /// Most time one probe connection may take to connect.
    pub connect_timeout: Duration,
    /// Most time spent on one port, all probes together.
    pub port_budget: Duration,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            parallel: 32,
            connect_timeout: Duration::from_secs(2),
            port_budget: Duration::from_secs(30),
        }
    }
}

/// Most reply bytes kept as the banner of a detected port.
pub const BANNER_MAX: usize = 256;

/// Runs `scan` with a sink that detects the service of every open TCP
/// port before handing it to `sink`; returns what `scan` returned, after
/// every queued port has been handed on. Probe connects draw on `budget`,
/// which `scan` should hand to [`super::run_with_budget`].
pub fn with_detection<R>(
    cfg: &ServiceConfig,
    budget: &ConnectBudget,
    sink: &dyn Sink,
    scan: impl FnOnce(&dyn Sink) -> R,
) -> R {
    let (tx, rx) = sync_channel::<PortResult>(cfg.parallel.max(1) * 4);
    let rx = Mutex::new(rx);
    let stopped = AtomicBool::new(false);
    let blocked = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..cfg.parallel.max(1) {
            let turns = Turns {
                budget,
                blocked: &blocked,
                stopped: &stopped,
                sink,
            };
            let (rx, stopped) = (&rx, &stopped);
            s.spawn(move || detector(cfg, rx, sink, stopped, turns));
        }
        let stage = Stage {
            tx,
            inner: sink,
            stopped: &stopped,
            blocked: &blocked,
        };
        scan(&stage)
        // `stage` (the only sender) drops here: detectors drain and end.
    })
}

/// The wrapped sink.
struct Stage<'a> {
    tx: SyncSender<PortResult>,
    inner: &'a dyn Sink,
    stopped: &'a AtomicBool,
    /// Engine threads waiting on a full queue.
    blocked: &'a AtomicUsize,
}

impl Sink for Stage<'_> {
    fn result(&self, r: PortResult) -> ControlFlow<()> {
        if self.stopped.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        if r.proto == Proto::Tcp && r.state == State::Open {
            let sent = match self.tx.try_send(r) {
                Err(TrySendError::Full(r)) => {
                    self.blocked.fetch_add(1, Ordering::AcqRel);
                    let sent = self.tx.send(r).is_ok();
                    self.blocked.fetch_sub(1, Ordering::AcqRel);
                    sent
                }
                sent => sent.is_ok(),
            };
            return if sent {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            };
        }
        self.inner.result(r)
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

/// A detector's way to its turn to connect: the scan's budget, and when
/// to go ahead without a permit or give up (see the module docs).
struct Turns<'a> {
    budget: &'a ConnectBudget,
    blocked: &'a AtomicUsize,
    stopped: &'a AtomicBool,
    sink: &'a dyn Sink,
}

impl Turns<'_> {
    fn take(&self) -> Option<Permit<'_>> {
        self.budget
            .acquire(&|| self.blocked.load(Ordering::Acquire) > 0, &|| {
                self.stopped.load(Ordering::Relaxed) || self.sink.cancelled()
            })
    }
}

/// One detection thread: takes open ports until the stage is gone.
fn detector(
    cfg: &ServiceConfig,
    rx: &Mutex<Receiver<PortResult>>,
    sink: &dyn Sink,
    stopped: &AtomicBool,
    turns: Turns<'_>,
) {
    loop {
        let next = rx.lock().map(|rx| rx.recv());
        let Ok(Ok(mut r)) = next else {
            return;
        };
        if stopped.load(Ordering::Relaxed) {
            continue;
        }
        if !sink.cancelled() {
            let addr = SocketAddr::new(r.ip, r.port);
            let (found, reply) = probe_port(addr, cfg, &|| turns.take());
            r.service = Some(service_of(found, r.port));
            if r.banner.is_none() {
                r.banner = reply.map(|mut b| {
                    b.truncate(BANNER_MAX);
                    b
                });
            }
        }
        if sink.result(r).is_break() {
            stopped.store(true, Ordering::Relaxed);
        }
    }
}

/// The service to report: the detected one, else the port's usual name.
fn service_of(found: Identified, port: u16) -> Service {
    if found.probe.is_none() {
        if let Some(name) = crate::services::tcp_service(port) {
            return Service {
                name,
                source: ServiceSource::Table,
                product: None,
                version: None,
                info: None,
            };
        }
    }
    let mut info = found.details.info;
    if let Some(tls) = &found.details.tls {
        let parts: Vec<String> = tls
            .version
            .map(str::to_string)
            .into_iter()
            .chain(tls.subject_cn.as_ref().map(|cn| format!("CN={cn}")))
            .collect();
        if !parts.is_empty() {
            info = Some(parts.join(", "));
        }
    }
    Service {
        name: found.name,
        source: ServiceSource::Probe,
        product: found.details.product,
        version: found.details.version,
        info,
    }
}

/// Runs the probe sequence against `addr`, each probe on a fresh
/// connection drawn from `budget` (waiting for a permit and a rate slot),
/// until a reply is identified or [`ServiceConfig::port_budget`] is spent.
/// Returns the verdict and the reply to keep as the banner (the greeting,
/// or the identifying reply of a text protocol).
pub fn detect(
    addr: SocketAddr,
    cfg: &ServiceConfig,
    budget: &ConnectBudget,
) -> (Identified, Option<Vec<u8>>) {
    probe_port(addr, cfg, &|| budget.acquire(&|| false, &|| false))
}

/// [`detect`], taking each connect's turn from `turn` (`None`: stop).
fn probe_port<'b>(
    addr: SocketAddr,
    cfg: &ServiceConfig,
    turn: &dyn Fn() -> Option<Permit<'b>>,
) -> (Identified, Option<Vec<u8>>) {
    let deadline = Instant::now() + cfg.port_budget;
    let mut session = Session::new(addr.port());
    let mut banner = None;
    while let Some(probe) = session.next_probe() {
        // Declared before the connection, so dropped after it is closed.
        let Some(_permit) = turn() else {
            break;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Ok(mut conn) = TcpStream::connect_timeout(&addr, cfg.connect_timeout.min(left)) else {
            continue;
        };
        // A reset instead of TIME_WAIT, as for the scan's own connects.
        let _ = socket2::SockRef::from(&conn).set_linger(Some(Duration::ZERO));
        if !probe.payload.is_empty() && conn.write_all(&probe.payload).is_err() {
            continue;
        }
        let reply = read_reply(&mut conn, probe, deadline);
        let text = looks_like_text(&reply);
        if let Some(found) = identify(probe, &reply) {
            return (found, if text { Some(reply) } else { banner });
        }
        if text && banner.is_none() {
            banner = Some(reply);
        }
    }
    (Identified::unknown(), banner)
}

/// True when `reply` starts like a text protocol's (a greeting, an HTTP
/// head, an error line), not a binary record: worth keeping as a banner.
fn looks_like_text(reply: &[u8]) -> bool {
    let head = &reply[..reply.len().min(64)];
    !head.is_empty()
        && head
            .iter()
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n' || b == b'\t')
}

/// Reads the reply to `probe`: until EOF, `probe.wait` (or `deadline`),
/// `probe.max_reply` bytes, or [`settled`].
fn read_reply(conn: &mut TcpStream, probe: &crate::detect::Probe, deadline: Instant) -> Vec<u8> {
    let until = deadline.min(Instant::now() + probe.wait);
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
        }
        if settled(probe, &reply) {
            break;
        }
    }
    reply.truncate(probe.max_reply);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::Arc;

    #[test]
    fn text_replies_are_kept_binary_ones_not() {
        assert!(looks_like_text(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(!looks_like_text(&[0x16, 0x03, 0x03, 0x00, 0x4a]));
        assert!(!looks_like_text(b""));
    }

    #[test]
    fn a_greeting_on_an_odd_port_is_identified_by_content() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").unwrap();
            let _ = c.read(&mut [0u8; 64]);
        });
        let budget = ConnectBudget::new(1, None);
        let (found, banner) = detect(addr, &ServiceConfig::default(), &budget);
        server.join().unwrap();
        assert_eq!(found.name, "ssh");
        assert_eq!(found.details.version.as_deref(), Some("9.2p1"));
        assert!(banner.unwrap().starts_with(b"SSH-2.0-"));
    }

    #[test]
    fn an_engine_waiting_on_a_full_queue_with_the_budget_held_still_finishes() {
        const PORTS: usize = 6;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for _ in 0..PORTS {
                let (mut c, _) = listener.accept().unwrap();
                c.write_all(b"220 mail.example ESMTP Postfix\r\n").unwrap();
                let _ = c.read(&mut [0u8; 64]);
            }
        });
        let cfg = ServiceConfig {
            parallel: 1,
            ..ServiceConfig::default()
        };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let budget = ConnectBudget::new(1, None);
            let count = AtomicUsize::new(0);
            let collect = |_: PortResult| {
                count.fetch_add(1, Ordering::Relaxed);
            };
            with_detection(&cfg, &budget, &collect, |sink| {
                // The engine holds the only permit while it hands over
                // more open ports than the queue takes (4 per detector).
                assert!(budget.permits.try_take());
                for _ in 0..PORTS {
                    let _ = sink.result(open_result(addr));
                }
                budget.permits.give_back(1);
            });
            let _ = done_tx.send(count.into_inner());
        });
        let seen = done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("detection and the engine waited for each other");
        server.join().unwrap();
        assert_eq!(seen, PORTS);
    }

    fn open_result(addr: SocketAddr) -> PortResult {
        PortResult {
            target: Arc::from("t"),
            ip: addr.ip(),
            port: addr.port(),
            proto: Proto::Tcp,
            technique: super::super::Technique::Connect,
            state: State::Open,
            reason: super::super::Reason::SynAck,
            rtt: Duration::ZERO,
            banner: None,
            service: None,
        }
    }

    #[test]
    fn the_stage_passes_other_results_and_detects_open_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.write_all(b"220 mail.example ESMTP Postfix\r\n").unwrap();
            let _ = c.read(&mut [0u8; 64]);
        });
        let seen = Mutex::new(Vec::new());
        let collect = |r: PortResult| seen.lock().unwrap().push(r);
        let result = |port, state| PortResult {
            target: Arc::from("t"),
            ip: addr.ip(),
            port,
            proto: Proto::Tcp,
            technique: super::super::Technique::Connect,
            state,
            reason: super::super::Reason::SynAck,
            rtt: Duration::ZERO,
            banner: None,
            service: None,
        };
        let budget = ConnectBudget::new(1, None);
        with_detection(&ServiceConfig::default(), &budget, &collect, |sink| {
            let _ = sink.result(result(addr.port(), State::Open));
            let _ = sink.result(result(1, State::Closed));
        });
        server.join().unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 2);
        let open = seen.iter().find(|r| r.state == State::Open).unwrap();
        let service = open.service.as_ref().unwrap();
        assert_eq!(
            (service.name, service.source),
            ("smtp", ServiceSource::Probe)
        );
        assert!(seen
            .iter()
            .any(|r| r.state == State::Closed && r.service.is_none()));
    }
}
