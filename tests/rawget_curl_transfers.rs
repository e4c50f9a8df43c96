//! Issue 16, the transfer flags: `-F` forms, `--retry` and its
//! companions, `-o`/`-O` paired with URLs in order, `-C` and
//! `--limit-rate` in every output mode. Each is run by rawget and by curl
//! against the same scripted loopback peer, which records what it got
//! (the request bytes, how many connections); the comparison is of what
//! the peer saw, the files saved, the exit codes and the retry warnings.

mod rawget_support;
mod require;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rawget_support::*;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

fn curl(args: &[&str]) -> Run {
    assert!(
        have("curl"),
        "curl is needed by this test (.ci/packages.d/rawget-curl.txt)"
    );
    run(Command::new("curl").args(args))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ------------------------------------------------------------------ -F

/// One part of a multipart body: its header lines and its content.
#[derive(Debug, PartialEq)]
struct Part {
    headers: Vec<String>,
    content: Vec<u8>,
}

/// Splits a captured request into its multipart parts, by the boundary
/// its Content-Type names; checks the closing delimiter.
fn parts(request: &[u8]) -> Vec<Part> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&request[..end]).into_owned();
    let body = &request[end + 4..];
    let ctype = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("Content-Type: ")
                .or(l.strip_prefix("content-type: "))
        })
        .unwrap_or_else(|| panic!("no Content-Type in {head}"));
    let boundary = ctype
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{ctype}"));
    assert_eq!(boundary.len(), 40, "{boundary}");
    let delim = format!("--{boundary}");
    let closing = format!("\r\n{delim}--\r\n");
    assert!(body.starts_with(delim.as_bytes()));
    assert!(body.ends_with(closing.as_bytes()));
    let inner = &body[delim.len()..body.len() - closing.len()];
    let sep = format!("\r\n{delim}");
    let mut out = Vec::new();
    let mut rest = inner;
    loop {
        let (chunk, more) = match rest.windows(sep.len()).position(|w| w == sep.as_bytes()) {
            Some(i) => (&rest[..i], Some(&rest[i + sep.len()..])),
            None => (rest, None),
        };
        let chunk = chunk
            .strip_prefix(b"\r\n")
            .expect("CRLF after the delimiter");
        let split = chunk.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        out.push(Part {
            headers: String::from_utf8_lossy(&chunk[..split])
                .split("\r\n")
                .map(str::to_owned)
                .collect(),
            content: chunk[split + 4..].to_vec(),
        });
        match more {
            Some(m) => rest = m,
            None => return out,
        }
    }
}

/// The same `-F` arguments, sent by rawget and by curl to one peer,
/// give the same parts (names, file names, types, contents), in order.
#[test]
fn form_parts_match_curls() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("a.txt");
    std::fs::write(&txt, "hello\r\nworld\n").unwrap();
    let png = dir.path().join("pic.PNG");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\xff").unwrap();
    let noext = dir.path().join("noext");
    std::fs::write(&noext, "x").unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![b'z'; 200_000]).unwrap();
    let args = [
        "-F".to_string(),
        "n=v".into(),
        "-F".into(),
        format!("f=@{}", s(&txt)),
        "-F".into(),
        format!("g=<{}", s(&txt)),
        "-F".into(),
        format!("p=@{}", s(&png)),
        "-F".into(),
        format!("x=@{}", s(&noext)),
        "-F".into(),
        format!("h=@{};type=text/x;filename=other\"q.txt", s(&txt)),
        "-F".into(),
        "t= v2 ;type=text/foo".into(),
        "-F".into(),
        "q=\"quo;ted\"".into(),
        "-F".into(),
        "d=lit;filename=x.html".into(),
        "--form-string".into(),
        "s=@lit;x".into(),
        "-F".into(),
        format!("b=@{}", s(&big)),
        "-o".into(),
        "/dev/null".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let srv = serve_n(2, OK);
    let url = srv.url("/up");
    rawget(&[&args[..], &["-s", &url]].concat()).expect(0);
    assert_eq!(curl(&[&args[..], &["-s", &url]].concat()).code, 0);
    // The peer keeps requests as UTF-8-lossy text: the binary part is
    // compared through that form, the same for both.
    let reqs = srv.requests();
    let (ours, theirs) = (parts(reqs[0].as_bytes()), parts(reqs[1].as_bytes()));
    assert!(reqs[0].starts_with("POST /up HTTP/1.1\r\n"), "{}", reqs[0]);
    assert_eq!(ours.len(), 11);
    assert_eq!(ours, theirs);
    // Spot checks of what both sent.
    assert_eq!(
        ours[1].headers,
        [
            "Content-Disposition: form-data; name=\"f\"; filename=\"a.txt\"",
            "Content-Type: text/plain"
        ]
    );
    assert_eq!(ours[3].headers[1], "Content-Type: image/png");
    assert_eq!(ours[4].headers[1], "Content-Type: application/octet-stream");
    assert_eq!(ours[10].content.len(), 200_000);
}

/// Malformed fields, unreadable files and -F with -d fail as curl's do.
#[test]
fn form_errors_exit_as_curls() {
    for (args, code) in [
        (&["-F", "noeq"][..], 2),
        (&["-F", "a=@/nonexistent/rawget-form"], 26),
        (&["-F", "a=b", "-d", "x"], 2),
    ] {
        let ours = rawget(&[args, &["-s", "127.0.0.1:1"]].concat());
        let theirs = curl(&[args, &["-s", "127.0.0.1:1"]].concat());
        assert_eq!(
            (ours.code, theirs.code),
            (code, code),
            "{args:?}: {}",
            ours.stderr
        );
    }
}

// ---------------------------------------------------------------- --retry

/// A peer that answers each connection with the next response of
/// `script` (the last one again once it runs out), closing after each,
/// and counts connections. Stops when told to.
struct Peer {
    port: u16,
    count: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Peer {
    /// `script`: each response, or `None` for "accept and say nothing"
    /// (a stall, held until the client goes away or the peer stops).
    fn start(script: Vec<Option<Vec<u8>>>) -> Peer {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st) = (Arc::clone(&count), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            let until = Instant::now() + Duration::from_secs(60);
            while !st.load(Ordering::Relaxed) && Instant::now() < until {
                let Ok((mut conn, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let n = c.fetch_add(1, Ordering::SeqCst);
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let step = script[n.min(script.len() - 1)].clone();
                match step {
                    Some(response) => {
                        read_request(&mut conn);
                        let _ = conn.write_all(&response);
                        let _ = conn.shutdown(Shutdown::Write);
                        let _ = conn.read(&mut [0u8; 512]);
                    }
                    None => held.push(conn),
                }
            }
        });
        Peer {
            port,
            count,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/r", self.port)
    }

    /// Connections so far; resets the count.
    fn take(&self) -> usize {
        self.count.swap(0, Ordering::SeqCst)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn response(status: &str, extra: &str, body: &str) -> Option<Vec<u8>> {
    Some(
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

fn warnings(stderr: &str) -> usize {
    stderr.matches("Will retry in ").count()
}

/// 503 every time: --retry 2 makes three attempts, in both tools; exit 0
/// without -f, 22 with it; each warning says "Will retry".
#[test]
fn transient_statuses_are_retried_as_curl_retries_them() {
    let peer = Peer::start(vec![response("503 Busy", "", "busy")]);
    let url = peer.url();
    // A regular file: curl fails (23) when it cannot cut back what an
    // attempt saved, as in /dev/null.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    for (fail, code) in [(None, 0), (Some("-f"), 22)] {
        let mut args = vec!["--retry", "2", "--retry-delay", "1", "-o", s(&file)];
        args.extend(fail);
        let ours = rawget(&[&args[..], &[&url]].concat());
        assert_eq!((ours.code, peer.take()), (code, 3), "{}", ours.stderr);
        assert_eq!(warnings(&ours.stderr), 2, "{}", ours.stderr);
        assert!(
            ours.stderr
                .contains("Problem: HTTP error 503. Will retry in 1 seconds. 2 retries left."),
            "{}",
            ours.stderr
        );
        let theirs = curl(&[&args[..], &["--no-progress-meter", &url]].concat());
        assert_eq!((theirs.code, peer.take()), (code, 3), "{}", theirs.stderr);
        assert_eq!(warnings(&theirs.stderr), 2, "{}", theirs.stderr);
    }
}

/// 503 then 200: the second attempt's body is what -o keeps (the first
/// one's is thrown away); Retry-After sets the wait of both tools.
#[test]
fn a_retry_keeps_only_the_last_body_and_reads_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    for tool in ["rawget", "curl"] {
        let peer = Peer::start(vec![
            response(
                "503 Busy",
                "Retry-After: 2\r\n",
                "first attempt, thrown away",
            ),
            response("200 OK", "", "second"),
        ]);
        let file = dir.path().join(tool);
        let args = ["--retry", "3", "-o", s(&file), "--no-progress-meter"];
        let run = if tool == "rawget" {
            rawget(&[&args[..3], &[s(&file), &peer.url()]].concat())
        } else {
            curl(&[&args[..], &[&peer.url()]].concat())
        };
        assert_eq!((run.code, peer.take()), (0, 2), "{tool}: {}", run.stderr);
        assert!(
            run.stderr.contains("Will retry in 2 seconds"),
            "{tool}: {}",
            run.stderr
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"second", "{tool}");
    }
}

/// What is not transient is not retried (a 404 with -f, a refused
/// connection), unless --retry-all-errors or --retry-connrefused say so;
/// a Retry-After beyond --retry-max-time ends the retries at once.
#[test]
fn what_is_retried_follows_curls_rules() {
    let peer = Peer::start(vec![response("404 Not Found", "", "no")]);
    let url = peer.url();
    let refused = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())
    };
    let late = Peer::start(vec![response("429 Slow", "Retry-After: 30\r\n", "")]);
    let cases: Vec<(Vec<&str>, String, i32, usize)> = vec![
        (vec!["-f", "--retry", "2"], url.clone(), 22, 0),
        (
            vec![
                "-f",
                "--retry",
                "1",
                "--retry-all-errors",
                "--retry-delay",
                "1",
            ],
            url.clone(),
            22,
            1,
        ),
        (vec!["--retry", "1"], refused.clone(), 7, 0),
        (
            vec!["--retry", "1", "--retry-connrefused", "--retry-delay", "1"],
            refused.clone(),
            7,
            1,
        ),
        (
            vec!["--retry", "3", "--retry-max-time", "5"],
            late.url(),
            0,
            0,
        ),
    ];
    for (args, target, code, retries) in cases {
        let common = ["-o", "/dev/null", "--no-progress-meter"];
        let ours = rawget(&[&args[..], &common[..2], &[&target]].concat());
        let theirs = curl(&[&args[..], &common[..], &[&target]].concat());
        assert_eq!(
            (ours.code, warnings(&ours.stderr)),
            (code, retries),
            "rawget {args:?}: {}",
            ours.stderr
        );
        assert_eq!(
            (theirs.code, warnings(&theirs.stderr)),
            (code, retries),
            "curl {args:?}: {}",
            theirs.stderr
        );
    }
    assert_eq!(peer.take(), 2 + 4);
    assert_eq!(late.take(), 2);
}

/// A peer that never answers: -m expires (28), which is transient.
#[test]
fn a_timeout_is_retried() {
    let peer = Peer::start(vec![None]);
    let args = [
        "-m",
        "0.5",
        "--retry",
        "1",
        "--retry-delay",
        "1",
        "-o",
        "/dev/null",
    ];
    let ours = rawget(&[&args[..], &[&peer.url()]].concat());
    assert_eq!((ours.code, peer.take()), (28, 2), "{}", ours.stderr);
    assert!(
        ours.stderr.contains("Problem: timeout. Will retry"),
        "{}",
        ours.stderr
    );
    let theirs = curl(&[&args[..], &["--no-progress-meter", &peer.url()]].concat());
    assert_eq!((theirs.code, peer.take()), (28, 2), "{}", theirs.stderr);
}

// ------------------------------------------------------ outputs, -C, rate

/// Two responses, one per connection, with their own bodies.
fn two_bodies() -> Peer {
    Peer::start(vec![
        response("200 OK", "", "first"),
        response("200 OK", "", "second"),
    ])
}

/// -o and -O pair with the URLs in order, as curl pairs them; a URL
/// left without one writes its body to stdout.
#[test]
fn outputs_pair_with_urls_in_order() {
    for tool in ["rawget", "curl"] {
        let dir = tempfile::tempdir().unwrap();
        let cmd = |args: &[&str]| {
            let program = match tool {
                "rawget" => env!("CARGO_BIN_EXE_rawget"),
                _ => "curl",
            };
            run(Command::new(program).current_dir(dir.path()).args(args))
        };
        let peer = two_bodies();
        let (a, b) = (
            format!("{}/a.txt", peer.url()),
            format!("{}/b.txt", peer.url()),
        );
        let run = cmd(&["-s", "-o", "one", "-o", "two", &a, &b]);
        assert_eq!(run.code, 0, "{tool}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{tool}");
        assert_eq!(std::fs::read(dir.path().join("one")).unwrap(), b"first");
        assert_eq!(std::fs::read(dir.path().join("two")).unwrap(), b"second");
        drop(peer);
        let peer = two_bodies();
        let (a, b) = (
            format!("{}/a.txt", peer.url()),
            format!("{}/b.txt", peer.url()),
        );
        let run = cmd(&["-s", "-O", "-o", "only", &a, &b]);
        assert_eq!(run.code, 0, "{tool}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{tool}");
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"first");
        assert_eq!(std::fs::read(dir.path().join("only")).unwrap(), b"second");
        drop(peer);
        let peer = two_bodies();
        let run = cmd(&["-s", "-o", "lone", &peer.url(), &peer.url()]);
        assert_eq!(run.code, 0, "{tool}: {}", run.stderr);
        assert_eq!(std::fs::read(dir.path().join("lone")).unwrap(), b"first");
        assert_eq!(run.stdout, b"second", "{tool}");
    }
}

/// -C - resumes each URL from its own file; -C N asks every URL for the
/// range, in the raw view too, where a whole body is exit 33 as in curl;
/// -C - with the body on stdout asks for no range.
#[test]
fn resume_applies_per_file_and_in_every_output_mode() {
    let partial = |from: usize| {
        let rest = &"abcde"[from..];
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-4/5\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{rest}",
            rest.len()
        )
    };
    for tool in ["rawget", "curl"] {
        let dir = tempfile::tempdir().unwrap();
        let (p1, p2) = (dir.path().join("p1"), dir.path().join("p2"));
        std::fs::write(&p1, "abc").unwrap();
        std::fs::write(&p2, "abcd").unwrap();
        let (srv1, srv2) = (
            serve_n(1, partial(3).as_bytes()),
            serve_n(1, partial(4).as_bytes()),
        );
        let args = ["-s", "-C", "-", "-o", s(&p1), "-o", s(&p2)];
        let urls = [srv1.url("/1"), srv2.url("/2")];
        let run = match tool {
            "rawget" => rawget(&[&args[..], &[&urls[0], &urls[1]]].concat()),
            _ => curl(&[&args[..], &[&urls[0], &urls[1]]].concat()),
        };
        assert_eq!(run.code, 0, "{tool}: {}", run.stderr);
        let (r1, r2) = (&srv1.requests()[0], &srv2.requests()[0]);
        assert!(r1.contains("\r\nRange: bytes=3-\r\n"), "{tool}: {r1}");
        assert!(r2.contains("\r\nRange: bytes=4-\r\n"), "{tool}: {r2}");
        assert_eq!(std::fs::read(&p1).unwrap(), b"abcde");
        assert_eq!(std::fs::read(&p2).unwrap(), b"abcde");
        // -C 5 in the raw view (and curl's stdout): a 200 is exit 33.
        let srv = serve_n(1, OK);
        let code = match tool {
            "rawget" => rawget(&["-s", "-C", "5", &srv.url("/")]).code,
            _ => curl(&["-s", "-C", "5", &srv.url("/")]).code,
        };
        assert_eq!(code, 33, "{tool}");
        assert!(srv.requests()[0].contains("\r\nRange: bytes=5-\r\n"));
        // -C - to stdout: no range, the whole body.
        let srv = serve_n(1, OK);
        let run = match tool {
            "rawget" => rawget(&["-s", "-C", "-", "-o", "-", &srv.url("/")]),
            _ => curl(&["-s", "-C", "-", &srv.url("/")]),
        };
        assert_eq!((run.code, run.stdout.as_slice()), (0, &b"ok"[..]), "{tool}");
        assert!(!srv.requests()[0].contains("Range:"), "{tool}");
    }
}

/// --limit-rate paces the raw view and --json too, not only a saved
/// body: 40 KiB at 20 KiB/s cannot arrive in less than a second and a
/// half (a lower bound only: a loaded machine is slower, never faster).
#[test]
fn limit_rate_applies_in_every_output_mode() {
    for mode in [&[][..], &["--json"], &["-o", "/dev/null"]] {
        let srv = serve_n(1, &sized_response(40 * 1024, b'r'));
        let start = Instant::now();
        rawget(&[mode, &["-s", "--limit-rate", "20k", &srv.url("/")]].concat()).expect(0);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(1500), "{mode:?}: {took:?}");
        srv.requests();
    }
}
