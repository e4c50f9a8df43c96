//! Integration tests: the real `rawget` binary against scripted servers on
//! 127.0.0.1 port 0, one per framing rule and per exit code.
//!
//! Every server runs in a thread, records the request it received (so each
//! test also checks the server was really called), then plays its script.
//! Every rawget run has `-m` and a watchdog, so no test can hang.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde::Deserialize;

mod rawget_support;
mod require;
use rawget_support::{closed_port, read_request};

const WATCHDOG: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- servers

/// One step of a scripted server.
#[derive(Clone)]
enum Act {
    Send(Vec<u8>),
    /// A pause that is part of the scenario (a slow server), never a way
    /// to wait for something: that is [`Act::Call`].
    Sleep(Duration),
    /// Keep the connection open, reading nothing, until the client closes
    /// it: a client that waited for the server instead would be killed by
    /// the [`WATCHDOG`] and fail its test.
    Hold,
    /// Run this, e.g. wait for an event of the test (see [`rendezvous`]).
    Call(Arc<dyn Fn() + std::marker::Send + Sync>),
    /// Close with RST instead of FIN.
    Reset,
}

use Act::*;

fn send(bytes: impl AsRef<[u8]>) -> Act {
    Send(bytes.as_ref().to_vec())
}

struct Server {
    addr: SocketAddr,
    request: JoinHandle<Vec<u8>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The request the server received.
    fn request(self) -> String {
        String::from_utf8_lossy(&self.request.join().expect("server thread")).into_owned()
    }
}

/// A server on 127.0.0.1:0 that serves one connection with `script`.
fn serve(script: Vec<Act>) -> Server {
    serve_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), script)
}

fn serve_on(bind: SocketAddr, script: Vec<Act>) -> Server {
    serve_with(bind, Reading::Whole, script)
}

/// How much of the request the server reads before its script.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    /// Head and Content-Length body.
    Whole,
    /// The head only, with a tiny receive buffer: an upload stalls.
    HeadOnly,
}

fn serve_with(bind: SocketAddr, reading: Reading, script: Vec<Act>) -> Server {
    let listener = socket2::Socket::new(
        socket2::Domain::for_address(bind),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    if reading == Reading::HeadOnly {
        // Inherited by the accepted socket: the client's send stalls soon.
        listener.set_recv_buffer_size(4096).unwrap();
    }
    listener.bind(&bind.into()).expect("bind");
    listener.listen(16).unwrap();
    let listener: TcpListener = listener.into();
    let addr = listener.local_addr().unwrap();
    let request = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let req = match reading {
            Reading::Whole => read_request(&mut conn),
            Reading::HeadOnly => read_head(&mut conn),
        };
        for act in script {
            match act {
                Send(b) => {
                    if conn.write_all(&b).is_err() {
                        break;
                    }
                }
                Sleep(d) => thread::sleep(d),
                Hold => wait_for_client_close(&conn),
                Call(f) => f(),
                Reset => {
                    // SO_LINGER 0: close() sends RST, not FIN.
                    socket2::SockRef::from(&conn)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                    return req;
                }
            }
        }
        let _ = conn.shutdown(Shutdown::Write);
        req
    });
    Server { addr, request }
}

/// Waits, without reading (an upload stays unread), until the client has
/// closed or reset `conn`; gives up after twice the [`WATCHDOG`], by when
/// the test has failed anyway.
fn wait_for_client_close(conn: &TcpStream) {
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

/// A meeting point for `n` parties (server scripts, the test): each call
/// waits until all `n` have called, at most the [`WATCHDOG`].
fn rendezvous(n: usize) -> Arc<dyn Fn() + std::marker::Send + Sync> {
    let state = Arc::new((Mutex::new(0usize), Condvar::new()));
    Arc::new(move || {
        let (count, arrived) = &*state;
        let mut count = count.lock().unwrap();
        *count += 1;
        arrived.notify_all();
        let _ = arrived
            .wait_timeout_while(count, WATCHDOG, |c| *c < n)
            .unwrap();
    })
}

/// Reads up to the end of the request head, one byte at a time, so not
/// a byte of the body is taken off the socket.
fn read_head(conn: &mut TcpStream) -> Vec<u8> {
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => req.push(byte[0]),
            _ => break,
        }
    }
    req
}

// ---------------------------------------------------------------- running

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn json(&self) -> Vec<Record> {
        self.out()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Asserts the exit code and, for failures, one `rawget:` line on
    /// stderr.
    fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code,
            code,
            "exit code; stderr: {}\nstdout: {}",
            self.stderr,
            self.out()
        );
        if code != 0 {
            let lines: Vec<&str> = self.stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one error line: {:?}", self.stderr);
            assert!(lines[0].starts_with("rawget: "), "{}", lines[0]);
        }
        self
    }
}

fn rawget(args: &[&str]) -> Run {
    rawget_with(args, |_| {})
}

fn rawget_with(args: &[&str], tweak: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rawget"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    tweak(&mut cmd);
    let child = cmd.spawn().expect("spawn rawget");
    let out = wait_bounded(child);
    Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits for the child, killing it (and failing) after the watchdog.
fn wait_bounded(child: Child) -> Output {
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("rawget did not finish within {WATCHDOG:?}");
        }
    }
}

/// `--json` output, with unknown fields denied: the schema is a contract.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Record {
    url: String,
    ip: Option<String>,
    port: Option<u16>,
    version: Option<String>,
    status: Option<u16>,
    reason: Option<String>,
    reason_base64: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    body_encoding: Option<String>,
    body_bytes: u64,
    trailers: Vec<(String, String)>,
    timing_ms: Timing,
    error: Option<ErrorRecord>,
    warnings: Vec<WarningRecord>,
    tls: Option<serde_json::Value>,
    redirects: Vec<serde_json::Value>,
    server_timing: Vec<serde_json::Value>,
    conn_id: Option<u64>,
    num_connects: u32,
    reused: bool,
    proxy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WarningRecord {
    code: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Timing {
    dns: Option<f64>,
    connect: Option<f64>,
    tls: Option<f64>,
    first_byte: Option<f64>,
    total: f64,
    attempts: Vec<Attempt>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Attempt {
    address: String,
    start: f64,
    duration: Option<f64>,
    result: String,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorRecord {
    kind: String,
    message: String,
}

const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

// ---------------------------------------------------------------- request

#[test]
fn sends_the_documented_request() {
    let srv = serve(vec![send(OK_HELLO)]);
    let run = rawget(&["-m", "10", &srv.url("/a/b?x=1")]).expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    let port = srv.addr.port();
    assert_eq!(
        srv.request(),
        format!(
            "GET /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: rawget/{}\r\n\
             Accept: */*\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn host_port_form_and_user_headers() {
    let srv = serve(vec![send(OK_HELLO)]);
    let target = format!("127.0.0.1:{}", srv.addr.port());
    rawget(&["-m", "10", "-H", "X-Test: yes", "-H", "Accept:", &target]).expect(0);
    let req = srv.request();
    assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nX-Test: yes\r\n"), "{req}");
    assert!(!req.contains("Accept:"), "{req}");
}

#[test]
fn data_is_posted_with_content_length() {
    let srv = serve(vec![send(OK_HELLO)]);
    rawget(&["-m", "10", "-d", "a=1", "-d", "b=2", &srv.url("/form")]).expect(0);
    let req = srv.request();
    assert!(req.starts_with("POST /form HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nContent-Length: 7\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\na=1&b=2"), "{req}");
}

#[test]
fn data_from_a_file_without_a_size_is_read_not_announced_empty() {
    // A /proc file (like a pipe, `--data-binary @<(cmd)`) says it is
    // empty; its bytes must still be sent, as curl sends them.
    // /proc/self/comm is the reader's own name: "rawget\n".
    let srv = serve(vec![send(OK_HELLO)]);
    rawget(&[
        "-m",
        "10",
        "--data-binary",
        "@/proc/self/comm",
        &srv.url("/"),
    ])
    .expect(0);
    let req = srv.request();
    assert!(req.contains("\r\nContent-Length: 7\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\nrawget\n"), "{req}");
}

#[test]
fn method_flag_is_sent() {
    let srv = serve(vec![send(b"HTTP/1.1 204 No Content\r\n\r\n")]);
    rawget(&["-m", "10", "-X", "DELETE", &srv.url("/x")]).expect(0);
    assert!(srv.request().starts_with("DELETE /x HTTP/1.1\r\n"));
}

#[test]
fn ipv6_literal_url() {
    require::or_skip!(require::ipv6());
    let srv = serve_on((Ipv6Addr::LOCALHOST, 0).into(), vec![send(OK_HELLO)]);
    let port = srv.addr.port();
    let url = format!("http://[::1]:{port}/");
    let run = rawget(&["-m", "10", "--json", &url]).expect(0);
    assert_eq!(run.json()[0].ip.as_deref(), Some("::1"));
    assert!(srv.request().contains(&format!("Host: [::1]:{port}\r\n")));
}

// ---------------------------------------------------------------- framing

#[test]
fn content_length_stops_reading_without_waiting_for_close() {
    // The server closes only after rawget has: exit 0 within -m proves
    // rawget did not wait for the close.
    let srv = serve(vec![send(OK_HELLO), Hold]);
    let run = rawget(&["-m", "10", &srv.url("/")]).expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    srv.request();
}

#[test]
fn chunked_raw_output_keeps_framing_and_json_decodes() {
    let resp: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let srv = serve(vec![send(resp), Hold]);
    let run = rawget(&["-m", "10", &srv.url("/")]).expect(0);
    assert_eq!(run.stdout, resp, "byte for byte, chunk framing included");
    srv.request();

    let srv = serve(vec![send(resp), Hold]);
    let run = rawget(&["-m", "10", "--json", &srv.url("/")]).expect(0);
    let rec = &run.json()[0];
    assert_eq!(rec.body.as_deref(), Some("hello world"));
    assert_eq!(rec.body_bytes, 11);
    assert_eq!(rec.trailers, vec![("X-Trailer".into(), "t".into())]);
    srv.request();
}

#[test]
fn chunked_wins_over_content_length() {
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
        3\r\nabc\r\n0\r\n\r\n";
    let srv = serve(vec![send(resp), Hold]);
    let run = rawget(&["-m", "10", "--json", &srv.url("/")]).expect(0);
    assert_eq!(run.json()[0].body.as_deref(), Some("abc"));
    srv.request();
}

#[test]
fn close_delimited_body_reads_to_eof() {
    let srv = serve(vec![
        send("HTTP/1.1 200 OK\r\nX: y\r\n\r\npart one,"),
        Sleep(Duration::from_millis(100)),
        send(" part two"),
    ]);
    let run = rawget(&["-m", "10", "--json", &srv.url("/")]).expect(0);
    assert_eq!(run.json()[0].body.as_deref(), Some("part one, part two"));
    srv.request();
}

#[test]
fn head_response_has_no_body() {
    let srv = serve(vec![
        send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        Hold,
    ]);
    let run = rawget(&["-m", "10", "-I", &srv.url("/")]).expect(0);
    assert_eq!(run.out(), "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    assert!(srv.request().starts_with("HEAD / HTTP/1.1\r\n"));
}

#[test]
fn status_204_and_304_have_no_body() {
    for status in ["204 No Content", "304 Not Modified"] {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: 10\r\n\r\n");
        let srv = serve(vec![send(&head), Hold]);
        let run = rawget(&["-m", "10", &srv.url("/")]).expect(0);
        assert_eq!(run.out(), head, "{status}");
        srv.request();
    }
}

#[test]
fn interim_1xx_is_skipped_to_the_final_response() {
    let resp = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n\
        HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
    let srv = serve(vec![send(resp), Hold]);
    let run = rawget(&["-m", "10", "--json", &srv.url("/")]).expect(0);
    let rec = &run.json()[0];
    assert_eq!((rec.status, rec.body.as_deref()), (Some(201), Some("ok")));
    srv.request();
    let srv = serve(vec![send(resp), Hold]);
    assert_eq!(rawget(&["-m", "10", &srv.url("/")]).expect(0).stdout, resp);
    srv.request();
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let srv = serve(vec![send(
        "HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nhi",
    )]);
    let run = rawget(&["-m", "10", "--json", &srv.url("/")]).expect(0);
    let rec = &run.json()[0];
    assert_eq!(rec.body.as_deref(), Some("hi"));
    assert_eq!(rec.headers[1], ("X-A".into(), "b".into()));
    srv.request();
}

// ---------------------------------------------------------------- json

#[test]
fn json_has_every_field_in_order_with_duplicates() {
    let srv = serve(vec![send(
        "HTTP/1.1 404 Not Found\r\nSet-Cookie: a=1\r\nContent-Length: 3\r\nSet-Cookie: b=2\r\n\r\nnop",
    )]);
    let url = srv.url("/missing");
    let run = rawget(&["-m", "10", "--json", &url]).expect(0);
    let rec = &run.json()[0];
    assert_eq!(rec.url, url);
    assert_eq!(rec.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(rec.port, Some(srv.addr.port()));
    assert_eq!(rec.version.as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        (rec.status, rec.reason.as_deref()),
        (Some(404), Some("Not Found"))
    );
    let names: Vec<&str> = rec.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["Set-Cookie", "Content-Length", "Set-Cookie"]);
    assert_eq!(rec.body_encoding.as_deref(), Some("utf-8"));
    assert_eq!(rec.body_bytes, 3);
    let t = &rec.timing_ms;
    let (dns, connect, first) = (t.dns.unwrap(), t.connect.unwrap(), t.first_byte.unwrap());
    assert!(
        dns <= connect && connect <= first && first <= t.total,
        "{t:?}"
    );
    // The one connect attempt, with its address, ending when connected.
    let a: Vec<(&str, &str)> = t
        .attempts
        .iter()
        .map(|a| (a.address.as_str(), a.result.as_str()))
        .collect();
    assert_eq!(a, [(srv.addr.to_string().as_str(), "connected")]);
    assert!(t.attempts[0].start <= connect, "{t:?}");
    assert!(rec.error.is_none());
    srv.request();
}

#[test]
fn json_binary_body_is_base64() {
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n".to_vec();
    resp.extend_from_slice(&[0xff, 0x00, 0xfe, 0x01]);
    let srv = serve(vec![Send(resp)]);
    let run = rawget(&["-m", "10", "--json", &srv.url("/")]).expect(0);
    let rec = &run.json()[0];
    assert_eq!(rec.body_encoding.as_deref(), Some("base64"));
    assert_eq!(rec.body.as_deref(), Some("/wD+AQ=="));
    srv.request();
}

#[test]
fn json_failure_has_error_object() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let run = rawget(&["-m", "10", "--json", &url]).expect(7);
    let rec = &run.json()[0];
    let err = rec.error.as_ref().expect("error object");
    assert_eq!(err.kind, "connect");
    assert!(err.message.contains("refused"), "{}", err.message);
    assert_eq!(rec.status, None);
}

// ---------------------------------------------------------------- several URLs

#[test]
fn several_urls_run_in_parallel_and_print_in_order() {
    // "slow" and "also" answer only once all three servers hold their
    // request and "fast" has answered: one URL at a time would never get
    // there (exit 28 at -m), and the answers complete out of order.
    let all_three = rendezvous(3);
    let slow = serve(vec![
        Call(all_three.clone()),
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow"),
    ]);
    let fast = serve(vec![
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast"),
        Call(all_three.clone()),
    ]);
    let also = serve(vec![
        Call(all_three),
        send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nalso"),
    ]);
    let run = rawget(&[
        "-m",
        "10",
        "--json",
        &slow.url("/"),
        &fast.url("/"),
        &also.url("/"),
    ])
    .expect(0);
    let bodies: Vec<String> = run.json().into_iter().map(|r| r.body.unwrap()).collect();
    assert_eq!(bodies, ["slow", "fast", "also"]);
    for s in [slow, fast, also] {
        s.request();
    }
}

#[test]
fn several_urls_first_failure_decides_the_exit_code() {
    let ok = serve(vec![send(OK_HELLO)]);
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let run = rawget(&["-m", "10", &ok.url("/"), &refused, "https://x/"]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert_eq!(run.stdout, OK_HELLO);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
    ok.request();
}

// ---------------------------------------------------------------- output

#[test]
fn output_file_gets_the_body_as_curl_saves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let srv = serve(vec![send(OK_HELLO)]);
    let run = rawget(&["-m", "10", "-o", path.to_str().unwrap(), &srv.url("/")]).expect(0);
    assert!(run.stdout.is_empty());
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
    srv.request();
}

#[test]
fn verbose_traces_request_and_steps_on_stderr() {
    let srv = serve(vec![send(OK_HELLO)]);
    let run = rawget(&["-m", "10", "-v", &srv.url("/v")]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout, OK_HELLO, "trace stays off stdout");
    for needle in [
        "> GET /v HTTP/1.1",
        "connect(127.0.0.1:",
        "recv() ",
        "response complete",
    ] {
        assert!(run.stderr.contains(needle), "{needle} in {}", run.stderr);
    }
    srv.request();
}

#[test]
fn broken_pipe_is_not_an_error() {
    let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n".to_vec();
    resp.resize(resp.len() + 8 * 1024 * 1024, b'x');
    let srv = serve(vec![Send(resp)]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rawget"))
        .args(["-m", "10", &srv.url("/")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's read end is dropped here: rawget's next write fails.
    let out = wait_bounded(child);
    assert_eq!(&first, b"HTTP/1.1 200 OK\r");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    srv.request();
}

// ---------------------------------------------------------------- exit codes

#[test]
fn exit_0_for_any_complete_response() {
    let srv = serve(vec![send("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")]);
    rawget(&["-m", "10", &srv.url("/")]).expect(0);
    srv.request();
}

#[test]
fn exit_1_unsupported_protocol() {
    let run = rawget(&["ftp://127.0.0.1/"]).expect(1);
    assert!(run.stderr.contains("ftp"), "{}", run.stderr);
}

#[test]
fn exit_2_usage() {
    rawget(&[]).expect_usage();
    rawget(&["--no-such-flag", "h"]).expect_usage();
    rawget(&["-m", "soon", "h"]).expect_usage();
    // A bad header or method is found after clap, and still reads as a
    // usage error: one `error: ... (see --help)` line.
    rawget(&["-H", "Bad Header", "127.0.0.1:1"]).expect_usage();
    rawget(&["-H", "X: a\r\nY: b", "127.0.0.1:1"]).expect_usage();
    let run = rawget(&["-X", "BAD METHOD", "127.0.0.1:1"]);
    assert!(run.stderr.ends_with("(see --help)\n"), "{}", run.stderr);
    run.expect_usage();
    assert_eq!(rawget(&["--help"]).code, 0);
    assert_eq!(rawget(&["--version"]).code, 0);
}

#[test]
fn usage_errors_keep_clap_details_on_one_line() {
    let run = rawget(&[]);
    assert!(
        run.stderr.contains("not provided: <URL>..."),
        "{}",
        run.stderr
    );
    run.expect_usage();
    let run = rawget(&["--max-tim", "3", "h"]);
    assert!(
        run.stderr
            .contains("a similar argument exists: '--max-time'"),
        "{}",
        run.stderr
    );
    run.expect_usage();
    for flag in ["-m", "--connect-timeout"] {
        let run = rawget(&[flag, "-1", "h"]);
        assert!(run.stderr.contains("'-1' is negative"), "{}", run.stderr);
        assert!(run.stderr.ends_with("(see --help)\n"), "{}", run.stderr);
        run.expect_usage();
    }
}

impl Run {
    /// clap's usage errors are one `error: ...` line too (without the
    /// `rawget:` prefix of runtime errors), and nothing on stdout.
    fn expect_usage(self) {
        assert_eq!(self.code, 2, "{}", self.stderr);
        assert!(self.stdout.is_empty());
        assert_eq!(self.stderr.lines().count(), 1, "{}", self.stderr);
        assert!(self.stderr.starts_with("error: "), "{}", self.stderr);
    }
}

#[test]
fn exit_3_malformed_url() {
    rawget(&["http://"]).expect(3);
    rawget(&["http://[::1/"]).expect(3);
    rawget(&["127.0.0.1:99999"]).expect(3);
}

#[test]
fn exit_6_cannot_resolve() {
    // A 64-octet label cannot go into a DNS query: glibc fails it locally,
    // so this sends nothing to any name server.
    let host = format!("{}.invalid", "a".repeat(64));
    let run = rawget(&["-m", "10", &host]).expect(6);
    assert!(run.stderr.contains(&host), "{}", run.stderr);
    rawget(&["-6", "-m", "10", "127.0.0.1:1"]).expect(6);
}

#[test]
fn exit_7_cannot_connect() {
    let port = closed_port();
    let run = rawget(&["-m", "10", &format!("127.0.0.1:{port}")]).expect(7);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
}

#[test]
fn exit_8_malformed_responses() {
    let cases: &[&[u8]] = &[
        b"SSH-2.0-OpenSSH_9.0\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nX: y\r\n",
    ];
    for resp in cases {
        let srv = serve(vec![send(resp)]);
        let run = rawget(&["-m", "10", "--json", &srv.url("/")]);
        assert_eq!(
            run.code,
            8,
            "{:?}: {}",
            String::from_utf8_lossy(resp),
            run.stderr
        );
        srv.request();
    }
}

#[test]
fn exit_8_header_section_too_large() {
    let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..20_000 {
        resp.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(20)).as_bytes());
    }
    let srv = serve(vec![Send(resp)]);
    let run = rawget(&["-m", "10", &srv.url("/")]).expect(8);
    assert!(
        run.stderr.contains("response head exceeds"),
        "{}",
        run.stderr
    );
    srv.request();
}

#[test]
fn exit_8_not_http_from_the_reverse_server_example() {
    let example = example_path("reverse_server");
    let mut server = Command::new(example)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the reverse_server example");
    let addr = read_announced_addr(&mut server);
    let run = rawget(&["-m", "10", &format!("http://{addr}/")]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(run.code, 8, "{}", run.stderr);
    // The peer echoed our request line reversed, and we show it.
    assert!(run.out().starts_with("1.1/PTTH / TEG\r\n"), "{}", run.out());
}

#[test]
fn exit_18_body_shorter_than_announced() {
    let srv = serve(vec![send(
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
    )]);
    let run = rawget(&["-m", "10", &srv.url("/")]).expect(18);
    assert!(run.out().ends_with("hello"), "what arrived is still shown");
    srv.request();
    let srv = serve(vec![send(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    )]);
    rawget(&["-m", "10", &srv.url("/")]).expect(18);
    srv.request();
}

#[test]
fn exit_23_cannot_write_output() {
    let srv = serve(vec![send(OK_HELLO)]);
    let run = rawget(&["-m", "10", "-o", "/nonexistent-dir/out", &srv.url("/")]).expect(23);
    // The file is created on the first byte to write, as in curl.
    assert!(
        run.stderr.contains("cannot create output file"),
        "{}",
        run.stderr
    );
    srv.request();
}

#[test]
fn exit_26_cannot_read_data_file() {
    rawget(&["-d", "@/nonexistent-file", "127.0.0.1:1"]).expect(26);
}

#[test]
fn exit_28_max_time_bounds_a_silent_server() {
    // Silent until rawget closes: only -m can end the exchange.
    let srv = serve(vec![Hold]);
    rawget(&["-m", "0.5", &srv.url("/")]).expect(28);
    srv.request();
}

#[test]
fn exit_28_max_time_bounds_a_trickling_server() {
    // Each read is quick; only the whole exchange is too slow: the
    // trickle (a byte every 100 ms, 1000 of them) outlasts the watchdog,
    // so only -m can end it with exit 28.
    let mut script = vec![send("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")];
    for _ in 0..1000 {
        script.push(Sleep(Duration::from_millis(100)));
        script.push(send("x"));
    }
    let srv = serve(script);
    rawget(&["-m", "1", &srv.url("/")]).expect(28);
    srv.request();
}

#[test]
fn exit_28_connect_timeout_on_a_full_backlog() {
    // A listener that never accepts, with its backlog filled: Linux drops
    // further SYNs, so the connect gets no answer at all.
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let _fill: Vec<TcpStream> = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
        .collect();
    // The kernel's own SYN retries last minutes, past the watchdog: exit
    // 28 in time is --connect-timeout's doing.
    rawget(&["--connect-timeout", "0.5", &format!("http://{addr}/")]).expect(28);
}

#[test]
fn exit_52_empty_reply() {
    let srv = serve(vec![]);
    rawget(&["-m", "10", &srv.url("/")]).expect(52);
    srv.request();
}

#[test]
fn exit_56_connection_reset() {
    let srv = serve(vec![
        send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"),
        Sleep(Duration::from_millis(50)),
        Reset,
    ]);
    rawget(&["-m", "10", &srv.url("/")]).expect(56);
    srv.request();
}

#[test]
fn exit_56_bad_chunk() {
    let srv = serve(vec![send(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )]);
    rawget(&["-m", "10", &srv.url("/")]).expect(56);
    srv.request();
}

#[test]
fn exit_63_body_over_max_size() {
    // Announced too large: refused at the head, like curl --max-filesize.
    let srv = serve(vec![
        send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
        Hold,
    ]);
    rawget(&["-m", "10", "--max-size", "10", &srv.url("/")]).expect(63);
    srv.request();
    // Not announced: stopped as soon as it grows past the limit.
    let srv = serve(vec![
        send("HTTP/1.1 200 OK\r\n\r\n"),
        send(vec![b'x'; 100]),
        Hold,
    ]);
    let run = rawget(&["-m", "10", "--json", "--max-size", "10", &srv.url("/")]).expect(63);
    assert_eq!(run.json()[0].error.as_ref().unwrap().kind, "too_large");
    srv.request();
}

// ---------------------------------------------------------------- examples

fn example_path(name: &str) -> std::path::PathBuf {
    // target/debug/deps/rawget-HASH -> target/debug/examples/NAME
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push(name);
    assert!(
        path.exists(),
        "{} (cargo test builds examples)",
        path.display()
    );
    path
}

fn read_announced_addr(child: &mut Child) -> SocketAddr {
    let mut out = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    line.strip_prefix("listening on ")
        .expect("announce line")
        .parse()
        .unwrap()
}

#[test]
fn poll_server_example_serves_several_clients_at_once() {
    let mut server = Command::new(example_path("poll_server"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = read_announced_addr(&mut server);
    // All clients connect first and hold their connections open, so a
    // server that served one client at a time would stall here.
    let clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    for (i, mut c) in clients.iter().enumerate().rev() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(format!("client {i} says hi\n").as_bytes())
            .unwrap();
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], format!("ih syas {i} tneilc\n").as_bytes());
    }
    let _ = server.kill();
    let _ = server.wait();
}

// ---------------------------------------------------------------- regressions

fn big_file(dir: &tempfile::TempDir, mib: usize) -> String {
    let path = dir.path().join("upload.bin");
    std::fs::write(&path, vec![b'u'; mib * 1024 * 1024]).unwrap();
    format!("@{}", path.display())
}

#[test]
fn max_time_bounds_an_upload_to_a_server_that_stops_reading() {
    let dir = tempfile::tempdir().unwrap();
    let data = big_file(&dir, 32);
    let srv = serve_with(
        (Ipv4Addr::LOCALHOST, 0).into(),
        Reading::HeadOnly,
        vec![Hold],
    );
    let run = rawget(&["-m", "1", "--data-binary", &data, &srv.url("/up")]).expect(28);
    assert!(run.stderr.contains("sending"), "{}", run.stderr);
    srv.request();
}

#[test]
fn an_early_answer_to_an_upload_is_read_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = big_file(&dir, 32);
    let answer = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n";
    let srv = serve_with(
        (Ipv4Addr::LOCALHOST, 0).into(),
        Reading::HeadOnly,
        vec![send(answer), Hold],
    );
    let run = rawget(&["--data-binary", &data, &srv.url("/up")]).expect(0);
    assert_eq!(run.out(), answer);
    // The server neither reads nor closes until rawget has: only reading
    // while sending gets this answer (no -m; the watchdog fails a hang).
    srv.request();
}

#[test]
fn huge_and_zero_time_limits_mean_no_limit() {
    for limit in ["1e19", "0"] {
        let srv = serve(vec![send(OK_HELLO)]);
        rawget(&["-m", limit, "--connect-timeout", limit, &srv.url("/")]).expect(0);
        srv.request();
    }
}

#[test]
fn scheme_like_text_in_the_query_is_not_a_scheme() {
    let srv = serve(vec![send(OK_HELLO)]);
    let target = format!("127.0.0.1:{}/r?u=http://x", srv.addr.port());
    rawget(&["-m", "10", &target]).expect(0);
    assert!(srv.request().starts_with("GET /r?u=http://x HTTP/1.1\r\n"));
}

/// Spawns rawget with stdout piped and returns it with the pipe.
fn spawn_piped(args: &[&str]) -> (Child, std::process::ChildStdout) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rawget"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    (child, stdout)
}

#[test]
fn the_first_of_several_urls_streams_before_it_completes() {
    // The rest of the first body is sent only once the test has read its
    // beginning from rawget's stdout: without streaming, a deadlock that
    // -m ends with exit 28.
    let seen = rendezvous(2);
    let first = serve(vec![
        send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst"),
        Call(seen.clone()),
        send("-done"),
    ]);
    let second = serve(vec![send(OK_HELLO)]);
    let (child, mut stdout) = spawn_piped(&["-m", "10", &first.url("/"), &second.url("/")]);
    let mut got = vec![0u8; 44];
    stdout.read_exact(&mut got).unwrap();
    assert_eq!(&got[39..], b"first");
    seen();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, [&b"-done"[..], OK_HELLO].concat());
    assert_eq!(wait_bounded(child).status.code(), Some(0));
    first.request();
    second.request();
}

#[test]
fn a_closed_pipe_stops_every_running_download() {
    let mut body = b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n".to_vec();
    body.resize(body.len() + 4 * 1024 * 1024, b'x');
    // Each server sends 4 MiB of its announced 1 GiB, then holds until
    // rawget closes: a download that is not stopped would end at -m with
    // exit 28.
    let servers: Vec<Server> = (0..2)
        .map(|_| serve(vec![Send(body.clone()), Hold]))
        .collect();
    let (child, mut stdout) =
        spawn_piped(&["-m", "15", &servers[0].url("/"), &servers[1].url("/")]);
    let mut first = [0u8; 10];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = wait_bounded(child);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for s in servers {
        s.request();
    }
}
