//! Open ports with evidence (docs/portscan-output.md, "Open ports with
//! evidence"): hosts that accept every port have their open ports marked,
//! real services beside them do not. The hosts live in a target namespace
//! behind a veth pair from a scanner namespace (prefix `evid-`), both made
//! and deleted here:
//!
//! - 10.253.0.2: real services, a greeting one on 22 and a silent one on
//!   8000; the other ports closed.
//! - 10.253.0.3: nftables DNATs every port to one greeting listener on
//!   8080 (a firewall that sends every port to one listener).
//! - 10.253.0.4: behind nftables' `synproxy` on every port, a greeting
//!   listener on 2222: the proxy completes every handshake itself, and the
//!   kernel resets the ones it passes on to a closed port.

mod portscan_support;
mod require;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};

use portscan_support::*;
use require::{or_skip, Skipped};

const SERVICES: &str = "10.253.0.2";
const REDIRECT: &str = "10.253.0.3";
const SYNPROXY: &str = "10.253.0.4";

const RULES: &str = "table ip evid {
    chain pre_raw {
        type filter hook prerouting priority raw; policy accept;
        ip daddr 10.253.0.4 tcp flags syn notrack
    }
    chain pre_nat {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr 10.253.0.3 tcp dport != 8080 dnat to 10.253.0.3:8080
    }
    chain input {
        type filter hook input priority filter; policy accept;
        ip daddr 10.253.0.4 ct state invalid,untracked synproxy mss 1460 wscale 7 timestamp sack-perm
        ip daddr 10.253.0.4 ct state invalid drop
    }
}";

/// The listeners, bounded to 300 s; a line once listening.
const LISTENERS: &str = "import select,socket,time
ls={}
for addr,port,greet in (('10.253.0.2',22,1),('10.253.0.2',8000,0),('10.253.0.3',8080,1),('10.253.0.4',2222,1)):
  s=socket.socket()
  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
  s.bind((addr,port))
  s.listen(512)
  ls[s]=greet
print('ready',flush=True)
held=[]
end=time.time()+300
while time.time()<end:
  r,_,_=select.select(list(ls),[],[],1)
  for s in r:
    c,_=s.accept()
    if ls[s]:
      try: c.send(b'SSH-2.0-evidence\\r\\n')
      except OSError: pass
    held.append(c)
  while len(held)>256: held.pop(0).close()
";

/// The scanner and target namespaces, deleted with the listeners on drop.
struct Lab {
    scanner: String,
    target: String,
    listeners: Option<Child>,
}

fn sh(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(status.success(), "{args:?}");
}

impl Lab {
    fn new() -> Result<Lab, Skipped> {
        require::root("network namespaces")?;
        require_tool("ip", "iproute2")?;
        require_tool("nft", "nftables")?;
        require_tool("python3", "python3")?;
        let id = std::process::id();
        let mut lab = Lab {
            scanner: format!("evid-s-{id}"),
            target: format!("evid-t-{id}"),
            listeners: None,
        };
        let (s, t) = (lab.scanner.clone(), lab.target.clone());
        sh(&["ip", "netns", "add", &s]);
        sh(&["ip", "netns", "add", &t]);
        let (vs, vt) = (format!("evs{id}"), format!("evt{id}"));
        sh(&[
            "ip", "link", "add", &vs, "netns", &s, "type", "veth", "peer", "name", &vt, "netns", &t,
        ]);
        sh(&["ip", "-n", &s, "addr", "add", "10.253.0.1/24", "dev", &vs]);
        for addr in ["10.253.0.2/24", "10.253.0.3/32", "10.253.0.4/32"] {
            sh(&["ip", "-n", &t, "addr", "add", addr, "dev", &vt]);
        }
        for (ns, dev) in [(&s, &vs), (&t, &vt)] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // synproxy answers SYNs with cookies, and needs strict tracking.
        lab.exec(&t, &["sysctl", "-qw", "net.ipv4.tcp_syncookies=1"]);
        lab.exec(
            &t,
            &["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"],
        );
        let mut nft = lab
            .command(&t, "nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        nft.stdin
            .take()
            .unwrap()
            .write_all(RULES.as_bytes())
            .unwrap();
        assert!(nft.wait().unwrap().success(), "nft rules (synproxy, dnat)");
        let mut child = lab
            .command(&t, "python3")
            .args(["-c", LISTENERS])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        lab.listeners = Some(child);
        assert_eq!(line.trim(), "ready");
        Ok(lab)
    }

    fn command(&self, ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }

    fn exec(&self, ns: &str, args: &[&str]) {
        let status = self.command(ns, args[0]).args(&args[1..]).status().unwrap();
        assert!(status.success(), "{args:?}");
    }

    /// `portscan args` in the scanner namespace.
    fn portscan(&self, args: &[&str]) -> Run {
        let mut cmd = self.command(&self.scanner, env!("CARGO_BIN_EXE_portscan"));
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_command(cmd, None)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.listeners.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.scanner, &self.target] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Per address: the open ports, and their records.
fn open_by_host(lines: &[Line]) -> BTreeMap<String, Vec<&Line>> {
    let mut by: BTreeMap<String, Vec<&Line>> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.state == "open") {
        by.entry(l.ip.to_string()).or_default().push(l);
    }
    by
}

#[test]
fn hosts_that_accept_every_port_are_marked_and_real_services_are_not() {
    let lab = or_skip!(Lab::new());
    let dir = temp_path("evidence");
    std::fs::create_dir_all(&dir).unwrap();
    let xml = dir.join("scan.xml");
    let xml = xml.to_str().unwrap();
    let ports = "1-40,2222,8000,8080";
    let run = lab.portscan(&["10.253.0.2-4", ports, "-t", "1000", "-oX", xml, "--json"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let lines = run.lines();
    let by = open_by_host(&lines);
    let scanned = 43;

    // The real services: exactly their ports open, not marked, and what
    // they did after the handshake noted.
    let services = &by[SERVICES];
    let open: BTreeSet<u16> = services.iter().map(|l| l.port).collect();
    assert_eq!(open, BTreeSet::from([22, 8000]), "{services:?}");
    for l in services {
        assert_eq!(l.host_accepts_all, Some(false), "{l:?}");
        assert!(
            matches!(l.after_handshake.as_deref(), Some("greeted" | "silent")),
            "{l:?}"
        );
    }
    // Every port of the redirecting host and of the SYN proxy is open,
    // and every one is marked.
    for host in [REDIRECT, SYNPROXY] {
        let open = by.get(host).map_or(&[][..], |v| &v[..]);
        assert_eq!(open.len(), scanned, "{host}: {open:?}");
        for l in open {
            assert_eq!(l.host_accepts_all, Some(true), "{l:?}");
            assert!(l.after_handshake.is_some(), "{l:?}");
        }
    }
    // Behind the SYN proxy, a closed port is reset once the proxy passes
    // the connection on (the kernel's RST, not a listener's timing).
    let reset = by[SYNPROXY]
        .iter()
        .filter(|l| l.port != 2222 && l.after_handshake.as_deref() == Some("reset"))
        .count();
    assert_eq!(reset, scanned - 1, "{:?}", by[SYNPROXY]);

    // -oX: valid, the marked ports are nmap's tcpwrapped and say why, the
    // real services are not.
    let text = std::fs::read_to_string(xml).unwrap();
    let xmllint = or_skip!(require_tool("xmllint", "libxml2-utils"));
    let dtd = or_skip!(require::file(
        "/usr/share/nmap/nmap.dtd",
        "nmap's DTD",
        "nmap"
    ));
    let (code, out) = run_tool(
        &xmllint,
        &["--noout", "--dtdvalid", dtd.to_str().unwrap(), xml],
    );
    assert_eq!(code, 0, "{out}");
    let wrapped =
        "<service name=\"tcpwrapped\" extrainfo=\"host accepts every port; after handshake: ";
    assert_eq!(text.matches(wrapped).count(), 2 * scanned, "{text}");
    let services_host = text
        .split("<host>")
        .find(|h| h.contains(&format!("addr=\"{SERVICES}\"")))
        .unwrap();
    assert!(!services_host.contains("tcpwrapped"), "{services_host}");
    assert!(services_host.contains("portid=\"22\""), "{services_host}");

    // --merge reads the marks back from -oX.
    let merged = lab.portscan(&["--merge", xml, "--json"]);
    assert_eq!(merged.code(), 0, "{}", merged.stderr);
    let back = merged.lines();
    let by_back = open_by_host(&back);
    for host in [REDIRECT, SYNPROXY] {
        assert!(
            by_back[host]
                .iter()
                .all(|l| l.host_accepts_all == Some(true)),
            "{host}"
        );
    }
    assert!(by_back[SERVICES]
        .iter()
        .all(|l| l.host_accepts_all.is_none()));
    let _ = std::fs::remove_dir_all(dir);
}
