//! Integration tests for rawget on "the real web", kept on loopback:
//! HTTPS against a rustls server in a thread with a private CA made at
//! test time (rcgen), redirects, `--resolve`/`--connect-to`, and the
//! happy-eyeballs race.
//!
//! Every server records what it received (request, SNI) so each test also
//! checks it was really called; every server wait and every rawget run is
//! bounded.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde_json::Value;

const WATCHDOG: Duration = Duration::from_secs(20);
const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

// ------------------------------------------------------------ certificates

/// A private CA and a leaf it signed, made fresh for each test.
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

/// How the leaf should be.
#[derive(Clone, Copy, PartialEq)]
enum Leaf {
    /// Valid for `localhost` and `example.test`.
    Good,
    /// Expired last year.
    Expired,
}

fn pki(leaf: Leaf) -> Pki {
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
    fn ca_file(&self, dir: &tempfile::TempDir) -> String {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path.display().to_string()
    }

    fn config(&self, tls12_only: bool) -> Arc<ServerConfig> {
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
struct Seen {
    request: String,
    sni: Option<String>,
}

/// How a TLS server ends the connection after its answer.
#[derive(Clone, Copy, PartialEq)]
enum End {
    CloseNotify,
    /// TCP FIN only: a close-delimited body could have been cut.
    TcpOnly,
}

struct Server {
    addr: SocketAddr,
    seen: JoinHandle<Vec<Seen>>,
}

impl Server {
    fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What the server saw, connection by connection.
    fn seen(self) -> Vec<Seen> {
        self.seen.join().expect("server thread")
    }
}

/// Waits for one connection, at most 10 s.
fn accept_within(listener: &TcpListener) -> Option<TcpStream> {
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

/// Reads a request head and its Content-Length body from `r`.
fn read_request(r: &mut dyn Read) -> Vec<u8> {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if req.len() >= end + 4 + len {
                return req;
            }
        }
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return req,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
}

/// A TLS server on 127.0.0.1:0: one connection per answer in `answers`.
fn tls_server(config: Arc<ServerConfig>, answers: Vec<Vec<u8>>, end: End) -> Server {
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
            let req = read_request(&mut stream);
            s.sni = stream.conn.server_name().map(str::to_owned);
            s.request = String::from_utf8_lossy(&req).into_owned();
            if !req.is_empty() {
                let _ = stream.write_all(&answer);
                if end == End::CloseNotify {
                    stream.conn.send_close_notify();
                }
                let _ = stream.flush();
            }
            let _ = tcp.shutdown(Shutdown::Write);
            seen.push(s);
        }
        seen
    });
    Server { addr, seen }
}

/// A plain-HTTP server on `bind`: one connection per answer.
fn http_server_on(bind: SocketAddr, answers: Vec<Vec<u8>>) -> Server {
    let listener = TcpListener::bind(bind).unwrap();
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

fn http_server(answers: Vec<Vec<u8>>) -> Server {
    http_server_on((Ipv4Addr::LOCALHOST, 0).into(), answers)
}

// ----------------------------------------------------------------- running

#[allow(dead_code)] // elapsed: used by the timing tests that follow
struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.out()))
    }

    fn expect(self, code: i32) -> Self {
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

fn rawget(args: &[&str]) -> Run {
    rawget_in(None, args)
}

/// Runs rawget, inside network namespace `netns` when given.
fn rawget_in(netns: Option<&str>, args: &[&str]) -> Run {
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
    let start = Instant::now();
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
        elapsed: start.elapsed(),
    }
}

// ------------------------------------------------------------------- HTTPS

#[test]
fn https_with_cacert_shows_the_exact_bytes_and_sends_sni_and_host() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/secure", srv.port());
    let run = rawget(&["-m", "10", "--cacert", &pki.ca_file(&dir), &url]).expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    let seen = srv.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    assert!(
        seen[0].request.starts_with(&format!(
            "GET /secure HTTP/1.1\r\nHost: localhost:{}\r\n",
            seen_port(&url)
        )),
        "{}",
        seen[0].request
    );
}

fn seen_port(url: &str) -> &str {
    url.rsplit(':').next().unwrap().split('/').next().unwrap()
}

#[test]
fn https_json_has_the_tls_object_and_timing() {
    for (tls12, version, cipher_prefix) in [
        (false, "TLSv1.3", "TLS13_"),
        (true, "TLSv1.2", "TLS_ECDHE_"),
    ] {
        let pki = pki(Leaf::Good);
        let dir = tempfile::tempdir().unwrap();
        let srv = tls_server(pki.config(tls12), vec![OK_HELLO.to_vec()], End::CloseNotify);
        let url = format!("https://localhost:{}/", srv.port());
        let run = rawget(&["-m", "10", "--json", "--cacert", &pki.ca_file(&dir), &url]).expect(0);
        let v = run.json();
        let tls = &v["tls"];
        assert_eq!(tls["version"], version, "{v}");
        assert!(
            tls["cipher"].as_str().unwrap().starts_with(cipher_prefix),
            "{v}"
        );
        assert_eq!(tls["alpn"], "http/1.1");
        assert_eq!(tls["sni"], "localhost");
        assert_eq!(tls["verified"], true);
        assert!(tls["close_notify"].is_null(), "ended by Content-Length");
        let certs = tls["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 2, "leaf and CA as sent");
        assert_eq!(certs[0]["subject"], "CN=rawget test leaf");
        assert_eq!(certs[0]["issuer"], "CN=rawget test CA");
        assert_eq!(certs[0]["sans"][0], "DNS:localhost");
        assert_eq!(certs[0]["sha256"].as_str().unwrap().len(), 64);
        assert!(certs[0]["not_after"].as_str().unwrap().ends_with('Z'));
        let t = &v["timing_ms"];
        let (connect, tls_at, first) = (
            t["connect"].as_f64().unwrap(),
            t["tls"].as_f64().unwrap(),
            t["first_byte"].as_f64().unwrap(),
        );
        assert!(connect <= tls_at && tls_at <= first, "{t}");
        assert_eq!(v["body"], "hello");
        srv.seen();
    }
}

#[test]
fn http_json_has_a_null_tls_object() {
    let srv = http_server(vec![OK_HELLO.to_vec()]);
    let run = rawget(&["-m", "10", "--json", &format!("http://{}/", srv.addr)]).expect(0);
    let v = run.json();
    assert!(v["tls"].is_null() && v["timing_ms"]["tls"].is_null(), "{v}");
    srv.seen();
}

#[test]
fn exit_60_unknown_ca_expired_leaf_and_wrong_name() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown CA: the system store does not know the test CA.
    let good = pki(Leaf::Good);
    let srv = tls_server(
        good.config(false),
        vec![OK_HELLO.to_vec()],
        End::CloseNotify,
    );
    let run = rawget(&["-m", "10", &format!("https://localhost:{}/", srv.port())]).expect(60);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    srv.seen();
    // Expired leaf, trusted CA.
    let expired = pki(Leaf::Expired);
    let ca = expired.ca_file(&dir);
    let srv = tls_server(
        expired.config(false),
        vec![OK_HELLO.to_vec()],
        End::CloseNotify,
    );
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "--json", "--cacert", &ca, &url]).expect(60);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "certificate", "{v}");
    assert!(
        v["tls"]["verify_error"]
            .as_str()
            .unwrap()
            .contains("xpired"),
        "{v}"
    );
    srv.seen();
    // Wrong name: the leaf is for localhost, not 127.0.0.1.
    let ca = good.ca_file(&dir);
    let srv = tls_server(
        good.config(false),
        vec![OK_HELLO.to_vec()],
        End::CloseNotify,
    );
    let url = format!("https://127.0.0.1:{}/", srv.port());
    rawget(&["-m", "10", "--cacert", &ca, &url]).expect(60);
    srv.seen();
}

#[test]
fn insecure_accepts_an_unknown_ca_and_says_so() {
    let pki = pki(Leaf::Good);
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "-k", "-v", "--json", &url]).expect(0);
    let v = run.json();
    assert_eq!(v["tls"]["verified"], false, "{v}");
    assert_eq!(v["status"], 200);
    assert!(run.stderr.contains("--insecure"), "{}", run.stderr);
    assert!(
        run.stderr.contains("TLS ClientHello sent (SNI localhost"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("TLS handshake complete: TLSv1.3"),
        "{}",
        run.stderr
    );
    srv.seen();
}

#[test]
fn exit_35_for_a_plain_http_peer_on_an_https_url() {
    let srv = http_server(vec![OK_HELLO.to_vec()]);
    let run = rawget(&["-m", "10", &format!("https://{}/", srv.addr)]).expect(35);
    assert!(
        run.stderr.contains("TLS handshake failed"),
        "{}",
        run.stderr
    );
    srv.seen();
}

#[test]
fn exit_77_for_an_unusable_cacert_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let pki = pki(Leaf::Good);
    let srv = tls_server(pki.config(false), vec![], End::CloseNotify);
    for file in [bad.display().to_string(), "/nonexistent/ca.pem".to_string()] {
        let url = format!("https://localhost:{}/", srv.port());
        let run = rawget(&["-m", "10", "--cacert", &file, &url]).expect(77);
        assert!(run.stderr.contains("CA file"), "{}", run.stderr);
    }
    srv.seen();
}

#[test]
fn a_close_delimited_body_without_close_notify_is_reported() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.ca_file(&dir);
    let answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it?".to_vec();
    let srv = tls_server(
        pki.config(false),
        vec![answer.clone(), answer.clone()],
        End::TcpOnly,
    );
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "--cacert", &ca, &url]).expect(0);
    assert_eq!(run.stdout, answer);
    assert!(run.stderr.contains("close_notify"), "{}", run.stderr);
    let run = rawget(&["-m", "10", "--json", "--cacert", &ca, &url]).expect(0);
    let v = run.json();
    assert_eq!(v["tls"]["close_notify"], false, "{v}");
    assert!(v["tls"]["warning"].as_str().unwrap().contains("truncated"));
    srv.seen();
}
