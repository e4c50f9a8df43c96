//! Integration tests for rawget on "the real web", kept on loopback:
//! HTTPS against a rustls server in a thread with a private CA made at
//! test time (rcgen), redirects, `--resolve`/`--connect-to`, and the
//! happy-eyeballs race.
//!
//! Every server records what it received (request, SNI) so each test also
//! checks it was really called; every server wait and every rawget run is
//! bounded.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde_json::Value;

mod rawget_support;
mod require;
use rawget_support::read_request;

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
    /// Answer after the request head, without reading the body, then
    /// hold the connection 5 s (an upload the server refuses early).
    EarlyAnswer,
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

/// Reads until the end of a request head (and whatever came with it).
fn read_head(r: &mut dyn Read) -> Vec<u8> {
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
                thread::sleep(Duration::from_secs(5));
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
    http_server_slow(bind, Duration::ZERO, answers)
}

/// [`http_server_on`], waiting `delay` before each answer.
fn http_server_slow(bind: SocketAddr, delay: Duration, answers: Vec<Vec<u8>>) -> Server {
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

fn http_server(answers: Vec<Vec<u8>>) -> Server {
    http_server_on((Ipv4Addr::LOCALHOST, 0).into(), answers)
}

// ----------------------------------------------------------------- running

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
fn https_upload_streams_a_file_body() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    std::fs::write(&path, vec![b'u'; 3 << 20]).unwrap();
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/up", srv.port());
    let data = format!("@{}", path.display());
    let run = rawget(&[
        "-m",
        "10",
        "-d",
        &data,
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    let req = &srv.seen()[0].request;
    assert!(
        req.contains("Content-Length: 3145728\r\n"),
        "{}",
        &req[..300]
    );
    assert_eq!(req.len() - req.find("\r\n\r\n").unwrap() - 4, 3 << 20);
}

#[test]
fn https_an_early_answer_to_an_upload_is_read_not_waited_on() {
    // The server answers after the head and stops reading: the answer is
    // decrypted while sending (not mere socket readability: TLS 1.3 sends
    // session tickets right after the handshake).
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    std::fs::write(&path, vec![b'u'; 32 << 20]).unwrap();
    let answer = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n".to_vec();
    let srv = tls_server(pki.config(false), vec![answer.clone()], End::EarlyAnswer);
    let url = format!("https://localhost:{}/up", srv.port());
    let data = format!("@{}", path.display());
    let run = rawget(&[
        "-m",
        "10",
        "-d",
        &data,
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    assert_eq!(run.stdout, answer);
    assert!(
        run.elapsed < Duration::from_millis(4000),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn exit_35_for_a_handshake_alert() {
    // The server speaks only h2: rustls refuses a client offering
    // http/1.1 with a no_application_protocol alert.
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let mut config = (*pki.config(false)).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let srv = tls_server(Arc::new(config), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "--json", "--cacert", &pki.ca_file(&dir), &url]).expect(35);
    assert_eq!(run.json()["error"]["kind"], "tls");
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
        vec![answer.clone(), answer.clone(), answer.clone()],
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
    assert_eq!(v["warnings"][0]["code"], "missing_close_notify", "{v}");
    // --strict makes the linter's warning an error (exit 8).
    rawget(&["-m", "10", "--strict", "--cacert", &ca, &url]).expect(8);
    srv.seen();
}

// --------------------------------------------------------------- redirects

fn redirect(status: u16, location: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 3\r\n\r\nbye")
        .into_bytes()
}

#[test]
fn every_redirect_status_with_its_method_rule() {
    for (status, method, body) in [
        (301, "GET", false),
        (302, "GET", false),
        (303, "GET", false),
        (307, "POST", true),
        (308, "POST", true),
    ] {
        let first = redirect(status, "/next?x=1");
        let srv = http_server(vec![first.clone(), OK_HELLO.to_vec()]);
        let url = format!("http://{}/start", srv.addr);
        let run = rawget(&["-m", "10", "-L", "-d", "a=1", &url]).expect(0);
        let mut both = first.clone();
        both.extend_from_slice(OK_HELLO);
        assert_eq!(run.stdout, both, "every hop's response, in order");
        let seen = srv.seen();
        assert!(
            seen[0].request.starts_with("POST /start "),
            "{}",
            seen[0].request
        );
        let second = &seen[1].request;
        assert!(
            second.starts_with(&format!("{method} /next?x=1 HTTP/1.1\r\n")),
            "{status}: {second}"
        );
        assert_eq!(second.ends_with("\r\n\r\na=1"), body, "{status}: {second}");
        assert_eq!(
            second.contains("Content-Length"),
            body,
            "{status}: {second}"
        );
    }
}

#[test]
fn a_file_body_is_streamed_again_on_a_307() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    std::fs::write(&path, vec![b'u'; 300_000]).unwrap();
    let srv = http_server(vec![redirect(307, "/again"), OK_HELLO.to_vec()]);
    let data = format!("@{}", path.display());
    rawget(&[
        "-m",
        "10",
        "-L",
        "-d",
        &data,
        &format!("http://{}/", srv.addr),
    ])
    .expect(0);
    for seen in srv.seen() {
        assert!(seen.request.contains("Content-Length: 300000\r\n"));
        assert!(seen.request.ends_with(&"u".repeat(1000)), "whole body sent");
        assert_eq!(
            seen.request.len() - seen.request.find("\r\n\r\n").unwrap() - 4,
            300_000
        );
    }
}

#[test]
fn without_l_the_redirect_is_the_response() {
    let srv = http_server(vec![redirect(302, "/elsewhere")]);
    let run = rawget(&["-m", "10", &format!("http://{}/", srv.addr)]).expect(0);
    assert_eq!(run.stdout, redirect(302, "/elsewhere"));
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn missing_or_unusable_location_ends_the_chain() {
    let no_location = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n".to_vec();
    for answer in [no_location, redirect(301, "http://[::1/")] {
        let srv = http_server(vec![answer.clone()]);
        let run = rawget(&["-m", "10", "-L", &format!("http://{}/", srv.addr)]).expect(0);
        assert_eq!(run.stdout, answer);
        assert_eq!(srv.seen().len(), 1);
    }
}

#[test]
fn absolute_location_to_another_host_drops_credentials() {
    for trusted in [false, true] {
        let target = http_server(vec![OK_HELLO.to_vec()]);
        let absolute = format!("http://localhost:{}/there", target.port());
        let srv = http_server(vec![redirect(302, "/same"), redirect(301, &absolute)]);
        let url = format!("http://user:pw@{}/", srv.addr);
        let follow = if trusted { "--location-trusted" } else { "-L" };
        let run = rawget(&[
            "-m",
            "10",
            follow,
            "-v",
            "-H",
            "Authorization: Bearer secret",
            "-H",
            "Cookie: session=1",
            "-H",
            "X-Keep: yes",
            &url,
        ])
        .expect(0);
        assert!(run.stdout.ends_with(OK_HELLO));
        let same = srv.seen();
        // The same origin gets everything, on both hops.
        for seen in &same {
            assert!(
                seen.request.contains("Authorization: Bearer secret"),
                "{}",
                seen.request
            );
            assert!(seen.request.contains("Cookie: session=1"));
        }
        let other = &target.seen()[0].request;
        assert!(other.starts_with("GET /there HTTP/1.1\r\n"), "{other}");
        assert!(other.contains(&format!("Host: localhost:{}", seen_port(&absolute))));
        assert!(other.contains("X-Keep: yes"));
        assert_eq!(other.contains("Authorization"), trusted, "{other}");
        assert_eq!(other.contains("Cookie"), trusted, "{other}");
        assert!(
            run.stderr.contains("> GET /there HTTP/1.1"),
            "each hop's request: {}",
            run.stderr
        );
        if !trusted {
            assert!(
                run.stderr.contains("credentials not sent"),
                "{}",
                run.stderr
            );
        }
    }
}

#[test]
fn exit_47_for_a_redirect_loop() {
    let srv = http_server(vec![redirect(302, "/loop"); 4]);
    let url = format!("http://{}/loop", srv.addr);
    let run = rawget(&["-m", "10", "-L", "--max-redirs", "3", "--json", &url]).expect(47);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "too_many_redirects", "{v}");
    assert_eq!(v["redirects"].as_array().unwrap().len(), 3);
    assert_eq!(v["status"], 302);
    assert_eq!(srv.seen().len(), 4);
    assert!(
        run.stderr.contains("maximum (3) redirects"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_lists_the_earlier_hops_and_describes_the_final_response() {
    let srv = http_server(vec![
        redirect(301, "/b"),
        redirect(308, "/c"),
        OK_HELLO.to_vec(),
    ]);
    let url = format!("http://{}/a", srv.addr);
    let v = rawget(&["-m", "10", "-L", "--json", &url]).expect(0).json();
    assert_eq!(
        (v["status"].as_u64(), v["body"].as_str()),
        (Some(200), Some("hello")),
        "{v}"
    );
    assert_eq!(v["url"], url.as_str(), "the URL as given");
    let hops = v["redirects"].as_array().unwrap();
    let got: Vec<(String, u64)> = hops
        .iter()
        .map(|h| {
            (
                h["url"].as_str().unwrap().to_owned(),
                h["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let base = format!("http://{}", srv.addr);
    assert_eq!(
        got,
        vec![(format!("{base}/a"), 301), (format!("{base}/b"), 308)]
    );
    assert_eq!(hops[0]["headers"][0], serde_json::json!(["Location", "/b"]));
    assert_eq!(hops[0]["ip"], "127.0.0.1");
    assert!(hops[0]["timing_ms"]["total"].as_f64().is_some());
    assert_eq!(srv.seen().len(), 3);
}

#[test]
fn max_time_bounds_the_whole_chain() {
    let slow = Duration::from_millis(400);
    let srv = http_server_slow(
        (Ipv4Addr::LOCALHOST, 0).into(),
        slow,
        vec![redirect(302, "/again"); 10],
    );
    let url = format!("http://{}/", srv.addr);
    let run = rawget(&["-m", "1", "-L", &url]).expect(28);
    assert!(
        run.elapsed < Duration::from_millis(2500),
        "{:?}",
        run.elapsed
    );
}

#[test]
fn http_to_https_redirect_verifies_the_new_host() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let to = format!("https://localhost:{}/s", tls.port());
    let srv = http_server(vec![redirect(301, &to)]);
    let url = format!("http://{}/", srv.addr);
    let run = rawget(&[
        "-m",
        "10",
        "-L",
        "--json",
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    let v = run.json();
    assert_eq!(v["tls"]["verified"], true, "{v}");
    assert!(v["redirects"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert_eq!(tls.seen()[0].sni.as_deref(), Some("localhost"));
    srv.seen();
}

// -------------------------------------------------------------- addressing

#[test]
fn resolve_sends_sni_and_host_of_the_url_to_the_given_address() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let port = srv.port();
    let resolve = format!("example.test:{port}:127.0.0.1");
    let url = format!("https://example.test:{port}/r");
    let run = rawget(&[
        "-m",
        "10",
        "--json",
        "--resolve",
        &resolve,
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    let v = run.json();
    assert_eq!(v["ip"], "127.0.0.1", "{v}");
    assert_eq!(v["tls"]["verified"], true, "the name checked is the URL's");
    let seen = srv.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("example.test"));
    assert!(
        seen[0]
            .request
            .contains(&format!("\r\nHost: example.test:{port}\r\n")),
        "{}",
        seen[0].request
    );
}

#[test]
fn connect_to_applies_on_every_hop_of_a_redirect() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    // The first hop is http://example.test/ (port 80), the second
    // https://example.test/next (port 443): both moved to local servers.
    let http = http_server(vec![redirect(301, "https://example.test/next")]);
    let connect_http = format!("example.test:80:127.0.0.1:{}", http.port());
    let connect_tls = format!("example.test:443:localhost:{}", tls.port());
    let run = rawget(&[
        "-m",
        "10",
        "-L",
        "--json",
        "--connect-to",
        &connect_http,
        "--connect-to",
        &connect_tls,
        "--cacert",
        &pki.ca_file(&dir),
        "http://example.test/",
    ])
    .expect(0);
    let v = run.json();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["port"], tls.port(), "the port connected to");
    assert_eq!(v["redirects"][0]["port"], http.port());
    let first = &http.seen()[0].request;
    assert!(first.contains("\r\nHost: example.test\r\n"), "{first}");
    let seen = tls.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("example.test"));
    assert!(
        seen[0]
            .request
            .starts_with("GET /next HTTP/1.1\r\nHost: example.test\r\n"),
        "{}",
        seen[0].request
    );
}

#[test]
fn bad_resolve_and_connect_to_are_usage_errors() {
    for args in [
        ["--resolve", "example.test:80"],
        ["--resolve", "example.test:80:not-an-ip"],
        ["--connect-to", "a:1:b"],
    ] {
        let run = rawget(&[args[0], args[1], "http://example.test/"]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

// ---------------------------------------------------------- happy eyeballs

/// A listener on `addr` whose accept queue is full: Linux drops further
/// SYNs, so a connect to it gets no answer at all (an IPv6 route that
/// silently loses packets, on loopback). Returns it and its filler.
fn black_hole(addr: SocketAddr) -> io::Result<(socket2::Socket, Vec<TcpStream>)> {
    let listener = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        listener.set_only_v6(true)?;
    }
    listener.bind(&addr.into())?;
    listener.listen(0)?;
    let bound = listener.local_addr()?.as_socket().unwrap();
    let fill = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&bound, Duration::from_millis(300)).ok())
        .collect();
    Ok((listener, fill))
}

/// What the -v trace says about the race: the IPv4 attempt started about
/// one stagger after the IPv6 one, won, and the IPv6 attempt was closed.
fn check_race(run: &Run, v6: &str) {
    let line = |needle: &str| -> f64 {
        let l = run
            .stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {}", run.stderr));
        l.split('[')
            .nth(1)
            .unwrap()
            .split("ms]")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let started_v6 = line(&format!("connect([{v6}]"));
    let started_v4 = line("happy eyeballs, 1 earlier attempt(s) unanswered");
    assert!(
        started_v4 - started_v6 >= 240.0,
        "staggered: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("connect([{v6}]:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("abandoned"), "{}", run.stderr);
    assert!(
        run.stderr.contains("connected 127.0.0.1:"),
        "{}",
        run.stderr
    );
}

#[test]
fn happy_eyeballs_a_silent_ipv6_address_costs_one_stagger() {
    require::or_skip!(require::ipv6());
    // The same port on ::1 (silent) and 127.0.0.1 (serving); retry until
    // a port free on both is found.
    let (hole, srv) = (0..20)
        .find_map(|_| {
            let hole = black_hole((Ipv6Addr::LOCALHOST, 0).into()).ok()?;
            let port = hole.0.local_addr().ok()?.as_socket()?.port();
            TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .ok()
                .map(drop)?;
            let srv = http_server_on((Ipv4Addr::LOCALHOST, port).into(), vec![OK_HELLO.to_vec()]);
            Some((hole, srv))
        })
        .expect("a port free on ::1 and 127.0.0.1");
    let port = srv.port();
    let resolve = format!("dual.test:{port}:[::1],127.0.0.1");
    let url = format!("http://dual.test:{port}/");
    let run = rawget(&[
        "--connect-timeout",
        "5",
        "-m",
        "10",
        "-v",
        "--resolve",
        &resolve,
        &url,
    ])
    .expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    check_race(&run, "::1");
    // Without the race the connect would wait for --connect-timeout.
    assert!(
        run.elapsed < Duration::from_millis(2500),
        "{:?}",
        run.elapsed
    );
    srv.seen();
    drop(hole);
}

#[test]
fn happy_eyeballs_connect_timeout_bounds_the_race() {
    let (hole, _fill) = black_hole((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let port = hole.local_addr().unwrap().as_socket().unwrap().port();
    // Two silent addresses (the same black hole twice, as two families
    // cannot both be black-holed portably): both race, neither answers.
    let resolve = format!("dead.test:{port}:127.0.0.1,127.0.0.1");
    let url = format!("http://dead.test:{port}/");
    let run = rawget(&[
        "--connect-timeout",
        "0.6",
        "-v",
        "--resolve",
        &resolve,
        &url,
    ])
    .expect(28);
    assert!(run.stderr.contains("connecting"), "{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_millis(2500),
        "{:?}",
        run.elapsed
    );
}

/// A network namespace made for one test, deleted on drop.
struct Netns(String);

impl Netns {
    /// Creates it; without root or `ip` the test fails, unless
    /// `RAWNET_TEST_SKIP` names what is missing (tests/require).
    fn create(tag: &str) -> Result<Netns, require::Skipped> {
        require::root("a network namespace")?;
        let ip = require::program("ip", "iproute2")?;
        let name = format!("rgt{tag}{}", std::process::id());
        let ok = Command::new(ip)
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(require::missing(
                "netns",
                &format!("`ip netns add {name}` failed"),
            ));
        }
        Ok(Netns(name))
    }

    fn ip(&self, args: &str) {
        let status = Command::new("ip")
            .args(["-n", &self.0])
            .args(args.split(' '))
            .status()
            .unwrap();
        assert!(status.success(), "ip -n {} {args}", self.0);
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        let path = format!("/run/netns/{}", self.0);
        thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: a valid namespace descriptor; only this thread moves.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn happy_eyeballs_in_a_namespace_with_a_dropping_ipv6_address() {
    // fd00:2e6::99 is an address of our own namespace whose incoming
    // packets an nft rule drops: a dead IPv6 path that never answers.
    let ns = require::or_skip!(Netns::create("he"));
    require::or_skip!(require::program("nft", "nftables"));
    ns.ip("link set lo up");
    ns.ip("addr add fd00:2e6::99/128 dev lo nodad");
    let nft = |rule: &str| {
        let status = Command::new("ip")
            .args(["netns", "exec", &ns.0, "nft"])
            .args(rule.split(' '))
            .status()
            .unwrap();
        assert!(status.success(), "nft {rule}");
    };
    nft("add table ip6 rawget_test");
    nft("add chain ip6 rawget_test input { type filter hook input priority 0 ; }");
    nft("add rule ip6 rawget_test input ip6 daddr fd00:2e6::99 drop");
    let (tx, rx) = mpsc::channel();
    let server = ns.spawn(move || {
        let srv = http_server(vec![OK_HELLO.to_vec()]);
        tx.send(srv.port()).unwrap();
        srv.seen()
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let resolve = format!("dual.test:{port}:[fd00:2e6::99],127.0.0.1");
    let url = format!("http://dual.test:{port}/");
    let run = rawget_in(
        Some(&ns.0),
        &[
            "--connect-timeout",
            "5",
            "-m",
            "10",
            "-v",
            "--resolve",
            &resolve,
            &url,
        ],
    )
    .expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    check_race(&run, "fd00:2e6::99");
    assert!(
        run.elapsed < Duration::from_millis(2500),
        "{:?}",
        run.elapsed
    );
    assert_eq!(server.join().unwrap().len(), 1);
}

// ------------------------------------------------- regressions (review)

/// A peer that accepts, reads what comes (a ClientHello) and says nothing
/// until the client closes, at most `hold`.
fn silent_server(hold: Duration) -> (SocketAddr, JoinHandle<usize>) {
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

#[test]
fn connect_timeout_bounds_the_tls_handshake() {
    // curl's --connect-timeout covers the TLS handshake: a server that
    // accepts and never answers the ClientHello is a timeout (28), not a
    // wait for as long as the server holds the connection.
    let (addr, seen) = silent_server(Duration::from_secs(15));
    let url = format!("https://127.0.0.1:{}/", addr.port());
    let run = rawget(&["-k", "--connect-timeout", "0.5", &url]).expect(28);
    assert!(run.stderr.contains("TLS handshake"), "{}", run.stderr);
    assert!(seen.join().unwrap() > 0, "the ClientHello was sent");
}

#[test]
fn an_empty_location_ends_the_chain() {
    // `Location:` with nothing in it points nowhere: the 302 is the final
    // response (as curl has it), not a loop to the same URL until exit 47.
    let srv = http_server(vec![
        b"HTTP/1.1 302 Found\r\nLocation: \r\nContent-Length: 0\r\n\r\n".to_vec(),
    ]);
    let url = format!("http://{}/start", srv.addr);
    let run = rawget(&["-L", "--json", &url]).expect(0);
    let j = run.json();
    assert_eq!(j["status"], 302);
    assert_eq!(j["redirects"].as_array().map(Vec::len), Some(0));
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn write_out_times_and_header_size_cover_the_whole_chain() {
    // As in curl, -w's times add up every hop (time_total and
    // time_starttransfer include a slow first hop) and size_header counts
    // every head; only lower bounds are checked, never an upper one.
    let end = http_server(vec![OK_HELLO.to_vec()]);
    let first = redirect(302, &format!("http://{}/end", end.addr));
    let first_len = first.len();
    let start = http_server_slow(
        (Ipv4Addr::LOCALHOST, 0).into(),
        Duration::from_millis(400),
        vec![first],
    );
    let url = format!("http://{}/start", start.addr);
    let run = rawget(&[
        "-L",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{time_starttransfer} %{size_header} %{num_redirects}",
        &url,
    ])
    .expect(0);
    let out = run.out();
    let fields: Vec<&str> = out.split(' ').collect();
    let secs = |i: usize| fields[i].parse::<f64>().unwrap();
    assert!(secs(0) >= 0.4, "time_total {out}");
    assert!(secs(1) >= 0.4, "time_starttransfer {out}");
    let heads = first_len - "bye".len() + OK_HELLO.len() - "hello".len();
    assert_eq!(fields[2], heads.to_string(), "{out}");
    assert_eq!(fields[3], "1");
    assert_eq!((start.seen().len(), end.seen().len()), (1, 1));
}

#[test]
fn a_location_that_is_not_utf8_keeps_its_bytes() {
    // A Latin-1 'é' (byte E9) in Location is sent on as %E9, as curl does,
    // not as the %EF%BF%BD of a lossy decoding.
    let end = http_server(vec![OK_HELLO.to_vec()]);
    let mut first = format!("HTTP/1.1 302 Found\r\nLocation: http://{}/caf", end.addr).into_bytes();
    first.extend_from_slice(b"\xe9\r\nContent-Length: 0\r\n\r\n");
    let start = http_server(vec![first]);
    let url = format!("http://{}/start", start.addr);
    rawget(&["-L", "-o", "/dev/null", &url]).expect(0);
    let seen = end.seen();
    assert!(
        seen[0].request.starts_with("GET /caf%E9 HTTP/1.1\r\n"),
        "{}",
        seen[0].request
    );
    assert_eq!(start.seen().len(), 1);
}

#[test]
fn a_custom_host_header_is_not_sent_to_another_host() {
    // curl keeps -H 'Host: ...' for the first host only: the next host
    // gets its own name, never the first one's virtual host.
    let other = http_server(vec![OK_HELLO.to_vec()]);
    let location = format!("http://localhost:{}/next", other.port());
    let first = http_server(vec![redirect(302, &location)]);
    let url = format!("http://{}/start", first.addr);
    rawget(&["-L", "-H", "Host: vhost.test", "-o", "/dev/null", &url]).expect(0);
    let first_req = &first.seen()[0].request;
    assert!(
        first_req.contains("\r\nHost: vhost.test\r\n"),
        "{first_req}"
    );
    let host = format!("\r\nHost: localhost:{}\r\n", other.port());
    let next_req = &other.seen()[0].request;
    assert!(next_req.contains(&host), "{next_req}");
    assert!(!next_req.contains("vhost.test"), "{next_req}");
}

#[test]
fn insecure_with_an_unusable_cacert_goes_on_and_names_the_file_in_the_verdict() {
    // curl -k ignores a --cacert it cannot use; the verdict still says why
    // nothing was verified.
    let pki = pki(Leaf::Good);
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-k", "--json", "--cacert", "/nonexistent/ca.pem", &url]).expect(0);
    let tls = &run.json()["tls"];
    assert_eq!(tls["verified"], false);
    let why = tls["verify_error"].as_str().unwrap_or_default();
    assert!(why.contains("CA file"), "{tls}");
    assert_eq!(srv.seen().len(), 1);
}
