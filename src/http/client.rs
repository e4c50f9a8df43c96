//! One HTTP exchange on a connection from the connection layer: take a
//! kept-alive connection from the pool or build one ([`crate::conn`]:
//! socket, proxy, TLS), send the request, read the response until the
//! message is complete, and give the connection back when it may serve
//! another.
//!
//! The exchange talks to a [`Transport`], never to the socket directly,
//! so it does not know whether the bytes are encrypted or tunnelled.
//!
//! This module owns policy that the layers below do not: the time limits
//! (`--connect-timeout` bounds connecting, proxy and TLS handshakes
//! included as in curl, `--max-time` the whole exchange, enforced on every
//! blocking step by the time that is left), whether a connection is reused
//! (the response ended by its framing, neither side said
//! `Connection: close`, nothing unasked followed), one retry on a fresh
//! connection when a kept one turns out closed before any answer, and the
//! timing breakdown. Through a forwarding HTTP proxy (plain `http://`
//! without `-p`) it sends the absolute-form request with the proxy's
//! credentials; inside a tunnel the origin never sees them.
//!
//! It never prints. What it sees goes to a [`Handler`]: every socket and
//! proxy step with its time (for `-v`), the response bytes exactly as
//! received (for byte-exact output), and the decoded body (for `--json`).
//! The caller gets back an [`Exchange`] that records everything known,
//! including the error if one ended the exchange, so a failed request
//! still reports its address and timing.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::body::{BodyError, BodyReader};
use super::cookies::{CookieJar, CookieNote};
use super::lint::Warning;
use super::request::{RequestHead, RequestSpec, Version};
use super::response::{self, Framing, Head, Limits, ResponseReader, Sink};
use super::route::Routes;
use super::target::{Scheme, Target};
use super::tls::{TlsError, TlsInfo, TlsSetup, TlsStep};
use super::transport::Transport;
use crate::conn::{
    self, Clock, ConnectError, Connection, Event, Origin, Plan, Pool, ProxyConfig, ProxyError,
    ProxyStep, Report, Settings, SocketOptions,
};
use crate::resolve::{Family, ResolveError};
use crate::sock;

/// Size of one `recv()`; also the most response bytes held at once.
const RECV_BUF: usize = 256 * 1024;

pub use crate::conn::socket::STAGGER;

/// Size of the buffer the request body is streamed through.
const SEND_BUF: usize = 64 * 1024;

/// How to run the exchange.
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    /// Which address families to use.
    pub family: Family,
    /// Bound on the connect phase (all addresses together, then the TLS
    /// handshake).
    pub connect_timeout: Option<Duration>,
    /// When everything must be over, resolution included: absolute, so
    /// one limit bounds a whole redirect chain (`None`: no limit).
    pub deadline: Option<Instant>,
    /// Limits on what the response may be.
    pub limits: Limits,
    /// Whom to trust for `https://` (shared by every URL of a run).
    pub tls: Arc<TlsSetup>,
    /// `--connect-to` and `--resolve`, applied on every hop.
    pub routes: Arc<Routes>,
    /// curl's `--fail`: a final status of 400 or above ends the exchange
    /// right after its head. The body is not read (nor counted) and the
    /// connection is closed; see [`Exchange::stopped_at_head`].
    pub fail_at_head: bool,
    /// Which proxy each URL goes through (`-x`, the environment).
    pub proxy: Arc<ProxyConfig>,
    /// Whom to trust for an `https://` proxy (`--proxy-cacert`,
    /// `--proxy-insecure`).
    pub proxy_tls: Arc<TlsSetup>,
    /// `--interface`, `--local-port`, `--unix-socket`.
    pub socket: Arc<SocketOptions>,
    /// Kept-alive connections, shared by every URL and hop of the run.
    pub pool: Arc<Pool>,
    /// `-b`/`-c`: the cookies sent with each request, and where the
    /// cookies each response sets are recorded (`None`: no cookies).
    pub cookies: Option<Arc<CookieJar>>,
}

/// One step of the exchange, reported to [`Handler::trace`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Step<'a> {
    /// Looking up a host name.
    Resolving {
        /// The name.
        host: &'a str,
    },
    /// The addresses it resolved to, in the order they will be tried.
    Resolved {
        /// The addresses.
        addrs: &'a [IpAddr],
    },
    /// `socket()` + `connect()` to this address.
    Connecting {
        /// The address.
        addr: SocketAddr,
        /// Earlier attempts still waiting for an answer (happy eyeballs:
        /// this one races them).
        racing: usize,
    },
    /// Another attempt won the race: this one is closed.
    ConnectAbandoned {
        /// The address.
        addr: SocketAddr,
    },
    /// That connect failed; the next address (if any) is tried.
    ConnectFailed {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        error: &'a io::Error,
    },
    /// Connected.
    Connected {
        /// Our end.
        local: Option<SocketAddr>,
        /// Their end.
        peer: SocketAddr,
    },
    /// A step of the TLS handshake.
    Tls(TlsStep<'a>),
    /// Connected to a Unix socket (`--unix-socket`).
    UnixConnected {
        /// Its path.
        path: &'a Path,
    },
    /// A step through a proxy.
    Proxy(&'a ProxyStep<'a>),
    /// What became of a cookie the response set (`-b`/`-c`).
    Cookie(&'a CookieNote),
    /// A kept-alive connection is used again: no connect, no handshake.
    Reused {
        /// The connection's id (curl's `conn_id`).
        id: u64,
        /// Our end of it.
        local: Option<SocketAddr>,
        /// Exchanges it completed before this one.
        served: u32,
    },
    /// A kept-alive connection was found closed before it answered: the
    /// request is sent again on a new connection.
    Retrying {
        /// The closed connection's id.
        id: u64,
    },
    /// The response is complete and the connection is kept for another
    /// exchange (it follows [`Step::Complete`]).
    Kept {
        /// The connection's id.
        id: u64,
    },
    /// The connection is closed: the response ended with it, or it may not
    /// carry another exchange.
    Closed {
        /// The connection's id.
        id: u64,
    },
    /// A redirect is followed: the next hop's steps follow.
    Redirect {
        /// The redirect's status.
        status: u16,
        /// The next URL.
        location: &'a str,
        /// The next hop's method.
        method: &'a str,
        /// Whether the user's credentials go along.
        credentials: bool,
    },
    /// The request was sent.
    Sent {
        /// The request head exactly as it went on the wire.
        request: &'a [u8],
        /// How many bytes of the request (head and body) were sent.
        sent: u64,
        /// The size of the whole request: more than `sent` when the
        /// server answered before it was all sent.
        total: u64,
    },
    /// One `recv()` returned bytes.
    Received {
        /// How many.
        bytes: usize,
    },
    /// The server closed its side (`recv()` returned 0).
    PeerClosed,
    /// `--fail`: the final status is 400 or above, so the exchange ends
    /// after the head; the body is not read and the socket is closed.
    StoppedAtHead,
    /// The response is complete; the connection is closed now unless a
    /// [`Step::Kept`] follows.
    Complete {
        /// Decoded body bytes.
        body_bytes: u64,
    },
}

/// Receives what the exchange produces, as it happens.
pub trait Handler {
    /// A step of the exchange and when it happened (since the start).
    fn trace(&mut self, _at: Duration, _step: &Step<'_>) {}
    /// Response bytes exactly as received, limited to the message itself.
    /// An error here ends the exchange with [`FetchError::Output`].
    fn raw(&mut self, _bytes: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// Decoded body bytes (chunk framing removed).
    fn body(&mut self, _data: &[u8]) {}
    /// The final response head, as soon as it is read (before its body):
    /// a handler can decide what to do with the body from its status.
    fn head(&mut self, _head: &Head) {}
    /// A redirect is being followed: what comes next belongs to the next
    /// response.
    fn next_hop(&mut self) {}
}

/// Which part of the exchange ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Name resolution.
    Resolve,
    /// Connecting.
    Connect,
    /// The TLS handshake.
    Tls,
    /// A proxy's TLS, CONNECT or SOCKS handshake.
    Proxy,
    /// Sending the request.
    Send,
    /// Waiting for or reading the response.
    Receive,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolving",
            Phase::Connect => "connecting",
            Phase::Tls => "in the TLS handshake",
            Phase::Proxy => "in the proxy handshake",
            Phase::Send => "sending",
            Phase::Receive => "receiving",
        })
    }
}

/// What ended an exchange early.
#[non_exhaustive]
#[derive(Debug)]
pub enum FetchError {
    /// The host name gave no address.
    Resolve(ResolveError),
    /// No address accepted the connection (the last error is kept).
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// Its OS error.
        source: io::Error,
    },
    /// A time limit expired.
    Timeout {
        /// Where.
        phase: Phase,
        /// Time since the start.
        after: Duration,
    },
    /// TLS failed: trust set-up, handshake, certificate, or a TLS error
    /// later on.
    Tls(TlsError),
    /// Sending the request failed.
    Send(io::Error),
    /// The request body could not be read (`-d @FILE`).
    Body(BodyError),
    /// Receiving failed (for example a reset).
    Recv(io::Error),
    /// The response is malformed, truncated or too large.
    Response(response::Error),
    /// The handler could not write the output.
    Output(io::Error),
    /// A redirect chain longer than `--max-redirs` (curl exit 47).
    TooManyRedirects {
        /// The limit.
        max: u32,
    },
    /// The proxy could not be used.
    Proxy(ProxyError),
    /// `--interface` or `--local-port` could not be applied (curl exit 45).
    Bind(io::Error),
    /// The `--unix-socket` connect failed (curl exit 7).
    Unix {
        /// The socket file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

impl FetchError {
    /// A send failed because the bytes it was sending from are gone
    /// (EFAULT: a mapped request file was truncated under the sender).
    pub fn input_gone(&self) -> bool {
        matches!(self, FetchError::Send(e) if e.raw_os_error() == Some(libc::EFAULT))
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Resolve(e) => e.fmt(f),
            FetchError::Connect { addr, source } => {
                write!(f, "failed to connect to {addr}: {source}")
            }
            FetchError::Timeout { phase, after } => write!(
                f,
                "operation timed out while {phase} after {} ms",
                after.as_millis()
            ),
            FetchError::Tls(e) => e.fmt(f),
            FetchError::Send(e) => write!(f, "failed sending the request: {e}"),
            FetchError::Body(e) => e.fmt(f),
            FetchError::Recv(e) => write!(f, "failure receiving the response: {e}"),
            FetchError::Response(e) => e.fmt(f),
            FetchError::Output(e) => write!(f, "failed writing the output: {e}"),
            FetchError::TooManyRedirects { max } => {
                write!(f, "maximum ({max}) redirects followed")
            }
            FetchError::Proxy(e) => e.fmt(f),
            FetchError::Bind(e) => {
                write!(f, "cannot bind to the --interface/--local-port asked: {e}")
            }
            FetchError::Unix { path, source } => write!(
                f,
                "failed to connect to the Unix socket {}: {source}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Resolve(e) => Some(e),
            FetchError::Connect { source: e, .. }
            | FetchError::Unix { source: e, .. }
            | FetchError::Bind(e)
            | FetchError::Send(e)
            | FetchError::Recv(e)
            | FetchError::Output(e) => Some(e),
            FetchError::Response(e) => Some(e),
            FetchError::Body(e) => Some(e),
            FetchError::Tls(e) => Some(e),
            FetchError::Proxy(e) => Some(e),
            FetchError::Timeout { .. } | FetchError::TooManyRedirects { .. } => None,
        }
    }
}

/// Times since the start of the exchange, as curl's `-w` `time_*`
/// variables count them: each is cumulative, not a phase duration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// Name resolution done.
    pub dns: Option<Duration>,
    /// TCP connection established.
    pub connect: Option<Duration>,
    /// TLS handshake complete (curl's `time_appconnect`).
    pub tls: Option<Duration>,
    /// First response byte received.
    pub first_byte: Option<Duration>,
    /// Exchange over (complete or failed).
    pub total: Duration,
}

/// Everything known about one exchange.
#[derive(Debug, Default)]
pub struct Exchange {
    /// The address connected to (or last tried).
    pub ip: Option<IpAddr>,
    /// The port connected to (the URL's, unless `--connect-to` moved it).
    pub port: u16,
    /// The final response head, once read.
    pub head: Option<Head>,
    /// How the body was delimited.
    pub framing: Option<Framing>,
    /// Interim (1xx) heads that preceded the final one.
    pub interim: Vec<Head>,
    /// Trailer fields after a chunked body; values lossy UTF-8.
    pub trailers: Vec<(String, String)>,
    /// The exact bytes of each trailer value that is not UTF-8, as
    /// `(index into trailers, bytes)`, as in [`Head::value_bytes`].
    pub trailer_value_bytes: Vec<(usize, Vec<u8>)>,
    /// The exchange ended after the final head on purpose
    /// ([`FetchOptions::fail_at_head`]): its body was not read.
    pub stopped_at_head: bool,
    /// Decoded body bytes received.
    pub body_bytes: u64,
    /// Bytes of every response head read (interim heads included), as
    /// received: curl's `size_header`.
    pub header_bytes: u64,
    /// Protocol oddities the response reader noticed, in order, each once.
    pub warnings: Vec<Warning>,
    /// What the TLS handshake established (`None` for `http://`, or when
    /// it failed before the server's certificates were seen).
    pub tls: Option<TlsInfo>,
    /// When each phase finished.
    pub timing: Timing,
    /// Which connection served it, and how it was made.
    pub connection: ConnectionRecord,
    /// What ended the exchange early, if anything.
    pub error: Option<FetchError>,
}

/// Which connection served an exchange.
#[derive(Clone, Debug, Default)]
pub struct ConnectionRecord {
    /// Its id (curl's `conn_id`), once there was one.
    pub id: Option<u64>,
    /// A kept-alive connection was used again.
    pub reused: bool,
    /// New connections made for this exchange: 0 when one was reused, 2
    /// when a kept one was found closed and replaced (curl's
    /// `num_connects`, per hop).
    pub new_connects: u32,
    /// The proxy it went through (`scheme://host:port`, no credentials).
    pub proxy: Option<String>,
    /// Whether the connection was kept for another exchange afterwards.
    pub kept: bool,
    /// What connecting learned: each attempt, phase times, the proxy's
    /// TLS. Empty for a reused connection.
    pub report: Report,
}

impl Exchange {
    /// True when a body delimited by the end of the connection arrived
    /// over TLS without `close_notify`: the server (or anyone on the path)
    /// closed the TCP connection, so the body may be truncated.
    pub fn close_notify_missing(&self) -> bool {
        self.framing == Some(Framing::CloseDelimited)
            && self.error.is_none()
            && !self.stopped_at_head
            && self
                .tls
                .as_ref()
                .is_some_and(|t| t.close_notify == Some(false))
    }
}

/// Runs one exchange: `request` to `target`, reporting to `handler`.
pub fn fetch(
    target: &Target,
    request: &RequestSpec,
    opts: &FetchOptions,
    handler: &mut dyn Handler,
) -> Exchange {
    exchange(target, request, true, opts, handler)
}

/// [`fetch`], with the user's `Authorization` and `Cookie` left out
/// unless `credentials` (a redirect hop to another host).
pub fn exchange(
    target: &Target,
    request: &RequestSpec,
    credentials: bool,
    opts: &FetchOptions,
    handler: &mut dyn Handler,
) -> Exchange {
    let mut run = Run {
        start: Instant::now(),
        deadline: opts.deadline,
        exchange: Exchange {
            port: target.port,
            ..Exchange::default()
        },
        extra_bytes: false,
    };
    let result = run.exchange(target, request, credentials, opts, handler);
    let mut exchange = run.exchange;
    exchange.timing.total = run.start.elapsed();
    exchange.error = result.err();
    if exchange.close_notify_missing() {
        exchange.warnings.push(Warning::MissingCloseNotify);
    }
    exchange
}

/// A new connection opened as [`fetch`] opens one (proxy, `--resolve`
/// and `--connect-to`, happy eyeballs, TLS for `https://`; never from the
/// pool), for a caller that speaks on it itself (`rawget --send`). The
/// record holds the address, the TLS details, the connection report and
/// the timing so far, or the error; times count from the returned instant.
pub fn open(
    target: &Target,
    opts: &FetchOptions,
    handler: &mut dyn Handler,
) -> (Option<Connection>, Exchange, Instant) {
    let mut run = Run {
        start: Instant::now(),
        deadline: opts.deadline,
        exchange: Exchange {
            port: target.port,
            ..Exchange::default()
        },
        extra_bytes: false,
    };
    let result = run.open(target, opts, handler);
    let mut exchange = run.exchange;
    exchange.timing.total = run.start.elapsed();
    match result {
        Ok(conn) => (Some(conn), exchange, run.start),
        Err(e) => {
            exchange.error = Some(e);
            (None, exchange, run.start)
        }
    }
}

struct Run {
    start: Instant,
    deadline: Option<Instant>,
    exchange: Exchange,
    /// Bytes followed the complete response: the connection is not in a
    /// state to carry another exchange.
    extra_bytes: bool,
}

/// How one try on one connection ended.
enum Try {
    /// The exchange is over (well or not).
    Done(Result<(), FetchError>),
    /// A kept-alive connection was closed before it answered anything:
    /// worth one more try on a new connection.
    Stale(FetchError),
}

impl Run {
    /// Where the connection for `target` goes (the origin, through the
    /// proxy the options choose for it); the exchange records the proxy.
    fn plan(&mut self, target: &Target, opts: &FetchOptions) -> Result<Plan, FetchError> {
        let proxy = opts
            .proxy
            .choose(target.scheme.as_str(), &target.host)
            .map_err(|e| FetchError::Proxy(ProxyError::Spec(e)))?;
        let origin = Origin {
            tls: target.scheme == Scheme::Https,
            host: target.host.clone(),
            port: target.port,
        };
        let plan = Plan::new(origin, proxy, opts.proxy.tunnel);
        self.exchange.connection.proxy = plan.proxy.as_ref().map(ToString::to_string);
        Ok(plan)
    }

    fn exchange(
        &mut self,
        target: &Target,
        request: &RequestSpec,
        credentials: bool,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Result<(), FetchError> {
        let plan = self.plan(target, opts)?;
        let body_len = match &request.body {
            Some(b) => Some(b.open().map_err(FetchError::Body)?.len()),
            None => None,
        };
        let mut head = request_head(request, target, body_len, credentials, &plan);
        if let Some(jar) = &opts.cookies {
            add_cookies(&mut head, jar, target, request, credentials);
        }
        let head = head.to_bytes();
        prepare_tls(target, &plan, opts)?;
        let key = plan.key();
        let mut retried = false;
        loop {
            let kept = if retried { None } else { opts.pool.take(&key) };
            let mut conn = match kept {
                Some(conn) => {
                    self.reuse(&conn, &plan, handler);
                    conn
                }
                None => self.connect(&plan, opts, handler)?,
            };
            self.exchange.connection.id = Some(conn.id());
            let mut body = match &request.body {
                Some(b) => Some(b.open().map_err(FetchError::Body)?),
                None => None,
            };
            let reused = self.exchange.connection.reused && !retried;
            let outcome = self.talk(
                &mut conn,
                &head,
                body.as_mut(),
                request,
                reused,
                opts,
                handler,
            );
            if let (Some(jar), Some(head)) = (&opts.cookies, &self.exchange.head) {
                for note in jar.receive(target, head) {
                    handler.trace(self.start.elapsed(), &Step::Cookie(&note));
                }
            }
            match outcome {
                Try::Stale(_) if !retried => {
                    handler.trace(self.start.elapsed(), &Step::Retrying { id: conn.id() });
                    retried = true;
                    self.exchange.connection.reused = false;
                }
                Try::Stale(e) => return Err(e),
                Try::Done(Err(e)) => return Err(e),
                Try::Done(Ok(())) => {
                    if self.reusable(request) {
                        conn.mark_served();
                        self.exchange.connection.kept = true;
                        handler.trace(self.start.elapsed(), &Step::Kept { id: conn.id() });
                        opts.pool.put(key, conn);
                    } else {
                        handler.trace(self.start.elapsed(), &Step::Closed { id: conn.id() });
                    }
                    return Ok(());
                }
            }
        }
    }

    /// A new connection for `target`, as [`Run::exchange`] plans one.
    fn open(
        &mut self,
        target: &Target,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Result<Connection, FetchError> {
        let plan = self.plan(target, opts)?;
        prepare_tls(target, &plan, opts)?;
        self.connect(&plan, opts, handler)
    }

    /// Takes over a kept-alive connection: the connect phases end now.
    fn reuse(&mut self, conn: &Connection, plan: &Plan, handler: &mut dyn Handler) {
        let now = self.start.elapsed();
        handler.trace(
            now,
            &Step::Reused {
                id: conn.id(),
                local: conn.local,
                served: conn.served(),
            },
        );
        let record = &mut self.exchange.connection;
        record.reused = true;
        if let conn::Peer::Tcp(addr) = conn.peer {
            self.exchange.ip = Some(addr.ip());
            self.exchange.port = addr.port();
        }
        self.exchange.tls.clone_from(&conn.tls);
        let timing = &mut self.exchange.timing;
        timing.dns = Some(now);
        timing.connect = Some(now);
        timing.tls = plan.origin.tls.then_some(now);
    }

    /// Builds a new connection for `plan`.
    fn connect(
        &mut self,
        plan: &Plan,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Result<Connection, FetchError> {
        let settings = Settings {
            family: opts.family,
            connect_timeout: opts.connect_timeout,
            routes: &opts.routes,
            tls: &opts.tls,
            proxy_tls: &opts.proxy_tls,
            socket: &opts.socket,
        };
        let clock = Clock {
            start: self.start,
            deadline: self.deadline,
        };
        let mut report = Report::default();
        let mut events = |at: Duration, event: &Event<'_>| {
            handler.trace(at, &step_of(event));
        };
        let made = conn::connect(plan, &settings, &clock, &mut report, &mut events);
        self.exchange.connection.new_connects += 1;
        if let Some(peer) = report.peer {
            self.exchange.ip = Some(peer.ip());
            self.exchange.port = peer.port();
        }
        let timing = &mut self.exchange.timing;
        timing.dns = report.timing.dns;
        timing.connect = report.timing.connect;
        timing.tls = report.timing.tls;
        self.exchange.tls.clone_from(&report.tls);
        self.exchange.connection.report = report;
        made.map_err(|e| self.connect_error(e))
    }

    fn connect_error(&self, e: ConnectError) -> FetchError {
        match e {
            ConnectError::Resolve(e) => FetchError::Resolve(e),
            ConnectError::Connect { addr, source } => FetchError::Connect { addr, source },
            ConnectError::Unix { path, source } => FetchError::Unix { path, source },
            ConnectError::Bind(e) => FetchError::Bind(e),
            ConnectError::Timeout(phase) => self.timeout(match phase {
                conn::Phase::Resolve => Phase::Resolve,
                conn::Phase::Connect => Phase::Connect,
                conn::Phase::Proxy => Phase::Proxy,
                _ => Phase::Tls,
            }),
            ConnectError::Tls(e) => FetchError::Tls(e),
            ConnectError::Proxy(ProxyError::ResolveOrigin(e)) => FetchError::Resolve(e),
            ConnectError::Proxy(e) => FetchError::Proxy(e),
        }
    }

    /// True when the connection can carry another exchange: the response
    /// ended by its framing (not by the close), nothing followed it, and
    /// neither side asked to close (HTTP/1.0 must ask to keep it).
    fn reusable(&self, request: &RequestSpec) -> bool {
        let ex = &self.exchange;
        let Some(head) = &ex.head else {
            return false;
        };
        let framed = matches!(
            ex.framing,
            Some(Framing::NoBody | Framing::ContentLength(_) | Framing::Chunked)
        );
        let close = |name: &str| has_token(&head.headers, name, "close");
        // An HTTP/1.0 request or answer keeps the connection only when
        // the answer says keep-alive.
        let keep_alive = (head.version >= 1 && request.version == Version::Http11)
            || has_token(&head.headers, "connection", "keep-alive");
        framed
            && !self.extra_bytes
            && !ex.stopped_at_head
            && head.status != 101
            && keep_alive
            && !close("connection")
            && !close("proxy-connection")
            && !request.asks_to_close()
    }

    /// Sends the request on `conn` and reads the response.
    #[allow(clippy::too_many_arguments)]
    fn talk(
        &mut self,
        conn: &mut Connection,
        head: &[u8],
        body: Option<&mut BodyReader>,
        request: &RequestSpec,
        reused: bool,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Try {
        let total = head.len() as u64 + body.as_ref().map_or(0, |b| b.len());
        let sent = self.send(conn, head, body);
        if let Err(e @ FetchError::Body(_)) = sent {
            // The server waits for the rest of a body that will not come.
            return Try::Done(Err(e));
        }
        if let Ok(n) = sent {
            let step = Step::Sent {
                request: head,
                sent: n,
                total,
            };
            handler.trace(self.start.elapsed(), &step);
            if n < total {
                // The rest of the body is still owed: not reusable.
                self.extra_bytes = true;
            }
        }
        let mut reader = ResponseReader::new(request.is_head(), opts.limits);
        let received = self.receive(conn, &mut reader, opts.fail_at_head, handler);
        let stale = |e: &FetchError| {
            reused
                && !reader.started()
                && matches!(
                    e,
                    FetchError::Send(_)
                        | FetchError::Recv(_)
                        | FetchError::Response(response::Error::EmptyReply)
                )
        };
        match (received, sent) {
            (Ok(()), _) => {}
            (Err(e), _) if stale(&e) => return Try::Stale(e),
            (Err(e @ FetchError::Output(_)), _) | (Err(e), Ok(_)) => return Try::Done(Err(e)),
            // Sending failed and no complete response came either: the
            // send error is the cause.
            (Err(_), Err(send_err)) if stale(&send_err) => return Try::Stale(send_err),
            (Err(_), Err(send_err)) => return Try::Done(Err(send_err)),
        }
        if self.exchange.stopped_at_head {
            // The body is left unread: dropping the connection closes it,
            // as curl does on --fail.
            handler.trace(self.start.elapsed(), &Step::StoppedAtHead);
            return Try::Done(Ok(()));
        }
        if let Some(info) = &mut self.exchange.tls {
            info.close_notify = conn.clean_end();
        }
        handler.trace(
            self.start.elapsed(),
            &Step::Complete {
                body_bytes: self.exchange.body_bytes,
            },
        );
        Try::Done(Ok(()))
    }

    fn remaining(&self, phase: Phase) -> Result<Option<Duration>, FetchError> {
        time_left(self.deadline).map_err(|()| self.timeout(phase))
    }

    fn timeout(&self, phase: Phase) -> FetchError {
        FetchError::Timeout {
            phase,
            after: self.start.elapsed(),
        }
    }

    /// Sends the head, then streams the body, watching for the server to
    /// speak first: a server may answer early (a 413 to an upload it will
    /// not take) and stop reading, and a blocking send would then wait
    /// forever. Returns how many bytes went out; fewer than all when the
    /// server answered (or closed) first, and its answer is then read as
    /// the response.
    fn send(
        &self,
        transport: &mut dyn Transport,
        head: &[u8],
        mut body: Option<&mut BodyReader>,
    ) -> Result<u64, FetchError> {
        let mut buf = Vec::with_capacity(SEND_BUF.max(head.len()));
        buf.extend_from_slice(head);
        let mut at = 0;
        let mut sent = 0u64;
        loop {
            if at == buf.len() {
                buf.resize(SEND_BUF, 0);
                let n = match body.as_deref_mut() {
                    Some(b) => b.fill(&mut buf).map_err(FetchError::Body)?,
                    None => 0,
                };
                buf.truncate(n);
                at = 0;
                if n == 0 && !transport.has_pending() {
                    return Ok(sent);
                }
            }
            let left = self.remaining(Phase::Send)?;
            let (answer, writable) = transport.wait(true, left).map_err(send_error)?;
            if answer {
                return Ok(sent);
            }
            if !writable {
                return Err(self.timeout(Phase::Send));
            }
            match transport.send_nowait(&buf[at..]) {
                Ok(n) => {
                    at += n;
                    sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(send_error(e)),
            }
        }
    }

    fn receive(
        &mut self,
        transport: &mut dyn Transport,
        reader: &mut ResponseReader,
        fail_at_head: bool,
        handler: &mut dyn Handler,
    ) -> Result<(), FetchError> {
        let mut buf = vec![0u8; RECV_BUF];
        let mut sink = Collect {
            exchange: &mut self.exchange,
            handler: &mut *handler,
            fail_at_head,
        };
        loop {
            let left = time_left(self.deadline).map_err(|()| FetchError::Timeout {
                phase: Phase::Receive,
                after: self.start.elapsed(),
            })?;
            let n = match transport.recv(&mut buf, left) {
                Ok(n) => n,
                Err(e) if sock::is_timeout(&e) => {
                    return Err(FetchError::Timeout {
                        phase: Phase::Receive,
                        after: self.start.elapsed(),
                    })
                }
                Err(e) => {
                    return Err(TlsError::from_io(&e).map_or(FetchError::Recv(e), FetchError::Tls))
                }
            };
            let at = self.start.elapsed();
            if n == 0 {
                sink.handler.trace(at, &Step::PeerClosed);
                let done = reader.eof(&mut sink).map_err(FetchError::Response);
                sink.exchange.body_bytes = reader.body_bytes();
                sink.exchange.header_bytes = reader.header_bytes();
                return done;
            }
            if sink.exchange.timing.first_byte.is_none() {
                sink.exchange.timing.first_byte = Some(at);
            }
            sink.handler.trace(at, &Step::Received { bytes: n });
            let heads_before = reader.header_bytes();
            let fed = reader.feed(&buf[..n], &mut sink);
            if fed.as_ref().is_ok_and(|used| *used < n) {
                self.extra_bytes = true;
            }
            sink.exchange.body_bytes = reader.body_bytes();
            sink.exchange.header_bytes = reader.header_bytes();
            // On a parse error the bytes are still shown: nothing received
            // is hidden from the user.
            let mut shown = *fed.as_ref().unwrap_or(&n);
            if sink.exchange.stopped_at_head {
                // Only the head belongs to the exchange; body bytes that
                // came with it are dropped unread and uncounted.
                sink.exchange.body_bytes = 0;
                let head = reader.header_bytes().saturating_sub(heads_before);
                shown = shown.min(usize::try_from(head).unwrap_or(usize::MAX));
            }
            sink.handler
                .raw(&buf[..shown])
                .map_err(FetchError::Output)?;
            if sink.exchange.stopped_at_head {
                return Ok(());
            }
            fed.map_err(FetchError::Response)?;
            if reader.is_complete() {
                return Ok(());
            }
        }
    }
}

/// A failure while sending: a TLS error stays one (never a send error).
fn send_error(e: io::Error) -> FetchError {
    TlsError::from_io(&e).map_or(FetchError::Send(e), FetchError::Tls)
}

/// The request head for `target` as `plan` sends it: through a forwarding
/// proxy, in absolute form with the proxy's credentials (which go to the
/// proxy only: in a tunnel they were in the CONNECT request).
fn request_head(
    request: &RequestSpec,
    target: &Target,
    body_len: Option<u64>,
    credentials: bool,
    plan: &Plan,
) -> RequestHead {
    let mut head = request.head_for(target, body_len, credentials);
    if plan.forward() {
        head.path_and_query = format!(
            "{}://{}{}",
            target.scheme.as_str(),
            target.host_header(),
            target.path_and_query
        );
        let proxy = plan.proxy.as_ref();
        if let Some(c) = proxy.and_then(|p| p.credentials.as_ref()) {
            head.headers
                .insert(1, ("Proxy-Authorization".into(), conn::tunnel::basic(c)));
        }
        if !head
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("proxy-connection"))
        {
            head.headers
                .push(("Proxy-Connection".into(), "Keep-Alive".into()));
        }
    }
    head
}

/// The jar's `Cookie` line for `target`, after the default headers and
/// before the user's, as curl places it. The cookies typed with `-b` go
/// only where the user's own credentials go, and not at all beside a
/// `-H Cookie:` (curl's rule); a `-H Cookie:` line stays as given.
fn add_cookies(
    head: &mut RequestHead,
    jar: &CookieJar,
    target: &Target,
    request: &RequestSpec,
    credentials: bool,
) {
    let typed = credentials && !request.has_user_header("cookie");
    let Some(line) = jar.header(target, typed) else {
        return;
    };
    let after = head
        .headers
        .iter()
        .rposition(|(n, _)| {
            ["host", "user-agent", "accept"]
                .iter()
                .any(|d| n.eq_ignore_ascii_case(d))
        })
        .map_or(0, |i| i + 1);
    head.headers.insert(after, ("Cookie".into(), line));
}

/// True when a `name` header of `headers` lists `token` (comma-separated,
/// case-insensitive).
fn has_token(headers: &[(String, String)], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The exchange's view of a connection-layer event.
fn step_of<'a>(event: &'a Event<'a>) -> Step<'a> {
    match event {
        Event::Resolving { host } => Step::Resolving { host },
        Event::Resolved { addrs } => Step::Resolved { addrs },
        Event::Connecting { addr, racing } => Step::Connecting {
            addr: *addr,
            racing: *racing,
        },
        Event::ConnectAbandoned { addr, .. } => Step::ConnectAbandoned { addr: *addr },
        Event::ConnectFailed { addr, error, .. } => Step::ConnectFailed { addr: *addr, error },
        Event::Connected { local, peer, .. } => Step::Connected {
            local: *local,
            peer: *peer,
        },
        Event::UnixConnected { path } => Step::UnixConnected { path },
        Event::Proxy(p) => Step::Proxy(p),
        Event::Tls(t) => Step::Tls(*t),
    }
}

/// Time left until `deadline`: `Ok(None)` without one, `Err(())` once it
/// has passed.
fn time_left(deadline: Option<Instant>) -> Result<Option<Duration>, ()> {
    match deadline {
        None => Ok(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(()),
        },
    }
}

/// Adapts the reader's [`Sink`] to the exchange record and the handler.
struct Collect<'a> {
    exchange: &'a mut Exchange,
    handler: &'a mut dyn Handler,
    /// [`FetchOptions::fail_at_head`].
    fail_at_head: bool,
}

impl Sink for Collect<'_> {
    fn interim(&mut self, head: &Head) {
        self.exchange.interim.push(head.clone());
    }

    fn head(&mut self, head: &Head, framing: Framing) {
        self.exchange.head = Some(head.clone());
        self.exchange.framing = Some(framing);
        self.exchange.stopped_at_head = self.fail_at_head && head.status >= 400;
        self.handler.head(head);
    }

    fn body(&mut self, data: &[u8]) {
        if !self.exchange.stopped_at_head {
            self.handler.body(data);
        }
    }

    fn trailers(&mut self, trailers: &[(String, String)]) {
        if !self.exchange.stopped_at_head {
            self.exchange.trailers = trailers.to_vec();
        }
    }

    fn trailer_value_bytes(&mut self, value_bytes: &[(usize, Vec<u8>)]) {
        if !self.exchange.stopped_at_head {
            self.exchange.trailer_value_bytes = value_bytes.to_vec();
        }
    }

    fn warning(&mut self, warning: Warning) {
        // After a stop at the head, what the reader saw belongs to a body
        // that was not read: the head's own warnings came before.
        if !self.exchange.stopped_at_head {
            self.exchange.warnings.push(warning);
        }
    }
}

/// Loads the TLS configurations this exchange will use (the origin's for
/// https, the proxy's for an https proxy) before a socket is opened, so a
/// CA file that cannot be read fails the exchange before any traffic.
fn prepare_tls(target: &Target, plan: &conn::Plan, opts: &FetchOptions) -> Result<(), FetchError> {
    if target.scheme == Scheme::Https {
        opts.tls.prepare().map_err(FetchError::Tls)?;
    }
    if plan
        .proxy
        .as_ref()
        .is_some_and(|p| p.kind == conn::ProxyKind::Https)
    {
        opts.proxy_tls
            .prepare()
            .map_err(|e| FetchError::Proxy(ProxyError::Tls(e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_tokens() {
        let h = vec![("Connection".to_string(), "Keep-Alive, Close".to_string())];
        assert!(has_token(&h, "connection", "close"));
        assert!(!has_token(&h, "proxy-connection", "close"));
        assert!(!has_token(&h, "connection", "clos"));
    }
}
