//! The progress bar on stderr: drawn only when stderr is a terminal (and
//! not turned off with `--no-progress`), hidden otherwise, so logs and
//! pipes never see control sequences.

use std::fmt;
use std::io::{self, IsTerminal};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A bar over `probes` probes, or a hidden one (that still counts) when `wanted` is false or
/// stderr is not a terminal.
pub fn bar(probes: u64, wanted: bool) -> ProgressBar {
    if !wanted || !io::stderr().is_terminal() {
        // Still counting, for --stats-every.
        return ProgressBar::with_draw_target(Some(probes), ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} {rate} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key("rate", |state: &ProgressState, w: &mut dyn fmt::Write| {
        let _ = write!(w, "{:.0}/s", state.per_sec());
    })
    .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(probes), ProgressDrawTarget::stderr())
        .with_style(style)
        .with_message("0 open");
    // Keeps the spinner and rate moving while every port is filtered.
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
