//! Scripted peers for rawget's HTTPS, redirect and happy-eyeballs tests
//! (tests/rawget_https.rs, rawget_redirects.rs, rawget_happy_eyeballs.rs):
//! a private CA and leaf made at test time (rcgen), a rustls server and a
//! plain HTTP server on loopback that record what they received (request,
//! SNI), and a bounded run of rawget, optionally inside a network
//! namespace.

#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde_json::Value;

use crate::rawget_support::read_request;

pub const WATCHDOG: Duration = Duration::from_secs(20);
pub const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

// ------------------------------------------------------------ certificates

/// A private CA and a leaf it signed, made fresh for each test.
pub struct Pki {
    pub ca_pem: String,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Vec<u8>,
}

/// How the leaf should be.
#[derive(Clone, Copy, PartialEq)]
pub enum Leaf {
    /// Valid for `localhost` and `example.test`.
    Good,
    /// Expired last year.
    Expired,
}

pub fn pki(leaf: Leaf) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rawget test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "example.test".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "rawget test leaf");
    if leaf == Leaf::Expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki {
        ca_pem: ca.pem(),
        chain: vec![cert.der().clone(), ca.der().clone()],
        key: key.serialize_der(),
    }
}

impl Pki {
    /// Writes the CA to a file for `--cacert`.
    pub fn ca_file(&self, dir: &tempfile::TempDir) -> String {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path.display().to_string()
    }

    pub fn config(&self, tls12_only: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone().into()),
            )
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

// ----------------------------------------------------------------- servers

/// What a server saw of one connection.
#[derive(Debug, Default)]
pub struct Seen {
    pub request: String,
    pub sni: Option<String>,
}

/// How a TLS server ends the connection after its answer.
#[derive(Clone, Copy, PartialEq)]
pub enum End {
    CloseNotify,
    /// TCP FIN only: a close-delimited body could have been cut.
    TcpOnly,
    /// Answer after the request head, without reading the body, then
    /// hold the connection until the client closes it (an upload the
    /// server refuses early).
    EarlyAnswer,
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: JoinHandle<Vec<Seen>>,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the server saw, connection by connection.
    pub fn seen(self) -> Vec<Seen> {
        self.seen.join().expect("server thread")
    }
}

/// Waits for one connection, at most 10 s.
pub fn accept_within(listener: &TcpListener) -> Option<TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                return Some(conn);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => return None,
        }
    }
    None
}

/// Reads until the end of a request head (and whatever came with it).
pub fn read_head(r: &mut dyn Read) -> Vec<u8> {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    req
}

/// A TLS server on 127.0.0.1:0: one connection per answer in `answers`.
pub fn tls_server(config: Arc<ServerConfig>, answers: Vec<Vec<u8>>, end: End) -> Server {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let Some(mut tcp) = accept_within(&listener) else {
                break;
            };
            let mut conn = ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut s = Seen::default();
            let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
            let req = if end == End::EarlyAnswer {
                read_head(&mut stream)
            } else {
                read_request(&mut stream)
            };
            s.sni = stream.conn.server_name().map(str::to_owned);
            s.request = String::from_utf8_lossy(&req).into_owned();
            if !req.is_empty() {
                let _ = stream.write_all(&answer);
                if end == End::CloseNotify {
                    stream.conn.send_close_notify();
                }
                let _ = stream.flush();
            }
            if end == End::EarlyAnswer {
                // Neither read nor close until the client has closed.
                wait_for_client_close(&tcp);
            }
            let _ = tcp.shutdown(Shutdown::Write);
            seen.push(s);
        }
        seen
    });
    Server { addr, seen }
}

/// Waits, without reading, until the client has closed or reset `conn`
/// (at most twice the watchdog, by when the test has failed anyway).
pub fn wait_for_client_close(conn: &TcpStream) {
    use std::os::fd::AsRawFd;
    let mut fds = libc::pollfd {
        fd: conn.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    let ms = (2 * WATCHDOG).as_millis() as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut fds, 1, ms) };
}

/// A plain-HTTP server on `bind`: one connection per answer.
pub fn http_server_on(bind: SocketAddr, answers: Vec<Vec<u8>>) -> Server {
    http_server_slow(bind, Duration::ZERO, answers)
}

/// [`http_server_on`], waiting `delay` before each answer.
pub fn http_server_slow(bind: SocketAddr, delay: Duration, answers: Vec<Vec<u8>>) -> Server {
    http_server_with(TcpListener::bind(bind).unwrap(), delay, answers)
}

/// [`http_server_slow`] on a listener already bound (a port that must not
/// be let go between finding it free and serving on it).
pub fn http_server_with(listener: TcpListener, delay: Duration, answers: Vec<Vec<u8>>) -> Server {
    let addr = listener.local_addr().unwrap();
    let seen = thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let Some(mut conn) = accept_within(&listener) else {
                break;
            };
            // A TLS ClientHello (first byte 0x16) is not a request: answer
            // it at once, as an HTTP server would answer garbage.
            let mut first = [0u8; 1];
            let tls = conn
                .peek(&mut first)
                .is_ok_and(|n| n == 1 && first[0] == 0x16);
            let req = if tls {
                Vec::new()
            } else {
                read_request(&mut conn)
            };
            thread::sleep(delay);
            let _ = conn.write_all(&answer);
            let _ = conn.shutdown(Shutdown::Write);
            // Wait for the client's close, so it reads every byte.
            let _ = conn.read(&mut [0u8; 1]);
            seen.push(Seen {
                request: String::from_utf8_lossy(&req).into_owned(),
                sni: None,
            });
        }
        seen
    });
    Server { addr, seen }
}

pub fn http_server(answers: Vec<Vec<u8>>) -> Server {
    http_server_on((Ipv4Addr::LOCALHOST, 0).into(), answers)
}

// ----------------------------------------------------------------- running

pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.out()))
    }

    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            code,
            "exit code; stderr: {}\nstdout: {}",
            self.stderr,
            self.out()
        );
        self
    }
}

pub fn rawget(args: &[&str]) -> Run {
    rawget_in(None, args)
}

/// Runs rawget, inside network namespace `netns` when given.
pub fn rawget_in(netns: Option<&str>, args: &[&str]) -> Run {
    let bin = env!("CARGO_BIN_EXE_rawget");
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, bin]);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn rawget");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(WATCHDOG) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("rawget did not finish within {WATCHDOG:?}");
        }
    };
    Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A peer that accepts, reads what comes (a ClientHello) and says nothing
/// until the client closes, at most `hold`.
pub fn silent_server(hold: Duration) -> (SocketAddr, JoinHandle<usize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = thread::spawn(move || {
        let Some(mut conn) = accept_within(&listener) else {
            return 0;
        };
        conn.set_read_timeout(Some(hold)).unwrap();
        let mut total = 0;
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = conn.read(&mut buf) {
            total += n;
        }
        total
    });
    (addr, seen)
}

pub fn seen_port(url: &str) -> &str {
    url.rsplit(':').next().unwrap().split('/').next().unwrap()
}
