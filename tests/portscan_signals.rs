//! Nothing lost on a signal or a failing output: the real `portscan`
//! binary against listeners and a filtered port on 127.0.0.1, stopped by
//! SIGTERM or SIGINT mid-scan, or writing to /dev/full.

mod portscan_support;
mod require;

use std::collections::BTreeSet;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

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

/// Waits (bounded) until `path` holds `n` lines.
fn wait_for_lines(path: &std::path::Path, n: usize) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "after 20 s, {path:?} holds only {text:?}: results are not flushed as found"
        );
        thread::sleep(Duration::from_millis(20));
    }
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
        "30000",
        "--min-timeout",
        "30000",
        "--retries",
        "0",
        "-o",
        path.to_str().unwrap(),
    ])
    .spawn()
    .unwrap();
    // The open ports reach the file while the scan still waits on the
    // filtered one: flushed as found, not at the end.
    wait_for_lines(&path, s.open.len());
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
    let s = scene();
    let child = command(&[
        "127.0.0.1",
        &s.ports,
        "-t",
        "30000",
        "--min-timeout",
        "30000",
        "--retries",
        "0",
        "--table",
    ])
    .spawn()
    .unwrap();
    // Loopback answers in microseconds; the filtered port holds the scan.
    thread::sleep(Duration::from_millis(1500));
    signal(&child, libc::SIGINT);
    let run = finish(child);
    assert_eq!(run.code(), 130, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("interrupted by SIGINT"),
        "{}",
        run.stderr
    );
    for port in &s.open {
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
    let started = Instant::now();
    let run = portscan(&[
        "127.0.0.1",
        &s.ports,
        "-t",
        "30000",
        "--min-timeout",
        "30000",
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
    // Well before the 30 s the filtered port would hold the scan.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
