//! The exit-code policy of `portscan`, in one place.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the scan ran to the end (whatever it found), or `--help`/`--version`, or stdout was closed early (`| head`) |
//! | 1 | runtime error: unreadable `-iL` file, no target resolved, output file not writable or full, standard output closed (`>&-`), the engine could not start |
//! | 2 | usage error: bad flag or value, bad port spec, bad target, bad shard |
//! | 3 | `--merge` wrote its report, but shards are missing or inputs were left out (stderr lists them) |
//! | 130 | SIGINT ended the scan (what was found is written; see `signals`) |
//! | 143 | SIGTERM ended the scan (likewise) |

use std::fmt;
use std::process::ExitCode;

use rawnet::ports::PortSpecError;
use rawnet::scan::ScanError;
use rawnet::shard::ShardError;
use rawnet::targets::TargetSpecError;

/// Why `portscan` stops before finishing a scan. `main` prints it once as
/// `error: ...` and exits with [`Error::exit_code`].
#[derive(Debug)]
pub enum Error {
    /// What was typed is wrong (exit 2).
    Usage(String),
    /// Something failed while running (exit 1).
    Runtime(String),
}

/// `--merge` wrote a report that is not the whole scan.
pub const EXIT_MERGE_INCOMPLETE: u8 = 3;

impl Error {
    /// The exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Runtime(_) => ExitCode::from(1),
            Error::Usage(_) => ExitCode::from(2),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Runtime(m) => f.write_str(m),
        }
    }
}

impl From<PortSpecError> for Error {
    fn from(e: PortSpecError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<TargetSpecError> for Error {
    fn from(e: TargetSpecError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<ShardError> for Error {
    fn from(e: ShardError) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<ScanError> for Error {
    fn from(e: ScanError) -> Self {
        Error::Runtime(format!("scan failed: {e}"))
    }
}
