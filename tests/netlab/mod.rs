//! The Rust side of tests/netlab: a [`Lab`] guard that sets up the
//! namespaces with `netlab.sh up` and always tears them down (`Drop`), and
//! runs the real `portscan` inside the scanner namespace.
//!
//! Everything the lab needs is root and Debian packages; when that is
//! impossible (not root, a tool missing and not installable) [`Lab::up`]
//! says why on stderr and returns `None`, and the test returns early.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Labs run one at a time: the machine is small and shared, and a lab's
/// delay program needs its CPU to keep the latency honest.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// What a lab emulates (see netlab.sh for each setting).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub rtt_ms: u32,
    pub loss_pct: u32,
    pub reject: &'static str,
    pub drop: &'static str,
    pub listen: &'static str,
    pub live: u32,
    pub icmp_unlimited: bool,
}

/// A running lab; dropped, it is torn down.
pub struct Lab {
    tag: String,
    pub scan_ns: String,
    pub tgt_ip: String,
    _turn: MutexGuard<'static, ()>,
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo().join("tests/netlab/netlab.sh")
}

/// The netlab-delay example next to the portscan binary, built on demand
/// (`cargo test` builds examples, `cargo test --test X` does not).
fn delay_bin() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_BIN_EXE_portscan"))
        .parent()?
        .join("examples/netlab-delay");
    if bin.exists() {
        return Some(bin);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--example", "netlab-delay"])
        .current_dir(repo())
        .stdout(Stdio::null())
        .status()
        .ok()?
        .success();
    (built && bin.exists()).then_some(bin)
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why the lab cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (network namespaces)".into());
    }
    let tools = ["ip", "nft", "iptables", "python3"];
    if tools.iter().any(|t| !have(t)) {
        let _ = Command::new("bash")
            .arg(repo().join(".ci/install-packages"))
            .stdout(Stdio::null())
            .status();
    }
    let missing: Vec<_> = tools.into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        return Some(format!("missing tools: {}", missing.join(" ")));
    }
    None
}

impl Lab {
    /// Sets up a lab, or says on stderr why it cannot and returns `None`.
    pub fn up(test: &str, s: &Settings) -> Option<Lab> {
        if let Some(why) = missing_prerequisite() {
            eprintln!("{test}: skipped: {why}");
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!("pf{}x{n}", std::process::id() % 100_000);
        let mut cmd = Command::new("bash");
        cmd.arg(script()).args(["up", &tag]);
        cmd.env("RTT_MS", s.rtt_ms.to_string())
            .env("LOSS_PCT", s.loss_pct.to_string())
            .env("REJECT", s.reject)
            .env("DROP", s.drop)
            .env("LISTEN", s.listen)
            .env("LIVE", s.live.to_string())
            .env("ICMP_UNLIMITED", if s.icmp_unlimited { "1" } else { "0" });
        if s.rtt_ms > 0 {
            let Some(bin) = delay_bin() else {
                panic!("{test}: cannot build the netlab-delay example");
            };
            cmd.env("DELAY_BIN", bin);
        }
        let lab = Lab {
            scan_ns: format!("{tag}-s"),
            tgt_ip: "10.231.0.2".into(),
            tag,
            _turn: turn,
        };
        let out = cmd.output().expect("run netlab.sh");
        assert!(
            out.status.success(),
            "netlab.sh up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(lab)
    }

    /// `portscan args` run inside the scanner namespace.
    pub fn portscan(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.scan_ns,
            env!("CARGO_BIN_EXE_portscan"),
        ])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["down", &self.tag])
            .status();
    }
}
