//! One HTTP exchange over a socket we open ourselves: resolve, connect,
//! send the request, read the response until the message is complete.
//!
//! The exchange talks to a [`Transport`], never to the socket directly
//! once connected, so it does not know whether the bytes are encrypted.
//!
//! This module owns policy that the thin layers below do not: which
//! address to try next, the time limits (`--connect-timeout` bounds the
//! connect phase, the TLS handshake included as in curl, `--max-time` the
//! whole exchange, enforced on every
//! blocking step by the time that is left), and the timing breakdown.
//!
//! It never prints. What it sees goes to a [`Handler`]: every socket step
//! with its time (for `-v`), the response bytes exactly as received (for
//! byte-exact output), and the decoded body (for `--json`). The caller
//! gets back an [`Exchange`] that records everything known, including the
//! error if one ended the exchange, so a failed request still reports its
//! address and timing.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::body::{BodyError, BodyReader};
use super::lint::Warning;
use super::request::RequestSpec;
use super::response::{self, Framing, Head, Limits, ResponseReader, Sink};
use super::route::{Route, Routes};
use super::target::{Scheme, Target};
use super::tls::{self, TlsError, TlsInfo, TlsSetup, TlsStep};
use super::transport::{Plain, Transport};
use crate::resolve::{self, Family, ResolveError};
use crate::sock::{self, Conn};

/// Size of one `recv()`; also the most response bytes held at once.
const RECV_BUF: usize = 256 * 1024;

/// Happy eyeballs: how long an attempt has before the next address is
/// started beside it (RFC 8305 recommends 250 ms).
pub const STAGGER: Duration = Duration::from_millis(250);

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
    /// The response is complete; the socket is closed now.
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
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Resolve(e) => Some(e),
            FetchError::Connect { source: e, .. }
            | FetchError::Send(e)
            | FetchError::Recv(e)
            | FetchError::Output(e) => Some(e),
            FetchError::Response(e) => Some(e),
            FetchError::Body(e) => Some(e),
            FetchError::Tls(e) => Some(e),
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
    /// What ended the exchange early, if anything.
    pub error: Option<FetchError>,
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
        connect_deadline: None,
        exchange: Exchange {
            port: target.port,
            ..Exchange::default()
        },
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

/// A connection opened as [`fetch`] opens one (`--resolve` and
/// `--connect-to`, happy eyeballs, TLS for `https://`), for a caller that
/// speaks on it itself (`rawget --send`). The record holds the address,
/// the TLS details and the timing so far, or the error; times count from
/// the returned instant.
pub fn open(
    target: &Target,
    opts: &FetchOptions,
    handler: &mut dyn Handler,
) -> (Option<Box<dyn Transport>>, Exchange, Instant) {
    let mut run = Run {
        start: Instant::now(),
        deadline: opts.deadline,
        connect_deadline: None,
        exchange: Exchange {
            port: target.port,
            ..Exchange::default()
        },
    };
    let result = run.open(target, opts, handler);
    let mut exchange = run.exchange;
    exchange.timing.total = run.start.elapsed();
    match result {
        Ok(transport) => (Some(transport), exchange, run.start),
        Err(e) => {
            exchange.error = Some(e);
            (None, exchange, run.start)
        }
    }
}

struct Run {
    start: Instant,
    deadline: Option<Instant>,
    /// When `--connect-timeout` runs out: set when connecting starts, it
    /// bounds the TLS handshake too (curl's connection phase).
    connect_deadline: Option<Instant>,
    exchange: Exchange,
}

impl Run {
    fn exchange(
        &mut self,
        target: &Target,
        request: &RequestSpec,
        credentials: bool,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Result<(), FetchError> {
        let mut body = match &request.body {
            Some(b) => Some(b.open().map_err(FetchError::Body)?),
            None => None,
        };
        let head = request
            .head_for(target, body.as_ref().map(BodyReader::len), credentials)
            .to_bytes();
        let mut transport = self.open(target, opts, handler)?;
        let total = head.len() as u64 + body.as_ref().map_or(0, BodyReader::len);
        let sent = self.send(&mut *transport, &head, body.as_mut());
        if let Err(e @ FetchError::Body(_)) = sent {
            // The server waits for the rest of a body that will not come.
            return Err(e);
        }
        if let Ok(n) = sent {
            let step = Step::Sent {
                request: &head,
                sent: n,
                total,
            };
            handler.trace(self.start.elapsed(), &step);
        }
        let mut reader = ResponseReader::new(request.is_head(), opts.limits);
        let fail_at_head = opts.fail_at_head;
        match (
            self.receive(&mut *transport, &mut reader, fail_at_head, handler),
            sent,
        ) {
            (Ok(()), _) => {}
            (Err(e @ FetchError::Output(_)), _) | (Err(e), Ok(_)) => return Err(e),
            // Sending failed and no complete response came either: the
            // send error is the cause.
            (Err(_), Err(send_err)) => return Err(send_err),
        }
        if self.exchange.stopped_at_head {
            // The body is left unread: dropping the transport closes the
            // connection, as curl does on --fail.
            handler.trace(self.start.elapsed(), &Step::StoppedAtHead);
            return Ok(());
        }
        if let Some(info) = &mut self.exchange.tls {
            info.close_notify = transport.clean_end();
        }
        handler.trace(
            self.start.elapsed(),
            &Step::Complete {
                body_bytes: self.exchange.body_bytes,
            },
        );
        Ok(())
    }

    /// Resolves, connects and (for `https://`) shakes hands.
    fn open(
        &mut self,
        target: &Target,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Result<Box<dyn Transport>, FetchError> {
        if target.scheme == Scheme::Https {
            opts.tls.prepare().map_err(FetchError::Tls)?;
        }
        let route = opts.routes.route(&target.host, target.port);
        self.exchange.port = route.port;
        let ips = self.resolve(&route, opts.family, handler)?;
        let conn = self.connect(&ips, route.port, opts.connect_timeout, handler)?;
        Ok(match target.scheme {
            Scheme::Http => Box::new(Plain::new(conn)),
            Scheme::Https => Box::new(self.handshake(conn, target, opts, handler)?),
        })
    }

    fn handshake(
        &mut self,
        conn: Conn,
        target: &Target,
        opts: &FetchOptions,
        handler: &mut dyn Handler,
    ) -> Result<tls::TlsTransport, FetchError> {
        let start = self.start;
        let mut step = |s: TlsStep<'_>| handler.trace(start.elapsed(), &Step::Tls(s));
        let deadline = earliest(self.deadline, self.connect_deadline);
        match tls::handshake(conn, &target.host, &opts.tls, deadline, &mut step) {
            Ok((transport, info)) => {
                self.exchange.timing.tls = Some(self.start.elapsed());
                self.exchange.tls = Some(info);
                Ok(transport)
            }
            Err(failure) => {
                let (e, info) = *failure;
                self.exchange.tls = info;
                match e {
                    TlsError::HandshakeIo(io) if sock::is_timeout(&io) => {
                        Err(self.timeout(Phase::Tls))
                    }
                    e => Err(FetchError::Tls(e)),
                }
            }
        }
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

    /// The addresses for `route`: those of `--resolve`, or the
    /// resolver's.
    fn resolve(
        &mut self,
        route: &Route,
        family: Family,
        handler: &mut dyn Handler,
    ) -> Result<Vec<IpAddr>, FetchError> {
        handler.trace(self.start.elapsed(), &Step::Resolving { host: &route.host });
        let ips = match &route.addrs {
            Some(given) => {
                let ips: Vec<IpAddr> = given
                    .iter()
                    .copied()
                    .filter(|ip| family.accepts(ip))
                    .collect();
                if ips.is_empty() {
                    return Err(FetchError::Resolve(ResolveError::WrongFamily {
                        host: route.host.clone(),
                    }));
                }
                ips
            }
            None => {
                let left = self.remaining(Phase::Resolve)?;
                resolve::resolve_within(&route.host, family, left).map_err(|e| match e {
                    ResolveError::TimedOut { .. } => self.timeout(Phase::Resolve),
                    e => FetchError::Resolve(e),
                })?
            }
        };
        self.exchange.timing.dns = Some(self.start.elapsed());
        handler.trace(self.start.elapsed(), &Step::Resolved { addrs: &ips });
        Ok(ips)
    }

    /// Happy eyeballs (RFC 8305): IPv6 first, families interleaved, the
    /// next address started [`STAGGER`] after the last one if nothing has
    /// answered yet (at once when an attempt fails); the first connection
    /// wins and the others are closed. `connect_timeout` and the deadline
    /// bound the whole race. With one address this is a plain connect.
    fn connect(
        &mut self,
        ips: &[IpAddr],
        port: u16,
        connect_timeout: Option<Duration>,
        handler: &mut dyn Handler,
    ) -> Result<Conn, FetchError> {
        self.connect_deadline = connect_timeout.and_then(|t| Instant::now().checked_add(t));
        let deadline = earliest(self.connect_deadline, self.deadline);
        let order = interleave(ips);
        let mut next = 0;
        let mut next_start = Instant::now();
        let mut racing: Vec<sock::Connecting> = Vec::new();
        let mut last_err: Option<(SocketAddr, io::Error)> = None;
        loop {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(self.timeout(Phase::Connect));
            }
            if next < order.len() && (racing.is_empty() || now >= next_start) {
                let addr = SocketAddr::new(order[next], port);
                next += 1;
                self.exchange.ip = Some(addr.ip());
                handler.trace(
                    self.start.elapsed(),
                    &Step::Connecting {
                        addr,
                        racing: racing.len(),
                    },
                );
                match sock::Connecting::start(addr) {
                    Ok(c) => {
                        racing.push(c);
                        next_start = now + STAGGER;
                    }
                    Err(error) => {
                        handler.trace(
                            self.start.elapsed(),
                            &Step::ConnectFailed {
                                addr,
                                error: &error,
                            },
                        );
                        last_err = Some((addr, error));
                        next_start = now;
                    }
                }
                continue;
            }
            if racing.is_empty() {
                let (addr, source) = last_err.expect("every address was tried and failed");
                if sock::is_timeout(&source) {
                    return Err(self.timeout(Phase::Connect));
                }
                return Err(FetchError::Connect { addr, source });
            }
            let until = match (deadline, next < order.len()) {
                (Some(d), true) => Some(d.min(next_start)),
                (Some(d), false) => Some(d),
                (None, true) => Some(next_start),
                (None, false) => None,
            };
            let wait = until.map(|u| u.saturating_duration_since(now));
            let done =
                sock::poll_connecting(&racing, wait).map_err(|source| FetchError::Connect {
                    addr: racing[0].addr(),
                    source,
                })?;
            for i in done.into_iter().rev() {
                let attempt = racing.remove(i);
                let addr = attempt.addr();
                match attempt.finish() {
                    Ok(conn) => {
                        for loser in racing.drain(..) {
                            handler.trace(
                                self.start.elapsed(),
                                &Step::ConnectAbandoned { addr: loser.addr() },
                            );
                        }
                        self.exchange.ip = Some(addr.ip());
                        self.exchange.timing.connect = Some(self.start.elapsed());
                        let local = conn.local_addr().ok();
                        handler.trace(self.start.elapsed(), &Step::Connected { local, peer: addr });
                        return Ok(conn);
                    }
                    Err(error) => {
                        handler.trace(
                            self.start.elapsed(),
                            &Step::ConnectFailed {
                                addr,
                                error: &error,
                            },
                        );
                        last_err = Some((addr, error));
                        // RFC 8305: a failure starts the next one at once.
                        next_start = Instant::now();
                    }
                }
            }
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
/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn send_error(e: io::Error) -> FetchError {
    TlsError::from_io(&e).map_or(FetchError::Send(e), FetchError::Tls)
}

/// The order to try addresses in: IPv6 first, then the families
/// alternate, each family in the resolver's order (RFC 8305 section 4).
fn interleave(ips: &[IpAddr]) -> Vec<IpAddr> {
    let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) = ips.iter().partition(|ip| ip.is_ipv6());
    let mut out = Vec::with_capacity(ips.len());
    let (mut a, mut b) = (v6.into_iter(), v4.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_starts_with_ipv6_and_alternates() {
        let ips: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2", "fd00::1", "10.0.0.3", "fd00::2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let got: Vec<String> = interleave(&ips).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["fd00::1", "10.0.0.1", "fd00::2", "10.0.0.2", "10.0.0.3"]
        );
    }
}
