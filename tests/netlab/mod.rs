//! The Rust side of tests/netlab: a [`Lab`] guard that sets up the
//! namespaces with `netlab.sh up` and always tears them down (`Drop`), and
//! runs the real `portscan` inside the scanner namespace.
//!
//! Everything the lab needs is root and Debian packages (listed in
//! `.ci/packages.d`, installed by `.ci/install-packages`, never by a test);
//! when one is missing [`Lab::up`] fails the test with the reason, unless
//! `RAWNET_TEST_SKIP` names it (tests/require): then it returns
//! [`Skipped`] and the test returns.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::require::{self, Skipped};

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
    /// Only this address's packets get `rtt_ms` (see netlab.sh).
    pub delay_only: &'static str,
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

/// Root and the tools the lab needs, or the skip of the first missing.
fn prerequisites() -> Result<(), Skipped> {
    require::root("the network lab (namespaces, nft, NFQUEUE)")?;
    for (tool, package) in [
        ("ip", "iproute2"),
        ("nft", "nftables"),
        ("iptables", "iptables"),
        ("python3", "python3"),
    ] {
        require::program(tool, package)?;
    }
    Ok(())
}

impl Lab {
    /// Sets up a lab; fails the test when it cannot (or returns
    /// [`Skipped`] when `RAWNET_TEST_SKIP` allows what is missing).
    pub fn up(test: &str, s: &Settings) -> Result<Lab, Skipped> {
        prerequisites()?;
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
            .env("ICMP_UNLIMITED", if s.icmp_unlimited { "1" } else { "0" })
            .env("DELAY_ONLY", s.delay_only);
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
        Ok(lab)
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
