//! Whether standard output was closed when `portscan` started
//! (`portscan ... >&-`), so that a scan whose results have nowhere to go
//! fails with one line (exit 1), as a full disk does, instead of exiting 0.
//!
//! Why a check before `main`: the Rust runtime reopens a closed descriptor
//! 0, 1 or 2 on /dev/null during its start-up, and writes there succeed and
//! vanish; by the time `main` runs, a closed stdout looks like
//! `>/dev/null`, which is a legitimate choice. A function in the ELF
//! `.init_array` is called by the C runtime before Rust's start-up, so it
//! still sees descriptor 1 as it was inherited.

use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static CHECK_AT_START: extern "C" fn() = check;

/// `fcntl(1, F_GETFD)`: fails (EBADF) only when descriptor 1 is not open.
#[cfg(target_os = "linux")]
extern "C" fn check() {
    // SAFETY: F_GETFD reads the descriptor's flags; no memory is passed.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// True when descriptor 1 was closed at start (and is /dev/null now).
pub fn was_closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}
