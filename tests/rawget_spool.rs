//! Parallel URLs' waiting output: whole records or nothing when the spool
//! cannot spill to TMPDIR (missing, full, read-only), and the URLs after
//! it still reported.

mod rawget_support;
mod require;

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use rawget_support::*;
use require::{or_skip, Skipped};

/// More than the shared memory budget (16 MiB), so it must spill.
const BIG: usize = 17 * 1024 * 1024;

fn three_urls() -> (Server, Server, Server) {
    // The first URL stalls until rawget closed the other two connections,
    // so they finish first and wait in the spool. rawget keeps a connection
    // until no later URL of the run can use it, that is until the URL's
    // output went to its lane (the spool, or the spill error): no margin
    // for escaping a 17 MiB body into JSON is needed after that. The 90 s
    // bounds only keep a broken run from hanging: two debug builds escaping
    // 17 MiB at once on a loaded machine took over 10 s.
    let (done, finished) = mpsc::channel();
    let big = serve_when(|| {}, sized_response(BIG, b'b'), Some(done.clone()));
    let last = serve_when(|| {}, sized_response(5, b'c'), Some(done));
    let first = serve_when(
        move || {
            for _ in 0..2 {
                let _ = finished.recv_timeout(Duration::from_secs(90));
            }
        },
        sized_response(5, b'a'),
        None,
    );
    (first, big, last)
}

fn run_with_tmpdir(tmpdir: &str, json: bool) -> (Run, [String; 3]) {
    run_in(Command::new(env!("CARGO_BIN_EXE_rawget")), tmpdir, json)
}

/// Runs `cmd` (rawget, or a wrapper that ends by running it) on three
/// URLs whose second one must spill.
fn run_in(mut cmd: Command, tmpdir: &str, json: bool) -> (Run, [String; 3]) {
    let (first, big, last) = three_urls();
    let urls = [first.url("/1"), big.url("/2"), last.url("/3")];
    cmd.env("TMPDIR", tmpdir).args(["-m", "120"]);
    if json {
        cmd.args(["--json", "--max-size", "64M"]);
    }
    let run = run(cmd.args(&urls));
    for srv in [first, big, last] {
        assert_eq!(srv.requests().len(), 1, "every server was called");
    }
    (run, urls)
}

#[test]
fn json_records_are_whole_or_absent_when_tmpdir_is_missing() {
    let (run, urls) = run_with_tmpdir("/nonexistent/rawget-test", true);
    assert_eq!(run.code, 23, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("TMPDIR (/nonexistent/rawget-test)"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(&urls[1]), "{}", lines[0]);
    // Stdout: whole lines only, each a complete record: URLs 1 and 3.
    let out = run.out();
    assert!(out.ends_with('\n'), "no cut-off record");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:.200}")))
        .collect();
    let reported: Vec<&str> = records.iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert_eq!(reported, [urls[0].as_str(), urls[2].as_str()]);
    assert_eq!(records[1]["body"], "ccccc");
}

/// rawget with `dir` mounted as a tmpfs with `options`, in a mount
/// namespace of its own (gone with the process). Without root or a
/// working unshare(1) the test fails, unless `RAWNET_TEST_SKIP` names what
/// is missing (tests/require).
fn in_tmpfs(dir: &str, options: &str) -> Result<Command, Skipped> {
    require::root("mounting a tmpfs")?;
    let probe = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs -o size=1m tmpfs \"$0\"",
            dir,
        ])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return Err(require::missing(
            "unshare",
            "cannot mount a tmpfs in a mount namespace with unshare(1) (util-linux)",
        ));
    }
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount -t tmpfs -o \"$1\" tmpfs \"$0\" && shift && exec \"$@\"",
        dir,
        options,
        env!("CARGO_BIN_EXE_rawget"),
    ]);
    Ok(cmd)
}

#[test]
fn a_full_or_read_only_tmpdir_fails_only_the_url_that_spills() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    // Full: the spill file is created, then a write fails (ENOSPC) after
    // part of the record went to it. Read-only: it cannot be created.
    for options in ["size=1m", "ro"] {
        let cmd = or_skip!(in_tmpfs(path, options));
        let (run, urls) = run_in(cmd, path, true);
        assert_eq!(run.code, 23, "{options}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{options}: {}", run.stderr);
        assert!(run.stderr.contains("TMPDIR"), "{}", run.stderr);
        let out = run.out();
        assert!(out.ends_with('\n'), "{options}: no cut-off record");
        let reported: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["url"].to_string())
            .collect();
        let want = [&urls[0], &urls[2]].map(|u| format!("\"{u}\""));
        assert_eq!(reported, want, "{options}");
    }
}

#[test]
fn raw_output_of_a_url_that_cannot_spill_is_dropped_whole() {
    let (run, _) = run_with_tmpdir("/nonexistent/rawget-test", false);
    assert_eq!(run.code, 23, "{}", run.stderr);
    assert!(run.stderr.contains("TMPDIR"), "{}", run.stderr);
    let out = run.out();
    assert!(
        out.contains("aaaaa") && out.ends_with("ccccc"),
        "{:.300}",
        out
    );
    assert!(!out.contains('b'), "nothing of the failed URL");
}

#[test]
fn with_a_usable_tmpdir_the_big_url_spills_and_all_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (run, _) = run_with_tmpdir(dir.path().to_str().unwrap(), false);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.out();
    let bodies = out.matches("\r\n\r\n").count();
    assert_eq!(bodies, 3);
    assert_eq!(out.bytes().filter(|&b| b == b'b').count(), BIG);
    assert!(out.ends_with("ccccc"));
}
