//! What a test needs that the machine may not have (root, a network
//! namespace, `::1`, a daemon or a tool), and the one place that decides
//! what happens when it is missing: the test FAILS with a one-line reason,
//! unless the environment variable `RAWNET_TEST_SKIP` names that
//! requirement (a comma list such as `root,nginx,nmap`, or `all`). Only
//! then does it skip, and a skip is never silent: a `SKIPPED` line goes to
//! the real stderr (written past libtest's capture, so it shows beside
//! `test ... ok`), and a line is appended to
//! `target/tmp/rawnet-test-skips.log` so that a run's skips can be counted
//! (`.ci/run` allows none and fails if the file has any). See
//! docs/testing.md.
//!
//! A skip is a [`Skipped`] value that only [`missing`] makes, after it has
//! checked the variable and recorded the skip; helpers return
//! `Result<T, Skipped>` and tests take it with [`or_skip!`], so the only
//! early return a test has is one the environment asked for.

#![allow(dead_code, unused_macros, unused_imports)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The variable that lists what may be skipped.
pub const VAR: &str = "RAWNET_TEST_SKIP";

/// Proof that a missing requirement was allowed to skip the test, and the
/// skip recorded. Made only by [`missing`].
#[derive(Debug)]
pub struct Skipped {
    _recorded: (),
}

/// A requirement `what` is missing for the reason `why`: panics (the test
/// fails with one line) unless `RAWNET_TEST_SKIP` lists `what` or `all`;
/// then records the skip and returns the [`Skipped`] the test returns on.
#[track_caller]
pub fn missing(what: &str, why: &str) -> Skipped {
    if !allowed(what) {
        panic!("{why} (requirement `{what}`; {VAR}={what} would skip this test instead)");
    }
    record(what, why);
    Skipped { _recorded: () }
}

/// True when `RAWNET_TEST_SKIP` lists `what` or `all`.
pub fn allowed(what: &str) -> bool {
    std::env::var(VAR).is_ok_and(|list| {
        list.split(',')
            .map(str::trim)
            .any(|name| name == what || name == "all")
    })
}

/// The skip log of this build's target directory.
pub fn log_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rawnet-test-skips.log")
}

fn record(what: &str, why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed>")
        .to_owned();
    let binary = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    // Cargo names test binaries `<file>-<hash>`.
    let binary = binary.rsplit_once('-').map_or(&*binary, |(file, _)| file);
    let line = format!("SKIPPED {binary} {test}: {why} ({VAR} lists `{what}`)\n");
    // Straight to file descriptor 2: libtest captures `eprintln!` of a
    // passing test, not writes to the stderr handle.
    let _ = std::io::stderr().write_all(line.as_bytes());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path());
    match log {
        // One write of one line: O_APPEND keeps concurrent tests' lines whole.
        Ok(mut f) => {
            let _ = f.write_all(line.as_bytes());
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (not counted: {}: {e})",
                log_path().display()
            );
        }
    }
}

/// Returns the value, or returns from the test when the requirement was
/// missing and its skip allowed (see [`missing`]).
macro_rules! or_skip {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err($crate::require::Skipped { .. }) => return,
        }
    };
}
pub(crate) use or_skip;

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Root, for network namespaces, low ports and mounts.
pub fn root(for_what: &str) -> Result<(), Skipped> {
    if is_root() {
        Ok(())
    } else {
        Err(missing("root", &format!("not root: {for_what} needs root")))
    }
}

/// The path of `prog` (PATH, then the sbin directories), or the skip
/// named after it. `package` is the Debian package that has it, listed in
/// `.ci/packages.d` (installed by `.ci/install-packages`, never by a test).
pub fn program(prog: &str, package: &str) -> Result<PathBuf, Skipped> {
    find_program(prog).ok_or_else(|| {
        missing(
            prog,
            &format!(
                "{prog} is not installed (Debian package {package}; run .ci/install-packages)"
            ),
        )
    })
}

/// Like [`program`] for a file at a fixed path (a daemon outside PATH, a
/// DTD), skipped under the name `what`.
pub fn file(path: &str, what: &str, package: &str) -> Result<PathBuf, Skipped> {
    let p = PathBuf::from(path);
    if p.is_file() {
        Ok(p)
    } else {
        Err(missing(
            what,
            &format!("{path} is missing (Debian package {package}; run .ci/install-packages)"),
        ))
    }
}

/// The path of `prog` if it is installed (PATH, then the sbin dirs).
pub fn find_program(prog: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| std::path::Path::new(dir).join(prog))
        .find(|p| p.is_file());
    found
}

/// `::1` can be bound, or the skip `ipv6`.
pub fn ipv6() -> Result<(), Skipped> {
    match std::net::TcpListener::bind((std::net::Ipv6Addr::LOCALHOST, 0)) {
        Ok(_) => Ok(()),
        Err(e) => Err(missing("ipv6", &format!("::1 cannot be bound: {e}"))),
    }
}

/// True when `prog args` runs and exits 0 (a quick probe of a tool that
/// is installed but may not work here).
pub fn runs(prog: &str, args: &[&str]) -> bool {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
