//! portscan for nmap users: nmap's output formats checked with nmap's own
//! tools (the DTD through `xmllint`, `ndiff` against `nmap -sT` of the
//! same loopback ports), grepable and normal output read back, and nmap's
//! habits on the command line. Loopback only. A missing tool fails the
//! test unless `RAWNET_TEST_SKIP` names it (tests/require).

mod portscan_support;
mod require;

use std::collections::BTreeSet;

use portscan_support::*;
use require::or_skip;

/// Two listeners and three closed ports on 127.0.0.1.
fn lab() -> (Vec<u16>, Vec<u16>) {
    let open: Vec<u16> = (0..2).map(|_| serve(LOCALHOST, None)).collect();
    let closed = (0..3).map(|_| closed_port(LOCALHOST, &open)).collect();
    (open, closed)
}

fn all_ports(open: &[u16], closed: &[u16]) -> String {
    list(&open.iter().chain(closed).copied().collect::<Vec<_>>())
}

#[test]
fn xml_is_valid_against_nmaps_dtd() {
    let xmllint = or_skip!(require_tool("xmllint", "libxml2-utils"));
    let dtd = or_skip!(require::file("/usr/share/nmap/nmap.dtd", "nmap", "nmap"));
    let (open, closed) = lab();
    let ports = all_ports(&open, &closed);
    for extra in [&[][..], &["--all"][..]] {
        let path = temp_path("scan.xml");
        let mut args = vec!["localhost,127.0.0.2", &ports, "-oX", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = portscan(&args).ok();
        assert_eq!(run.lines().len(), if extra.is_empty() { 2 } else { 10 });
        let (code, out) = run_tool(
            &xmllint,
            &[
                "--noout",
                "--dtdvalid",
                dtd.to_str().unwrap(),
                path.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "xmllint: {out}");
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(xml.contains("<hostname name=\"localhost\" type=\"user\"/>"));
        assert!(xml.contains(&format!("numservices=\"5\" services=\"{}\"", {
            let mut sorted: Vec<u16> = open.iter().chain(&closed).copied().collect();
            sorted.sort();
            let spec: rawnet::ports::PortSpec = list(&sorted).parse().unwrap();
            spec.to_string()
        })));
    }
}

#[test]
fn hostile_text_keeps_the_xml_valid() {
    let xmllint = or_skip!(require_tool("xmllint", "libxml2-utils"));
    let dtd = or_skip!(require::file("/usr/share/nmap/nmap.dtd", "nmap", "nmap"));
    let port = serve(LOCALHOST, None).to_string();
    // Characters XML 1.0 cannot carry, in file names that reach `args`.
    let odd = "a\u{1}\u{1b}[2J\u{fffe}\u{ffff}\u{85}<&\"'";
    let list = temp_path(&format!("{odd}.txt"));
    std::fs::write(&list, "localhost\n").unwrap();
    let xml = temp_path(&format!("{odd}.xml"));
    let run = portscan(&[
        "-iL",
        list.to_str().unwrap(),
        &port,
        "-oX",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let (code, out) = run_tool(
        &xmllint,
        &[
            "--noout",
            "--dtdvalid",
            dtd.to_str().unwrap(),
            xml.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "xmllint: {out}");
    let text = std::fs::read_to_string(&xml).unwrap();
    assert!(text.contains(r"a\x01\x1b[2J\u{fffe}\u{ffff}\x85&lt;&amp;&quot;&apos;"));
}

/// The `(port, state)` pairs of ndiff's `-` (nmap) or `+` (portscan)
/// lines: port lines that differ.
fn ndiff_ports(diff: &str, sign: char) -> BTreeSet<(String, String)> {
    diff.lines()
        .filter_map(|l| l.strip_prefix(sign))
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|p| p.ends_with("/tcp"))
        })
        .map(|l| {
            let mut words = l.split_whitespace();
            (
                words.next().unwrap().to_string(),
                words.next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// `n` distinct closed ports on 127.0.0.1, none in `avoid`.
fn closed_ports(n: usize, avoid: &[u16]) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < n {
        let port = closed_port(LOCALHOST, avoid);
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    ports
}

/// The lines of `diff` that start with `prefix` after their sign.
fn signed_lines<'a>(diff: &'a str, sign: char, prefix: &str) -> Vec<&'a str> {
    diff.lines()
        .filter_map(|l| l.strip_prefix(sign))
        .filter(|l| l.starts_with(prefix))
        .collect()
}

#[test]
fn ndiff_sees_no_port_difference_from_nmap() {
    let nmap = or_skip!(require_tool("nmap", "nmap"));
    let ndiff = or_skip!(require_tool("ndiff", "ndiff"));
    let xmllint = or_skip!(require_tool("xmllint", "libxml2-utils"));
    let open = serve(LOCALHOST, None);
    // nmap's default runs against portscan's: four closed ports are
    // listed, forty are folded into "Not shown" (more than 25); with
    // --all portscan lists every port, as nmap does up to 25; with --open
    // both list only the open one.
    let few = closed_ports(4, &[open]);
    let many = closed_ports(40, &[open]);
    let none: &[&str] = &[];
    for (closed, ours, theirs) in [
        (&few, none, none),
        (&many, none, none),
        (&few, &["--all"], none),
        (&few, &["--open"], &["--open"]),
    ] {
        let ports = all_ports(&[open], closed);
        let mine = temp_path("mine.xml");
        let nmaps = temp_path("nmap.xml");
        let mut args = vec!["127.0.0.1", &ports, "-oX", mine.to_str().unwrap()];
        args.extend_from_slice(ours);
        portscan(&args).ok();
        let mut nmap_args = vec![
            "-sT",
            "-Pn",
            "-n",
            "-p",
            &ports,
            "-oX",
            nmaps.to_str().unwrap(),
            "127.0.0.1",
        ];
        nmap_args.extend_from_slice(theirs);
        let (code, out) = run_tool(&nmap, &nmap_args);
        assert_eq!(code, 0, "nmap: {out}");
        let (code, diff) = run_tool(&ndiff, &[nmaps.to_str().unwrap(), mine.to_str().unwrap()]);
        assert!(code == 0 || code == 1, "ndiff failed: {diff}");
        // A port line may differ only in the service column (portscan's
        // table of names is smaller than nmap-services).
        let case = format!("{} closed, {ours:?}", closed.len());
        assert_eq!(
            ndiff_ports(&diff, '-'),
            ndiff_ports(&diff, '+'),
            "{case}: {diff}"
        );
        assert_eq!(
            signed_lines(&diff, '-', "Not shown"),
            signed_lines(&diff, '+', "Not shown"),
            "{case}: {diff}"
        );
        let xml = std::fs::read_to_string(&mine).unwrap();
        let listed = xml.matches("<port protocol=").count();
        let folded = closed.len() > 25 || theirs.contains(&"--open");
        let expected = if folded { 1 } else { 1 + closed.len() };
        assert_eq!(listed, expected, "{case}: {xml}");
        if closed.len() > 25 {
            assert!(
                xml.contains("<extraports state=\"closed\" count=\"40\">"),
                "{xml}"
            );
        }
        let dtd = "/usr/share/nmap/nmap.dtd";
        let (code, out) = run_tool(
            &xmllint,
            &["--noout", "--dtdvalid", dtd, mine.to_str().unwrap()],
        );
        assert_eq!(code, 0, "xmllint: {out}");
    }
}

/// The ports of a grepable `Ports:` field with their states.
fn grepable_ports(field: &str) -> BTreeSet<(u16, String)> {
    field
        .strip_prefix("Ports: ")
        .unwrap()
        .split(", ")
        .filter(|p| !p.is_empty())
        .map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            assert_eq!(parts[2], "tcp", "{p}");
            (parts[0].parse().unwrap(), parts[1].to_string())
        })
        .collect()
}

#[test]
fn grepable_output_reads_back() {
    let (open, closed) = lab();
    let ports = all_ports(&open, &closed);
    let run = portscan(&["localhost", &ports, "-oG", "-"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("# portscan "), "{}", run.stdout);
    assert!(lines.last().unwrap().starts_with("# portscan done at "));
    assert_eq!(lines[1], "Host: 127.0.0.1 (localhost)\tStatus: Up");
    let fields: Vec<&str> = lines[2].split('\t').collect();
    assert_eq!(fields[0], "Host: 127.0.0.1 (localhost)");
    // Three closed ports are listed, as nmap lists up to 25.
    let expected = open
        .iter()
        .map(|&p| (p, "open".to_string()))
        .chain(closed.iter().map(|&p| (p, "closed".to_string())))
        .collect();
    assert_eq!(grepable_ports(fields[1]), expected);
    assert_eq!(fields.len(), 2, "{}", lines[2]);
    // Thirty are not: nmap's "Ignored State".
    let many = closed_ports(30, &open);
    let ports = all_ports(&open, &many);
    let run = portscan(&["localhost", &ports, "-oG", "-"]).ok();
    let line = run.stdout.lines().nth(2).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    let expected = open.iter().map(|&p| (p, "open".to_string())).collect();
    assert_eq!(grepable_ports(fields[1]), expected);
    assert_eq!(fields[2], "Ignored State: closed (30)");
}

#[test]
fn normal_output_reads_back() {
    let (open, closed) = lab();
    let ports = all_ports(&open, &closed);
    let path = temp_path("scan.nmap");
    let run = portscan(&["127.0.0.1", &ports, "--all", "-oN", path.to_str().unwrap()]).ok();
    assert_eq!(run.lines().len(), 5, "JSON Lines still on stdout");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "portscan scan report for 127.0.0.1");
    assert!(lines[2].starts_with("Host is up ("));
    assert!(lines[3].starts_with("PORT ") && lines[3].ends_with(" SERVICE"));
    let mut states = std::collections::BTreeMap::new();
    for line in &lines[4..9] {
        let words: Vec<&str> = line.split_whitespace().collect();
        let port: u16 = words[0].strip_suffix("/tcp").unwrap().parse().unwrap();
        states.insert(port, words[1].to_string());
    }
    for p in &open {
        assert_eq!(states[p], "open");
    }
    for p in &closed {
        assert_eq!(states[p], "closed");
    }
    assert!(lines[10].starts_with("# portscan done at "));
}

#[test]
fn all_formats_at_once() {
    let (open, _) = lab();
    let base = temp_path("everything");
    let run = portscan(&[
        "127.0.0.1",
        &list(&open),
        "-oA",
        base.to_str().unwrap(),
        "--table",
    ])
    .ok();
    assert!(run.stdout.starts_with("ADDRESS"), "{}", run.stdout);
    for ext in ["xml", "gnmap", "nmap"] {
        let path = format!("{}.{ext}", base.display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(text.contains(&open[0].to_string()), "{path}");
    }
    // A format on stdout replaces JSON Lines there.
    let run = portscan(&["127.0.0.1", &list(&open), "-oX", "-"]).ok();
    assert!(run.stdout.starts_with("<?xml"));
}

#[test]
fn o_with_a_format_letter_is_refused() {
    for letter in ["X", "G", "N", "A", "S"] {
        let run = portscan(&["127.0.0.1", "-o", letter]);
        assert_eq!(run.code(), 2);
        assert!(
            run.stderr.contains(&format!("-o{letter} FILE")),
            "{}",
            run.stderr
        );
        assert!(!std::path::Path::new(letter).exists());
    }
    let run = portscan(&["-oX", "-", "127.0.0.1", "1"]).ok();
    assert!(run.stdout.contains("<nmaprun"));
    // nmap reads `-oX=-` as `-oX -`: so does portscan (not `-o X=-`).
    let dir = temp_path("equals");
    std::fs::create_dir(&dir).unwrap();
    let run = command(&["-oX=-", "127.0.0.1", "1"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).contains("<nmaprun"));
    let run = command(&["-oG=-", "127.0.0.1", "1"]).output().unwrap();
    assert!(String::from_utf8_lossy(&run.stdout).contains("Status: Up"));
    // `-oS=-` (nmap's script-kiddie output) and `-o X=-` are refused.
    for args in [&["-oS=-"][..], &["-o", "X=-"], &["-o", "N=out"]] {
        let mut args = args.to_vec();
        args.extend(["127.0.0.1", "1"]);
        let run = command(&args).current_dir(&dir).output().unwrap();
        assert_eq!(run.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("-oX, -oG, -oN or -oA"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a file was written"
    );
}

#[test]
fn json_lines_carry_an_rfc3339_timestamp_in_milliseconds() {
    let (open, closed) = lab();
    let run = portscan(&["127.0.0.1", &all_ports(&open, &closed), "--all"]).ok();
    let lines = run.lines();
    assert_eq!(lines.len(), 5);
    for line in lines {
        let t = line.timestamp.as_bytes();
        assert_eq!(t.len(), 24, "{}", line.timestamp);
        for (i, b) in t.iter().enumerate() {
            let expected_digit = !matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23);
            assert_eq!(b.is_ascii_digit(), expected_digit, "{}", line.timestamp);
        }
        assert_eq!(
            (t[4], t[7], t[10], t[13], t[16], t[19], t[23]),
            (b'-', b'-', b'T', b':', b':', b'.', b'Z')
        );
        assert!(line.timestamp.as_str() >= "2024-01-01T00:00:00.000Z");
    }
}

/// The `services` attribute of an XML document's `scaninfo`.
fn scaninfo_services(xml: &str) -> String {
    let start = xml.find(" services=\"").expect("scaninfo services") + 11;
    xml[start..].split('"').next().unwrap().to_string()
}

#[test]
fn top_ports_are_nmaps_lists() {
    let nmap = or_skip!(require_tool("nmap", "nmap"));
    let cases: [(&[&str], &[&str]); 4] = [
        (&["--top-ports", "10"], &["--top-ports", "10"]),
        (&["--top-ports", "100"], &["-F"]),
        (&["--top-ports", "1000"], &["--top-ports", "1000"]),
        (&[], &[]),
    ];
    for (theirs, ours) in cases {
        let mut nmap_args = vec!["-sT", "-Pn", "-n", "-oX", "-"];
        nmap_args.extend_from_slice(theirs);
        nmap_args.push("127.0.0.1");
        let (code, nmap_xml) = run_tool(&nmap, &nmap_args);
        assert_eq!(code, 0, "{nmap_xml}");
        let mut args = vec!["127.0.0.1", "-oX", "-", "--timeout", "200"];
        args.extend_from_slice(ours);
        let run = portscan(&args).ok();
        assert_eq!(
            scaninfo_services(&run.stdout),
            scaninfo_services(&nmap_xml),
            "nmap {theirs:?} vs portscan {ours:?}"
        );
    }
}

#[test]
fn nmap_habit_flags_are_accepted() {
    let port = serve(LOCALHOST, None);
    let ports = format!("T:{port},ssh");
    let run = portscan(&[
        "-sT",
        "-n",
        "--open",
        "-v",
        "-T4",
        "--max-retries",
        "1",
        "--min-rate",
        "10",
        "--max-rate",
        "100000",
        "--min-rtt-timeout",
        "50ms",
        "--max-rtt-timeout",
        "1s",
        "--initial-rtt-timeout",
        "500ms",
        "-Pn",
        "--host-timeout",
        "15m",
        "-p",
        &ports,
        "127.0.0.1",
    ])
    .ok();
    assert_eq!(run.ports_in("open"), BTreeSet::from([port]));
    assert!(
        run.stderr
            .contains("timeout 1000 ms (floor 50 ms), 1 retries, 10000 in flight"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("warning: --min-rate ignored"),
        "{}",
        run.stderr
    );
    for template in ["-T0", "-T1", "-T2", "-T3", "-T5", "-Tinsane"] {
        let run = portscan(&[template, "127.0.0.1", &port.to_string()]).ok();
        assert_eq!(run.ports_in("open"), BTreeSet::from([port]), "{template}");
    }
}

#[test]
fn what_portscan_cannot_do_is_one_clear_line() {
    for (flag, words) in [
        // (-sS is supported: tests/portscan_syn.rs, in namespaces; it
        // must never run here, in the machine's own namespace.)
        ("-sA", "not supported"),
        ("-sY", "SCTP"),
        ("-O", "OS detection"),
        ("-A", "-A: "),
        ("-sR", "-sV"),
    ] {
        let run = portscan(&[flag, "127.0.0.1"]);
        assert_eq!(run.code(), 2, "{flag}");
        assert_eq!(run.stderr.lines().count(), 1, "{flag}: {}", run.stderr);
        assert!(run.stderr.contains(words), "{flag}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    }
    let run = portscan(&["127.0.0.1", "-p", "U:53"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr.contains("add -sU"), "{}", run.stderr);
}

#[test]
fn octet_ranges_scan_every_address() {
    let listener = std::net::TcpListener::bind("127.0.0.3:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let run = portscan(&["127.0.0.1-3", &port.to_string(), "--all"]).ok();
    let mut seen: Vec<(String, String)> = run
        .lines()
        .into_iter()
        .map(|l| (l.ip.to_string(), l.state))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("127.0.0.1".to_string(), "closed".to_string()),
            ("127.0.0.2".to_string(), "closed".to_string()),
            ("127.0.0.3".to_string(), "open".to_string()),
        ]
    );
    let run = portscan(&["127.0.1-2.3", &port.to_string(), "--all"]).ok();
    assert_eq!(run.lines().len(), 2);
    assert!(run.lines().iter().all(|l| l.target == "127.0.1-2.3"));
}

/// The addresses `nmap -sL -n` lists for `target` (nothing is sent).
fn nmap_list(nmap: &std::path::Path, target: &str) -> BTreeSet<String> {
    let (code, out) = run_tool(nmap, &["-sL", "-n", "-oG", "-", target]);
    assert_eq!(code, 0, "{out}");
    out.lines()
        .filter_map(|l| l.strip_prefix("Host: "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn octet_lists_are_nmaps() {
    let nmap = or_skip!(require_tool("nmap", "nmap"));
    let port = closed_port(LOCALHOST, &[]).to_string();
    for (target, expected) in [
        (
            "127.0.0.1-3,7",
            &["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.7"][..],
        ),
        (
            "127.0.3-5,7.1",
            &["127.0.3.1", "127.0.4.1", "127.0.5.1", "127.0.7.1"][..],
        ),
        (
            "127.0.0-1.0/31",
            &["127.0.0.0", "127.0.0.1", "127.0.1.0", "127.0.1.1"][..],
        ),
    ] {
        let run = portscan(&[target, &port, "--all"]).ok();
        let seen: BTreeSet<String> = run.lines().iter().map(|l| l.ip.to_string()).collect();
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(seen, expected, "{target}");
        assert!(run.lines().iter().all(|l| l.target == target));
        assert_eq!(nmap_list(&nmap, target), expected, "nmap -sL {target}");
    }
    // Targets that stand alone stay apart.
    let run = portscan(&["127.0.0.1,127.0.0.2", &port, "--all"]).ok();
    let targets: BTreeSet<String> = run.lines().into_iter().map(|l| l.target).collect();
    assert_eq!(
        targets,
        BTreeSet::from(["127.0.0.1".to_string(), "127.0.0.2".to_string()])
    );
}

#[test]
fn an_excluded_address_is_not_probed_through_its_ipv4_mapped_form() {
    let port = closed_port(LOCALHOST, &[]).to_string();
    let run = portscan(&["::ffff:127.0.0.1", &port, "--exclude", "127.0.0.1"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("every target is excluded"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
    let run = portscan(&["127.0.0.1", &port, "--exclude", "::ffff:127.0.0.0/120"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    // The same host in both spellings is probed once.
    let run = portscan(&["127.0.0.1,::ffff:127.0.0.1", &port, "--all"]).ok();
    assert_eq!(run.lines().len(), 1, "{}", run.stdout);
}

#[test]
fn octet_ranges_that_split_too_much_are_refused_at_once() {
    let list = temp_path("octets.txt");
    std::fs::write(&list, "127.0-255.0-255.1\n".repeat(20)).unwrap();
    let started = std::time::Instant::now();
    let run = portscan(&["-iL", list.to_str().unwrap(), "1"]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("separate pieces"), "{}", run.stderr);
    assert!(started.elapsed() < RUN_LIMIT);
    let _ = std::fs::remove_file(list);
}
