//! Shared by both binaries: how a usage error reaches the user.
//!
//! The documented format (docs/*-flags.md, both tools) is one line on stderr,
//! `error: WHAT[; DETAIL...] (see --help)`, and exit status 2. clap puts
//! the useful part of some errors on later lines (the names of missing
//! arguments, "a similar argument exists" tips); those lines are kept,
//! joined onto the first, and only the usage block is dropped.

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

/// A usage error as one line: clap's message with its detail lines, and
/// where to look, instead of its multi-line usage block.
pub fn usage_error_line(e: &clap::Error) -> String {
    one_line(&e.render().to_string())
}

/// Joins the lines of a rendered clap error up to its `Usage:` block: a
/// line ending in `:` is followed by its list, others by `; `.
fn one_line(rendered: &str) -> String {
    let mut line = String::new();
    let kept = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty());
    for part in kept {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    if line.is_empty() {
        line.push_str("error: invalid usage");
    }
    format!("{} (see --help)", escape_str(&line))
}

#[cfg(test)]
mod usage_tests {
    use super::one_line;

    #[test]
    fn detail_lines_are_kept_on_one_line() {
        let missing = "error: the following required arguments were not provided:\n  \
                       <URL>...\n\nUsage: rawget <URL>...\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(missing),
            "error: the following required arguments were not provided: <URL>... (see --help)"
        );
        let tip = "error: unexpected argument '--max-tim' found\n\n  tip: a similar argument \
                   exists: '--max-time'\n\nUsage: rawget --max-time <SECS> <URL>...\n";
        assert_eq!(
            one_line(tip),
            "error: unexpected argument '--max-tim' found; tip: a similar argument exists: \
             '--max-time' (see --help)"
        );
        assert_eq!(one_line(""), "error: invalid usage (see --help)");
    }
}
