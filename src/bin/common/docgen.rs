//! Shared by both binaries: the manual, written from one source.
//!
//! The flags come from the binary's clap definition (`cli.rs`); what clap
//! does not hold (the exit-status table, the environment, the JSON fields,
//! examples, the synopsis with nmap's spellings) comes from the binary's
//! `manual.rs` as a [`Manual`]. From these two, this module writes the man
//! page (`--generate man`), the flag reference in Markdown
//! (`--generate markdown`, committed as `docs/NAME-flags.md`) and the text
//! after `--help`. So `--help`, the man page and the reference cannot
//! disagree about which flags exist or what an exit status means; a test
//! (`tests/docs.rs`) regenerates the reference and compares it with the
//! committed file.

use std::io::{self, Write};

/// What a binary's manual holds besides its flags.
pub struct Manual {
    /// Synopsis lines, each a whole command line form.
    pub synopsis: &'static [&'static str],
    /// What the tool does, in a few paragraphs (blank-line separated).
    pub description: &'static str,
    /// Exit statuses: code, a short meaning (`-h`), and more detail.
    pub exit_status: &'static [ExitRow],
    /// A paragraph after the exit-status table (may be empty).
    pub exit_note: &'static str,
    /// Environment variables read, and what for.
    pub environment: &'static [(&'static str, &'static str)],
    /// A paragraph after the environment table (may be empty).
    pub environment_note: &'static str,
    /// The fields of each JSON record, in output order.
    pub fields: &'static [Field],
    /// A paragraph before the field table.
    pub fields_note: &'static str,
    /// A paragraph before the examples.
    pub examples_note: &'static str,
    /// Examples: what it does, and the command line.
    pub examples: &'static [(&'static str, &'static str)],
    /// Lines shown after the short help (`-h`), before the exit statuses.
    pub notes: &'static [&'static str],
    /// Other spellings of a flag, by its long name (nmap's `-sU` for
    /// `--udp`); a hidden flag with a spelling is documented under it.
    pub spellings: fn(&str) -> Option<&'static str>,
    /// Documents to read next: (name, what is in it).
    pub see_also: &'static [(&'static str, &'static str)],
}

/// One exit status.
pub struct ExitRow {
    pub code: &'static str,
    pub summary: &'static str,
    pub detail: &'static str,
}

/// One field of a JSON record.
pub struct Field {
    pub name: &'static str,
    pub kind: &'static str,
    pub meaning: &'static str,
}

/// An exit-status row of a manual, in a `const` table.
pub const fn row(code: &'static str, summary: &'static str, detail: &'static str) -> ExitRow {
    ExitRow {
        code,
        summary,
        detail,
    }
}

/// A JSON field of a manual, in a `const` table.
pub const fn field(name: &'static str, kind: &'static str, meaning: &'static str) -> Field {
    Field {
        name,
        kind,
        meaning,
    }
}

/// One documented argument, as read from clap.
struct Entry {
    /// Flag names as typed (`-X`, `--request`), or the positional's name.
    names: Vec<String>,
    value: Option<String>,
    help: String,
    aliases: Vec<String>,
    default: Option<String>,
    values: Vec<(String, String)>,
}

fn entries(cmd: &mut clap::Command, manual: &Manual) -> (Vec<Entry>, Vec<Entry>) {
    cmd.build();
    let (mut args, mut flags) = (Vec::new(), Vec::new());
    for arg in cmd.get_arguments() {
        let spelling = arg.get_long().and_then(manual.spellings);
        if arg.is_hide_set() && spelling.is_none() {
            continue;
        }
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| {
                let paras: Vec<String> = paragraphs(&h.to_string())
                    .iter()
                    .map(|p| full_stop(p))
                    .collect();
                paras.join("\n\n")
            })
            .unwrap_or_default();
        // An appended flag (`num_args = 0`, rawget's -O) takes no value.
        let takes_value = arg.get_action().takes_values()
            && arg.get_num_args().is_none_or(|n| n.max_values() > 0);
        let value = takes_value.then(|| {
            let names: Vec<String> = arg
                .get_value_names()
                .unwrap_or_default()
                .iter()
                .map(|n| n.to_string())
                .collect();
            if names.is_empty() {
                arg.get_id().as_str().to_uppercase()
            } else {
                names.join(" ")
            }
        });
        let values = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| {
                let help = v.get_help().map(|h| h.to_string()).unwrap_or_default();
                (v.get_name().to_owned(), help)
            })
            .collect();
        let default = match arg.get_default_values() {
            _ if !arg.get_action().takes_values() => None,
            [] => None,
            values => Some(
                values
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        };
        if arg.is_positional() {
            let name = value.clone().unwrap_or_else(|| arg.get_id().to_string());
            let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
            args.push(Entry {
                names: vec![if many { format!("{name}...") } else { name }],
                value: None,
                help,
                aliases: Vec::new(),
                default,
                values,
            });
            continue;
        }
        let mut names = Vec::new();
        if let Some(s) = spelling {
            names.push(s.to_owned());
        }
        if let Some(short) = arg.get_short() {
            names.push(format!("-{short}"));
        }
        if let Some(long) = arg.get_long().filter(|_| !arg.is_hide_set()) {
            names.push(format!("--{long}"));
        }
        let aliases = arg
            .get_visible_aliases()
            .unwrap_or_default()
            .iter()
            .map(|a| format!("--{a}"))
            .collect();
        flags.push(Entry {
            names,
            value,
            help,
            aliases,
            default,
            values,
        });
    }
    (args, flags)
}

/// The text after `-h` (`long` false) or `--help` (`long` true).
pub fn after_help(manual: &Manual, long: bool) -> String {
    let mut text = String::new();
    for note in manual.notes {
        text.push_str(note);
        text.push('\n');
    }
    if !long {
        let codes: Vec<String> = manual
            .exit_status
            .iter()
            .map(|r| format!("{} {}", r.code, r.summary))
            .collect();
        text.push_str(&format!("Exit status: {}.\n", codes.join(", ")));
        text.push_str("More in --help and the man page (--generate man).");
        return text;
    }
    text.push_str("\nExit status:\n");
    for row in manual.exit_status {
        text.push_str(&format!("  {:>3}  {}\n", row.code, sentence(row)));
    }
    if !manual.environment.is_empty() {
        text.push_str("\nEnvironment:\n");
        for (name, what) in manual.environment {
            text.push_str(&format!("  {name}: {what}\n"));
        }
    }
    text.push_str("\nExamples:\n");
    for (what, command) in manual.examples {
        text.push_str(&format!("  {command}\n      {what}\n"));
    }
    text.trim_end().to_owned()
}

fn sentence(row: &ExitRow) -> String {
    if row.detail.is_empty() {
        row.summary.to_owned()
    } else {
        format!("{}: {}", row.summary, row.detail)
    }
}

/// Writes the man page (roff) of `cmd`.
pub fn write_man(mut cmd: clap::Command, manual: &Manual, out: &mut dyn Write) -> io::Result<()> {
    let (args, flags) = entries(&mut cmd, manual);
    let name = cmd.get_name().to_owned();
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    let mut roff = String::from_utf8_lossy(&page).into_owned();
    roff.push_str(".SH SYNOPSIS\n.nf\n");
    for line in manual.synopsis {
        roff.push_str(&format!("{}\n", escape(line)));
    }
    roff.push_str(".fi\n.SH DESCRIPTION\n");
    for para in paragraphs(manual.description) {
        roff.push_str(&format!(".PP\n{}\n", escape(&para)));
    }
    roff.push_str(".SH ARGUMENTS\n");
    for entry in &args {
        man_entry(&mut roff, entry);
    }
    roff.push_str(".SH OPTIONS\n");
    for entry in &flags {
        man_entry(&mut roff, entry);
    }
    if !manual.fields.is_empty() {
        roff.push_str(&format!(
            ".SH OUTPUT FIELDS\n.PP\n{}\n",
            escape(manual.fields_note)
        ));
        for f in manual.fields {
            roff.push_str(&format!(
                ".TP\n\\fB{}\\fR ({})\n{}\n",
                escape(f.name),
                escape(f.kind),
                escape(f.meaning)
            ));
        }
    }
    roff.push_str(".SH EXIT STATUS\n");
    for row in manual.exit_status {
        roff.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            escape(row.code),
            escape(&sentence(row))
        ));
    }
    if !manual.exit_note.is_empty() {
        roff.push_str(&format!(".PP\n{}\n", escape(manual.exit_note)));
    }
    roff.push_str(".SH ENVIRONMENT\n");
    for (var, what) in manual.environment {
        roff.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(var), escape(what)));
    }
    if !manual.environment_note.is_empty() {
        roff.push_str(&format!(".PP\n{}\n", escape(manual.environment_note)));
    }
    roff.push_str(&format!(
        ".SH EXAMPLES\n.PP\n{}\n",
        escape(manual.examples_note)
    ));
    for (what, command) in manual.examples {
        roff.push_str(&format!(
            ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
            escape(what),
            escape(command)
        ));
    }
    roff.push_str(".SH SEE ALSO\n");
    for (doc, what) in manual.see_also {
        roff.push_str(&format!(".TP\n{}\n{}\n", escape(doc), escape(what)));
    }
    if let Some(version) = cmd.get_version() {
        roff.push_str(&format!(".SH VERSION\n.PP\n{name} {}\n", escape(version)));
    }
    out.write_all(roff.as_bytes())?;
    out.flush()
}

fn man_entry(roff: &mut String, e: &Entry) {
    let names: Vec<String> = e
        .names
        .iter()
        .map(|n| format!("\\fB{}\\fR", escape(n)))
        .collect();
    let value = e
        .value
        .as_ref()
        .map(|v| format!(" \\fI{}\\fR", escape(v)))
        .unwrap_or_default();
    roff.push_str(&format!(".TP\n{}{value}\n", names.join(", ")));
    roff.push_str(&escape(&e.help).replace("\n\n", "\n.sp\n"));
    roff.push('\n');
    if !e.aliases.is_empty() {
        roff.push_str(&format!("Also: {}.\n", escape(&e.aliases.join(", "))));
    }
    if let Some(default) = &e.default {
        roff.push_str(&format!("Default: {}.\n", escape(default)));
    }
    for (value, help) in &e.values {
        roff.push_str(&format!(
            ".RS\n.TP\n\\fB{}\\fR\n{}\n.RE\n",
            escape(value),
            escape(help)
        ));
    }
}

/// Escapes text for roff: backslashes, hyphens, and a line that would
/// start with a control character.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    text.lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` ending with a full stop, so the notes after it read as sentences.
fn full_stop(text: &str) -> String {
    match text.chars().last() {
        Some('.' | '!' | '?') | None => text.to_owned(),
        Some(_) => format!("{text}."),
    }
}

fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

/// Writes the flag reference of `cmd` as Markdown (`docs/NAME-flags.md`).
pub fn write_markdown(
    mut cmd: clap::Command,
    manual: &Manual,
    out: &mut dyn Write,
) -> io::Result<()> {
    let (args, flags) = entries(&mut cmd, manual);
    let name = cmd.get_name().to_owned();
    let mut md = format!("# {name}: flags, exit status, environment\n\n");
    md.push_str(&format!(
        "<!-- Generated by `scripts/gen-docs.sh` from src/bin/{name}/cli.rs and \
         src/bin/{name}/manual.rs: edit those, then regenerate. -->\n\n"
    ));
    md.push_str("```\n");
    for line in manual.synopsis {
        md.push_str(&format!("{line}\n"));
    }
    md.push_str("```\n\n");
    for para in paragraphs(manual.description) {
        md.push_str(&format!("{para}\n\n"));
    }
    md.push_str("This page, `--help` and the man page (`man ");
    md.push_str(&format!(
        "{name}`, or `{name} --generate man | man -l -`) are generated from the same \
         definitions.\n\n## Arguments\n\n"
    ));
    for entry in &args {
        md_entry(&mut md, entry);
    }
    md.push_str("\n## Options\n\n");
    for entry in &flags {
        md_entry(&mut md, entry);
    }
    if !manual.fields.is_empty() {
        md.push_str(&format!(
            "\n## Output fields\n\n{}\n\n| field | type | meaning |\n|---|---|---|\n",
            manual.fields_note
        ));
        for f in manual.fields {
            md.push_str(&format!(
                "| `{}` | {} | {} |\n",
                f.name,
                cell(f.kind),
                cell(f.meaning)
            ));
        }
    }
    md.push_str("\n## Exit status\n\n| code | meaning |\n|---|---|\n");
    for row in manual.exit_status {
        md.push_str(&format!("| {} | {} |\n", row.code, cell(&sentence(row))));
    }
    if !manual.exit_note.is_empty() {
        md.push_str(&format!("\n{}\n", manual.exit_note));
    }
    md.push_str("\n## Environment\n\n");
    if !manual.environment.is_empty() {
        md.push_str("| variable | what it does |\n|---|---|\n");
        for (var, what) in manual.environment {
            md.push_str(&format!("| `{var}` | {} |\n", cell(what)));
        }
        md.push('\n');
    }
    if !manual.environment_note.is_empty() {
        md.push_str(&format!("{}\n\n", manual.environment_note));
    }
    md.push_str(&format!(
        "## Examples\n\n{}\n\n<!-- ci: run -->\n```sh\n",
        manual.examples_note
    ));
    for (what, command) in manual.examples {
        md.push_str(&format!("# {what}\n{command}\n"));
    }
    md.push_str("```\n\n## See also\n\n");
    for (doc, what) in manual.see_also {
        md.push_str(&format!("- {doc}: {what}\n"));
    }
    out.write_all(md.as_bytes())?;
    out.flush()
}

fn md_entry(md: &mut String, e: &Entry) {
    let names: Vec<String> = e.names.iter().map(|n| format!("`{n}`")).collect();
    let value = e
        .value
        .as_ref()
        .map(|v| format!(" `{v}`"))
        .unwrap_or_default();
    let help = e.help.replace("\n\n", "\n\n  ");
    md.push_str(&format!("- **{}**{value}: {help}", names.join(", ")));
    if !e.aliases.is_empty() {
        let aliases: Vec<String> = e.aliases.iter().map(|a| format!("`{a}`")).collect();
        md.push_str(&format!(" Also: {}.", aliases.join(", ")));
    }
    if let Some(default) = &e.default {
        md.push_str(&format!(" Default: `{default}`."));
    }
    if !e.values.is_empty() {
        let values: Vec<String> = e
            .values
            .iter()
            .map(|(v, h)| format!("`{v}` ({h})"))
            .collect();
        md.push_str(&format!(" Values: {}.", values.join("; ")));
    }
    md.push('\n');
}

/// Text for a Markdown table cell: pipes escaped, one line.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}
