//! Shared by both binaries: `--generate KIND` writes a shell completion
//! script, the man page or the flag reference to stdout, generated from
//! the binary's own clap definition (as ripgrep's `--generate` does) and
//! its [`Manual`], so they can never list a flag the binary does not have,
//! or miss one it has.

use std::io::{self, Write};

use clap_complete::Shell;

use crate::docgen::{self, Manual};

/// What `--generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// bash completion script (source it, or put it in bash-completion's directory).
    CompleteBash,
    /// zsh completion function (a file named `_NAME` in a directory on `$fpath`).
    CompleteZsh,
    /// fish completion script (`~/.config/fish/completions/NAME.fish`).
    CompleteFish,
    /// man page (roff), for `man -l -` or `$MANPATH/man1/NAME.1`.
    Man,
    /// flag reference in Markdown (`docs/NAME-flags.md`).
    Markdown,
}

/// Writes `kind` for the command `cmd` to `out`.
///
/// The text is generated into memory first: `clap_complete` panics when
/// its writer fails (a full disk, a closed pipe), and a panic is a bug.
pub fn write(
    kind: Generate,
    mut cmd: clap::Command,
    manual: &Manual,
    out: &mut dyn Write,
) -> io::Result<()> {
    let name = cmd.get_name().to_owned();
    let shell = match kind {
        Generate::Man => return docgen::write_man(cmd, manual, out),
        Generate::Markdown => return docgen::write_markdown(cmd, manual, out),
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
    };
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut text);
    out.write_all(&text)?;
    out.flush()
}

/// How each binary reports a failed write to stdout, as its exit-status
/// table (`manual.rs`) says: rawget's exit 23 with a `rawget:` line,
/// portscan's runtime error (exit 1) with an `error:` line.
fn write_failure(name: &str) -> (&'static str, u8) {
    match name {
        "portscan" => ("error", 1),
        _ => ("rawget", 23),
    }
}

/// Writes `kind` to stdout and ends the run: 0 (also when stdout is a
/// closed pipe), or the binary's status for a failed write.
pub fn exit_with(kind: Generate, cmd: clap::Command, manual: &Manual) -> std::process::ExitCode {
    let (prefix, status) = write_failure(cmd.get_name());
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match write(kind, cmd, manual, &mut out) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "{prefix}: cannot write to stdout: {e}");
            std::process::ExitCode::from(status)
        }
    }
}
