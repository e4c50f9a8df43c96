//! `portscan -sS` against a target in a network namespace of its own,
//! reached over a veth pair from a scanner namespace: both created here
//! (as root) and deleted on drop, so no SYN leaves the machine. The
//! target has open ports (a listener), closed ones (its kernel's RST),
//! one nft drops and two it rejects with ICMP (port unreachable and
//! administratively prohibited), over IPv4 and IPv6.
//!
//! Without root or the tools (ip, nft, python3, capsh, nmap, ndiff,
//! xmllint), a test fails with a one-line reason unless `RAWNET_TEST_SKIP`
//! names what is missing (tests/require).

mod portscan_support;
mod require;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use portscan_support::*;
use require::{or_skip, Skipped};

const OPEN: u16 = 8080;
const OPEN2: u16 = 22;
const CLOSED: u16 = 8081;
const DROPPED: u16 = 8082;
const PORT_UNREACH: u16 = 8083;
const PROHIBITED: u16 = 8084;

/// The scanner and target namespaces, joined by a veth pair.
struct Lab {
    scan: String,
    target: String,
    /// The target's IPv4 and IPv6 addresses.
    v4: String,
    v6: String,
    /// The scanner's IPv4 address.
    scanner_v4: String,
    listeners: Vec<Child>,
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?} failed");
}

impl Lab {
    fn new() -> Result<Lab, Skipped> {
        require::root("network namespaces and raw sockets")?;
        for (tool, package) in [
            ("ip", "iproute2"),
            ("nft", "nftables"),
            ("python3", "python3"),
        ] {
            require_tool(tool, package)?;
        }
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}x{n}", std::process::id());
        // A subnet per lab: tests of one binary run in parallel.
        let net = (std::process::id() as usize * 7 + n) % 200 + 10;
        let lab = Lab {
            scan: format!("syn{id}s"),
            target: format!("syn{id}t"),
            v4: format!("10.243.{net}.2"),
            v6: format!("fd43:{net:x}::2"),
            scanner_v4: format!("10.243.{net}.1"),
            listeners: Vec::new(),
        };
        sh(&["ip", "netns", "add", &lab.scan]);
        sh(&["ip", "netns", "add", &lab.target]);
        let (va, vb) = (format!("sy{id}a"), format!("sy{id}b"));
        sh(&[
            "ip", "link", "add", &va, "type", "veth", "peer", "name", &vb,
        ]);
        sh(&["ip", "link", "set", &va, "netns", &lab.scan]);
        sh(&["ip", "link", "set", &vb, "netns", &lab.target]);
        let scan_v6 = format!("fd43:{net:x}::1/64");
        let tgt_v6 = format!("{}/64", lab.v6);
        let scan_v4 = format!("{}/24", lab.scanner_v4);
        let tgt_v4 = format!("{}/24", lab.v4);
        for (ns, dev, v4, v6) in [
            (&lab.scan, &va, &scan_v4, &scan_v6),
            (&lab.target, &vb, &tgt_v4, &tgt_v6),
        ] {
            lab.exec(ns, &["ip", "link", "set", "lo", "up"]);
            lab.exec(ns, &["ip", "addr", "add", v4, "dev", dev]);
            lab.exec(ns, &["ip", "-6", "addr", "add", v6, "dev", dev, "nodad"]);
            lab.exec(ns, &["ip", "link", "set", dev, "up"]);
        }
        let rules = format!(
            "table inet synlab {{
                counter probes {{}}
                chain input {{
                    type filter hook input priority 0; policy accept;
                    tcp dport {{ {OPEN}, {OPEN2}, {CLOSED}, {DROPPED}, {PORT_UNREACH}, {PROHIBITED} }} tcp flags & (syn | ack) == syn counter name \"probes\"
                    tcp dport {DROPPED} drop
                    meta nfproto ipv4 tcp dport {PORT_UNREACH} reject with icmp type port-unreachable
                    meta nfproto ipv6 tcp dport {PORT_UNREACH} reject with icmpv6 type port-unreachable
                    tcp dport {PROHIBITED} reject with icmpx type admin-prohibited
                }}
            }}"
        );
        lab.nft(&lab.target, &rules);
        Ok(lab)
    }

    fn exec(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        sh(&full);
    }

    fn nft(&self, ns: &str, rules: &str) {
        let mut nft = Command::new("ip")
            .args(["netns", "exec", ns, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules: {rules}");
    }

    /// Listeners on the open ports of both addresses, waited for.
    fn listen(&mut self) {
        for ip in [self.v4.clone(), self.v6.clone()] {
            let mut child = Command::new("ip")
                .args(["netns", "exec", &self.target, "python3"])
                .arg(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/bench/portscan_listen.py"
                ))
                .args([&ip, &OPEN.to_string(), &OPEN2.to_string()])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready", "listener on {ip}");
            self.listeners.push(child);
        }
    }

    /// SYNs that reached the target's watched ports.
    fn probes_seen(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.target,
                "nft",
                "list",
                "counter",
                "inet",
                "synlab",
                "probes",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let after = text
            .split("packets ")
            .nth(1)
            .unwrap_or_else(|| panic!("{text}"));
        after.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// `portscan args` in the scanner namespace, bounded in time.
    fn portscan(&self, args: &[&str]) -> Run {
        self.run_in_scanner(&[env!("CARGO_BIN_EXE_portscan")], args)
    }

    fn run_in_scanner(&self, prefix: &[&str], args: &[&str]) -> Run {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.scan])
            .args(prefix)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut out, &mut s).unwrap();
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut err, &mut s).unwrap();
            s
        });
        let status = wait_limited(&mut child, RUN_LIMIT);
        Run {
            status,
            stdout: t_out.join().unwrap(),
            stderr: t_err.join().unwrap(),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.listeners {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.scan, &self.target] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// `port -> (state, reason)` of a JSON Lines run.
fn states(run: &Run) -> BTreeMap<u16, (String, String)> {
    run.stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .map(|v| {
            (
                v["port"].as_u64().unwrap() as u16,
                (
                    v["state"].as_str().unwrap().to_string(),
                    v["reason"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// What nmap -sS says of the lab's ports (`port -> (state, reason)`).
fn expected_states() -> BTreeMap<u16, (String, String)> {
    [
        (OPEN, ("open", "syn-ack")),
        (OPEN2, ("open", "syn-ack")),
        (CLOSED, ("closed", "reset")),
        (DROPPED, ("filtered", "no-response")),
        (PORT_UNREACH, ("filtered", "port-unreach")),
        (PROHIBITED, ("filtered", "admin-prohibited")),
    ]
    .into_iter()
    .map(|(p, (s, r))| (p, (s.to_string(), r.to_string())))
    .collect()
}

fn ports_arg() -> String {
    list(&[OPEN, OPEN2, CLOSED, DROPPED, PORT_UNREACH, PROHIBITED])
}

#[test]
fn syn_states_and_reasons_match_nmap_over_ipv4_and_ipv6() {
    let mut lab = or_skip!(Lab::new());
    lab.listen();
    for ip in [lab.v4.clone(), lab.v6.clone()] {
        let run = lab
            .portscan(&[
                "-sS",
                "-n",
                "--all",
                "--json",
                "--timeout",
                "300",
                &ip,
                &ports_arg(),
            ])
            .ok();
        assert_eq!(states(&run), expected_states(), "{ip}: {}", run.stderr);
    }
}

/// A round of starts big enough to be split between the engine's worker
/// and the send path's helper thread (on a machine with two CPUs) loses
/// nothing and mixes nothing up: every port of a few hundred is reported
/// once, with the state its own answer gave, over both families; and a
/// SYN the scanner's own firewall refuses (`EPERM`; twenty of them, in
/// the permuted order, so both threads meet some) is `filtered`,
/// `admin-prohibited`, not taken for silence.
#[test]
fn syn_a_large_round_reports_every_port_once_with_its_own_state() {
    const REFUSED: (u16, u16) = (8100, 8119);
    let mut lab = or_skip!(Lab::new());
    lab.listen();
    lab.nft(
        &lab.scan,
        &format!(
            "table inet synout {{
                chain output {{
                    type filter hook output priority 0; policy accept;
                    tcp dport {}-{} drop
                }}
            }}",
            REFUSED.0, REFUSED.1
        ),
    );
    let range = (8000u16, 8400u16);
    for ip in [lab.v4.clone(), lab.v6.clone()] {
        let run = lab
            .portscan(&[
                "-sS",
                "-n",
                "-Pn",
                "--all",
                "--json",
                "--timeout",
                "300",
                // A refusal must be known from the attempt that met it,
                // not from a retry (which goes out in a small round).
                "--retries",
                "0",
                &ip,
                &format!("{OPEN2},{}-{}", range.0, range.1),
            ])
            .ok();
        let lines = run.stdout.lines().count();
        let got = states(&run);
        assert_eq!(lines, got.len(), "{ip}: a port reported twice");
        let mut want: BTreeMap<u16, (String, String)> = (range.0..=range.1)
            .map(|p| (p, ("closed".to_string(), "reset".to_string())))
            .collect();
        want.extend(expected_states());
        for p in REFUSED.0..=REFUSED.1 {
            want.insert(p, ("filtered".into(), "admin-prohibited".into()));
        }
        assert_eq!(got, want, "{ip}: {}", run.stderr);
    }
}

/// A forger in the target namespace that sends, until killed, SYN-ACKs
/// from `from`:`port` to `to` on every source port the scan may use, each
/// with a wrong acknowledgement number. Waited for until its first round
/// went out.
fn forger(lab: &Lab, from: &str, to: &str, port: u16) -> Child {
    let script = r#"
import random, socket, struct, sys
src, dst, sport = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.bind((src, 0))
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, 20)
first = True
while True:
    for dport in range(61000, 65536):
        ack = random.getrandbits(32)
        h = struct.pack("!HHIIBBHHH", sport, dport, random.getrandbits(32), ack, 5 << 4, 0x12, 65535, 0, 0)
        h = h[:16] + struct.pack("!H", csum(pseudo + h)) + h[18:]
        s.sendto(h, (dst, 0))
    if first:
        print("ready", flush=True)
        first = False
"#;
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.target,
            "python3",
            "-c",
            script,
            from,
            to,
            &port.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "forger");
    child
}

#[test]
fn syn_forged_syn_acks_with_a_wrong_cookie_change_nothing() {
    let lab = or_skip!(Lab::new());
    let mut forge = forger(&lab, &lab.v4, &lab.scanner_v4, DROPPED);
    let run = lab
        .portscan(&[
            "-sS",
            "-n",
            "-Pn",
            "--all",
            "--json",
            "--timeout",
            "500",
            "--retries",
            "3",
            &lab.v4,
            &DROPPED.to_string(),
        ])
        .ok();
    let _ = forge.kill();
    let _ = forge.wait();
    let got = states(&run);
    assert_eq!(
        got.get(&DROPPED),
        Some(&("filtered".to_string(), "no-response".to_string())),
        "{}",
        run.stdout
    );
}

#[test]
fn syn_without_cap_net_raw_is_one_line_exit_2_and_nothing_sent() {
    let lab = or_skip!(Lab::new());
    or_skip!(require_tool("capsh", "libcap2-bin"));
    let setpriv = or_skip!(require_tool("setpriv", "util-linux"));
    let before = lab.probes_seen();
    let cmd = format!(
        "{} -sS -n -Pn {} {}",
        env!("CARGO_BIN_EXE_portscan"),
        lab.v4,
        ports_arg()
    );
    let run = lab.run_in_scanner(&["capsh", "--drop=cap_net_raw", "--", "-c"], &[&cmd]);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: -sS needs raw sockets (CAP_NET_RAW)"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("root") && lines[0].contains("setcap cap_net_raw+ep"));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(lab.probes_seen(), before, "a probe was sent");
    // The same command with the capability does reach the target.
    let run = lab.run_in_scanner(&["sh", "-c"], &[&cmd]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(lab.probes_seen() > before);
    // setpriv drops it too (another way a service manager might).
    let run = lab.run_in_scanner(
        &[
            setpriv.to_str().unwrap(),
            "--bounding-set",
            "-net_raw",
            "--inh-caps",
            "-net_raw",
        ],
        &[env!("CARGO_BIN_EXE_portscan"), "-sS", &lab.v4, "80"],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr);
}

#[test]
fn syn_shards_are_disjoint_and_complete() {
    let lab = or_skip!(Lab::new());
    let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
    for k in 0..4 {
        let shard = format!("{k}/4");
        let run = lab
            .portscan(&[
                "-sS", "-n", "-Pn", "--all", "--json", "--shard", &shard, "--seed", "7", &lab.v4,
                "1-2000",
            ])
            .ok();
        let got = states(&run);
        assert!(!got.is_empty(), "shard {shard} scanned nothing");
        for port in got.keys() {
            *seen.entry(*port).or_default() += 1;
        }
    }
    let all: BTreeSet<u16> = (1..=2000).collect();
    assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), all);
    assert!(seen.values().all(|&n| n == 1), "a port in two shards");
}

#[test]
fn syn_shards_merge_into_a_syn_scan() {
    let mut lab = or_skip!(Lab::new());
    lab.listen();
    let ports = ports_arg();
    let xml = temp_path("syn-merge-0.xml");
    let json = temp_path("syn-merge-1.json");
    let merged = temp_path("syn-merged.xml");
    for (shard, out) in [
        ("0/2", ["-oX", xml.to_str().unwrap()]),
        ("1/2", ["-o", json.to_str().unwrap()]),
    ] {
        let run = lab.portscan(&[
            "-sS", "-n", "--all", "--json", "--seed", "5", "--shard", shard, out[0], out[1],
            &lab.v4, &ports,
        ]);
        assert_eq!(run.code(), 0, "{}", run.stderr);
    }
    let records = std::fs::read_to_string(&json).unwrap();
    assert!(!records.is_empty(), "shard 1/2 found nothing to record");
    for line in records.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["technique"], "syn", "{line}");
    }
    let run = lab.portscan(&[
        "--merge",
        xml.to_str().unwrap(),
        json.to_str().unwrap(),
        "-oX",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let text = std::fs::read_to_string(&merged).unwrap();
    assert!(
        text.contains("<scaninfo type=\"syn\" protocol=\"tcp\""),
        "{text}"
    );
    for p in [&xml, &json, &merged] {
        let _ = std::fs::remove_file(p);
    }
}

/// The ports a JSON Lines run reported, by address.
fn reported(run: &Run) -> BTreeSet<(String, u16, String)> {
    run.stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        })
        .map(|v| {
            (
                v["ip"].as_str().unwrap().to_string(),
                v["port"].as_u64().unwrap() as u16,
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn syn_discovery_finds_a_host_that_answers_only_pings() {
    let lab = or_skip!(Lab::new());
    // Every TCP probe discovery could send goes unanswered: the port
    // (dropped by the lab) and 443 (dropped here). Only pings answer.
    lab.nft(
        &lab.target,
        "table inet synping {\n chain input {\n type filter hook input priority -10; policy accept;\n tcp dport 443 drop\n }\n}\n",
    );
    let scan = |lab: &Lab| {
        let (port, targets) = (DROPPED.to_string(), format!("{},{}", lab.v4, lab.v6));
        let run = lab.portscan(&["-sS", "-n", "--all", "--json", &targets, &port]);
        assert_eq!(run.code(), 0, "{}", run.stderr);
        run
    };
    let run = scan(&lab);
    let want: BTreeSet<_> = [&lab.v4, &lab.v6]
        .into_iter()
        .map(|ip| (ip.clone(), DROPPED, "filtered".to_string()))
        .collect();
    assert_eq!(reported(&run), want, "up by its echo reply: {}", run.stderr);
    // Without the echo reply, the same host is down: nothing reported.
    lab.nft(
        &lab.target,
        "table inet synping {\n chain input {\n icmp type echo-request drop\n icmpv6 type echo-request drop\n }\n}\n",
    );
    let run = scan(&lab);
    assert!(
        reported(&run).is_empty(),
        "a silent host is down: {}",
        run.stdout
    );
}

#[test]
fn syn_discovery_takes_the_met_ports_answer_and_retries_only_on_loss() {
    let mut lab = or_skip!(Lab::new());
    lab.listen();
    // Two ports of a live host: the first one met is a discovery probe
    // whose answer is its result, the other goes out speculatively. One
    // SYN each: neither is probed again once the host is known up.
    let ports = list(&[OPEN, CLOSED]);
    let run = lab
        .portscan(&["-sS", "-n", "--all", "--json", &lab.v4, &ports])
        .ok();
    let got = states(&run);
    assert_eq!(
        got[&OPEN],
        ("open".into(), "syn-ack".into()),
        "{}",
        run.stderr
    );
    assert_eq!(got[&CLOSED], ("closed".into(), "reset".into()));
    assert_eq!(lab.probes_seen(), 2, "one SYN per port");
    // A dead host (its port dropped, 443 and pings too): its three
    // discovery probes go out once, as no packet was seen lost, and
    // nothing is reported.
    lab.nft(
        &lab.target,
        "table inet syndead {\n chain input {\n type filter hook input priority -10; policy accept;\n tcp dport 443 drop\n icmp type echo-request drop\n }\n}\n",
    );
    let port = DROPPED.to_string();
    let run = lab
        .portscan(&["-sS", "-n", "--all", "--json", &lab.v4, &port])
        .ok();
    assert!(states(&run).is_empty(), "a down host: {}", run.stdout);
    assert!(run.stderr.contains("0 up, 1 down"), "{}", run.stderr);
    assert_eq!(
        lab.probes_seen(),
        3,
        "one SYN to the dropped port, no retry"
    );
}

/// The `(port, state)` pairs of ndiff's `-` (nmap) or `+` (portscan)
/// port lines.
fn ndiff_ports(diff: &str, sign: char) -> BTreeSet<(String, String)> {
    diff.lines()
        .filter_map(|l| l.strip_prefix(sign))
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|p| p.ends_with("/tcp"))
        })
        .map(|l| {
            let mut w = l.split_whitespace();
            (
                w.next().unwrap().to_string(),
                w.next().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn syn_xml_is_valid_and_ndiff_equal_to_nmap_syn() {
    let mut lab = or_skip!(Lab::new());
    or_skip!(require_tool("nmap", "nmap"));
    let ndiff = or_skip!(require_tool("ndiff", "ndiff"));
    let xmllint = or_skip!(require_tool("xmllint", "libxml2-utils"));
    lab.listen();
    let ports = ports_arg();
    let mine = temp_path("syn-mine.xml");
    let theirs = temp_path("syn-nmap.xml");
    let run = lab.portscan(&[
        "-sS",
        "-n",
        "--all",
        "-oX",
        mine.to_str().unwrap(),
        &lab.v4,
        &ports,
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let run = lab.run_in_scanner(
        &["nmap"],
        &[
            "-sS",
            "-n",
            "-p",
            &ports,
            "-oX",
            theirs.to_str().unwrap(),
            &lab.v4,
        ],
    );
    assert_eq!(run.code(), 0, "nmap: {}", run.stderr);
    let xml = std::fs::read_to_string(&mine).unwrap();
    assert!(
        xml.contains("<scaninfo type=\"syn\" protocol=\"tcp\""),
        "{xml}"
    );
    let (code, out) = run_tool(
        &xmllint,
        &[
            "--noout",
            "--dtdvalid",
            "/usr/share/nmap/nmap.dtd",
            mine.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "xmllint: {out}");
    let (code, diff) = run_tool(&ndiff, &[theirs.to_str().unwrap(), mine.to_str().unwrap()]);
    assert!(code == 0 || code == 1, "ndiff failed: {diff}");
    assert_eq!(ndiff_ports(&diff, '-'), ndiff_ports(&diff, '+'), "{diff}");
    // The states ndiff compared are the ones the lab has.
    for (port, state) in [(OPEN, "open"), (CLOSED, "closed"), (DROPPED, "filtered")] {
        assert!(
            xml.contains(&format!("portid=\"{port}\"><state state=\"{state}\"")),
            "{port} {state}: {xml}"
        );
    }
}
