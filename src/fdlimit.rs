//! The file-descriptor budget of the scan engine.
//!
//! Every connect in flight holds one socket, and a socket is a file
//! descriptor. `RLIMIT_NOFILE` caps how many the process may hold at once, so
//! it also caps how many connects may be in flight. This module owns the two
//! steps the engine takes before a scan:
//!
//! 1. [`raise_soft_limit`]: raise the *soft* limit toward the *hard* limit
//!    (an unprivileged process may do that freely), but only as far as the
//!    scan needs, so children of the process do not inherit a needlessly huge
//!    limit.
//! 2. [`connect_budget`]: how many sockets may be opened on top of the
//!    descriptors already open, keeping a [`RESERVE`] for everything else
//!    the process does while scanning (the pollers' own descriptors, stdout,
//!    a name lookup, a log file, a progress bar on a terminal).
//!
//! Why not simply open sockets until `socket()` fails with `EMFILE` and back
//! off? Because the engine is not alone in the process: an `EMFILE` caused
//! by the scan would also hit the output thread or a resolver running at the
//! same time, and every failed attempt costs a syscall and a retry. Capping
//! concurrency up front makes the low-limit case (`ulimit -n 64`) as exact as
//! the default one, only slower; the engine still backs off on `EMFILE` as a
//! second line of defence.
//!
//! This module never prints; it reports through `io::Result`.

use std::io;

/// Descriptors kept free for the rest of the process while scanning.
///
/// Sixteen covers the standard streams, each worker's poller (an epoll
/// descriptor, an eventfd and a timerfd), a resolver socket and an output
/// file, with room to spare, while still leaving most of a tiny limit such
/// as `ulimit -n 64` to the scan.
pub const RESERVE: u64 = 16;

/// The `RLIMIT_NOFILE` pair of the current process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// The limit in force (what `open`/`socket` are checked against).
    pub soft: u64,
    /// The ceiling the soft limit may be raised to without privileges.
    pub hard: u64,
}

/// Reads the `RLIMIT_NOFILE` pair (`getrlimit(2)`).
pub fn current() -> io::Result<NofileLimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // `rlim_t` is 32 bits wide on some targets, hence the casts.
    #[allow(clippy::unnecessary_cast)]
    Ok(NofileLimit {
        soft: lim.rlim_cur as u64,
        hard: lim.rlim_max as u64,
    })
}

/// Raises the soft `RLIMIT_NOFILE` to `wanted`, never beyond the hard limit
/// (nor beyond `/proc/sys/fs/nr_open` when the hard limit is infinite), and
/// never lowers it. Returns the pair now in force.
///
/// # Notes
///
/// `setrlimit(2)` fails with `EPERM` for a soft limit above `nr_open` even
/// when the hard limit says `RLIM_INFINITY`; hence the second cap. A failure
/// to raise is not an error for the caller's purpose: the current pair is
/// returned and the budget simply stays smaller.
pub fn raise_soft_limit(wanted: u64) -> io::Result<NofileLimit> {
    let now = current()?;
    let target = raise_target(now, wanted, nr_open());
    if target <= now.soft {
        return Ok(now);
    }
    let lim = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: now.hard as libc::rlim_t,
    };
    // SAFETY: `lim` is a valid rlimit; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Ok(now);
    }
    current()
}

/// The soft limit [`raise_soft_limit`] aims for: `wanted`, capped by the hard
/// limit and `nr_open`, and never below the current soft limit.
fn raise_target(now: NofileLimit, wanted: u64, nr_open: Option<u64>) -> u64 {
    let ceiling = match nr_open {
        Some(n) => now.hard.min(n),
        None => now.hard,
    };
    wanted.min(ceiling).max(now.soft)
}

/// `/proc/sys/fs/nr_open`, the kernel's ceiling for any descriptor limit.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Counts the descriptors this process has open right now.
///
/// Reads `/proc/self/fd` (not counting the descriptor used to read it); where
/// `/proc` is not mounted, probes each descriptor number below the soft limit
/// (at most 65536 of them) with `fcntl(F_GETFD)`.
pub fn open_fd_count() -> io::Result<u64> {
    match std::fs::read_dir("/proc/self/fd") {
        // The directory handle itself is listed; do not count it.
        Ok(dir) => Ok((dir.count() as u64).saturating_sub(1)),
        Err(_) => Ok(probe_open_fds(current()?.soft.min(65_536))),
    }
}

/// Counts open descriptors below `limit` with `fcntl(F_GETFD)`.
fn probe_open_fds(limit: u64) -> u64 {
    (0..limit)
        // SAFETY: F_GETFD only inspects the descriptor table; an unused
        // number yields EBADF.
        .filter(|&fd| unsafe { libc::fcntl(fd as libc::c_int, libc::F_GETFD) } != -1)
        .count() as u64
}

/// How many more sockets may be open at once: the soft limit minus the
/// descriptors already open minus `reserve`, saturating at zero.
///
/// ```
/// use rawnet::fdlimit::{connect_budget, NofileLimit};
/// let lim = NofileLimit { soft: 64, hard: 64 };
/// assert_eq!(connect_budget(lim, 10, 16), 38);
/// assert_eq!(connect_budget(lim, 60, 16), 0);
/// ```
pub fn connect_budget(limit: NofileLimit, open: u64, reserve: u64) -> usize {
    let free = limit.soft.saturating_sub(open).saturating_sub(reserve);
    usize::try_from(free).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(soft: u64, hard: u64) -> NofileLimit {
        NofileLimit { soft, hard }
    }

    #[test]
    fn raise_target_stays_within_hard_and_nr_open() {
        assert_eq!(raise_target(lim(1024, 4096), 2000, None), 2000);
        assert_eq!(raise_target(lim(1024, 4096), 10_000, None), 4096);
        assert_eq!(
            raise_target(lim(1024, u64::MAX), 1 << 30, Some(1 << 20)),
            1 << 20
        );
    }

    #[test]
    fn raise_target_never_lowers() {
        assert_eq!(raise_target(lim(8192, 8192), 100, None), 8192);
        assert_eq!(raise_target(lim(64, 64), 5000, Some(1 << 20)), 64);
    }

    #[test]
    fn budget_subtracts_open_and_reserve() {
        assert_eq!(connect_budget(lim(64, 64), 6, RESERVE), 42);
        assert_eq!(connect_budget(lim(20, 20), 6, RESERVE), 0);
        assert_eq!(
            connect_budget(lim(1 << 20, 1 << 20), 10, 16),
            (1 << 20) - 26
        );
    }

    #[test]
    fn open_fd_count_sees_a_new_descriptor() {
        let before = open_fd_count().unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let after = open_fd_count().unwrap();
        drop(sock);
        // Other test threads open and close descriptors concurrently, so
        // only sanity is checked, not an exact difference.
        assert!(before >= 3 && after >= 3, "{before} {after}");
    }

    #[test]
    fn probe_counts_the_standard_streams() {
        assert!(probe_open_fds(3) <= 3);
        assert!(probe_open_fds(1024) >= 1);
    }

    #[test]
    fn raise_soft_limit_never_lowers() {
        let before = current().unwrap();
        let after = raise_soft_limit(1).unwrap();
        assert_eq!(before, after);
    }
}
