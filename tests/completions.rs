//! Shell completions and man pages of both binaries, generated from their
//! clap definitions with `--generate`: they load in the shells, and the
//! man page lists every flag `--help` lists.

mod rawget_support;
mod require;

use std::process::Command;

use rawget_support::*;

const BINARIES: [(&str, &str); 2] = [
    ("rawget", env!("CARGO_BIN_EXE_rawget")),
    ("portscan", env!("CARGO_BIN_EXE_portscan")),
];

fn generate(bin: &str, kind: &str) -> String {
    let run = run(Command::new(bin).args(["--generate", kind]));
    assert_eq!(run.code, 0, "{bin} --generate {kind}: {}", run.stderr);
    assert!(!run.stdout.is_empty());
    run.out()
}

#[test]
fn bash_completion_loads() {
    for (name, bin) in BINARIES {
        let script = format!("source <('{bin}' --generate complete-bash) && complete -p {name}");
        let run = run(Command::new("bash").args(["-c", &script]));
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        assert!(
            run.out().contains(&format!("_{name} {name}")),
            "{}",
            run.out()
        );
    }
}

#[test]
fn zsh_and_fish_completions_parse() {
    for (name, bin) in BINARIES {
        for (shell, kind) in [("zsh", "complete-zsh"), ("fish", "complete-fish")] {
            let text = generate(bin, kind);
            assert!(text.contains(name));
            if !have_shell(shell) {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join(format!("{name}.{shell}"));
            std::fs::write(&file, text).unwrap();
            // -n: read and check the syntax, run nothing.
            let run = run(Command::new(shell).arg("-n").arg(&file));
            assert_eq!(run.code, 0, "{shell} -n {name}: {}", run.stderr);
        }
    }
}

/// True when `shell` runs; otherwise the test fails, unless
/// `RAWNET_TEST_SKIP` names the shell (then its check is left out, with
/// the skip recorded: tests/require).
fn have_shell(shell: &str) -> bool {
    if require::runs(shell, &["-c", "exit 0"]) {
        return true;
    }
    let _skipped = require::missing(shell, &format!("{shell} does not run (see .ci/packages.d)"));
    false
}

/// Every `--long` flag named in `text`.
fn long_flags(text: &str) -> Vec<String> {
    let mut flags: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_owned)
        .collect();
    flags.sort();
    flags.dedup();
    flags
}

#[test]
fn man_pages_list_every_flag_of_help() {
    for (name, bin) in BINARIES {
        let help = run(Command::new(bin).arg("--help")).out();
        let man = generate(bin, "man");
        assert!(
            man.starts_with(".ie") || man.contains(".TH"),
            "{name}: not roff"
        );
        // roff escapes each '-' as '\-'.
        let man_text = man.replace("\\-", "-");
        let flags = long_flags(&help);
        assert!(flags.len() > 10, "{name}: {flags:?}");
        for flag in flags {
            assert!(man_text.contains(&flag), "{name}: man page lacks {flag}");
        }
    }
}

#[test]
fn help_lists_the_curl_flags_and_generate() {
    let help = run(Command::new(BINARIES[0].1).arg("--help")).out();
    for flag in [
        "--silent",
        "--show-error",
        "--include",
        "--data-binary",
        "--data-raw",
        "--user-agent",
        "--referer",
        "--user",
        "--fail",
        "--fail-with-body",
        "--write-out",
        "--strict",
        "--generate",
    ] {
        assert!(
            long_flags(&help).iter().any(|f| f == flag),
            "--help lacks {flag}"
        );
    }
}

#[test]
fn a_failed_write_is_one_line_and_the_documented_status_not_a_panic() {
    let full = match std::fs::OpenOptions::new().write(true).open("/dev/full") {
        Ok(full) => full,
        Err(e) => {
            require::missing("dev-full", &format!("/dev/full cannot be opened: {e}"));
            return;
        }
    };
    // rawget: exit 23 (cannot write the output); portscan: exit 1
    // (runtime error), each with its own prefix, as the exit-status tables say.
    for ((name, bin), (prefix, status)) in
        BINARIES.into_iter().zip([("rawget:", 23), ("error:", 1)])
    {
        for kind in ["complete-bash", "complete-zsh", "complete-fish", "man"] {
            let out = Command::new(bin)
                .args(["--generate", kind])
                .stdout(full.try_clone().unwrap())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(status), "{name} {kind}: {stderr}");
            assert_eq!(stderr.lines().count(), 1, "{name} {kind}: {stderr}");
            assert!(stderr.starts_with(prefix), "{name} {kind}: {stderr}");
        }
    }
}
