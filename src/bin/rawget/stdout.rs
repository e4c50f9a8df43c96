//! stdout as curl treats it: when it is closed (`rawget URL >&-`), what
//! should go there cannot, and that is a write error (exit 23), not a
//! silent success. (Rust's own `io::stdout()` swallows `EBADF`.)
//!
//! Rust's runtime puts `/dev/null` on a closed fd 1 before `main` (so that
//! no file opened later takes fd 1), which also hides that it was closed:
//! [`note_closed_stdout`] looks first, from `.init_array`, which the C
//! runtime runs before Rust's start-up code. [`guard`] is the fallback
//! for a runtime that does not fill the slot.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Runs before Rust's runtime start-up (see the module docs).
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;

extern "C" fn note_closed_stdout() {
    // SAFETY: F_GETFD on a descriptor number has no side effect.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Notes whether fd 1 is closed, and fills the slot if so.
pub fn guard() {
    // SAFETY: F_GETFD on a descriptor number has no side effect.
    let open = unsafe { libc::fcntl(1, libc::F_GETFD) } != -1;
    if open {
        return;
    }
    CLOSED.store(true, Ordering::Relaxed);
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let fd = null.into_raw_fd();
        if fd != 1 {
            // SAFETY: dup2 onto the closed fd 1; `fd` is ours to close.
            unsafe {
                libc::dup2(fd, 1);
                libc::close(fd);
            }
        }
    }
}

/// stdout, or a writer that fails with `EBADF` when it was closed.
pub fn stdout() -> Box<dyn Write + Send> {
    if CLOSED.load(Ordering::Relaxed) {
        Box::new(Closed)
    } else {
        Box::new(io::stdout())
    }
}

struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(libc::EBADF))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
