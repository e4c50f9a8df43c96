//! The workbench (`--send`, `--pin`, `--pipeline`, `--repeat`,
//! `--waterfall`, `--har`): the real binary against scripted peers that
//! capture the exact bytes on the wire, and against real servers (nginx,
//! and tinyproxy in front of Python's http.server) in a namespace.

mod daemons;
mod rawget_support;
mod require;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rawget_support::{rawget, run, Run};
use require::{or_skip, Skipped};
use serde_json::Value;

fn json_lines(run: &Run) -> Vec<Value> {
    run.out()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A request file in a temp dir.
fn request_file(dir: &tempfile::TempDir, bytes: &[u8]) -> String {
    let path = dir.path().join("requests.http");
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A peer that reads exactly `expect` bytes, then (and only then) sends
/// `answer` and closes: it returns what it read.
fn capture_peer(expect: usize, answer: Vec<u8>) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < expect {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = conn.write_all(&answer);
        let _ = conn.shutdown(Shutdown::Write);
        let _ = conn.read(&mut buf);
        got
    });
    (port, handle)
}

#[test]
fn send_puts_the_file_on_the_wire_byte_for_byte() {
    let file: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\n\
X-Fold: a\r\n  b\r\nmIxEd-CaSe: v\r\n\r\n\
GET /b HTTP/1.1\nhost: x\n\n\
POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na".repeat(3);
    let (port, peer) = capture_peer(file.len(), answer);
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{port}/ignored");
    let out = rawget(&["--send", &path, &url, "--json"]).expect(0);
    assert_eq!(
        peer.join().unwrap(),
        file,
        "the bytes on the wire are the file's"
    );
    let v = &json_lines(&out)[0];
    let notes = |i: usize| -> Vec<&str> {
        v["requests"][i]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect()
    };
    assert_eq!(notes(0), ["obs_fold"]);
    assert_eq!(notes(1), ["bare_lf"]);
    assert_eq!(notes(2), ["content_length_with_transfer_encoding"]);
    assert_eq!(v["requests"][2]["framing"], "chunked");
    let statuses: Vec<u64> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 200]);
}

#[test]
fn stdin_is_a_request_file_too() {
    let file: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let (port, peer) = capture_peer(file.len(), b"HTTP/1.1 204 No Content\r\n\r\n".to_vec());
    let url = format!("http://127.0.0.1:{port}/");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rawget"));
    cmd.args(["--send", "-", &url]);
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(file).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(peer.join().unwrap(), file);
}

#[test]
fn pipelined_answers_are_read_in_order_with_a_head_in_the_pipeline() {
    let file: &[u8] = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
HEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n\
GET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    // The answer to HEAD announces 1000 bytes it does not send: only a
    // reader that knows the request was HEAD finds the third answer.
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst\
HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthird\r\n0\r\n\r\n"
        .to_vec();
    // The peer answers only once it has all three requests: they were
    // written before any answer was read.
    let (port, peer) = capture_peer(file.len(), answer.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--send", &path, &url]).expect(0);
    assert_eq!(out.stdout, answer, "the stream is shown exactly");
    assert_eq!(peer.join().unwrap(), file);

    let (port, _peer) = capture_peer(file.len(), answer);
    let url = format!("http://127.0.0.1:{port}/");
    let v = &json_lines(&rawget(&["--send", &path, &url, "--json"]).expect(0))[0];
    let r = v["responses"].as_array().unwrap();
    assert_eq!(r.len(), 3);
    let got: Vec<(u64, &str, &str, u64)> = r
        .iter()
        .map(|r| {
            (
                r["request"].as_u64().unwrap(),
                r["framing"].as_str().unwrap(),
                r["body"].as_str().unwrap(),
                r["offset"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "length", "first", 0),
            (2, "none", "", 43),
            (3, "chunked", "third", 84)
        ]
    );
    assert!(r
        .iter()
        .all(|r| r["warnings"].as_array().unwrap().is_empty()));
    assert_eq!(v["connection"]["peer_closed"], true);
}

#[test]
fn sequential_waits_for_each_answer_before_the_next_request() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let first = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n";
    let second = b"GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = vec![0u8; first.len()];
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.read_exact(&mut got).unwrap();
        // Nothing more may come before the first answer.
        conn.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let early = conn.read(&mut [0u8; 64]).map_or(0, |n| n);
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut next = vec![0u8; second.len()];
        conn.read_exact(&mut next).unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
            .unwrap();
        (early, got, next)
    });
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, &[&first[..], &second[..]].concat());
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--send", &path, &url, "--sequential", "--linger", "0"]).expect(0);
    let (early, got, next) = peer.join().unwrap();
    assert_eq!(early, 0, "the second request waited for the first answer");
    assert_eq!((&got[..], &next[..]), (&first[..], &second[..]));
    assert!(out.out().ends_with("\r\n\r\n2"), "{}", out.out());
}

#[test]
fn an_unframeable_answer_says_where_it_stopped_and_what_remains() {
    let file: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let answer = [&head[..], b"zz\r\nrest of it"].concat();
    let (port, _peer) = capture_peer(file.len(), answer);
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--send", &path, &url, "--json"]);
    assert_eq!(out.code, 56, "{}", out.stderr);
    let at = head.len();
    assert!(
        out.stderr.contains(&format!(
            "malformed chunked encoding at byte {at} of the stream"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("14 bytes remain: zz\\r\\nrest of it\n"),
        "{}",
        out.stderr
    );
    let v = &json_lines(&out)[0];
    let stopped = &v["responses"][0]["stopped"];
    assert_eq!(stopped["at"], at as u64);
    assert_eq!(stopped["remaining"], "zz\r\nrest of it");
    assert_eq!(stopped["error"]["kind"], "bad_chunk");
}

/// How a scripted server finds the end of a request body.
#[derive(Clone, Copy)]
enum Frames {
    /// `Content-Length` only (`Transfer-Encoding` ignored).
    ByLength,
    /// `Transfer-Encoding: chunked` first, as RFC 9112 says.
    ByChunks,
}

/// A keep-alive server on one connection that frames request bodies as
/// `frames` says and answers each request with its method and body
/// length (405 for a method it does not know), until the client closes or
/// it has been idle for 2 s.
fn framing_peer(frames: Frames) -> (u16, JoinHandle<usize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = Vec::new();
        let mut answered = 0;
        loop {
            while let Some((used, method, body)) = next_request(&buf, frames) {
                buf.drain(..used);
                let answer = if ["GET", "POST", "HEAD"].contains(&method.as_str()) {
                    let text = format!("{method} {body}");
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    )
                } else {
                    "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n".to_owned()
                };
                conn.write_all(answer.as_bytes()).unwrap();
                answered += 1;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return answered,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    (port, handle)
}

/// The next complete request in `buf`: bytes used, method, body length.
fn next_request(buf: &[u8], frames: Frames) -> Option<(usize, String, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let method = String::from_utf8_lossy(&buf[..end])
        .split(' ')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let field = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    if let (Frames::ByChunks, Some(_)) = (frames, field("transfer-encoding:")) {
        // Chunks: size lines and data until the last chunk.
        let mut at = end;
        let mut body = 0;
        loop {
            let line_end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
            let size =
                usize::from_str_radix(std::str::from_utf8(&buf[at..line_end]).ok()?.trim(), 16)
                    .ok()?;
            at = line_end + 2;
            if size == 0 {
                return (buf.len() >= at + 2).then(|| (at + 2, method, body));
            }
            if buf.len() < at + size + 2 {
                return None;
            }
            body += size;
            at += size + 2;
        }
    }
    let len: usize = field("content-length:").map_or(0, |v| v.parse().unwrap_or(0));
    (buf.len() >= end + len).then(|| (end + len, method, len))
}

fn comparison(lines: &[Value]) -> &Value {
    &lines.last().unwrap()["comparison"]
}

fn differences(c: &Value) -> Vec<(Option<u64>, String, Vec<String>)> {
    c["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["response"].as_u64(),
                d["aspect"].as_str().unwrap().to_owned(),
                d["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn cl_te_shape_makes_a_length_and_a_chunk_server_disagree() {
    // A front end that reads Content-Length takes "0\r\n\r\nG" as the
    // body; one that reads the chunks leaves "G" to start the next request.
    let file: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let (chunks, chunk_peer) = framing_peer(Frames::ByChunks);
    let (length, length_peer) = framing_peer(Frames::ByLength);
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{chunks}/");
    let pin = format!("127.0.0.1:{length}");
    let out = rawget(&["--send", &path, &url, "--pin", &pin, "--json"]);
    assert_eq!(out.code, 90, "{}", out.stderr);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    let c = comparison(&lines);
    assert_eq!(c["agreed"], false);
    let d = differences(c);
    assert!(
        d.contains(&(Some(2), "status".into(), vec!["405".into(), "200".into()])),
        "{d:?}"
    );
    assert_eq!(lines[0]["requests"][1]["method"], "GGET");
    drop(out);
    let _ = (chunk_peer.join(), length_peer.join());

    // The terminal report says the same, and the same bytes to the same
    // kind of server agree (exit 0).
    let (a, _pa) = framing_peer(Frames::ByChunks);
    let (b, _pb) = framing_peer(Frames::ByChunks);
    let url = format!("http://127.0.0.1:{a}/");
    let pin = format!("127.0.0.1:{b}");
    let out = rawget(&["--send", &path, &url, "--pin", &pin]).expect(0);
    assert!(
        out.out().contains("agreed: 2 responses each"),
        "{}",
        out.out()
    );
}

#[test]
fn te_cl_shape_gives_the_length_server_an_extra_request() {
    let file: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\
Transfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n";
    let (chunks, _a) = framing_peer(Frames::ByChunks);
    let (length, _b) = framing_peer(Frames::ByLength);
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{chunks}/");
    let pin = format!("127.0.0.1:{length}");
    let out = rawget(&["--send", &path, &url, "--pin", &pin]);
    assert_eq!(out.code, 90, "{}", out.stderr);
    let text = out.out();
    assert!(text.contains("connection: response_count: 1 | 2"), "{text}");
    assert!(text.contains("response 2: status: - | 405"), "{text}");
    assert!(text.contains("differ: "), "{text}");
}

#[test]
fn failed_connect_attempts_are_listed_with_their_address() {
    // ::1 refuses (nothing listens there on this port), 127.0.0.1 answers.
    let file: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let (port, _peer) = capture_peer(file.len(), b"HTTP/1.1 204 No Content\r\n\r\n".to_vec());
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://wb.test:{port}/");
    let resolve = format!("wb.test:{port}:[::1],127.0.0.1");
    let out = rawget(&["--send", &path, &url, "--resolve", &resolve, "--json"]).expect(0);
    let v = &json_lines(&out)[0];
    let attempts = v["timing_ms"]["attempts"].as_array().unwrap();
    let got: Vec<(&str, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap(),
                a["result"].as_str().unwrap(),
            )
        })
        .collect();
    let v6 = format!("[::1]:{port}");
    let v4 = format!("127.0.0.1:{port}");
    assert_eq!(got, [(v6.as_str(), "failed"), (v4.as_str(), "connected")]);
    assert!(attempts[0]["error"].as_str().is_some());
    assert!(attempts.iter().all(|a| a["duration"].as_f64().is_some()));
}

/// A peer that reads one request head, sends `answer` and closes.
fn answer_once(answer: String) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = conn.write_all(answer.as_bytes());
    });
    (port, handle)
}

/// (address, result) of each attempt in a `timing_ms` object.
fn attempt_list(timing: &Value) -> Vec<(String, String)> {
    timing["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("no attempts in {timing}"))
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_owned(),
                a["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_redirect_hop_lists_its_failed_connect_attempts_in_json_v_and_waterfall() {
    // Both names resolve to 127.0.0.2 first, where nothing listens (the
    // connect is refused), then to 127.0.0.1: each hop of the redirect
    // has its own failed attempt, with its address, in --json and -v.
    let (p2, last) = answer_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into());
    let (p1, first) = answer_once(format!(
        "HTTP/1.1 302 Found\r\nLocation: http://b.test:{p2}/next\r\nContent-Length: 0\r\n\r\n"
    ));
    let url = format!("http://a.test:{p1}/");
    let (ra, rb) = (
        format!("a.test:{p1}:127.0.0.2,127.0.0.1"),
        format!("b.test:{p2}:127.0.0.2,127.0.0.1"),
    );
    let args = [
        "-L",
        "-v",
        "--json",
        "--resolve",
        &ra,
        "--resolve",
        &rb,
        &url,
    ];
    let out = rawget(&args).expect(0);
    first.join().unwrap();
    last.join().unwrap();
    let v = &json_lines(&out)[0];
    assert_eq!(v["status"], 200, "{v}");
    let hop = |port: u16| {
        vec![
            (format!("127.0.0.2:{port}"), "failed".to_owned()),
            (format!("127.0.0.1:{port}"), "connected".to_owned()),
        ]
    };
    assert_eq!(
        attempt_list(&v["redirects"][0]["timing_ms"]),
        hop(p1),
        "{v}"
    );
    assert_eq!(attempt_list(&v["timing_ms"]), hop(p2), "{v}");
    let failed = &v["timing_ms"]["attempts"][0];
    assert!(failed["error"].as_str().is_some(), "{failed}");
    for port in [p1, p2] {
        let line = format!("connect(127.0.0.2:{port}) failed");
        assert!(
            out.stderr.contains(&line),
            "-v names {line}: {}",
            out.stderr
        );
    }

    // --waterfall -L: one chart per hop, each with its refused attempt.
    let (p2, last) = answer_once("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into());
    let (p1, first) = answer_once(format!(
        "HTTP/1.1 302 Found\r\nLocation: http://b.test:{p2}/next\r\nContent-Length: 0\r\n\r\n"
    ));
    let url = format!("http://a.test:{p1}/");
    let (ra, rb) = (
        format!("a.test:{p1}:127.0.0.2,127.0.0.1"),
        format!("b.test:{p2}:127.0.0.2,127.0.0.1"),
    );
    let args = [
        "-L",
        "--waterfall",
        "--resolve",
        &ra,
        "--resolve",
        &rb,
        &url,
    ];
    let out = rawget(&args).expect(0);
    first.join().unwrap();
    last.join().unwrap();
    assert!(out.out().ends_with("\r\n\r\nok"), "{}", out.out());
    let stderr = &out.stderr;
    let charts: Vec<&str> = stderr.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(charts.len(), 2, "{stderr}");
    assert!(
        charts[0].starts_with(&format!("http://a.test:{p1}/ ")),
        "{stderr}"
    );
    assert!(
        charts[1].starts_with(&format!("http://b.test:{p2}/next ")),
        "{stderr}"
    );
    let row = |start: String| stderr.lines().find(|l| l.trim_start().starts_with(&start));
    for port in [p1, p2] {
        let failed = row(format!("connect 127.0.0.2:{port} "));
        assert!(failed.is_some_and(|r| r.contains("failed: ")), "{stderr}");
        let connected = row(format!("connect 127.0.0.1:{port} "));
        assert!(
            connected.is_some_and(|r| r.ends_with("connected")),
            "{stderr}"
        );
    }
    let requests: Vec<&str> = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("request "))
        .collect();
    assert_eq!(requests.len(), 2, "{stderr}");
    assert!(
        requests[0].ends_with("302") && requests[1].ends_with("200"),
        "{stderr}"
    );
}

/// A keep-alive server: every request on every connection gets `ok`;
/// counts connections and requests.
fn keepalive_server() -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (conns, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (c, r) = (Arc::clone(&conns), Arc::clone(&requests));
    thread::spawn(move || {
        for conn in listener.incoming().take(64) {
            let Ok(mut conn) = conn else { return };
            c.fetch_add(1, Ordering::SeqCst);
            let r = Arc::clone(&r);
            thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = buf.starts_with(b"HEAD ");
                        buf.drain(..end + 4);
                        r.fetch_add(1, Ordering::SeqCst);
                        let answer = b"HTTP/1.1 200 OK\r\nServer-Timing: app;dur=2.5\r\n\
Content-Length: 2\r\n\r\nok";
                        // No body after the head of an answer to HEAD.
                        let answer = if head {
                            &answer[..answer.len() - 2]
                        } else {
                            &answer[..]
                        };
                        if conn.write_all(answer).is_err() {
                            return;
                        }
                    }
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, conns, requests)
}

#[test]
fn repeat_runs_cold_and_on_one_reused_connection() {
    let (port, conns, requests) = keepalive_server();
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--send", &path, &url, "--repeat", "5", "--json"]).expect(0);
    let v = &json_lines(&out)[0]["repeat"];
    assert_eq!(v["runs"], 5);
    assert_eq!(v["reused_runs"], 5);
    for phase in ["connect", "wait", "receive", "total"] {
        let s = &v["cold"][phase];
        assert_eq!(s["count"], 5, "cold {phase}: {v}");
        let (min, med, p95, max) = (
            s["min"].as_f64().unwrap(),
            s["median"].as_f64().unwrap(),
            s["p95"].as_f64().unwrap(),
            s["max"].as_f64().unwrap(),
        );
        assert!(min <= med && med <= p95 && p95 <= max, "{phase}: {s}");
    }
    assert_eq!(v["reused"]["total"]["count"], 5);
    assert!(v["reused"].get("connect").is_none(), "{v}");
    // 5 cold connections and 1 reused one, 10 requests.
    assert_eq!(conns.load(Ordering::SeqCst), 6);
    assert_eq!(requests.load(Ordering::SeqCst), 10);

    // URL mode: the same, from rawget's own request, in a table.
    let out = rawget(&["--repeat", "3", &url]).expect(0);
    let text = out.out();
    assert!(
        text.contains("cold, a new connection each (3 runs)"),
        "{text}"
    );
    assert!(
        text.contains("reused, one kept-alive connection (3 runs)"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("total")),
        "{text}"
    );
}

#[test]
fn pipeline_sends_several_urls_of_one_origin_on_one_connection() {
    let (port, conns, requests) = keepalive_server();
    let a = format!("http://127.0.0.1:{port}/a");
    let b = format!("http://127.0.0.1:{port}/b");
    let out = rawget(&["--pipeline", &a, &b, "--json"]).expect(0);
    let v = &json_lines(&out)[0];
    assert_eq!(v["responses"].as_array().unwrap().len(), 2);
    assert_eq!(v["requests"][0]["target"], "/a");
    assert_eq!(v["requests"][1]["target"], "/b");
    assert_eq!(v["responses"][0]["server_timing"][0]["name"], "app");
    assert_eq!(v["responses"][0]["server_timing"][0]["dur"], 2.5);
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
}

#[test]
fn waterfall_draws_every_phase_on_stderr() {
    let (port, _c, _r) = keepalive_server();
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--waterfall", "--pipeline", &url, &url]).expect(0);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines[0].starts_with(&url), "{}", out.stderr);
    let row = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} row: {}", out.stderr))
            .to_string()
    };
    assert!(row("dns").contains('#'));
    assert!(row(&format!("connect 127.0.0.1:{port}")).ends_with("connected"));
    assert!(row("#1 GET /").contains('|'));
    assert!(row("#2 GET /").ends_with("200"));
    assert_eq!(out.stdout.len(), 2 * 68, "stdout keeps the raw responses");
}

/// The path of the har-validator npm package, installed by
/// `.ci/install-test-tools`; the test fails without it (unless
/// `RAWNET_TEST_SKIP` names `har-validator`).
fn har_validator() -> Result<String, Skipped> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/node/node_modules/har-validator");
    if !path.is_dir() {
        return Err(require::missing(
            "har-validator",
            "har-validator is not installed: run `bash .ci/install-test-tools` (CI does)",
        ));
    }
    Ok(path.to_str().unwrap().to_owned())
}

#[test]
fn har_file_is_accepted_by_a_har_validator() {
    let validator = or_skip!(har_validator());
    let (port, _c, _r) = keepalive_server();
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(
        &dir,
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let har = dir.path().join("out.har");
    let url = format!("http://127.0.0.1:{port}/");
    rawget(&["--send", &path, &url, "--har", har.to_str().unwrap()]).expect(0);
    let doc: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let entries = doc["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["request"]["url"],
        format!("http://127.0.0.1:{port}/1")
    );
    assert_eq!(entries[1]["request"]["method"], "HEAD");
    assert!(entries[0]["timings"]["connect"].as_f64().unwrap() >= 0.0);
    assert_eq!(entries[1]["timings"]["connect"], -1.0);
    assert_eq!(entries[0]["_connectAttempts"][0]["result"], "connected");
    let script = "const v = require(process.argv[1]);\
        const h = JSON.parse(require('fs').readFileSync(process.argv[2]));\
        v.har(h).then(() => console.log('valid'))\
        .catch(e => { console.log(JSON.stringify(e.errors || e.message)); process.exit(1); });";
    let check = run(Command::new("node").args(["-e", script, &validator, har.to_str().unwrap()]));
    assert_eq!(check.code, 0, "{} {}", check.out(), check.stderr);
    assert_eq!(check.out().trim(), "valid");
}

// ------------------------------------------------------- real servers

/// nginx on port 8080 and tinyproxy on 8081 in front of Python's
/// http.server on 8082, in a namespace of their own.
fn real_servers() -> Result<daemons::Netns, Skipped> {
    let mut ns = daemons::tcp_peer(daemons::Peer::NginxHttp, 8080)?;
    let python = daemons::need("python3")?;
    let tinyproxy = daemons::need("tinyproxy")?;
    let web = ns.dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(web.join("index.html"), "rawnet\n").unwrap();
    let web = web.to_str().unwrap().to_owned();
    ns.spawn(
        "python",
        &python,
        &[
            "-m",
            "http.server",
            "8082",
            "--bind",
            "127.0.0.1",
            "--directory",
            &web,
        ],
    );
    let conf = ns.write(
        "tinyproxy.conf",
        "Port 8081\nListen 127.0.0.1\nTimeout 10\nMaxClients 8\n\
         ReversePath \"/\" \"http://127.0.0.1:8082/\"\nReverseOnly Yes\nLogLevel Error\n",
    );
    ns.spawn(
        "tinyproxy",
        &tinyproxy,
        &["-d", "-c", conf.to_str().unwrap()],
    );
    ns.wait_tcp("python", 8082);
    ns.wait_tcp("tinyproxy", 8081);
    Ok(ns)
}

fn rawget_in(ns: &daemons::Netns, args: &[&str]) -> Run {
    run(Command::new("ip")
        .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_rawget")])
        .args(args))
}

#[test]
fn real_servers_pipelining_and_a_cl_te_comparison() {
    let ns = or_skip!(real_servers());
    let dir = tempfile::tempdir().unwrap();
    let pipelined = request_file(
        &dir,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n\
GET /again HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let out = rawget_in(
        &ns,
        &["--send", &pipelined, "http://127.0.0.1:8080/", "--json"],
    )
    .expect(0);
    let v = &json_lines(&out)[0];
    let r = v["responses"].as_array().unwrap();
    let got: Vec<(u64, &str, &str)> = r
        .iter()
        .map(|r| {
            (
                r["request"].as_u64().unwrap(),
                r["framing"].as_str().unwrap(),
                r["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "length", "rawnet\n"),
            (2, "none", ""),
            (3, "length", "rawnet\n")
        ]
    );
    assert_eq!(v["connection"]["peer_closed"], false, "nginx keeps it open");

    // The same pipeline through tinyproxy to Python (HTTP/1.0, one answer
    // per connection): the comparison names the difference.
    let out = rawget_in(
        &ns,
        &[
            "--send",
            &pipelined,
            "http://127.0.0.1:8080/",
            "--pin",
            "127.0.0.1:8081",
            "--json",
        ],
    );
    assert_eq!(out.code, 90, "{}", out.stderr);
    let lines = json_lines(&out);
    let d = differences(comparison(&lines));
    assert!(
        d.iter()
            .any(|(at, aspect, _)| at.is_none() && aspect == "response_count"),
        "{d:?}"
    );

    // CL.TE and TE.CL: nginx refuses a request with both framing
    // headers; the proxied Python answers otherwise.
    let shapes: [&[u8]; 2] = [
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\
Transfer-Encoding: chunked\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
    ];
    for shape in shapes {
        let file = request_file(&dir, shape);
        let out = rawget_in(
            &ns,
            &[
                "--send",
                &file,
                "http://127.0.0.1:8080/",
                "--pin",
                "127.0.0.1:8081",
                "--json",
            ],
        );
        assert_eq!(out.code, 90, "{}", out.stderr);
        let lines = json_lines(&out);
        assert_eq!(lines[0]["responses"][0]["status"], 400);
        let proxied = &lines[1]["responses"][0]["status"];
        assert!(proxied.as_u64().is_some_and(|s| s != 400), "{proxied}");
        let d = differences(comparison(&lines));
        assert!(
            d.iter()
                .any(|(at, aspect, _)| *at == Some(1) && aspect == "status"),
            "{d:?}"
        );
    }
}

#[test]
fn an_attempt_to_a_dropping_address_is_listed_with_its_address() {
    // fd00:17::99 is an address of the namespace whose incoming packets an
    // nft rule drops: the attempt never hears back and loses the happy
    // eyeballs race to 127.0.0.1.
    let ns = or_skip!(daemons::Netns::new());
    let nft = or_skip!(daemons::need("nft"));
    let ip = |args: &[&str]| {
        let ok = Command::new("ip")
            .args(["-n", &ns.name])
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success(), "ip {args:?}");
    };
    ip(&["addr", "add", "fd00:17::99/128", "dev", "lo", "nodad"]);
    for rule in [
        "add table ip6 rawget_wb",
        "add chain ip6 rawget_wb input { type filter hook input priority 0 ; }",
        "add rule ip6 rawget_wb input ip6 daddr fd00:17::99 drop",
    ] {
        let ok = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(&nft)
            .args(rule.split(' '))
            .status()
            .unwrap();
        assert!(ok.success(), "nft {rule}");
    }
    let listener = ns.run(|| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap());
    let port = listener.local_addr().unwrap().port();
    let file: &[u8] = b"GET / HTTP/1.1\r\nHost: dual.test\r\n\r\n";
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = vec![0u8; file.len()];
        conn.read_exact(&mut got).unwrap();
        conn.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://dual.test:{port}/");
    let resolve = format!("dual.test:{port}:[fd00:17::99],127.0.0.1");
    let args = [
        "--send",
        &path,
        &url,
        "--resolve",
        &resolve,
        "--connect-timeout",
        "5",
        "--json",
    ];
    let out = rawget_in(&ns, &args).expect(0);
    server.join().unwrap();
    let v = &json_lines(&out)[0];
    let attempts = v["timing_ms"]["attempts"].as_array().unwrap();
    let got: Vec<(&str, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap(),
                a["result"].as_str().unwrap(),
            )
        })
        .collect();
    let v6 = format!("[fd00:17::99]:{port}");
    let v4 = format!("127.0.0.1:{port}");
    assert_eq!(
        got,
        [(v6.as_str(), "abandoned"), (v4.as_str(), "connected")]
    );
    // The second attempt started only after the first went unanswered.
    let start = |i: usize| attempts[i]["start"].as_f64().unwrap();
    assert!(start(1) > start(0), "{attempts:?}");
}

#[test]
fn raw_output_numbers_a_late_unframeable_answer_and_shows_every_byte() {
    // Raw output keeps no record per answer: the one that cannot be read
    // is still numbered as it came, and the raw bytes are all shown.
    let file: &[u8] = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
GET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n";
    let good: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na";
    let bad_head: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let answer = [good, bad_head, b"zz\r\nrest"].concat();
    let (port, _peer) = capture_peer(file.len(), answer.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--send", &path, &url]);
    assert_eq!(out.code, 56, "{}", out.stderr);
    let at = good.len() + bad_head.len();
    assert!(
        out.stderr.contains(&format!(
            "response 2: malformed chunked encoding at byte {at} of the stream; 8 bytes remain"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, answer);
}

#[test]
fn raw_output_says_how_many_answers_came_before_the_server_closed() {
    let file: &[u8] = b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na".to_vec();
    let (port, _peer) = capture_peer(file.len(), answer.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, file);
    let url = format!("http://127.0.0.1:{port}/");
    let out = rawget(&["--send", &path, &url]);
    assert!(
        out.stderr
            .contains("the server closed the connection after 1 of 2 responses"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, answer);
}

/// Two requests whose second lies past the first page of the file (the
/// page a truncation takes away from the mapping).
fn two_page_requests() -> (Vec<u8>, Vec<u8>) {
    let pad = |c: &str| c.repeat(5000);
    let first = format!("GET /a HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", pad("a"));
    let second = format!("GET /b HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", pad("b"));
    (first.into_bytes(), second.into_bytes())
}

/// A peer that reads `before` bytes, shortens `path` to `to` bytes, then
/// answers `answers` responses and closes.
fn shortening_peer(path: String, before: usize, to: u64, answers: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = vec![0u8; before];
        conn.read_exact(&mut got).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(to))
            .unwrap();
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".repeat(answers);
        let _ = conn.write_all(&answer);
        let _ = conn.shutdown(Shutdown::Write);
        let _ = conn.read(&mut [0u8; 64]);
    });
    (port, handle)
}

/// Runs `rawget --send FILE URL ARGS` where FILE holds `requests` and the
/// peer shortens it to `to` bytes once it has read `before` bytes, then
/// answers `answers` responses.
fn send_while_shortened(
    requests: &[&[u8]],
    before: usize,
    to: u64,
    answers: usize,
    args: &[&str],
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = request_file(&dir, &requests.concat());
    let (port, peer) = shortening_peer(path.clone(), before, to, answers);
    let url = format!("http://127.0.0.1:{port}/");
    let run = rawget(&[&["--send", &path, &url, "--linger", "0"], args].concat());
    peer.join().unwrap();
    run
}

/// The one line a changed request file gives.
fn assert_changed(run: &Run) {
    assert!(
        run.stderr
            .contains("changed while its requests were being sent"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_request_file_truncated_before_its_next_request_is_a_read_error() {
    // Sequential: the second request is sent from the mapped file after
    // the first answer, when the file has lost that page.
    let (first, second) = two_page_requests();
    let out =
        send_while_shortened(&[&first, &second], first.len(), 0, 1, &["--sequential"]).expect(26);
    assert_changed(&out);
    // The first answer, which came before, was shown.
    assert!(out.out().ends_with("\r\n\r\nok"), "{}", out.out());
}

#[test]
fn a_request_file_truncated_before_the_json_reads_it_is_a_read_error_not_a_crash() {
    // Pipelined: everything is sent, then the file shrinks; the JSON
    // record reads the second request's target from the lost page.
    let (first, second) = two_page_requests();
    let all = first.len() + second.len();
    let out = send_while_shortened(&[&first, &second], all, 0, 2, &["--json"]).expect(26);
    assert_changed(&out);
    assert_eq!(out.out(), "", "no partial record");
    // -s: the same status, nothing on stderr.
    let quiet = send_while_shortened(&[&first, &second], all, 0, 2, &["--json", "-s"]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (26, ""));
}

#[test]
fn a_request_file_shortened_inside_its_last_page_is_a_read_error_not_zeros_on_the_wire() {
    // The second request lies wholly on the page that holds the new end:
    // the mapping shows zeros where its bytes were, its send raises no
    // error, and only the file's changed size tells.
    let (first, _) = two_page_requests();
    let second = b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    assert_eq!(first.len() / 4096, (first.len() + second.len()) / 4096);
    let to = (first.len() + 4) as u64;
    let out =
        send_while_shortened(&[&first, &second], first.len(), to, 1, &["--sequential"]).expect(26);
    assert_changed(&out);
}

#[test]
fn repeat_runs_from_a_request_file_changed_under_them_are_a_read_error() {
    let (first, second) = two_page_requests();
    let all = first.len() + second.len();
    let out = send_while_shortened(&[&first, &second], all, 0, 2, &["--repeat", "1"]).expect(26);
    assert_changed(&out);
}
