//! portscan at scale and with exclusions, inside network namespaces this
//! test creates (as root): nothing leaves the machine. In each namespace a
//! dummy interface routes the scanned block, and an nftables rule answers
//! every SYN to it with a RST (so a probe is over in microseconds) and
//! counts packets, so the tests can check what was and was not probed.
//!
//! Without root, `ip` or `nft` each test fails with the reason, unless
//! `RAWNET_TEST_SKIP` names what is missing (tests/require).

mod portscan_support;
mod require;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portscan_support::*;
use require::{or_skip, Skipped};

/// A network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace with `lo` up, a veth pair `d0`/`d1`, `d0` with
    /// `10.250.0.1/32` routing `block`, and `nft` rules that count SYNs to
    /// `excluded` (named counter `excluded`) and answer SYNs to `block`
    /// with a RST (counter `answered`). Without root or the tools the
    /// test fails, or skips as `RAWNET_TEST_SKIP` allows.
    fn with_rst_block(block: &str, excluded: &[&str]) -> Result<Netns, Skipped> {
        require::root("a network namespace")?;
        require_tool("ip", "iproute2")?;
        require_tool("nft", "nftables")?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "psnmap{}x{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        for cmd in [
            "ip link set lo up",
            "ip link add d0 type veth peer name d1",
            "ip link set d0 up",
            "ip link set d1 up",
            "ip addr add 10.250.0.1/32 dev d0",
        ] {
            ns.exec(&cmd.split(' ').collect::<Vec<_>>());
        }
        ns.exec(&["ip", "route", "add", block, "dev", "d0"]);
        let excluded_rule = if excluded.is_empty() {
            String::new()
        } else {
            format!(
                "ip daddr {{ {} }} counter name \"excluded\"",
                excluded.join(", ")
            )
        };
        let rules = format!(
            "table ip psnmap {{
                counter excluded {{}}
                counter answered {{}}
                chain out {{
                    type filter hook output priority 0; policy accept;
                    {excluded_rule}
                    ip daddr {block} tcp flags & (syn | ack) == syn counter name \"answered\" reject with tcp reset
                }}
            }}"
        );
        let mut nft = Command::new("ip")
            .args(["netns", "exec", &ns.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        nft.stdin
            .take()
            .unwrap()
            .write_all(rules.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules: {rules}");
        Ok(ns)
    }

    /// Runs a command inside, failing the test if it fails.
    fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full);
    }

    /// Packets counted by the named nft counter.
    fn counter(&self, name: &str) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "list", "counter", "ip", "psnmap", name,
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let after = text
            .split("packets ")
            .nth(1)
            .unwrap_or_else(|| panic!("counter {name}: {text}"));
        after.split_whitespace().next().unwrap().parse().unwrap()
    }

    /// `portscan args` inside the namespace, as [`portscan`] runs it.
    fn portscan(&self, args: &[&str]) -> std::process::Child {
        Command::new("ip")
            .args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_portscan")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn portscan in the namespace")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn sh(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(status.success(), "{args:?}");
}

/// Waits for `child` (killing it after [`RUN_LIMIT`]) and returns its
/// status, stdout, stderr and peak RSS in KiB (from `wait4`: `ip netns
/// exec` execs portscan in the same process).
fn finish(mut child: std::process::Child) -> (i32, String, String, i64) {
    let mut out = String::new();
    let mut err = String::new();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut s).unwrap();
        s
    });
    if let Some(stdout) = child.stdout.take() {
        std::io::Read::read_to_string(&mut BufReader::new(stdout), &mut out).unwrap();
    }
    err.push_str(&reader.join().unwrap());
    let (code, rss) = wait_with_rusage(&child);
    (code, out, err, rss)
}

fn wait_with_rusage(child: &std::process::Child) -> (i32, i64) {
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    loop {
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; status and usage are valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            };
            return (code, usage.ru_maxrss);
        }
        assert!(
            start.elapsed() < RUN_LIMIT,
            "portscan ran longer than {RUN_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn excluded_addresses_receive_no_packet() {
    let excluded = ["10.231.0.5", "10.231.0.8/30"];
    let ns = or_skip!(Netns::with_rst_block("10.231.0.0/24", &excluded));
    let list = temp_path("exclude.txt");
    std::fs::write(&list, "# two more\n10.231.0.13\n10.231.0.14-15\n").unwrap();
    // The same block as IPv4-mapped IPv6: the same hosts, so nothing
    // more is probed, and the exclusions hold for it too (a connect to
    // ::ffff:10.231.0.5 sends IPv4 packets to 10.231.0.5).
    let child = ns.portscan(&[
        "10.231.0.0/28,::ffff:10.231.0.0/124",
        "80,443",
        "--all",
        "--no-progress",
        "--exclude",
        "10.231.0.5,10.231.0.8/30",
        "--excludefile",
        list.to_str().unwrap(),
        "-t",
        "500",
    ]);
    let (code, out, err, _) = finish(child);
    assert_eq!(code, 0, "{err}");
    let probed: BTreeSet<String> = out
        .lines()
        .map(|l| {
            let line: Line = serde_json::from_str(l).unwrap();
            assert_eq!(line.state, "closed", "{l}");
            line.ip.to_string()
        })
        .collect();
    let expected: BTreeSet<String> = [0, 1, 2, 3, 4, 6, 7, 12]
        .iter()
        .map(|i| format!("10.231.0.{i}"))
        .collect();
    assert_eq!(probed, expected);
    assert_eq!(out.lines().count(), 16);
    // The excluded list also holds 13-15 through the file: none of the
    // 8 excluded addresses saw a packet (host discovery included); every
    // probed one its SYNs (discovery's probes to 80 and 443 come on top
    // of the reported ones).
    assert_eq!(ns.counter("excluded"), 0);
    assert!(ns.counter("answered") >= 16, "{}", ns.counter("answered"));
    let _ = std::fs::remove_file(list);
}

/// Runs a huge sharded scan in a namespace that answers it all with RSTs;
/// returns (probes reported, peak RSS KiB). How soon the first result
/// comes is a timing claim: bench/portscan.sh (scenario shards) measures
/// it.
fn sharded_scan(block: &str, args: &[&str]) -> Result<(usize, i64), Skipped> {
    let ns = Netns::with_rst_block(block, &[])?;
    let mut full = vec![block];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--all", "--no-progress", "-t", "500"]);
    let mut child = ns.portscan(&full);
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut count = 0;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        let parsed: Line = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(parsed.state, "closed");
        count += 1;
        line.clear();
    }
    let (code, _, err, rss) = finish(child);
    assert_eq!(code, 0, "{err}");
    // Every probe went out and was answered inside the namespace.
    assert!(ns.counter("answered") >= count as u64);
    Ok((count, rss))
}

#[test]
fn a_slash_8_shard_stays_small() {
    let (probes, rss_kib) = or_skip!(sharded_scan("10.0.0.0/8", &["80", "--shard", "0/4096"]));
    assert_eq!(probes, 4096);
    assert!(rss_kib < 50 * 1024, "peak RSS {rss_kib} KiB");
}

#[test]
fn a_slash_12_shard_of_two_ports_stays_small() {
    let (probes, rss_kib) = or_skip!(sharded_scan("10.0.0.0/12", &["80,443", "--shard", "0/64"]));
    assert_eq!(probes, (1 << 20) * 2 / 64);
    assert!(rss_kib < 50 * 1024, "peak RSS {rss_kib} KiB");
}
