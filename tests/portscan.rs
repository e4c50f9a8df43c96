//! The real `portscan` binary against real sockets on loopback only
//! (127.0.0.1 and, when configured, ::1): exact open sets, closed and
//! filtered states, banners, sharding, the JSON schema, and exit codes.

mod portscan_support;
mod require;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::time::Duration;

use portscan_support::*;

/// Three listeners and two closed ports on 127.0.0.1.
fn lab() -> (Vec<u16>, Vec<u16>) {
    let open: Vec<u16> = (0..3).map(|_| serve(LOCALHOST, None)).collect();
    let closed = vec![closed_port(LOCALHOST, &open), closed_port(LOCALHOST, &open)];
    (open, closed)
}

#[test]
fn reports_exactly_the_open_ports() {
    let (open, closed) = lab();
    let all: Vec<u16> = open.iter().chain(&closed).copied().collect();
    let run = portscan(&["127.0.0.1", &list(&all), "-t", "2000"]).ok();
    assert_eq!(run.ports_in("open"), open.iter().copied().collect());
    let lines = run.lines();
    assert_eq!(lines.len(), open.len(), "only open ports without --all");
    for line in &lines {
        assert_eq!(line.target, "127.0.0.1");
        assert_eq!(line.ip, LOCALHOST);
        assert_eq!(line.proto, "tcp");
        assert!(line.rtt_ms >= 0.0 && line.rtt_ms < 2000.0);
        assert_eq!(line.banner, None);
    }
}

#[test]
fn all_reports_closed_ports_too() {
    let (open, closed) = lab();
    let all: Vec<u16> = open.iter().chain(&closed).copied().collect();
    let run = portscan(&["127.0.0.1", &list(&all), "--all"]).ok();
    assert_eq!(run.lines().len(), all.len());
    assert_eq!(run.ports_in("open"), open.iter().copied().collect());
    assert_eq!(run.ports_in("closed"), closed.iter().copied().collect());
}

#[test]
fn a_range_is_probed_once_per_port_at_high_concurrency() {
    let _alone = no_filtered_ports();
    let listener = serve(LOCALHOST, None);
    let low = listener.saturating_sub(100).max(1);
    let high = low.saturating_add(199);
    let run = portscan(&["127.0.0.1", &format!("{low}-{high}"), "--all", "-c", "64"]).ok();
    let lines = run.lines();
    let ports: Vec<u16> = lines.iter().map(|l| l.port).collect();
    let unique: BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(ports.len(), unique.len(), "a port reported twice");
    assert_eq!(unique, (low..=high).collect(), "ports missed or invented");
    assert!(run.ports_in("open").contains(&listener));
    // Other programs may listen in the range; everything else is closed.
    let odd: Vec<&Line> = lines
        .iter()
        .filter(|l| l.state != "open" && l.state != "closed")
        .collect();
    assert!(odd.is_empty(), "neither open nor closed: {odd:?}");
    assert!(run.stderr.contains(&format!("{} probes", high - low + 1)));
}

#[test]
fn a_full_backlog_is_filtered() {
    let filtered = filtered_port();
    let open = serve(LOCALHOST, None);
    let ports = list(&[filtered.port, open]);
    // --min-timeout equal to -t: the fixed timeout of old, whatever the
    // open port's answer says about loopback.
    let run = portscan(&[
        "127.0.0.1",
        &ports,
        "--all",
        "-t",
        "300",
        "--min-timeout",
        "300",
        "--retries",
        "0",
    ])
    .ok();
    assert_eq!(run.ports_in("filtered"), BTreeSet::from([filtered.port]));
    assert_eq!(run.ports_in("open"), BTreeSet::from([open]));
    let line = run
        .lines()
        .into_iter()
        .find(|l| l.port == filtered.port)
        .unwrap();
    assert!(line.rtt_ms >= 250.0, "gave up after {} ms", line.rtt_ms);
    assert!(run.stderr.contains("1 filtered"), "{}", run.stderr);
}

#[test]
fn after_answers_a_filtered_port_is_given_up_long_before_the_timeout() {
    let filtered = filtered_port();
    let open = serve(LOCALHOST, None);
    let mut avoid = vec![filtered.port, open];
    for _ in 0..40 {
        let port = closed_port(LOCALHOST, &avoid);
        avoid.push(port);
    }
    let closed: BTreeSet<u16> = avoid[2..].iter().copied().collect();
    // A fixed 10-minute timeout and one retry would outlast RUN_LIMIT,
    // which fails the run; adapted to loopback's answers, about 2 x 100 ms.
    let run = portscan(&[
        "127.0.0.1",
        &list(&avoid),
        "--all",
        "-t",
        "600000",
        "--min-timeout",
        "100",
        "--retries",
        "1",
    ])
    .ok();
    assert_eq!(run.ports_in("filtered"), BTreeSet::from([filtered.port]));
    assert_eq!(run.ports_in("open"), BTreeSet::from([open]));
    assert_eq!(run.ports_in("closed"), closed);
}

#[test]
fn banners_are_read_and_escaped_in_the_table() {
    let port = serve(LOCALHOST, Some(b"SSH-2.0-test\r\n"));
    let run = portscan(&["127.0.0.1", &port.to_string(), "--banner"]).ok();
    let lines = run.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].banner.as_deref(), Some("SSH-2.0-test\r\n"));

    let table = portscan(&["127.0.0.1", &port.to_string(), "--banner", "--table"]).ok();
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 2, "{}", table.stdout);
    assert!(rows[0].starts_with("ADDRESS") && rows[0].ends_with("BANNER"));
    assert!(rows[1].ends_with("SSH-2.0-test\\r\\n"), "{}", rows[1]);
    assert!(!table.stdout.contains('\r'));
}

#[test]
fn banner_length_is_capped() {
    let port = serve(LOCALHOST, Some(b"0123456789abcdefghij"));
    let run = portscan(&[
        "127.0.0.1",
        &port.to_string(),
        "--banner",
        "--banner-max",
        "8",
    ])
    .ok();
    let banner = run.lines()[0].banner.clone().unwrap();
    assert_eq!(banner, "01234567");
}

#[test]
fn services_are_named_and_unknown_ports_are_null() {
    let closed = closed_port(LOCALHOST, &[]);
    let run = portscan(&["127.0.0.1", &format!("22,{closed}"), "--all"]).ok();
    for line in run.lines() {
        let expected = if line.port == 22 { Some("ssh") } else { None };
        assert_eq!(line.service.as_deref(), expected, "{line:?}");
    }
}

#[test]
fn open_ranges_and_port_zero_as_nmap_reads_them() {
    // Port 0 is probed when named (the kernel sends the SYN; loopback
    // refuses it), never as part of `-` or an open range.
    let run = portscan(&["127.0.0.1", "-p", "0", "--all"]).ok();
    assert_eq!(
        run.ports_in("closed"),
        BTreeSet::from([0]),
        "{}",
        run.stdout
    );
    let run = portscan(&["127.0.0.1", "-p", "65534-", "--all", "-t", "300"]).ok();
    let seen: BTreeSet<u16> = run.lines().iter().map(|l| l.port).collect();
    assert_eq!(seen, BTreeSet::from([65534, 65535]));
    let run = portscan(&["127.0.0.1", "-p", "-2", "--all", "-t", "300"]).ok();
    let seen: BTreeSet<u16> = run.lines().iter().map(|l| l.port).collect();
    assert_eq!(seen, BTreeSet::from([1, 2]));
}

#[test]
fn bad_port_specs_are_usage_errors() {
    for spec in ["65536", "1-70000", "abc", "80,,81", "http*", "", "90-80"] {
        let run = portscan(&["127.0.0.1", spec]);
        assert_eq!(run.code(), 2, "{spec:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{spec:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{spec:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: invalid port spec"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn bad_targets_are_usage_errors() {
    let cases = [
        (&["10.0.0.0/8"][..], "is 2^32 or more for one unsharded run"),
        (&["0.0.0.0/0", "80"], "4294967296 probes"),
        (&["fd00::/64"], "has 2^64 addresses"),
        (&["300.1.1.1"], "not a valid IPv4"),
        (&["127.0.0.1,,127.0.0.2"], "empty target"),
        (&["-4", "::1"], "excluded by -4"),
        (&["127.0.0.1", "22", "--shard", "2/2"], "0-based"),
        (&["127.0.0.1", "22", "-p", "23"], "ports given twice"),
        (&[], "no target given"),
        (
            &["127.0.0.1", "--exclude", ""],
            "the exclusion list of --exclude is empty",
        ),
        (&["127.0.0.1", "--exclude", " "], "exclusion list"),
    ];
    for (args, message) in cases {
        let run = portscan(args);
        assert_eq!(run.code(), 2, "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(message), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn flag_errors_exit_2_and_help_exits_0() {
    for args in [
        &["127.0.0.1", "--frobnicate"][..],
        &["127.0.0.1", "-c", "0"],
        &["x", "--json", "--table"],
        &["127.0.0.1", "-80"],
    ] {
        let run = portscan(args);
        assert_eq!(run.code(), 2, "{args:?}");
        assert_eq!(run.stdout, "");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.ends_with("(see --help)\n"), "{}", run.stderr);
    }
    // -p takes a leading hyphen as its value, so the spec error is precise.
    let run = portscan(&["127.0.0.1", "-p", "-70000"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr.starts_with("error: invalid port spec '-70000'"),
        "{}",
        run.stderr
    );
    for flag in ["--help", "--version"] {
        let run = portscan(&[flag]).ok();
        assert!(!run.stdout.is_empty());
        assert_eq!(run.stderr, "");
    }
}

#[test]
fn usage_errors_keep_clap_details_on_one_line() {
    let run = portscan(&["127.0.0.1", "--retry", "2"]);
    assert_eq!(run.code(), 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("a similar argument exists: '--retries'"),
        "{}",
        run.stderr
    );
    let run = portscan(&[]);
    assert_eq!(run.code(), 2);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("TARGET"), "{}", run.stderr);
}

#[test]
fn an_unresolvable_only_target_is_a_runtime_error() {
    // `.invalid` never resolves (RFC 6761).
    let run = portscan(&["no-such-host.invalid", "22"]);
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("no-such-host.invalid"));

    let port = serve(LOCALHOST, None);
    let run = portscan(&["no-such-host.invalid,127.0.0.1", &port.to_string()]).ok();
    assert!(run
        .stderr
        .contains("warning: could not resolve host 'no-such-host.invalid'"));
    assert_eq!(run.ports_in("open"), BTreeSet::from([port]));
}

#[test]
fn names_keep_the_target_as_written() {
    let port = serve(LOCALHOST, None);
    let run = portscan(&["localhost", &port.to_string(), "-4"]).ok();
    let lines = run.lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0].target, "localhost");
    assert_eq!(lines[0].ip, LOCALHOST);
}

#[test]
fn ipv6_loopback_is_scanned_too() {
    let v6 = require::or_skip!(ipv6_loopback());
    let open = serve(v6, None);
    let closed = closed_port(v6, &[open]);
    let run = portscan(&["[::1]", &list(&[open, closed]), "--all"]).ok();
    assert_eq!(run.ports_in("open"), BTreeSet::from([open]));
    assert_eq!(run.ports_in("closed"), BTreeSet::from([closed]));
    assert!(run
        .lines()
        .iter()
        .all(|l| l.ip == v6 && l.target == "[::1]"));
}

#[test]
fn targets_from_a_file_and_from_stdin() {
    let port = serve(LOCALHOST, None);
    let path = temp_path("hosts.txt");
    std::fs::write(&path, "# lab hosts\n\n127.0.0.1  # loopback\nlocalhost\n").unwrap();
    let file = path.to_str().unwrap();
    let run = portscan(&["-iL", file, &port.to_string(), "-4"]).ok();
    // localhost is 127.0.0.1 again: probed once, under the first name.
    let lines = run.lines();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_eq!(lines[0].target, "127.0.0.1");

    let run = portscan_with_stdin(&["-iL", "-", "-p", &port.to_string()], Some("127.0.0.1\n")).ok();
    assert_eq!(run.ports_in("open"), BTreeSet::from([port]));

    let missing = portscan(&["-iL", "/nonexistent/hosts.txt", "22"]);
    assert_eq!(missing.code(), 1);
    assert!(missing.stderr.contains("cannot read target list"));

    std::fs::write(&path, "# nothing here\n").unwrap();
    let empty = portscan(&["-iL", file, "22"]);
    assert_eq!(empty.code(), 2);
    assert!(empty.stderr.contains("holds no targets"));
}

#[test]
fn shards_split_the_scan_disjointly_and_completely() {
    let listener = serve(LOCALHOST, None);
    let low = listener.saturating_sub(20).max(1);
    let high = low + 39;
    let range = format!("{low}-{high}");
    let mut seen: Vec<u16> = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let run = portscan(&[
            "127.0.0.1",
            &range,
            "--all",
            "--shard",
            &shard,
            "--seed",
            "5",
        ])
        .ok();
        let ports: Vec<u16> = run.lines().iter().map(|l| l.port).collect();
        assert!(
            !ports.is_empty() && ports.len() <= 14,
            "shard {shard}: {}",
            ports.len()
        );
        assert!(
            run.stderr.contains(&format!("shard {shard} of 40 probes")),
            "{}",
            run.stderr
        );
        seen.extend(ports);
    }
    let unique: BTreeSet<u16> = seen.iter().copied().collect();
    assert_eq!(seen.len(), unique.len(), "shards overlap");
    assert_eq!(unique, (low..=high).collect(), "shards miss ports");
}

#[test]
fn output_file_gets_the_results() {
    let port = serve(LOCALHOST, None);
    let path = temp_path("out.jsonl");
    let run = portscan(&["127.0.0.1", &port.to_string(), "-o", path.to_str().unwrap()]).ok();
    assert_eq!(run.stdout, "");
    let text = std::fs::read_to_string(&path).unwrap();
    let line: Line = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!((line.port, line.state.as_str()), (port, "open"));

    let unwritable = portscan(&["127.0.0.1", "22", "-o", "/nonexistent/dir/out"]);
    assert_eq!(unwritable.code(), 1);
    assert!(unwritable.stderr.starts_with("error: cannot create"));
}

#[test]
fn errors_with_newlines_stay_on_one_line() {
    let dir = temp_path("multi");
    let _ = std::fs::create_dir(&dir);
    let odd = dir.join("no\nfile");
    let odd = odd.to_str().unwrap();
    for args in [
        &["-iL", odd][..],
        &["127.0.0.1", "22", "-o", &format!("{odd}/out")],
        &["127.0.0.1", "22", "--excludefile", odd],
    ] {
        let run = portscan(args);
        assert_eq!(run.code(), 1, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        assert!(run.stderr.contains("no\\nfile"), "{}", run.stderr);
    }
}

#[test]
fn summary_goes_to_stderr_without_progress_noise() {
    let (open, closed) = lab();
    let all: Vec<u16> = open.iter().chain(&closed).copied().collect();
    let run = portscan(&["127.0.0.1", &list(&all), "--all"]).ok();
    let summary = run.stderr.lines().last().unwrap_or("");
    assert!(
        summary.starts_with("3 open, 2 closed, 0 filtered: 5 probes (1 address x 5 ports)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains('\x1b'), "control sequences on a pipe");
    assert!(!run.stdout.contains("open,"), "summary leaked to stdout");
}

#[test]
fn json_is_the_default_on_a_pipe_and_table_on_request() {
    let port = serve(LOCALHOST, None);
    let json = portscan(&["127.0.0.1", &port.to_string()]).ok();
    assert!(json.stdout.starts_with('{'));
    let table = portscan(&["127.0.0.1", &port.to_string(), "--table"]).ok();
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(
        rows[0].split_whitespace().collect::<Vec<_>>(),
        ["ADDRESS", "PORT", "STATE", "SERVICE", "RTT"]
    );
    assert!(rows[1].starts_with(&format!("127.0.0.1  {port}/tcp")));
}

#[test]
fn a_closed_stdout_is_success() {
    let mut child = command(&["127.0.0.1", "-", "--all", "--no-progress"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let line: Line = serde_json::from_str(first.trim_end()).unwrap();
    assert_eq!(line.ip, IpAddr::from([127, 0, 0, 1]));
    drop(stdout);
    let status = wait_limited(&mut child, Duration::from_secs(60));
    assert_eq!(status.code(), Some(0));
}
