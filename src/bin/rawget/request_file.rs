//! The bytes `--send` sends: a regular request file mapped into memory,
//! anything else (stdin, a pipe, an empty or special file) read whole.
//!
//! Why a mapping: reading a 10000-request file (310 KB) into fresh memory
//! cost about 0.3 ms before the first byte could go out (a zero-filled
//! page fault and a copy per 4 KiB page), which was most of what
//! rawget's start-up took beyond netcat's. Mapped, the page cache's own
//! pages are used where they are, in one call that maps them all.
//!
//! The catch of every file mapping: what another process does to the file
//! while we run shows through it. A rewrite changes the bytes under us;
//! a truncation zero-fills the rest of the page that holds the new end,
//! makes a send from the pages past it fail with EFAULT, and makes any
//! other access to them raise SIGBUS. None of this may pass silently or
//! become a crash:
//! - the file's identity (size, inode, modification and change times) is
//!   taken when it is mapped, and [`Input::changed`] compares it after
//!   each run: a file changed while its requests were being sent is a
//!   read error (exit 26, one line), because what went out is not known;
//! - a SIGBUS inside the mapping ends the process with the same line and
//!   status, from a handler that only writes a line made beforehand and
//!   exits. Output still in rawget's buffers is lost then (raw answers to
//!   a terminal, a comparison in progress); the plain-TCP path meets
//!   EFAULT first and ends the run normally, the TLS path copies the
//!   bytes itself and meets the SIGBUS.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::exit::Exit;

/// The request bytes.
pub enum Input {
    /// Read whole into memory.
    Read(Vec<u8>),
    /// A regular file, mapped; the file is kept to see whether it changed
    /// since its `Stamp`.
    Mapped(memmap2::Mmap, File, Stamp),
}

/// What identifies a file's contents without reading them: any write or
/// truncation changes the size or the times, a replacement the inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: meta.len(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl Deref for Input {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Input::Read(bytes) => bytes,
            Input::Mapped(map, _, _) => map,
        }
    }
}

impl Input {
    /// True when a mapped file is not as it was when it was mapped (its
    /// bytes may have changed under the mapping); never for bytes read.
    pub fn changed(&self) -> bool {
        match self {
            Input::Read(_) => false,
            Input::Mapped(_, file, stamp) => {
                file.metadata().map_or(true, |m| Stamp::of(&m) != *stamp)
            }
        }
    }
}

/// The message and exit status for a request file that changed while it
/// was being sent.
pub fn changed_error(path: &Path) -> (Exit, String) {
    (
        Exit::ReadError,
        format!(
            "'{}' changed while its requests were being sent",
            path.display()
        ),
    )
}

/// Reads or maps the requests at `path` (`-`: stdin). `quiet`: the
/// SIGBUS message is not printed (`-s`), as no other error is.
pub fn open(path: &Path, quiet: bool) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin().read_to_end(&mut bytes)?;
        return Ok(Input::Read(bytes));
    }
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    // A file the kernel says is empty may still have bytes to read
    // (/proc, some devices): only a regular file with a size is mapped.
    if meta.is_file() && meta.len() > 0 && usize::try_from(meta.len()).is_ok() {
        // SAFETY: the mapping is only read; what another process does to
        // the file shows through it, which `guard` (SIGBUS) and
        // `Input::changed` (anything else) turn into a read error (see
        // the module documentation).
        let mapped = unsafe { memmap2::MmapOptions::new().populate().map(&file) };
        if let Ok(map) = mapped {
            guard(&map, path, quiet);
            return Ok(Input::Mapped(map, file, Stamp::of(&meta)));
        }
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Input::Read(bytes))
}

/// Where the mapping lies, for the SIGBUS handler (one mapping per
/// process: `--send` names one file).
static MAP_START: AtomicUsize = AtomicUsize::new(0);
static MAP_LEN: AtomicUsize = AtomicUsize::new(0);
/// The line the handler writes, made before it is installed (formatting
/// is not allowed in a signal handler; a write(2) is).
static MESSAGE: OnceLock<Vec<u8>> = OnceLock::new();

/// Installs the SIGBUS handler for `map`.
fn guard(map: &memmap2::Mmap, path: &Path, quiet: bool) {
    let message = if quiet {
        Vec::new()
    } else {
        let (_, text) = changed_error(path);
        format!("rawget: {}\n", rawnet::sanitize::escape_str(&text)).into_bytes()
    };
    if MESSAGE.set(message).is_err() {
        return;
    }
    MAP_START.store(map.as_ptr() as usize, Ordering::SeqCst);
    MAP_LEN.store(map.len(), Ordering::SeqCst);
    // SAFETY: a zeroed sigaction with a handler of the SA_SIGINFO form
    // and its flags set is a valid argument; the handler only reads
    // atomics and calls write(2) and _exit(2), both async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
    }
}

/// A SIGBUS at an address inside the mapping: the file was truncated
/// under it.
/// Any other SIGBUS gets the default action (the faulting access runs
/// again after the handler returns, and raises it once more).
extern "C" fn on_sigbus(_signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let start = MAP_START.load(Ordering::SeqCst);
    let len = MAP_LEN.load(Ordering::SeqCst);
    if addr >= start && addr - start < len {
        let message = MESSAGE.get().map_or(&[][..], Vec::as_slice);
        // SAFETY: write(2) and _exit(2) are async-signal-safe; the
        // message is a static that is never changed once set.
        unsafe {
            libc::write(2, message.as_ptr().cast(), message.len());
            libc::_exit(Exit::ReadError as libc::c_int);
        }
    }
    // SAFETY: restoring the default disposition is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
