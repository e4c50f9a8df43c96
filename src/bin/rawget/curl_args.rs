//! The curl flags of rawget's curl-compatible output model and request
//! shaping (`-O`, `-D`, `--compressed`, `-G`, `--data-urlencode`,
//! `--data-binary`, `-F`, `-r`, `-C`, `--limit-rate`, `--http1.0`), and what rawget says
//! about curl flags it does not have.
//!
//! Kept apart from `cli.rs` so that the flags of another capability (the
//! connection layer) are added there without touching these. The flags
//! curl has and rawget does not are data ([`UNSUPPORTED`]): a flag that
//! gets implemented is one entry removed.

use std::path::PathBuf;

use clap::parser::ArgMatches;
use clap::Args;

/// curl flags of the output model and of request shaping.
#[derive(Debug, Default, Args)]
pub struct CurlArgs {
    /// Save one URL's body to a file named after its last path segment (-o and -O pair with URLs in order)
    // Appended, not counted: each -O keeps its place among the -o's.
    #[arg(
        short = 'O',
        long = "remote-name",
        action = clap::ArgAction::Append,
        num_args = 0,
        default_missing_value = "true",
        value_parser = clap::value_parser!(bool)
    )]
    pub remote_name: Vec<bool>,

    /// Where each URL's body goes, from -o and -O in the order typed (see
    /// [`ordered_outputs`]).
    #[arg(skip)]
    pub outputs: Vec<Output>,

    /// Write every response head, as received, to FILE ('-': stdout)
    #[arg(short = 'D', long = "dump-header", value_name = "FILE")]
    pub dump_header: Option<PathBuf>,

    /// Ask for a compressed response; -o/-O/-o - save it decoded (gzip, deflate, br, zstd)
    #[arg(long)]
    pub compressed: bool,

    /// Send HTTP/1.0 requests (the connection is kept only if the server says keep-alive)
    #[arg(short = '0', long = "http1.0")]
    pub http1_0: bool,

    /// Send the data of -d and friends as the URL's query, with GET (HEAD with -I)
    #[arg(short = 'G', long = "get")]
    pub get: bool,

    /// Data to URL-encode: CONTENT, =CONTENT, NAME=CONTENT, @FILE or NAME@FILE
    #[arg(long = "data-urlencode", value_name = "DATA")]
    pub data_urlencode: Vec<String>,

    /// Request body as it is: @FILE keeps its CR and LF (-d strips them), @- reads stdin
    #[arg(long = "data-binary", value_name = "DATA")]
    pub data_binary: Vec<String>,

    /// Ask for a byte range (Range: bytes=RANGE), e.g. 0-499, 500-, -500
    #[arg(short = 'r', long = "range", value_name = "RANGE")]
    pub range: Option<String>,

    /// Resume a download: '-' from the size of the -o file, or from byte OFFSET
    #[arg(
        short = 'C',
        long = "continue-at",
        value_name = "OFFSET",
        allow_hyphen_values = true
    )]
    pub continue_at: Option<String>,

    /// Save at most SPEED bytes a second (suffixes k, M, G)
    #[arg(long = "limit-rate", value_name = "SPEED", value_parser = crate::cli::parse_size)]
    pub limit_rate: Option<u64>,

    /// Upload FILE as the body with PUT (streamed; '-': stdin); a URL ending in '/' gets its name
    #[arg(short = 'T', long = "upload-file", value_name = "FILE")]
    pub upload_file: Option<PathBuf>,

    /// Multipart form field (POST): NAME=VALUE, NAME=@FILE (upload), NAME=<FILE (content); ;type=, ;filename=
    #[arg(short = 'F', long = "form", value_name = "NAME=CONTENT")]
    pub form: Vec<String>,

    /// Multipart form field whose value is taken as typed ('@', '<' and ';' included)
    #[arg(long = "form-string", value_name = "NAME=VALUE")]
    pub form_string: Vec<String>,

    /// Every form argument, in the order typed (see [`crate::form::ordered`]).
    #[arg(skip)]
    pub forms: Vec<crate::form::FormArg>,

    /// Retry a transient failure up to N times (timeouts, HTTP 408, 429, 500, 502, 503, 504)
    #[arg(long = "retry", value_name = "N")]
    pub retry: Option<u32>,

    /// Wait SECS before each retry (default: 1 s, doubling each time; a Retry-After wins)
    #[arg(long = "retry-delay", value_name = "SECS", value_parser = crate::cli::parse_secs)]
    pub retry_delay: Option<std::time::Duration>,

    /// Retry only while less than SECS have passed since the first attempt
    #[arg(long = "retry-max-time", value_name = "SECS", value_parser = crate::cli::parse_secs)]
    pub retry_max_time: Option<std::time::Duration>,

    /// With --retry: retry on any failure, not only the transient ones
    #[arg(long = "retry-all-errors")]
    pub retry_all_errors: bool,

    /// With --retry: a refused connection is transient too
    #[arg(long = "retry-connrefused")]
    pub retry_connrefused: bool,

    /// Accepted for curl's sake: rawget does no URL globbing
    #[arg(short = 'g', long = "globoff")]
    pub globoff: bool,

    /// Every request body argument, in the order typed (filled from the
    /// parsed matches, see [`ordered_data`]).
    #[arg(skip)]
    pub data: Vec<DataArg>,
}

/// Which flag a piece of request data came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// `-d`/`--data`: `@FILE` is read with CR and LF removed.
    Data,
    /// `--data-binary`: `@FILE` is sent byte for byte.
    Binary,
    /// `--data-raw`: never a file.
    Raw,
    /// `--data-urlencode`.
    UrlEncode,
}

/// One request data argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataArg {
    pub kind: DataKind,
    pub value: String,
}

/// The data arguments in the order they were typed (curl joins them with
/// `&` in that order, whatever their flag).
pub fn ordered_data(matches: &ArgMatches) -> Vec<DataArg> {
    let ids = [
        ("data", DataKind::Data),
        ("data_binary", DataKind::Binary),
        ("data_raw", DataKind::Raw),
        ("data_urlencode", DataKind::UrlEncode),
    ];
    in_typed_order(matches, &ids)
        .into_iter()
        .map(|(kind, value)| DataArg { kind, value })
        .collect()
}

/// The values of several flags that feed one list (`-d` and its kin,
/// `-F` and `--form-string`), each with its flag's tag, in the order they
/// were typed whatever their flag.
pub fn in_typed_order<T: Copy>(matches: &ArgMatches, ids: &[(&str, T)]) -> Vec<(T, String)> {
    let mut all: Vec<(usize, T, String)> = Vec::new();
    for &(id, tag) in ids {
        let (Ok(Some(values)), Some(indices)) =
            (matches.try_get_many::<String>(id), matches.indices_of(id))
        else {
            continue;
        };
        all.extend(values.zip(indices).map(|(v, i)| (i, tag, v.clone())));
    }
    all.sort_by_key(|(i, _, _)| *i);
    all.into_iter().map(|(_, tag, v)| (tag, v)).collect()
}

/// Where one URL's body goes: `-o FILE` (`-o -`: stdout) or `-O`, given
/// to the URLs in the order typed, as curl pairs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    File(PathBuf),
    Stdout,
    RemoteName,
}

/// The `-o` and `-O` arguments in the order they were typed.
pub fn ordered_outputs(matches: &ArgMatches) -> Vec<Output> {
    let mut all: Vec<(usize, Output)> = Vec::new();
    if let (Ok(Some(values)), Some(indices)) = (
        matches.try_get_many::<PathBuf>("output"),
        matches.indices_of("output"),
    ) {
        for (path, index) in values.zip(indices) {
            let out = if path.as_os_str() == "-" {
                Output::Stdout
            } else {
                Output::File(path.clone())
            };
            all.push((index, out));
        }
    }
    if let Some(indices) = matches.indices_of("remote_name") {
        all.extend(indices.map(|i| (i, Output::RemoteName)));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, o)| o).collect()
}

/// How `-C` resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// `-C -`: from the size of the output file.
    FromFile,
    /// `-C N`.
    At(u64),
}

impl CurlArgs {
    /// `-C` checked: a number of bytes, or `-` (each URL from the size of
    /// its own output file; a URL whose body goes to stdout from 0, as
    /// curl).
    pub fn resume(&self) -> Result<Option<Resume>, String> {
        let Some(at) = &self.continue_at else {
            return Ok(None);
        };
        if at == "-" {
            return Ok(Some(Resume::FromFile));
        }
        at.parse()
            .map(|n| Some(Resume::At(n)))
            .map_err(|_| format!("-C '{at}': give a byte offset or '-'"))
    }

    /// `--retry` and its companions (`None`: no retries).
    pub fn retry_policy(&self) -> Option<crate::retry::RetryPolicy> {
        let count = self.retry.filter(|&n| n > 0)?;
        Some(crate::retry::RetryPolicy {
            count,
            delay: self.retry_delay,
            max_time: self.retry_max_time.filter(|d| !d.is_zero()),
            all_errors: self.retry_all_errors,
            connrefused: self.retry_connrefused,
        })
    }

    /// Headers these flags add before the user's `-H` (which win).
    pub fn headers(&self) -> Result<Vec<String>, String> {
        let mut headers = Vec::new();
        if self.upload_file.is_some() {
            // curl sends no Content-Type with -T: remove the default.
            headers.push("Content-Type:".to_owned());
        }
        if self.compressed {
            headers.push(format!(
                "Accept-Encoding: {}",
                rawnet::http::decode::ACCEPT_ENCODING
            ));
        }
        if let Some(range) = &self.range {
            let ok = !range.is_empty()
                && range
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'-' || b == b',');
            if !ok {
                return Err(format!(
                    "-r '{range}' is not a byte range (e.g. 0-499, 500-, -500, 0-1,5-9)"
                ));
            }
            headers.push(format!("Range: bytes={range}"));
        }
        Ok(headers)
    }
}

/// `-T FILE`: the URL the file goes to. As curl, a URL whose path ends
/// in `/` (or has none) gets the file's name appended.
pub fn upload_url(url: &str, file: &std::path::Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty() || file.as_os_str() == "-" {
        return url.to_owned();
    }
    let (base, rest) = match url.find(['?', '#']) {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let after_scheme = base.split_once("://").map_or(base, |(_, r)| r);
    if !after_scheme.contains('/') {
        return format!("{base}/{name}{rest}");
    }
    if base.ends_with('/') {
        return format!("{base}{name}{rest}");
    }
    url.to_owned()
}

/// The name `-O` saves a URL's body under: its path's last segment, as
/// curl takes it (not decoded; the query left out).
pub fn remote_name(path_and_query: &str) -> Option<String> {
    let path = path_and_query.split(['?', '#']).next().unwrap_or_default();
    let name = path.rsplit('/').next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Encodes as curl 7.88's `--data-urlencode`: a space becomes `+`, every
/// other byte but the unreserved `A-Z a-z 0-9 - . _ ~` becomes `%XX`.
pub fn urlencode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b == b' ' {
            out.push('+');
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `--data-urlencode` argument split as curl splits it, at its first
/// `=` or `@`: the name to put before `=` (if any) and the content, or
/// the file to read it from.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlEncodeArg<'a> {
    Content {
        name: Option<&'a str>,
        content: &'a str,
    },
    File {
        name: Option<&'a str>,
        path: &'a str,
    },
}

pub fn split_urlencode(arg: &str) -> UrlEncodeArg<'_> {
    match arg.find(['=', '@']) {
        None => UrlEncodeArg::Content {
            name: None,
            content: arg,
        },
        Some(i) => {
            let (before, after) = (&arg[..i], &arg[i + 1..]);
            let name = (!before.is_empty()).then_some(before);
            if arg.as_bytes()[i] == b'@' {
                UrlEncodeArg::File { name, path: after }
            } else {
                UrlEncodeArg::Content {
                    name,
                    content: after,
                }
            }
        }
    }
}

/// curl flags rawget does not have, and what to do instead: one line for
/// the user, never clap's "did you mean" for a flag of another meaning.
/// Each entry: the flag's spellings, then the advice.
pub const UNSUPPORTED: &[(&[&str], &str)] = &[
    (
        &[
            "--http2",
            "--http2-prior-knowledge",
            "--http3",
            "--http3-only",
        ],
        "rawget speaks HTTP/1.1 only",
    ),
    (
        &["-K", "--config", "-q", "--disable"],
        "rawget reads no config file: give the flags on the command line",
    ),
    (
        &["-n", "--netrc", "--netrc-file", "--netrc-optional"],
        "rawget reads no .netrc: use -u USER:PASSWORD",
    ),
    (
        &["-#", "--progress-bar", "--no-progress-meter"],
        "rawget shows no progress meter (use -v for every socket step)",
    ),
    (
        &["--trace", "--trace-ascii", "--trace-time"],
        "use -v: it shows the request and every socket step with its time",
    ),
    (
        &["-Z", "--parallel", "--parallel-max", "--parallel-immediate"],
        "rawget fetches several URLs in parallel already (up to 16 at once)",
    ),
    (
        &["--digest", "--ntlm", "--negotiate", "--anyauth", "--basic"],
        "only Basic authentication is supported: use -u USER:PASSWORD",
    ),
    (
        &[
            "-E",
            "--cert",
            "--key",
            "--cert-type",
            "--key-type",
            "--pass",
        ],
        "client certificates are not supported",
    ),
    (
        &[
            "--ciphers",
            "--tls13-ciphers",
            "--tlsv1",
            "--tlsv1.0",
            "--tlsv1.1",
            "--tlsv1.2",
            "--tlsv1.3",
            "--tls-max",
            "--ssl",
            "--ssl-reqd",
            "--ssl-no-revoke",
        ],
        "rawget negotiates TLS 1.2 or 1.3 with rustls's safe defaults; it has no TLS tuning flags",
    ),
    (
        &["--capath"],
        "use --cacert FILE (a PEM file with the certificates)",
    ),
    (
        &["--pinnedpubkey"],
        "public key pinning is not supported; --json shows the certificate fingerprints",
    ),
    (
        &["--doh-url", "--dns-servers"],
        "use --resolve HOST:PORT:ADDR to choose the address",
    ),
    (
        &["-J", "--remote-header-name", "--remote-name-all"],
        "use -O (the URL's file name) or -o FILE",
    ),
    (
        &["--output-dir", "--create-dirs"],
        "give the directory in -o DIR/FILE (it must exist)",
    ),
    (
        &["-z", "--time-cond"],
        "send -H 'If-Modified-Since: DATE' yourself",
    ),
    (
        &["-y", "--speed-time", "-Y", "--speed-limit"],
        "use -m/--max-time SECS to bound a slow transfer",
    ),
    (
        &["--oauth2-bearer"],
        "send -H 'Authorization: Bearer TOKEN'",
    ),
    (&["--url"], "give the URL as an argument, without --url"),
    (&["--data-ascii"], "use -d (the same thing in curl)"),
    (&["--stderr"], "redirect stderr in the shell: 2>FILE"),
    (
        &["--raw"],
        "rawget's default output is the raw exchange, exactly as received",
    ),
    (
        &["-M", "--manual"],
        "see rawget --help, or rawget --generate man",
    ),
    (&["--libcurl"], "rawget is not built on libcurl"),
];

/// The advice for a curl flag rawget does not have (`--flag` or
/// `--flag=value` as typed, or a short `-X`).
pub fn unsupported(flag: &str) -> Option<String> {
    let name = flag.split('=').next().unwrap_or(flag);
    UNSUPPORTED
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, advice)| format!("curl's {name} is not supported by rawget: {advice}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_keeps_unreserved_bytes_and_spaces_become_plus() {
        assert_eq!(
            urlencode(b"a b&c=d/\xc3\xa9~._-+"),
            "a+b%26c%3Dd%2F%C3%A9~._-%2B"
        );
    }

    #[test]
    fn urlencode_forms_split_at_the_first_equals_or_at() {
        use UrlEncodeArg::*;
        let c = |name, content| Content { name, content };
        assert_eq!(split_urlencode("a b"), c(None, "a b"));
        assert_eq!(split_urlencode("=a=b"), c(None, "a=b"));
        assert_eq!(split_urlencode("n=a@b"), c(Some("n"), "a@b"));
        assert_eq!(
            split_urlencode("@f"),
            File {
                name: None,
                path: "f"
            }
        );
        assert_eq!(
            split_urlencode("n@f=x"),
            File {
                name: Some("n"),
                path: "f=x"
            }
        );
    }

    #[test]
    fn upload_urls_get_the_file_name_as_curl() {
        let f = std::path::Path::new("/tmp/a b.txt");
        assert_eq!(upload_url("http://h/d/", f), "http://h/d/a b.txt");
        assert_eq!(upload_url("h:8080", f), "h:8080/a b.txt");
        assert_eq!(upload_url("http://h/x", f), "http://h/x");
        assert_eq!(upload_url("http://h/?q", f), "http://h/a b.txt?q");
    }

    #[test]
    fn outputs_keep_the_order_typed() {
        let outputs = |args: &[&str]| {
            crate::cli::parse_from(std::iter::once("rawget").chain(args.iter().copied()))
                .unwrap()
                .curl
                .outputs
        };
        assert_eq!(outputs(&["h"]), []);
        assert_eq!(
            outputs(&["-O", "-o", "x", "h", "-O", "-o", "-", "h"]),
            [
                Output::RemoteName,
                Output::File("x".into()),
                Output::RemoteName,
                Output::Stdout
            ]
        );
        assert_eq!(outputs(&["-sO", "h"]), [Output::RemoteName]);
    }

    #[test]
    fn remote_names_are_the_last_segment() {
        assert_eq!(remote_name("/a/b.tar.gz?x=1").as_deref(), Some("b.tar.gz"));
        assert_eq!(remote_name("/dir/"), None);
        assert_eq!(remote_name("/"), None);
    }

    #[test]
    fn unsupported_flags_are_named_with_advice() {
        let m = unsupported("--trace=f").unwrap();
        assert!(
            m.starts_with("curl's --trace is not supported by rawget: "),
            "{m}"
        );
        assert!(unsupported("--libcurl").is_some());
        // Flags of the connection layer are not claimed unsupported.
        for flag in [
            "--interface",
            "--local-port",
            "--unix-socket",
            "-x",
            "--proxy",
        ] {
            assert!(unsupported(flag).is_none(), "{flag}");
        }
        // No entry names a flag rawget has.
        let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
        for (names, _) in UNSUPPORTED {
            for name in *names {
                let known = cmd.get_arguments().any(|a| {
                    name.strip_prefix("--")
                        .is_some_and(|l| a.get_long() == Some(l))
                        || (name.len() == 2 && a.get_short() == name.chars().nth(1))
                });
                assert!(!known, "{name} is both supported and in UNSUPPORTED");
            }
        }
    }
}
