//! Shared by both binaries: how a usage error reaches the user.

use std::io::{self, Write};
use std::process::ExitCode;

use rawnet::sanitize::escape_str;

/// Ends a run whose arguments clap refused: help and version go to stdout
/// with status 0; mistakes to stderr as one line, with status 2 (the usage
/// status of both tools).
pub fn exit_for(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(io::stderr(), "{}", usage_error_line(e));
    ExitCode::from(2)
}

/// A usage error as one line: clap's first line (what is wrong), and where
/// to look, instead of its multi-line usage block.
fn usage_error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("error: invalid usage");
    format!("{} (see --help)", escape_str(first.trim_end()))
}
