//! Helpers for tests/portscan.rs: run the real `portscan` binary with a
//! time limit, parse its JSON Lines strictly, and make open, closed and
//! filtered ports on loopback.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use socket2::{Domain, Socket, Type};

use crate::require::{self, Skipped};

/// No test run of the binary may take longer than this.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

pub const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One JSON Lines record, exactly the documented fields.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub target: String,
    pub ip: IpAddr,
    pub port: u16,
    pub proto: String,
    pub state: String,
    pub reason: String,
    pub rtt_ms: f64,
    pub service: Option<String>,
    pub service_source: Option<String>,
    pub product: Option<String>,
    pub version: Option<String>,
    pub service_info: Option<String>,
    pub banner: Option<String>,
    pub after_handshake: Option<String>,
    pub host_accepts_all: Option<bool>,
    pub timestamp: String,
    pub scan_id: String,
    pub shard: String,
    pub technique: String,
}

/// What a run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.status.code().expect("exited, not killed")
    }

    /// Every stdout line as a record; panics on any line that does not
    /// match the schema.
    pub fn lines(&self) -> Vec<Line> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
            .collect()
    }

    /// Ports reported in `state`.
    pub fn ports_in(&self, state: &str) -> BTreeSet<u16> {
        self.lines()
            .into_iter()
            .filter(|l| l.state == state)
            .map(|l| l.port)
            .collect()
    }

    /// Asserts success and returns self, showing stderr if not.
    pub fn ok(self) -> Run {
        assert_eq!(self.code(), 0, "stderr: {}", self.stderr);
        self
    }
}

pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portscan"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `portscan args` with stdout and stderr piped (so neither is a
/// terminal), killing it after [`RUN_LIMIT`].
pub fn portscan(args: &[&str]) -> Run {
    portscan_with_stdin(args, None)
}

/// Like [`portscan`], writing `stdin` to the child first.
pub fn portscan_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    run_command(command(args), stdin)
}

/// Runs `cmd` (from [`command`], perhaps with its environment changed)
/// as [`portscan_with_stdin`] does.
pub fn run_command(mut cmd: Command, stdin: Option<&str>) -> Run {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("spawn portscan");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    }
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait_limited(&mut child, RUN_LIMIT);
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn drain<R: Read + Send + 'static>(mut r: R) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut s = String::new();
        r.read_to_string(&mut s).expect("output is UTF-8");
        s
    })
}

/// Waits for `child`, killing it and failing the test after `limit`.
pub fn wait_limited(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("portscan ran longer than {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A listener on `ip` port 0 whose accept loop writes `greeting` (if any)
/// to every connection and closes it; without a greeting it keeps the
/// last 64 connections open instead, so that what a scan sees after the
/// handshake (`after_handshake`) is `silent` whatever the machine's load,
/// never a close that may or may not come within the scan's wait. The
/// thread lives as long as the test process.
pub fn serve(ip: IpAddr, greeting: Option<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind listener");
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = std::collections::VecDeque::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            match greeting {
                Some(bytes) => {
                    let _ = conn.write_all(bytes);
                    // Give the reader time to take the banner before the close.
                    thread::sleep(Duration::from_millis(50));
                }
                None => {
                    if held.len() == 64 {
                        held.pop_front();
                    }
                    held.push_back(conn);
                }
            }
        }
    });
    port
}

/// A port on `ip` that nothing listens on, for as long as the test
/// process lives.
pub fn closed_port(ip: IpAddr, avoid: &[u16]) -> u16 {
    // A socket bound to the port that never listens: a SYN to it meets
    // no listener (RST), and while the socket lives no other listener or
    // ephemeral port can take the port. Kept for the life of the test
    // process: a port found free and let go was once taken by a listener
    // of other work before the scan came (reported open).
    static HELD: Mutex<Vec<Socket>> = Mutex::new(Vec::new());
    let addr = SocketAddr::new(ip, 0);
    loop {
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
        s.bind(&addr.into()).unwrap();
        let port = s.local_addr().unwrap().as_socket().unwrap().port();
        if !avoid.contains(&port) {
            HELD.lock().unwrap_or_else(PoisonError::into_inner).push(s);
            return port;
        }
    }
}

/// A port that drops SYNs: a listener with backlog 1 that never accepts,
/// its queue filled by our own connects. Keep the returned guard alive
/// while scanning.
pub struct Filtered {
    pub port: u16,
    _listener: Socket,
    _held: Vec<TcpStream>,
    _filtering: RwLockReadGuard<'static, ()>,
}

/// Held (read) by each full-backlog listener of [`filtered_port`] while
/// it lives. A test that scans a range of loopback ports and calls any
/// port there that is not open or closed a fault takes it to write: such
/// a listener, bound to an ephemeral port near its own, would be
/// filtered for a reason of another test's making.
pub static FILTERING: RwLock<()> = RwLock::new(());

/// No full-backlog listener of this binary's tests exists while the
/// guard lives (see [`FILTERING`]).
pub fn no_filtered_ports() -> RwLockWriteGuard<'static, ()> {
    FILTERING.write().unwrap_or_else(PoisonError::into_inner)
}

pub fn filtered_port() -> Filtered {
    let filtering = FILTERING.read().unwrap_or_else(PoisonError::into_inner);
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SocketAddr::from((LOCALHOST, 0)).into())
        .unwrap();
    listener.listen(1).unwrap();
    let port = listener.local_addr().unwrap().as_socket().unwrap().port();
    let addr = SocketAddr::from((LOCALHOST, port));
    let mut held = Vec::new();
    // Connect until one gets no answer: from then on the queue is full.
    for _ in 0..16 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => held.push(s),
            Err(_) => {
                return Filtered {
                    port,
                    _listener: listener,
                    _held: held,
                    _filtering: filtering,
                }
            }
        }
    }
    panic!("the accept queue of port {port} never filled");
}

/// `::1`, when it can be bound. A machine without IPv6 loopback fails the
/// IPv6 tests unless `RAWNET_TEST_SKIP` lists `ipv6` (tests/require).
pub fn ipv6_loopback() -> Result<IpAddr, Skipped> {
    require::ipv6()?;
    Ok(IpAddr::V6(Ipv6Addr::LOCALHOST))
}

/// A fresh path under the target's temp dir.
pub fn temp_path(name: &str) -> std::path::PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("portscan-{}-{n}-{name}", std::process::id()))
}

/// `a,b,c` for a port list.
pub fn list(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The path of `tool`, from Debian's `package` (listed in `.ci/packages.d`);
/// when it is not installed the test fails, or skips if `RAWNET_TEST_SKIP`
/// names `tool` (tests/require).
pub fn require_tool(tool: &str, package: &str) -> Result<std::path::PathBuf, Skipped> {
    require::program(tool, package)
}

/// Runs `program args`, failing the test unless it ran at all; returns
/// (exit code, stdout).
pub fn run_tool(program: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}
