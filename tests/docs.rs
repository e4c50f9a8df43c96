//! The documentation is checked against the code: the flag references are
//! what the binaries generate, the JSON fields they list are the fields the
//! binaries write, the README's set-up commands are the ones CI runs (and
//! its demo works), the examples marked `<!-- ci: run -->` run on
//! loopback, and `rust-version` is the real minimum of the locked
//! dependencies.

mod rawget_support;
mod require;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

use rawget_support::read_request;

const BINARIES: [(&str, &str); 2] = [
    ("rawget", env!("CARGO_BIN_EXE_rawget")),
    ("portscan", env!("CARGO_BIN_EXE_portscan")),
];

/// How to bring the references up to date, said on every failure.
const REGENERATE: &str = "run scripts/gen-docs.sh (see docs/developing.md)";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn generate(bin: &str, kind: &str) -> String {
    let out = Command::new(bin)
        .args(["--generate", kind])
        .output()
        .expect("run");
    assert!(out.status.success(), "{bin} --generate {kind}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs a bash script bounded in time, with the binaries under test first
/// on PATH, in `dir`; returns (success, stdout, stderr).
fn bash(script: &str, dir: &Path, port: u16) -> (bool, String, String) {
    let bin_dir = Path::new(BINARIES[0].1).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("timeout")
        .args(["300", "bash", "-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("PORT", port.to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn flag_references_are_what_the_binaries_generate() {
    for (name, bin) in BINARIES {
        let path = format!("docs/{name}-flags.md");
        let committed = read(&path);
        let generated = generate(bin, "markdown");
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .map_or(
                    committed.lines().count().min(generated.lines().count()),
                    |i| i,
                )
                + 1;
            panic!("{path} is out of date (first difference at line {line}): {REGENERATE}");
        }
    }
}

/// The flag names of a generated reference's Options and Arguments.
fn documented_flags(reference: &str) -> Vec<(String, String)> {
    reference
        .lines()
        .filter_map(|l| l.strip_prefix("- **"))
        .filter_map(|l| l.split_once("**"))
        .map(|(names, rest)| (names.to_owned(), rest.to_owned()))
        .collect()
}

#[test]
fn every_flag_is_described_in_the_reference_and_the_man_page() {
    for (name, bin) in BINARIES {
        let reference = generate(bin, "markdown");
        let man = generate(bin, "man").replace("\\-", "-");
        let flags = documented_flags(&reference);
        assert!(flags.len() > 20, "{name}: {flags:?}");
        for (names, rest) in &flags {
            let text = rest.split_once(": ").map_or("", |(_, t)| t.trim());
            assert!(
                text.len() > 10,
                "{name}: {names} has no description: give it a doc comment in src/bin/{name}/cli.rs"
            );
            for flag in names.split(", ") {
                let flag = flag.trim_matches('`');
                assert!(
                    man.contains(&format!("\\fB{flag}\\fR")),
                    "{name}: the man page lacks {flag}"
                );
            }
        }
        // And the reverse: every flag --help lists is in the reference.
        let help = Command::new(bin).arg("--help").output().unwrap().stdout;
        let help = String::from_utf8_lossy(&help);
        // A flag's own line is indented by two spaces; its text by more.
        let heads = help
            .lines()
            .filter(|l| l.starts_with("  -") && !l.starts_with("   "));
        for line in heads {
            let Some(flag) = line
                .split([',', ' '])
                .find(|w| w.starts_with("--") && w.len() > 2)
            else {
                continue;
            };
            assert!(
                reference.contains(&format!("`{flag}`")),
                "{name}: {flag} is in --help but not in docs/{name}-flags.md: {REGENERATE}"
            );
        }
    }
}

/// Serves every connection on 127.0.0.1: `/old` redirects to `/`, any
/// other path gets a small HTML page. The thread ends with the test binary.
fn web_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            thread::spawn(move || answer(conn));
        }
    });
    port
}

fn answer(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let request = read_request(&mut conn);
    let line = String::from_utf8_lossy(&request);
    let response: &[u8] = if line.starts_with("GET /old ") {
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /\r\nContent-Length: 0\r\n\r\n"
    } else if line.starts_with("HEAD ") {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n"
    } else {
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 15\r\n\r\n<h1>hello</h1>\n"
    };
    let _ = conn.write_all(response);
}

/// Field names of the reference's Output fields table, in order.
fn reference_fields(reference: &str) -> Vec<String> {
    let section = reference
        .split("## Output fields")
        .nth(1)
        .expect("an Output fields section");
    section
        .lines()
        .take_while(|l| !l.starts_with("## "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The top-level keys of a JSON object line, in the order written.
fn keys_in_order(line: &str) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert!(value.is_object(), "{line}");
    let (mut keys, mut depth, mut string, mut escaped) = (Vec::new(), 0, None, false);
    for (i, c) in line.char_indices() {
        if let Some(start) = string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    string = None;
                    if depth == 1 && line[i + 1..].trim_start().starts_with(':') {
                        keys.push(line[start + 1..i].to_owned());
                    }
                }
                _ => {}
            }
            continue;
        }
        match c {
            '"' => string = Some(i),
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
    }
    keys
}

#[test]
fn the_documented_json_fields_are_the_fields_written() {
    let port = web_server();
    let url = format!("http://127.0.0.1:{port}/");
    let rawget = Command::new(BINARIES[0].1)
        .args(["--json", &url])
        .output()
        .unwrap();
    assert!(rawget.status.success(), "{rawget:?}");
    let portscan = Command::new(BINARIES[1].1)
        .args(["--json", "-a", "127.0.0.1", &port.to_string()])
        .output()
        .unwrap();
    assert!(portscan.status.success(), "{portscan:?}");
    for ((name, bin), out) in BINARIES.into_iter().zip([rawget, portscan]) {
        let line = String::from_utf8(out.stdout).unwrap();
        let written = keys_in_order(line.lines().next().expect("one record"));
        let documented = reference_fields(&generate(bin, "markdown"));
        assert_eq!(
            written, documented,
            "{name}: the fields written differ from src/bin/{name}/manual.rs (then {REGENERATE})"
        );
        // The guide to the output describes each of them too.
        let guide = read(&format!("docs/{name}-output.md"));
        for field in &written {
            assert!(
                guide.contains(&format!("| `{field}` |")),
                "docs/{name}-output.md has no row for the field {field}"
            );
        }
    }
}

/// The one command line in the fenced block after `marker`.
fn setup_command(readme: &str, marker: &str) -> String {
    let after = readme
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("README.md has no {marker}"));
    let block = after.split("```").nth(1).expect("a fenced block");
    let lines: Vec<&str> = block.lines().skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "{marker}: one command, not {lines:?}");
    lines[0].to_owned()
}

#[test]
fn the_readme_set_up_commands_are_what_ci_runs() {
    let readme = read("README.md");
    let test = setup_command(&readme, "<!-- setup: test -->");
    // CI runs .ci/run as its header says; the README's command is that one.
    let ci = read(".ci/run");
    assert!(
        ci.contains(&format!("CI runs exactly `{test}`")),
        "README's test command `{test}` is not the one .ci/run says CI runs"
    );
    let install = setup_command(&readme, "<!-- setup: install -->");
    let (build, demo) = install.split_once(" && ").expect("install && demo");
    assert_eq!(build, "cargo install --locked --path .");
    assert_eq!(demo, "scripts/demo.sh");
}

#[test]
fn the_readme_demo_runs_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let script = root().join("scripts/demo.sh");
    let (ok, out, err) = bash(&format!("'{}'", script.display()), dir.path(), 0);
    assert!(
        ok,
        "scripts/demo.sh failed (it needs python3, .ci/packages.d/docs.txt):\n{out}\n{err}"
    );
    assert!(out.contains("200 27 bytes"), "{out}");
    assert!(out.contains("\"status\":200"), "{out}");
    assert!(out.contains("open"), "{out}");
}

/// Every fenced block after a `<!-- ci: run -->` line in these documents.
fn runnable_examples() -> Vec<(PathBuf, String)> {
    let mut docs = vec![root().join("README.md")];
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    entries.sort();
    docs.extend(entries);
    let mut blocks = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        // The marker on a line of its own (a mention in prose is not one).
        for part in text.split("\n<!-- ci: run -->\n").skip(1) {
            let block = part.split("```").nth(1).expect("a fenced block");
            let code = block.split_once('\n').map_or("", |(_, code)| code);
            blocks.push((doc.clone(), code.to_owned()));
        }
    }
    blocks
}

#[test]
fn the_documented_examples_run_on_loopback() {
    let examples = runnable_examples();
    // README (rawget, portscan) and both generated references at least.
    assert!(examples.len() >= 4, "{examples:?}");
    let port = web_server();
    for (doc, code) in examples {
        assert!(
            !code.contains("10.") && !code.contains("192.168."),
            "{}: a CI example must stay on loopback:\n{code}",
            doc.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let (ok, out, err) = bash(&code, dir.path(), port);
        assert!(
            ok,
            "{}: example failed:\n{code}\n--- stdout\n{out}\n--- stderr\n{err}",
            doc.display()
        );
    }
}

#[test]
fn rust_version_is_the_highest_the_locked_dependencies_need() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--locked", "--format-version", "1"])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "cargo metadata: {out:?}");
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = |v: &serde_json::Value| -> Option<Vec<u64>> {
        let parts: Vec<u64> = v.as_str()?.split('.').map(|p| p.parse().unwrap()).collect();
        Some(parts.into_iter().chain([0, 0]).take(3).collect())
    };
    let mut ours = None;
    let mut needed = (vec![0, 0, 0], String::new());
    for package in meta["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let Some(v) = version(&package["rust_version"]) else {
            continue;
        };
        if name == "rawnet" {
            ours = Some(v);
        } else if v > needed.0 {
            needed = (v, format!("{name} {}", package["version"]));
        }
    }
    let ours = ours.expect("Cargo.toml has a rust-version");
    assert_eq!(
        ours[..2],
        needed.0[..2],
        "Cargo.toml's rust-version is {ours:?}, the locked dependencies need {:?} ({}): \
         set rust-version to that, and say so in README.md and docs/install.md",
        needed.0,
        needed.1
    );
    let wanted = format!("Rust {}.{} or later", needed.0[0], needed.0[1]);
    for doc in ["README.md", "docs/install.md"] {
        assert!(read(doc).contains(&wanted), "{doc} does not say {wanted}");
    }
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.push(slug(line.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn links_between_the_documents_lead_somewhere() {
    let mut docs = vec![root().join("README.md")];
    docs.extend(
        std::fs::read_dir(root().join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let mut checked = 0;
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        for link in text.split("](").skip(1) {
            let Some(target) = link.split(')').next() else {
                continue;
            };
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            assert!(
                path.exists(),
                "{}: link to {target}: no such file",
                doc.display()
            );
            if !anchor.is_empty() {
                let body = std::fs::read_to_string(&path).unwrap();
                assert!(
                    anchors(&body).iter().any(|a| a == anchor),
                    "{}: link to {target}: no such heading",
                    doc.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} links found");
}
