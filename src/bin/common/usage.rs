//! Shared by both binaries: how a usage error reaches the user.

use rawnet::sanitize::escape_str;

/// A usage error as one line: clap's first line (what is wrong), and where
/// to look, instead of its multi-line usage block.
pub fn usage_error_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("error: invalid usage");
    format!("{} (see --help)", escape_str(first.trim_end()))
}
