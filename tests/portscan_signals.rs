//! Nothing lost on a signal or a failing output: the real `portscan`
//! binary against listeners and a filtered port on 127.0.0.1, stopped by
//! SIGTERM or SIGINT mid-scan, or writing to /dev/full or a closed stdout.
//!
//! No sleeps and no clocks: the filtered port holds the scan (its SYNs go
//! unanswered for minutes, `-t` is ten minutes), and the tests wait for
//! events (result lines in the file, the scanner closing its connection to
//! each open port) before they signal, with a watchdog that fails a hung
//! run.

mod portscan_support;
mod require;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::TcpListener;
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use portscan_support::*;

/// Three listeners and a filtered port that keeps the scan going for
/// `-t` milliseconds.
struct Scene {
    open: Vec<u16>,
    _filtered: Filtered,
    ports: String,
}

fn scene() -> Scene {
    let open: Vec<u16> = (0..3).map(|_| serve(LOCALHOST, None)).collect();
    let filtered = filtered_port();
    let mut ports = open.clone();
    ports.push(filtered.port);
    Scene {
        ports: list(&ports),
        open,
        _filtered: filtered,
    }
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
}

/// The filtered port's probe waits this long (ten minutes, the most -t takes; the kernel gives
/// up on its SYNs after about two minutes, past [`RUN_LIMIT`]), so the
/// scan cannot end before a test has done what it waits for.
const HOLD_MS: &str = "600000";

/// Waits until `path` holds `n` lines, polling while `child` runs; fails
/// if `child` exits first (then the lines came at the end, not as found).
fn wait_for_lines(child: &mut Child, path: &std::path::Path, n: usize) -> String {
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("portscan exited ({status}) with {path:?} holding only {text:?}");
        }
        // A poll interval, not a synchronisation: the scan is held open.
        thread::sleep(Duration::from_millis(20));
    }
}

/// `n` listeners that each report their port on the returned channel once
/// the scanner has closed its connection (read returns end of file or a
/// reset): the scan has then handled that port's result.
fn reporting_listeners(n: usize) -> (Vec<u16>, mpsc::Receiver<u16>) {
    let (tx, rx) = mpsc::channel();
    let ports = (0..n)
        .map(|_| {
            let listener = TcpListener::bind((LOCALHOST, 0)).unwrap();
            let port = listener.local_addr().unwrap().port();
            let tx = tx.clone();
            thread::spawn(move || {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                conn.set_read_timeout(Some(RUN_LIMIT)).unwrap();
                let closed = match conn.read(&mut [0u8; 64]) {
                    Ok(n) => n == 0,
                    Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                };
                if closed {
                    let _ = tx.send(port);
                }
                // Held until the test ends: a further connect is not refused.
                for _ in listener.incoming() {}
            });
            port
        })
        .collect();
    (ports, rx)
}

fn finish(mut child: Child) -> Run {
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out = thread::spawn(move || std::io::read_to_string(out).unwrap());
    let err = thread::spawn(move || std::io::read_to_string(err).unwrap());
    let status = wait_limited(&mut child, RUN_LIMIT);
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn sigterm_mid_scan_leaves_whole_lines_with_every_open_port_in_the_output_file() {
    let s = scene();
    let path = temp_path("sigterm.jsonl");
    let child = command(&[
        "127.0.0.1",
        &s.ports,
        "-t",
        HOLD_MS,
        "--min-timeout",
        HOLD_MS,
        "--retries",
        "0",
        "-o",
        path.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    // The open ports reach the file while the scan still waits on the
    // filtered one: flushed as found, not at the end.
    let mut child = child;
    wait_for_lines(&mut child, &path, s.open.len());
    signal(&child, libc::SIGTERM);
    let run = finish(child);
    assert_eq!(run.code(), 143, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("interrupted by SIGTERM"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'), "a partial last line: {text:?}");
    let lines: Vec<Line> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    let found: BTreeSet<u16> = lines.iter().map(|l| l.port).collect();
    assert_eq!(found, s.open.iter().copied().collect());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn sigint_prints_the_table_of_what_was_found() {
    let (open, closed) = reporting_listeners(3);
    let filtered = filtered_port();
    let ports = list(&[&open[..], &[filtered.port]].concat());
    let child = command(&[
        "127.0.0.1",
        &ports,
        "-t",
        HOLD_MS,
        "--min-timeout",
        HOLD_MS,
        "--retries",
        "0",
        // One connection per port: with discovery, the first port met
        // also gets a discovery connect, which would be closed first.
        "--no-discovery",
        "--table",
    ])
    .spawn()
    .unwrap();
    // The table is written at the end; the event that each open port was
    // handled is the scanner closing its connection to it.
    let mut handled = BTreeSet::new();
    while handled.len() < open.len() {
        match closed.recv_timeout(RUN_LIMIT) {
            Ok(port) => handled.insert(port),
            Err(e) => panic!("open ports handled: {handled:?} ({e})"),
        };
    }
    signal(&child, libc::SIGINT);
    let run = finish(child);
    assert_eq!(run.code(), 130, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("interrupted by SIGINT"),
        "{}",
        run.stderr
    );
    for port in &open {
        assert!(
            run.stdout.contains(&format!("{port}/tcp")),
            "port {port} missing from the table: {}",
            run.stdout
        );
    }
}

#[test]
fn a_full_output_device_fails_at_once() {
    let s = scene();
    // The filtered port holds the scan past RUN_LIMIT: only a failure at
    // the first write ends the run before the watchdog does.
    let run = portscan(&[
        "127.0.0.1",
        &s.ports,
        "-t",
        HOLD_MS,
        "--min-timeout",
        HOLD_MS,
        "--retries",
        "0",
        "-o",
        "/dev/full",
    ]);
    assert_eq!(run.code(), 1, "stderr: {}", run.stderr);
    assert!(
        run.stderr.starts_with("error: cannot write results"),
        "{}",
        run.stderr
    );
}

/// Runs `portscan args` with descriptor 1 closed, as `portscan ... >&-`.
fn with_stdout_closed(args: &[&str]) -> Run {
    use std::os::unix::process::CommandExt;
    let mut cmd = command(args);
    cmd.stdout(std::process::Stdio::inherit());
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let err = child.stderr.take().unwrap();
    let err = thread::spawn(move || std::io::read_to_string(err).unwrap());
    let status = wait_limited(&mut child, RUN_LIMIT);
    Run {
        status,
        stdout: String::new(),
        stderr: err.join().unwrap(),
    }
}

#[test]
fn a_closed_stdout_fails_with_one_line_before_scanning() {
    let s = scene();
    // Results for stdout, in the default format and in nmap's on '-'.
    for extra in [&[][..], &["-oN", "-"][..]] {
        let mut args = vec!["127.0.0.1", &s.ports[..], "-t", HOLD_MS, "--retries", "0"];
        args.extend_from_slice(extra);
        let run = with_stdout_closed(&args);
        assert_eq!(run.code(), 1, "{extra:?}: {}", run.stderr);
        assert_eq!(
            run.stderr, "error: cannot write results: standard output is closed\n",
            "{extra:?}"
        );
    }
    // Results for a file: a closed stdout does not matter.
    let path = temp_path("closed-stdout.jsonl");
    let open = list(&s.open);
    let run = with_stdout_closed(&["127.0.0.1", &open, "-o", path.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), s.open.len(), "{text}");
    let _ = std::fs::remove_file(&path);
}
