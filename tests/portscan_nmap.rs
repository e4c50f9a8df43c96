//! portscan for nmap users: nmap's output formats checked with nmap's own
//! tools (the DTD through `xmllint`, `ndiff` against `nmap -sT` of the
//! same loopback ports), grepable and normal output read back, and nmap's
//! habits on the command line. Loopback only.

mod portscan_support;

use std::collections::BTreeSet;

use portscan_support::*;

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
    let Some(xmllint) = require_tool("xmllint", "libxml2-utils") else {
        return;
    };
    let dtd = std::path::Path::new("/usr/share/nmap/nmap.dtd");
    if !dtd.exists() && require_tool("nmap", "nmap").is_none() {
        return;
    }
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

#[test]
fn ndiff_sees_no_port_difference_from_nmap() {
    let (Some(nmap), Some(ndiff)) = (require_tool("nmap", "nmap"), require_tool("ndiff", "ndiff"))
    else {
        return;
    };
    let (open, closed) = lab();
    let ports = all_ports(&open, &closed);
    // Every port listed (--all; nmap lists up to 25 closed ones), and only
    // open ones (--open, portscan's default).
    for (ours, theirs) in [(&["--all"][..], &[][..]), (&[][..], &["--open"][..])] {
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
        ];
        nmap_args.extend_from_slice(theirs);
        nmap_args.push("127.0.0.1");
        let (code, out) = run_tool(&nmap, &nmap_args);
        assert_eq!(code, 0, "nmap: {out}");
        let (code, diff) = run_tool(&ndiff, &[nmaps.to_str().unwrap(), mine.to_str().unwrap()]);
        assert!(code == 0 || code == 1, "ndiff failed: {diff}");
        // A port line may differ only in the service column (portscan's
        // table of names is smaller than nmap-services).
        assert_eq!(ndiff_ports(&diff, '-'), ndiff_ports(&diff, '+'), "{diff}");
        assert!(
            !diff.contains("Not shown") || {
                let minus: Vec<&str> = diff
                    .lines()
                    .filter(|l| l.starts_with("-Not shown"))
                    .collect();
                let plus: Vec<&str> = diff
                    .lines()
                    .filter(|l| l.starts_with("+Not shown"))
                    .collect();
                minus
                    .iter()
                    .map(|l| &l[1..])
                    .eq(plus.iter().map(|l| &l[1..]))
            },
            "{diff}"
        );
    }
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
    let listed: BTreeSet<u16> = fields[1]
        .strip_prefix("Ports: ")
        .unwrap()
        .split(", ")
        .map(|p| {
            let parts: Vec<&str> = p.split('/').collect();
            assert_eq!((parts[1], parts[2]), ("open", "tcp"), "{p}");
            parts[0].parse().unwrap()
        })
        .collect();
    assert_eq!(listed, open.iter().copied().collect());
    assert_eq!(fields[2], "Ignored State: closed (3)");
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
    let Some(nmap) = require_tool("nmap", "nmap") else {
        return;
    };
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
        "-p",
        &ports,
        "127.0.0.1",
    ])
    .ok();
    assert_eq!(run.ports_in("open"), BTreeSet::from([port]));
    assert!(
        run.stderr
            .contains("timeout 1000 ms (floor 50 ms), 1 retries, 2000 in flight"),
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
        ("-sS", "raw packets"),
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
