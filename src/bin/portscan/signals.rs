//! SIGINT and SIGTERM end a scan cleanly instead of killing the process.
//!
//! The handler only records which signal came (an atomic store, the one
//! thing a signal handler may safely do); the engine polls it through
//! `Sink::cancelled` at least every 100 ms, stops, and `main` then writes
//! what was found (the table too), says the scan was interrupted, and
//! exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as a
//! shell reports a process killed by it. The handler is installed with
//! `SA_RESETHAND`: a second Ctrl-C kills at once, for a user who does not
//! want to wait for the tidy-up.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked us to stop, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    CAUGHT.store(signal, Ordering::Relaxed);
}

/// Installs the handler for SIGINT and SIGTERM.
pub fn install() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only does an
        // atomic store, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// The signal caught so far, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}

/// Its name, for the summary line.
pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}
