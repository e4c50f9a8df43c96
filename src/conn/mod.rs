//! The connection layer: everything between "talk HTTP to this origin" and
//! a byte stream to talk on, as a chain of filters the way curl's
//! `lib/cfilters.h` builds one, with a pool of kept-alive connections
//! beside it (curl's connection cache).
//!
//! [`connect`] builds the chain for a [`Plan`] (the origin, and the proxy
//! chosen for it by [`proxy::ProxyConfig`]), bottom up:
//!
//! 1. **socket** ([`socket`]): resolve the first hop (the proxy, or the
//!    origin after `--connect-to`/`--resolve`), happy eyeballs over its
//!    addresses with every socket bound as `--interface`/`--local-port`
//!    say; or a Unix socket (`--unix-socket`).
//! 2. **proxy TLS**: for an `https://` proxy, TLS to the proxy.
//! 3. **tunnel**: for a tunnel through an HTTP proxy, CONNECT
//!    ([`tunnel`]); through a SOCKS5 proxy, its handshake ([`socks`]).
//! 4. **TLS** to the origin for `https://`, over whatever is below.
//!
//! The top of the chain is a [`Connection`]: a [`Transport`] with an id
//! (curl's `conn_id`, counted from 0 in the process) and what it is (peer,
//! TLS, proxy). A plain `http://` URL through an HTTP proxy without `-p`
//! gets no tunnel: the connection goes to the proxy and the exchange sends
//! absolute-form requests on it ([`Plan::forward`]).
//!
//! What it reports, for `-v` and for timing: every step as an [`Event`]
//! with its time since the caller's start, each connect attempt as an
//! [`Attempt`] (address, start, duration, outcome, failures included) and
//! each phase's end in [`Timing`], gathered in a [`Report`] that the
//! caller keeps even when connecting fails.
//!
//! [`pool::Pool`] keeps idle connections by [`Key`]; the exchange decides
//! whether its connection may go back (framing and `Connection: close`),
//! the pool whether a kept one is still alive.
//!
//! What this layer must not do: print, know HTTP beyond the CONNECT
//! request, or decide time limits (the caller gives a deadline).

pub(crate) mod io;
pub mod pool;
pub mod proxy;
pub mod socket;
pub mod socks;
pub mod tunnel;

use std::fmt;
use std::io as stdio;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::http::route::Routes;
use crate::http::tls::{self, TlsError, TlsInfo, TlsSetup, TlsStep};
use crate::http::transport::{Plain, Transport};
use crate::resolve::{self, Family, ResolveError};
use crate::sock::{self, Bind};

pub use pool::{Key, Pool};
pub use proxy::{Proxy, ProxyConfig, ProxyKind};
use socket::DialError;
pub use socks::{SocksError, SocksStep, SocksTarget};
pub use tunnel::TunnelError;

/// Where the HTTP messages go: scheme, host and port of the URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https://` (TLS to the origin).
    pub tls: bool,
    /// Host name (lower case) or address literal, without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// What chain to build for one origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The origin.
    pub origin: Origin,
    /// The proxy, if one is used.
    pub proxy: Option<Proxy>,
    /// Through an HTTP proxy: a CONNECT tunnel (always for `https://`,
    /// with `-p` for `http://`); false for absolute-form requests. SOCKS
    /// is always a tunnel.
    pub tunnel: bool,
}

impl Plan {
    /// The plan for `origin` through `proxy`; `tunnel_http` is `-p`.
    pub fn new(origin: Origin, proxy: Option<Proxy>, tunnel_http: bool) -> Plan {
        let tunnel = match &proxy {
            None => false,
            Some(p) if p.kind.is_http() => origin.tls || tunnel_http,
            Some(_) => true,
        };
        Plan {
            origin,
            proxy,
            tunnel,
        }
    }

    /// True when requests go to an HTTP proxy in absolute form (plain
    /// `http://` without `-p`): the proxy, not a tunnel, forwards them.
    pub fn forward(&self) -> bool {
        self.proxy.is_some() && !self.tunnel
    }

    /// The pool key: a forwarding proxy connection serves any `http://`
    /// origin, every other connection its own origin only.
    pub fn key(&self) -> Key {
        Key::new(
            (!self.forward()).then(|| self.origin.clone()),
            self.proxy.clone(),
        )
    }
}

/// The connection settings of a run, borrowed from its options.
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    /// Which address families to use.
    pub family: Family,
    /// Bound on connecting: every filter of the chain, TLS included.
    pub connect_timeout: Option<Duration>,
    /// `--connect-to` and `--resolve`, for the origin (not a proxy).
    pub routes: &'a Routes,
    /// Whom to trust for the origin.
    pub tls: &'a TlsSetup,
    /// Whom to trust for an `https://` proxy.
    pub proxy_tls: &'a TlsSetup,
    /// How sockets are made.
    pub socket: &'a SocketOptions,
}

/// How the socket filter makes its socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// `--interface` and `--local-port`.
    pub bind: Bind,
    /// `--unix-socket`: connect to this socket file instead of the first
    /// hop's address (the URL still names the host).
    pub unix_socket: Option<PathBuf>,
}

/// The clock of one exchange: every time reported counts from `start`.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    /// When the exchange started.
    pub start: Instant,
    /// When everything must be over (`None`: no limit).
    pub deadline: Option<Instant>,
}

impl Clock {
    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A step of connecting, reported as it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Looking up the first hop's name.
    Resolving {
        /// The name.
        host: &'a str,
    },
    /// The addresses, in the order the resolver gave them.
    Resolved {
        /// The addresses.
        addrs: &'a [IpAddr],
    },
    /// An attempt starts: `socket()` + `connect()`.
    Connecting {
        /// The address.
        addr: SocketAddr,
        /// Earlier attempts still unanswered (happy eyeballs races them).
        racing: usize,
    },
    /// Another attempt won: this one is closed.
    ConnectAbandoned {
        /// The address.
        addr: SocketAddr,
        /// How long it had run.
        after: Duration,
    },
    /// The attempt failed.
    ConnectFailed {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: &'a stdio::Error,
        /// How long it took.
        after: Duration,
    },
    /// The attempt connected.
    Connected {
        /// Our end.
        local: Option<SocketAddr>,
        /// Their end.
        peer: SocketAddr,
        /// How long the attempt took.
        after: Duration,
    },
    /// Connected to a Unix socket (`--unix-socket`).
    UnixConnected {
        /// Its path.
        path: &'a Path,
    },
    /// A proxy step.
    Proxy(ProxyStep<'a>),
    /// A step of the TLS handshake with the origin.
    Tls(TlsStep<'a>),
}

/// A step through a proxy.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyStep<'a> {
    /// The proxy this connection goes through (no credentials shown).
    Via {
        /// The proxy.
        proxy: &'a Proxy,
        /// A tunnel (CONNECT or SOCKS), or absolute-form requests.
        tunnel: bool,
    },
    /// A step of the TLS handshake with an `https://` proxy.
    Tls(TlsStep<'a>),
    /// The CONNECT request went out.
    ConnectSent {
        /// The request head.
        request: &'a [u8],
    },
    /// The proxy answered CONNECT.
    ConnectReply {
        /// Status.
        status: u16,
        /// Reason phrase.
        reason: &'a str,
    },
    /// A step of the SOCKS5 handshake.
    Socks(SocksStep<'a>),
    /// The tunnel to the origin is open.
    TunnelReady {
        /// The origin host.
        host: &'a str,
        /// The origin port.
        port: u16,
    },
}

/// How a connect attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// Still running (only while connecting).
    Pending,
    /// It won.
    Connected,
    /// Another attempt won first; this one was closed.
    Abandoned,
    /// The deadline passed while it was running.
    TimedOut,
    /// It failed.
    Failed {
        /// The OS error number, when there is one.
        errno: Option<i32>,
        /// The error, as the OS words it.
        message: String,
    },
}

impl AttemptOutcome {
    fn failed(e: &stdio::Error) -> AttemptOutcome {
        AttemptOutcome::Failed {
            errno: e.raw_os_error(),
            message: e.to_string(),
        }
    }
}

/// One connect attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The address tried.
    pub addr: SocketAddr,
    /// When it started, since the exchange's start.
    pub started: Duration,
    /// How long it ran.
    pub duration: Duration,
    /// How it ended.
    pub outcome: AttemptOutcome,
}

impl Attempt {
    fn started(addr: SocketAddr, at: Duration) -> Attempt {
        Attempt {
            addr,
            started: at,
            duration: Duration::ZERO,
            outcome: AttemptOutcome::Pending,
        }
    }

    fn end(&mut self, at: Duration, outcome: AttemptOutcome) {
        self.duration = at.saturating_sub(self.started);
        self.outcome = outcome;
    }
}

/// When each phase of connecting ended, since the exchange's start
/// (curl's `time_namelookup`, `time_connect`, `time_appconnect`, with the
/// proxy's own step between the last two).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// The first hop's name was resolved.
    pub dns: Option<Duration>,
    /// The socket to the first hop connected.
    pub connect: Option<Duration>,
    /// The proxy's part was done: its TLS, and the tunnel if any.
    pub proxy: Option<Duration>,
    /// The TLS handshake with the origin completed.
    pub tls: Option<Duration>,
}

/// Everything learned while connecting, kept even when it failed.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Each connect attempt, in the order started.
    pub attempts: Vec<Attempt>,
    /// When each phase ended.
    pub timing: Timing,
    /// The first hop's address connected to (or last tried).
    pub peer: Option<SocketAddr>,
    /// Our end of the socket.
    pub local: Option<SocketAddr>,
    /// The origin's TLS handshake, when there was one (also when it failed
    /// after the certificates were seen).
    pub tls: Option<TlsInfo>,
    /// The `https://` proxy's TLS handshake.
    pub proxy_tls: Option<TlsInfo>,
}

/// Which phase ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Resolving the first hop.
    Resolve,
    /// Connecting the socket.
    Connect,
    /// The proxy's TLS, CONNECT or SOCKS handshake.
    Proxy,
    /// The TLS handshake with the origin.
    Tls,
}

/// Why a connection could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The origin's name gave no address (curl exit 6).
    Resolve(ResolveError),
    /// No address of the origin accepted (curl exit 7).
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Its OS error.
        source: stdio::Error,
    },
    /// The `--unix-socket` connect failed (curl exit 7).
    Unix {
        /// The socket file.
        path: PathBuf,
        /// The OS error.
        source: stdio::Error,
    },
    /// `--interface` or `--local-port` could not be applied (curl exit 45).
    Bind(stdio::Error),
    /// A time limit passed.
    Timeout(Phase),
    /// TLS with the origin failed.
    Tls(TlsError),
    /// The proxy could not be used.
    Proxy(ProxyError),
}

/// What went wrong with the proxy.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy string is unusable (curl exit 7 for the scheme, 5 for a
    /// malformed one).
    Spec(proxy::ProxySpecError),
    /// The proxy's name gave no address (curl exit 5).
    Resolve(ResolveError),
    /// No address of the proxy accepted (curl exit 7).
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Its OS error.
        source: stdio::Error,
    },
    /// TLS with an `https://` proxy failed.
    Tls(TlsError),
    /// The CONNECT tunnel failed (curl exit 56).
    Tunnel(TunnelError),
    /// The SOCKS5 handshake failed (curl exit 97).
    Socks(SocksError),
    /// `socks5://` resolves the origin here, and that failed (curl exit 6).
    ResolveOrigin(ResolveError),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Spec(e) => e.fmt(f),
            ProxyError::Resolve(e) => write!(f, "cannot resolve the proxy: {e}"),
            ProxyError::Connect { addr, source } => {
                write!(f, "failed to connect to the proxy at {addr}: {source}")
            }
            ProxyError::Tls(e) => write!(f, "proxy: {e}"),
            ProxyError::Tunnel(e) => e.fmt(f),
            ProxyError::Socks(e) => e.fmt(f),
            ProxyError::ResolveOrigin(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ProxyError {}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve(e) => e.fmt(f),
            ConnectError::Connect { addr, source } => {
                write!(f, "failed to connect to {addr}: {source}")
            }
            ConnectError::Unix { path, source } => {
                write!(
                    f,
                    "failed to connect to the Unix socket {}: {source}",
                    path.display()
                )
            }
            ConnectError::Bind(e) => write!(f, "cannot bind the local end: {e}"),
            ConnectError::Timeout(p) => write!(f, "timed out in phase {p:?}"),
            ConnectError::Tls(e) => e.fmt(f),
            ConnectError::Proxy(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ConnectError {}

/// What the other end of a connection is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A TCP peer (the proxy, when there is one).
    Tcp(SocketAddr),
    /// A Unix socket file.
    Unix(PathBuf),
}

/// The top of a built chain: the byte stream, and what it is.
pub struct Connection {
    id: u64,
    transport: Box<dyn Transport>,
    /// The first hop.
    pub peer: Peer,
    /// Our end (none for a Unix socket).
    pub local: Option<SocketAddr>,
    /// The origin's TLS, for `https://`.
    pub tls: Option<TlsInfo>,
    /// The proxy it goes through.
    pub proxy: Option<Proxy>,
    served: u32,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("peer", &self.peer)
            .field("served", &self.served)
            .finish_non_exhaustive()
    }
}

/// The next connection id: curl's `conn_id`, 0 for the process's first.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Connection {
    /// Its id, unique in the process (curl's `conn_id`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How many exchanges it completed.
    pub fn served(&self) -> u32 {
        self.served
    }

    /// Counts one more completed exchange.
    pub fn mark_served(&mut self) {
        self.served += 1;
    }

    /// True unless the peer closed it or sent something unasked (which
    /// makes it unusable for the next request): checked before reuse,
    /// without waiting (a `poll()` with a zero timeout).
    pub fn is_alive(&mut self) -> bool {
        matches!(
            self.transport.wait(false, Some(Duration::ZERO)),
            Ok((false, _))
        )
    }
}

impl Transport for Connection {
    fn wait(&mut self, want_write: bool, timeout: Option<Duration>) -> stdio::Result<(bool, bool)> {
        self.transport.wait(want_write, timeout)
    }

    fn send_nowait(&mut self, buf: &[u8]) -> stdio::Result<usize> {
        self.transport.send_nowait(buf)
    }

    fn has_pending(&self) -> bool {
        self.transport.has_pending()
    }

    fn wait_writable(&mut self, timeout: Option<Duration>) -> stdio::Result<bool> {
        self.transport.wait_writable(timeout)
    }

    fn clean_end(&self) -> Option<bool> {
        self.transport.clean_end()
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Option<Duration>) -> stdio::Result<usize> {
        self.transport.recv(buf, timeout)
    }
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Builds the chain for `plan`: see the module documentation. Steps go to
/// `events`, what was learned to `report` (also on failure).
pub fn connect(
    plan: &Plan,
    settings: &Settings<'_>,
    clock: &Clock,
    report: &mut Report,
    events: &mut dyn FnMut(Duration, &Event<'_>),
) -> Result<Connection, ConnectError> {
    let connect_deadline = settings
        .connect_timeout
        .and_then(|t| Instant::now().checked_add(t));
    let deadline = earliest(clock.deadline, connect_deadline);
    if let Some(proxy) = &plan.proxy {
        events(
            clock.elapsed(),
            &Event::Proxy(ProxyStep::Via {
                proxy,
                tunnel: plan.tunnel,
            }),
        );
    }
    let (transport, peer, local) = first_hop(plan, settings, clock, deadline, report, events)?;
    let mut transport = transport;
    if let Some(proxy) = &plan.proxy {
        transport = through_proxy(
            plan, proxy, transport, settings, clock, deadline, report, events,
        )?;
    }
    let mut tls_info = None;
    if plan.origin.tls {
        let mut step = |s: TlsStep<'_>| events(clock.elapsed(), &Event::Tls(s));
        match tls::handshake(
            transport,
            &plan.origin.host,
            settings.tls,
            deadline,
            &mut step,
        ) {
            Ok((t, info)) => {
                report.timing.tls = Some(clock.elapsed());
                report.tls = Some(info.clone());
                tls_info = Some(info);
                transport = Box::new(t);
            }
            Err(failure) => {
                let (e, info) = *failure;
                report.tls = info;
                return Err(match e {
                    TlsError::HandshakeIo(io) if sock::is_timeout(&io) => {
                        ConnectError::Timeout(Phase::Tls)
                    }
                    e => ConnectError::Tls(e),
                });
            }
        }
    }
    Ok(Connection {
        id: next_id(),
        transport,
        peer,
        local,
        tls: tls_info,
        proxy: plan.proxy.clone(),
        served: 0,
    })
}

type Hop = (Box<dyn Transport>, Peer, Option<SocketAddr>);

/// The socket filter: a Unix socket, or resolve and happy eyeballs to the
/// proxy or the (routed) origin.
fn first_hop(
    plan: &Plan,
    settings: &Settings<'_>,
    clock: &Clock,
    deadline: Option<Instant>,
    report: &mut Report,
    events: &mut dyn FnMut(Duration, &Event<'_>),
) -> Result<Hop, ConnectError> {
    if let Some(path) = &settings.socket.unix_socket {
        let conn = sock::Conn::connect_unix(path).map_err(|source| ConnectError::Unix {
            path: path.clone(),
            source,
        })?;
        report.timing.connect = Some(clock.elapsed());
        events(clock.elapsed(), &Event::UnixConnected { path });
        return Ok((Box::new(Plain::new(conn)), Peer::Unix(path.clone()), None));
    }
    let (host, port, given) = match &plan.proxy {
        Some(p) => (p.host.clone(), p.port, None),
        None => {
            let route = settings.routes.route(&plan.origin.host, plan.origin.port);
            (route.host, route.port, route.addrs)
        }
    };
    let to_proxy = plan.proxy.is_some();
    let wrap = |e: ResolveError| {
        if to_proxy {
            ConnectError::Proxy(ProxyError::Resolve(e))
        } else {
            ConnectError::Resolve(e)
        }
    };
    events(clock.elapsed(), &Event::Resolving { host: &host });
    let ips = match given {
        Some(addrs) => {
            let ips: Vec<IpAddr> = addrs
                .into_iter()
                .filter(|ip| settings.family.accepts(ip))
                .collect();
            if ips.is_empty() {
                return Err(wrap(ResolveError::WrongFamily { host }));
            }
            ips
        }
        None => resolve_by(&host, settings.family, clock.deadline).map_err(|e| match e {
            ResolveError::TimedOut { .. } => ConnectError::Timeout(Phase::Resolve),
            e => wrap(e),
        })?,
    };
    report.timing.dns = Some(clock.elapsed());
    events(clock.elapsed(), &Event::Resolved { addrs: &ips });
    let bind = &settings.socket.bind;
    match socket::dial(&ips, port, bind, deadline, clock, report, events) {
        Ok(conn) => {
            let peer = report.peer.unwrap_or_else(|| SocketAddr::new(ips[0], port));
            let local = report.local;
            Ok((Box::new(Plain::new(conn)), Peer::Tcp(peer), local))
        }
        Err(DialError::Timeout) => Err(ConnectError::Timeout(Phase::Connect)),
        Err(DialError::Bind(e)) => Err(ConnectError::Bind(e)),
        Err(DialError::Failed(addr, source)) if to_proxy => {
            Err(ConnectError::Proxy(ProxyError::Connect { addr, source }))
        }
        Err(DialError::Failed(addr, source)) => Err(ConnectError::Connect { addr, source }),
    }
}

/// Resolves within what is left of `deadline`.
fn resolve_by(
    host: &str,
    family: Family,
    deadline: Option<Instant>,
) -> Result<Vec<IpAddr>, ResolveError> {
    let left = match deadline {
        None => None,
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(t) if !t.is_zero() => Some(t),
            _ => {
                return Err(ResolveError::TimedOut {
                    host: host.to_owned(),
                })
            }
        },
    };
    resolve::resolve_within(host, family, left)
}

/// The proxy filters: TLS to an `https://` proxy, then CONNECT or SOCKS5
/// for a tunnel.
#[allow(clippy::too_many_arguments)]
fn through_proxy(
    plan: &Plan,
    proxy: &Proxy,
    mut transport: Box<dyn Transport>,
    settings: &Settings<'_>,
    clock: &Clock,
    deadline: Option<Instant>,
    report: &mut Report,
    events: &mut dyn FnMut(Duration, &Event<'_>),
) -> Result<Box<dyn Transport>, ConnectError> {
    let timeout = |e: &stdio::Error| sock::is_timeout(e) || e.kind() == stdio::ErrorKind::TimedOut;
    if proxy.kind == ProxyKind::Https {
        let mut step = |s: TlsStep<'_>| events(clock.elapsed(), &Event::Proxy(ProxyStep::Tls(s)));
        match tls::handshake(
            transport,
            &proxy.host,
            settings.proxy_tls,
            deadline,
            &mut step,
        ) {
            Ok((t, info)) => {
                report.proxy_tls = Some(info);
                transport = Box::new(t);
            }
            Err(failure) => {
                let (e, info) = *failure;
                report.proxy_tls = info;
                return Err(match e {
                    TlsError::HandshakeIo(io) if timeout(&io) => {
                        ConnectError::Timeout(Phase::Proxy)
                    }
                    e => ConnectError::Proxy(ProxyError::Tls(e)),
                });
            }
        }
    }
    if !plan.tunnel {
        report.timing.proxy = Some(clock.elapsed());
        return Ok(transport);
    }
    let origin = &plan.origin;
    match proxy.kind {
        ProxyKind::Http | ProxyKind::Https => {
            let request =
                tunnel::connect_request(&origin.host, origin.port, proxy.credentials.as_ref());
            let sent = tunnel::open(&mut *transport, &request, deadline);
            events(
                clock.elapsed(),
                &Event::Proxy(ProxyStep::ConnectSent { request: &request }),
            );
            match sent {
                Ok(reply) => events(
                    clock.elapsed(),
                    &Event::Proxy(ProxyStep::ConnectReply {
                        status: reply.status,
                        reason: &reply.reason,
                    }),
                ),
                Err(TunnelError::Refused { status, reason }) => {
                    events(
                        clock.elapsed(),
                        &Event::Proxy(ProxyStep::ConnectReply {
                            status,
                            reason: &reason,
                        }),
                    );
                    return Err(ConnectError::Proxy(ProxyError::Tunnel(
                        TunnelError::Refused { status, reason },
                    )));
                }
                Err(TunnelError::Io(e)) if timeout(&e) => {
                    return Err(ConnectError::Timeout(Phase::Proxy))
                }
                Err(e) => return Err(ConnectError::Proxy(ProxyError::Tunnel(e))),
            }
        }
        ProxyKind::Socks5 { remote_dns } => {
            let target = if remote_dns {
                SocksTarget::Name(origin.host.clone(), origin.port)
            } else {
                let ips = resolve_by(&origin.host, settings.family, clock.deadline).map_err(
                    |e| match e {
                        ResolveError::TimedOut { .. } => ConnectError::Timeout(Phase::Resolve),
                        e => ConnectError::Proxy(ProxyError::ResolveOrigin(e)),
                    },
                )?;
                let ip = socket::interleave(&ips)[0];
                SocksTarget::Addr(SocketAddr::new(ip, origin.port))
            };
            let mut step =
                |s: SocksStep<'_>| events(clock.elapsed(), &Event::Proxy(ProxyStep::Socks(s)));
            socks::handshake(
                &mut *transport,
                &target,
                proxy.credentials.as_ref(),
                deadline,
                &mut step,
            )
            .map_err(|e| match e {
                SocksError::Io(io) if timeout(&io) => ConnectError::Timeout(Phase::Proxy),
                e => ConnectError::Proxy(ProxyError::Socks(e)),
            })?;
        }
    }
    report.timing.proxy = Some(clock.elapsed());
    events(
        clock.elapsed(),
        &Event::Proxy(ProxyStep::TunnelReady {
            host: &origin.host,
            port: origin.port,
        }),
    );
    Ok(transport)
}
