//! Helpers shared by the rawget test files: a scripted server on
//! 127.0.0.1:0 that answers several connections with the same bytes (so
//! rawget and curl can be compared on one server), reading a request as a
//! server does, and a bounded run of a binary.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::require;

/// A port of 127.0.0.1 where nothing listens, for the life of the test
/// process: a socket is bound to it and never listens, so a connect meets
/// a RST, and no listener of another test (nor an ephemeral port) can
/// take the port between the pick and the connect, as could happen to a
/// port found free and let go.
pub fn closed_port() -> u16 {
    use socket2::{Domain, Socket, Type};
    use std::sync::{Mutex, PoisonError};
    static HELD: Mutex<Vec<Socket>> = Mutex::new(Vec::new());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&addr.into()).unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    HELD.lock().unwrap_or_else(PoisonError::into_inner).push(s);
    port
}

/// Every run is killed (and the test fails) after this long.
pub const WATCHDOG: Duration = Duration::from_secs(20);

/// A server that answers `n` connections, one after the other.
pub struct Server {
    pub addr: SocketAddr,
    requests: JoinHandle<Vec<Vec<u8>>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The requests received, in order (joins the server thread).
    pub fn requests(self) -> Vec<String> {
        self.requests
            .join()
            .expect("server thread")
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }
}

/// Serves `response` to `n` connections, then stops.
pub fn serve_n(n: usize, response: &[u8]) -> Server {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().unwrap();
    let response = response.to_vec();
    let requests = thread::spawn(move || {
        let mut requests = Vec::new();
        for _ in 0..n {
            let Ok((mut conn, _)) = listener.accept() else {
                break;
            };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            requests.push(read_request(&mut conn));
            let _ = conn.write_all(&response);
            let _ = conn.shutdown(Shutdown::Write);
            // Drain until the client closes, so the close is a FIN.
            let _ = conn.read(&mut [0u8; 1024]);
        }
        requests
    });
    Server { addr, requests }
}

/// Reads a request head and its Content-Length body from `conn` (a TCP
/// stream, or a TLS stream over one).
pub fn read_request(conn: &mut dyn Read) -> Vec<u8> {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap_or(0));
            if req.len() >= end + 4 + len {
                return req;
            }
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return req,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
}

/// The result of one bounded run.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit code; a failure has one `rawget:` line on stderr.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(self.code, code, "stderr: {}", self.stderr);
        if code != 0 {
            assert_eq!(self.stderr.lines().count(), 1, "{}", self.stderr);
        }
        self
    }
}

/// Runs rawget with `args`.
pub fn rawget(args: &[&str]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_rawget")).args(args))
}

/// Runs a command with stdin empty, bounded by [`WATCHDOG`].
pub fn run(cmd: &mut Command) -> Run {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out: Output = match rx.recv_timeout(WATCHDOG) {
        Ok(out) => out.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} did not finish within {WATCHDOG:?}");
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// True when `tool --version` runs. When it does not, the test fails
/// (CI installs the tool from `.ci/packages.d`), unless `RAWNET_TEST_SKIP`
/// names `tool`: then the skip is recorded (tests/require) and this is
/// false, so the comparison with the tool is left out.
pub fn have(tool: &str) -> bool {
    if require::runs(tool, &["--version"]) {
        return true;
    }
    let _skipped = require::missing(tool, &format!("{tool} --version does not run"));
    false
}

/// Serves `response` once, after waiting `delay` (a URL that stalls).
pub fn serve_after(delay: Duration, response: Vec<u8>) -> Server {
    serve_when(move || thread::sleep(delay), response, None)
}

/// Like [`serve_after`], but the answer waits for `wait()` to return, and
/// `done` (if given) is sent once the client has read the whole answer
/// and closed: so one server can hold its answer until others are served,
/// whatever the machine's load.
pub fn serve_when(
    wait: impl FnOnce() + Send + 'static,
    response: Vec<u8>,
    done: Option<mpsc::Sender<()>>,
) -> Server {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().unwrap();
    let requests = thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return Vec::new();
        };
        conn.set_read_timeout(Some(Duration::from_secs(90)))
            .unwrap();
        let request = read_request(&mut conn);
        wait();
        let _ = conn.write_all(&response);
        let _ = conn.shutdown(Shutdown::Write);
        let _ = conn.read(&mut [0u8; 1024]);
        if let Some(done) = done {
            let _ = done.send(());
        }
        vec![request]
    });
    Server { addr, requests }
}

/// A 200 response with a body of `len` bytes of `fill`.
pub fn sized_response(len: usize, fill: u8) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    r.resize(r.len() + len, fill);
    r
}
