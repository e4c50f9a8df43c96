//! `-F`/`--form` and `--form-string`: curl's form field syntax, parsed
//! into fields (a usage error, exit 2, when it is malformed), then turned
//! into a [`Form`] when the run starts (a file that cannot be read is
//! curl's exit 26).
//!
//! The syntax, as curl 7.88 reads it: `NAME=VALUE` (a literal value),
//! `NAME=@FILE` (a file upload: its base name as `filename`, its type
//! guessed from the name), `NAME=<FILE` (the file's content as the
//! value); each may be followed by `;type=MAJOR/MINOR` and
//! `;filename=NAME`; a value or a file name may be double-quoted (`\"`
//! and `\\` escaped inside) to hold `;`. Leading blanks of a value are
//! dropped, and so are trailing ones of a value that is not quoted.
//! `--form-string NAME=VALUE` takes the value as it is. `-` as FILE is
//! stdin, read once. Several files in one field (`@a,b`, which curl sends
//! as multipart/mixed) and the `headers=`/`encoder=` options are refused.

use std::cell::OnceCell;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::parser::ArgMatches;
use rawnet::http::multipart::{guess_type, random_boundary, Content, Form, Part};

/// One `-F` or `--form-string` argument, as typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormArg {
    /// `--form-string`: the value is taken literally.
    pub literal: bool,
    pub value: String,
}

/// The form arguments in the order they were typed.
pub fn ordered(matches: &ArgMatches) -> Vec<FormArg> {
    crate::curl_args::in_typed_order(matches, &[("form", false), ("form_string", true)])
        .into_iter()
        .map(|(literal, value)| FormArg { literal, value })
        .collect()
}

/// Where a field's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `NAME=VALUE`.
    Literal(String),
    /// `NAME=@FILE`: an upload.
    Upload(String),
    /// `NAME=<FILE`: the file's content as the value.
    Content(String),
}

/// One field, checked but not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub source: Source,
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

/// The form of a run: its fields and the boundary (made once, so every
/// URL and every 307/308 hop sends the same body).
#[derive(Clone, Debug)]
pub struct FormPlan {
    pub boundary: String,
    pub fields: Vec<Field>,
}

impl FormPlan {
    /// The form of these arguments (`None` without any).
    pub fn new(args: &[FormArg]) -> Result<Option<FormPlan>, String> {
        if args.is_empty() {
            return Ok(None);
        }
        let fields = args.iter().map(parse).collect::<Result<_, _>>()?;
        let boundary = random_boundary()
            .map_err(|e| format!("-F: no random boundary from the kernel: {e}"))?;
        Ok(Some(FormPlan { boundary, fields }))
    }

    /// The request's `Content-Type` header.
    pub fn header(&self) -> String {
        format!(
            "Content-Type: multipart/form-data; boundary={}",
            self.boundary
        )
    }

    /// Reads what must be read now (stdin, a FIFO) and checks the files:
    /// the form, or why a file cannot be read (curl exit 26).
    pub fn form(&self) -> Result<Form, String> {
        let stdin = OnceCell::new();
        let parts = self
            .fields
            .iter()
            .map(|f| part(f, &stdin))
            .collect::<Result<_, _>>()?;
        Ok(Form::new(self.boundary.clone(), parts))
    }
}

fn part(field: &Field, stdin: &OnceCell<Arc<[u8]>>) -> Result<Part, String> {
    let (content, filename, guessed) = match &field.source {
        Source::Literal(v) => {
            let filename = field.filename.clone();
            let guessed = filename.as_deref().and_then(guess_type);
            (Content::Bytes(v.as_bytes().into()), filename, guessed)
        }
        Source::Upload(path) => {
            let content = read(path, stdin, true)?;
            let base = base_name(path);
            let filename = field.filename.clone().unwrap_or(base);
            // As curl: the type from the name sent, else from the local
            // name, else binary (stdin has none).
            let guessed = guess_type(&filename)
                .or_else(|| guess_type(path))
                .or((path != "-").then_some("application/octet-stream"));
            (content, Some(filename), guessed)
        }
        Source::Content(path) => {
            let filename = field.filename.clone();
            let guessed = filename.as_deref().and_then(guess_type);
            (read(path, stdin, false)?, filename, guessed)
        }
    };
    Ok(Part {
        name: field.name.clone(),
        content,
        filename,
        content_type: field.content_type.clone().or(guessed.map(str::to_owned)),
    })
}

/// A file's content: a regular file is streamed when `stream`; stdin
/// (`-`, read once for all fields), a FIFO or a `/proc` file is read now.
fn read(path: &str, stdin: &OnceCell<Arc<[u8]>>, stream: bool) -> Result<Content, String> {
    let fail = |e: io::Error| format!("-F: cannot read '{path}': {e}");
    if path == "-" {
        if let Some(b) = stdin.get() {
            return Ok(Content::Bytes(Arc::clone(b)));
        }
        let mut bytes = Vec::new();
        io::stdin().read_to_end(&mut bytes).map_err(fail)?;
        let bytes: Arc<[u8]> = bytes.into();
        let _ = stdin.set(Arc::clone(&bytes));
        return Ok(Content::Bytes(bytes));
    }
    let meta = std::fs::metadata(path).map_err(fail)?;
    if stream && meta.is_file() && meta.len() > 0 {
        // Opened now so that a file we may not read stops the run early.
        std::fs::File::open(path).map_err(fail)?;
        return Ok(Content::File(PathBuf::from(path)));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(fail)?;
    Ok(Content::Bytes(bytes.into()))
}

fn base_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// Parses one argument (a usage error names it).
pub fn parse(arg: &FormArg) -> Result<Field, String> {
    let bad = |why: &str| format!("-F '{}': {why}", arg.value);
    let Some((name, rest)) = arg.value.split_once('=') else {
        return Err(bad("expected NAME=VALUE, NAME=@FILE or NAME=<FILE"));
    };
    let field = |source| Field {
        name: name.to_owned(),
        source,
        filename: None,
        content_type: None,
    };
    if arg.literal {
        return Ok(field(Source::Literal(rest.to_owned())));
    }
    let rest = rest.trim_start_matches(is_blank);
    let (source, rest) = if let Some(path) = rest.strip_prefix('@') {
        let (path, rest) = word(path.trim_start_matches(is_blank), true);
        (Source::Upload(path), rest)
    } else if let Some(path) = rest.strip_prefix('<') {
        let (path, rest) = word(path.trim_start_matches(is_blank), false);
        (Source::Content(path), rest)
    } else {
        let (value, rest) = word(rest, false);
        (Source::Literal(value), rest)
    };
    let mut out = field(source);
    if matches!(out.source, Source::Upload(_)) && rest.starts_with(',') {
        return Err(bad(
            "several files in one field (sent by curl as multipart/mixed) are not supported: \
             give each file its own -F",
        ));
    }
    let mut rest = rest;
    while let Some(after) = rest.strip_prefix(';') {
        let after = after.trim_start_matches(is_blank);
        if let Some(t) = after.strip_prefix("type=") {
            let end = t.find(';').unwrap_or(t.len());
            let value = t[..end].trim_end_matches(is_blank);
            let ok = value
                .split_once('/')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !value.contains(' '));
            if !ok {
                return Err(bad("type= needs a MAJOR/MINOR media type"));
            }
            out.content_type = Some(value.to_owned());
            rest = &t[end..];
        } else if let Some(f) = after.strip_prefix("filename=") {
            let (filename, r) = word(f, false);
            out.filename = Some(filename);
            rest = r;
        } else if after.starts_with("headers=") || after.starts_with("encoder=") {
            return Err(bad(
                "the headers= and encoder= options of -F are not supported",
            ));
        } else {
            // curl warns and skips an option it does not know; so do we.
            let (unknown, r) = word(after, false);
            if !unknown.is_empty() {
                crate::report(&format!(
                    "warning: -F: skipping the unknown option '{unknown}'"
                ));
            }
            rest = r;
        }
    }
    Ok(out)
}

fn is_blank(c: char) -> bool {
    c.is_ascii_whitespace()
}

/// One word, as curl's form parser reads it: quoted (`"..."`, with `\"`
/// and `\\`) up to its closing quote, then anything up to `;`; or bare up
/// to `;` (or `,` in a file list), trailing blanks dropped. Returns the
/// word and what follows it (starting with the separator, if any).
fn word(s: &str, file_list: bool) -> (String, &str) {
    let stop = |c: char| c == ';' || (file_list && c == ',');
    if let Some(quoted) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' if matches!(quoted[i + 1..].chars().next(), Some('"' | '\\')) => {
                    if let Some((_, e)) = chars.next() {
                        out.push(e);
                    }
                }
                '"' => {
                    let after = &quoted[i + 1..];
                    let end = after.find(stop).unwrap_or(after.len());
                    return (out, &after[end..]);
                }
                c => out.push(c),
            }
        }
        // No closing quote: read as a bare word, quote included.
    }
    let end = s.find(stop).unwrap_or(s.len());
    (s[..end].trim_end_matches(is_blank).to_owned(), &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Result<Field, String> {
        parse(&FormArg {
            literal: false,
            value: value.into(),
        })
    }

    fn field(name: &str, source: Source, filename: Option<&str>, t: Option<&str>) -> Field {
        Field {
            name: name.into(),
            source,
            filename: filename.map(Into::into),
            content_type: t.map(Into::into),
        }
    }

    #[test]
    fn fields_parse_as_curl_reads_them() {
        use Source::*;
        assert_eq!(
            parsed("n=v").unwrap(),
            field("n", Literal("v".into()), None, None)
        );
        assert_eq!(
            parsed("f=@a.txt;type=text/x;filename=o\"q.txt").unwrap(),
            field(
                "f",
                Upload("a.txt".into()),
                Some("o\"q.txt"),
                Some("text/x")
            )
        );
        assert_eq!(
            parsed("g=<a.txt").unwrap(),
            field("g", Content("a.txt".into()), None, None)
        );
        assert_eq!(
            parsed("q=\"quo;ted\"").unwrap(),
            field("q", Literal("quo;ted".into()), None, None)
        );
        assert_eq!(
            parsed("e=@\"a \\\"b\\\".txt\";filename=\"y;z\"").unwrap(),
            field("e", Upload("a \"b\".txt".into()), Some("y;z"), None)
        );
        assert_eq!(
            parsed("s= spaced  ;type=text/plain ").unwrap(),
            field("s", Literal("spaced".into()), None, Some("text/plain"))
        );
        let literal = parse(&FormArg {
            literal: true,
            value: "s=@lit;x".into(),
        })
        .unwrap();
        assert_eq!(literal, field("s", Literal("@lit;x".into()), None, None));
        for bad in ["noeq", "a=@x,y", "a=b;type=plain", "a=b;headers=X: 1"] {
            assert!(parsed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parts_get_curls_file_names_and_types() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pic.PNG");
        std::fs::write(&f, "P").unwrap();
        let p = f.display().to_string();
        let plan = FormPlan {
            boundary: "B".into(),
            fields: vec![
                parsed(&format!("a=@{p}")).unwrap(),
                parsed(&format!("b=@{p};filename=x.bin")).unwrap(),
                parsed(&format!("c=<{p}")).unwrap(),
                parsed("d=v;filename=x.txt").unwrap(),
                parsed(&format!("e=@{}", dir.path().join("noext").display())).unwrap(),
            ],
        };
        std::fs::write(dir.path().join("noext"), "x").unwrap();
        let form = plan.form().unwrap();
        let got: Vec<_> = form
            .parts()
            .iter()
            .map(|p| (p.filename.as_deref(), p.content_type.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some("pic.PNG"), Some("image/png")),
                (Some("x.bin"), Some("image/png")),
                (None, None),
                (Some("x.txt"), Some("text/plain")),
                (Some("noext"), Some("application/octet-stream")),
            ]
        );
        let missing = FormPlan {
            boundary: "B".into(),
            fields: vec![parsed("a=@/nonexistent/f").unwrap()],
        };
        assert!(missing.form().is_err());
    }
}
