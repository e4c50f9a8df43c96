//! `-w/--write-out FORMAT`: curl's syntax, for the variables this tool
//! knows, written after each URL's transfer.
//!
//! The format is parsed once, when the run starts, so an unknown variable
//! is a usage error before anything is sent (curl only warns; a script
//! that asks for a value we cannot give should learn it at once). Each URL
//! then renders it from its [`Exchange`] and what its handler observed.
//!
//! Syntax: `%{var}`, `%header{name}` (the final response's field; of
//! several fields of that name, the first, as curl prints it), `%{json}` (every variable as
//! one object, with curl 7.88's key set), `%{header_json}` (the final head's fields by lower-case
//! name in received order, each an array of values), `%{stderr}` / `%{stdout}` (where the
//! rest goes), `%{onerror}` (the rest only for a failed URL), `%%`, and the escapes `\n`, `\r`, `\t`; names match in
//! any case. The format itself may come from a file (`-w @FILE`, `-w @-`:
//! read by the command line's translation, not here). Anything else is copied as it is, and as in curl 7.88 a `%`
//! or `\` that starts no known sequence is copied together with the
//! character after it (so `\\` stays two backslashes).
//!
//! Values that depend on TLS or on redirects each come from one function
//! here: [`time_appconnect`], [`num_redirects`], [`url_effective`].

use std::net::SocketAddr;
use std::time::Duration;

use rawnet::http::client::{Exchange, Step};
use rawnet::http::target::Target;
use serde_json::{json, Value};

/// One variable of `%{var}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    Certs,
    ContentType,
    CurlVersion,
    Errormsg,
    Exitcode,
    FilenameEffective,
    FtpEntryPath,
    HttpCode,
    HttpConnect,
    HttpVersion,
    LocalIp,
    LocalPort,
    Method,
    NumCerts,
    NumConnects,
    NumHeaders,
    NumRedirects,
    ProxySslVerifyResult,
    RedirectUrl,
    Referer,
    RemoteIp,
    RemotePort,
    ResponseCode,
    Scheme,
    SizeDownload,
    SizeHeader,
    SizeRequest,
    SizeUpload,
    SpeedDownload,
    SpeedUpload,
    SslVerifyResult,
    TimeAppconnect,
    TimeConnect,
    TimeNamelookup,
    TimePretransfer,
    TimeRedirect,
    TimeStarttransfer,
    TimeTotal,
    Url,
    UrlEffective,
    Urlnum,
    ConnId,
}

/// Every variable with its name, in the order curl 7.88's `%{json}`
/// lists them (its 41 keys: alphabetical, `curl_version` last).
/// Variables of curl releases after 7.88, which `%{json}` leaves out
/// (its key set is 7.88's).
const NEWER_VARS: &[(&str, Var)] = &[("conn_id", Var::ConnId)];

const VARS: &[(&str, Var)] = &[
    ("certs", Var::Certs),
    ("content_type", Var::ContentType),
    ("errormsg", Var::Errormsg),
    ("exitcode", Var::Exitcode),
    ("filename_effective", Var::FilenameEffective),
    ("ftp_entry_path", Var::FtpEntryPath),
    ("http_code", Var::HttpCode),
    ("http_connect", Var::HttpConnect),
    ("http_version", Var::HttpVersion),
    ("local_ip", Var::LocalIp),
    ("local_port", Var::LocalPort),
    ("method", Var::Method),
    ("num_certs", Var::NumCerts),
    ("num_connects", Var::NumConnects),
    ("num_headers", Var::NumHeaders),
    ("num_redirects", Var::NumRedirects),
    ("proxy_ssl_verify_result", Var::ProxySslVerifyResult),
    ("redirect_url", Var::RedirectUrl),
    ("referer", Var::Referer),
    ("remote_ip", Var::RemoteIp),
    ("remote_port", Var::RemotePort),
    ("response_code", Var::ResponseCode),
    ("scheme", Var::Scheme),
    ("size_download", Var::SizeDownload),
    ("size_header", Var::SizeHeader),
    ("size_request", Var::SizeRequest),
    ("size_upload", Var::SizeUpload),
    ("speed_download", Var::SpeedDownload),
    ("speed_upload", Var::SpeedUpload),
    ("ssl_verify_result", Var::SslVerifyResult),
    ("time_appconnect", Var::TimeAppconnect),
    ("time_connect", Var::TimeConnect),
    ("time_namelookup", Var::TimeNamelookup),
    ("time_pretransfer", Var::TimePretransfer),
    ("time_redirect", Var::TimeRedirect),
    ("time_starttransfer", Var::TimeStarttransfer),
    ("time_total", Var::TimeTotal),
    ("url", Var::Url),
    ("url_effective", Var::UrlEffective),
    ("urlnum", Var::Urlnum),
    ("curl_version", Var::CurlVersion),
];

/// One piece of a parsed format.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var(Var),
    Header(String),
    Json,
    HeaderJson,
    /// Output from here on goes to stderr (`true`) or stdout.
    ToStderr(bool),
    /// `%{onerror}`: the rest is written only when the URL failed.
    OnError,
}

/// A parsed `-w` format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOut {
    pieces: Vec<Piece>,
}

/// What one URL's `-w` produced, per stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What a handler saw during the exchanges of one URL (every redirect
/// hop) that the final [`Exchange`] does not keep.
#[derive(Clone, Copy, Debug, Default)]
pub struct Observed {
    /// Our end of the last connection.
    pub local: Option<SocketAddr>,
    /// Request head bytes, summed over the hops (curl's `size_request`).
    pub request_bytes: u64,
    /// Request body bytes sent in the last hop (curl's `size_upload`).
    pub upload_bytes: u64,
}

impl Observed {
    /// Takes note of one step of the exchange.
    pub fn see(&mut self, step: &Step<'_>) {
        match step {
            Step::Connected { local, .. } | Step::Reused { local, .. } => self.local = *local,
            Step::Sent { request, sent, .. } => {
                self.request_bytes += request.len() as u64;
                self.upload_bytes = sent.saturating_sub(request.len() as u64);
            }
            _ => {}
        }
    }
}

/// Everything a format can refer to, for one URL.
pub struct Values<'a> {
    /// The URL as given.
    pub url: &'a str,
    /// The URL last fetched (after any redirects), when the URL parsed.
    pub target: Option<&'a Target>,
    /// Redirects followed before the final response.
    pub redirects: usize,
    /// The exchange, when one was attempted.
    pub exchange: Option<&'a Exchange>,
    pub observed: Observed,
    /// The URL's exit status.
    pub exit: u8,
    /// The URL's error message, if it failed.
    pub error: Option<String>,
    /// What the URL was asked with and saved to, and where it stopped.
    pub context: Context<'a>,
}

/// What `-w` reports about the request rather than the response.
#[derive(Clone, Debug, Default)]
pub struct Context<'a> {
    /// The method of the last request sent.
    pub method: &'a str,
    /// The `Referer` sent, if any.
    pub referer: Option<&'a str>,
    /// Where the body was saved (`-o`/`-O`); `None` for stdout.
    pub filename: Option<String>,
    /// The URL's index among the URLs given (curl's `urlnum`).
    pub urlnum: usize,
    /// Time spent in the redirects before the final hop.
    pub time_redirect: Duration,
    /// The redirect a response points to when it was not followed.
    pub redirect_url: Option<String>,
}

impl std::str::FromStr for WriteOut {
    type Err = String;

    fn from_str(format: &str) -> Result<WriteOut, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = format;
        while let Some(c) = rest.chars().next() {
            let (piece, used) = match c {
                '%' => special(rest)?,
                '\\' => escape(rest),
                _ => (None, c.len_utf8()),
            };
            match piece {
                Some(Piece::Text(t)) => text.push_str(&t),
                Some(p) => {
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(p);
                }
                None => text.push_str(&rest[..used]),
            }
            rest = &rest[used..];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(WriteOut { pieces })
    }
}

/// Length of `s`'s first character and the one after it (or of the first
/// alone, at the end): curl copies a `%` or `\` it does not understand
/// together with the character after it, so that character is never read
/// as the start of another sequence (`100%\n` stays `100%\n`).
fn pair_len(s: &str) -> usize {
    s.chars().take(2).map(char::len_utf8).sum()
}

/// A `%...` sequence at the start of `s`: the piece and its length, or
/// `None` to copy that many bytes as text.
fn special(s: &str) -> Result<(Option<Piece>, usize), String> {
    if s.starts_with("%%") {
        return Ok((Some(Piece::Text("%".into())), 2));
    }
    let (prefix, header) = if s.starts_with("%header{") {
        ("%header{", true)
    } else if s.starts_with("%{") {
        ("%{", false)
    } else {
        return Ok((None, pair_len(s)));
    };
    let Some(end) = s.find('}') else {
        // curl copies the opening and goes on after it.
        return Ok((None, prefix.len()));
    };
    let name = &s[prefix.len()..end];
    let piece = if header {
        Piece::Header(name.to_owned())
    } else {
        // curl matches variable names in any case.
        match name.to_ascii_lowercase().as_str() {
            "json" => Piece::Json,
            "header_json" => Piece::HeaderJson,
            "stderr" => Piece::ToStderr(true),
            "stdout" => Piece::ToStderr(false),
            "onerror" => Piece::OnError,
            _ => match VARS
                .iter()
                .chain(NEWER_VARS)
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some((_, var)) => Piece::Var(*var),
                None => {
                    let known: Vec<&str> = VARS.iter().chain(NEWER_VARS).map(|(n, _)| *n).collect();
                    return Err(format!(
                        "unknown -w variable '{name}' (rawget knows: {}, json, header_json, \
                         stderr, stdout, and %header{{name}})",
                        known.join(", ")
                    ));
                }
            },
        }
    };
    Ok((Some(piece), end + 1))
}

/// A backslash sequence at the start of `s`, as curl reads it: `\n`,
/// `\r` and `\t` are control characters; a backslash before anything
/// else (another backslash included) is copied with that character.
fn escape(s: &str) -> (Option<Piece>, usize) {
    let text = match s.as_bytes().get(1) {
        Some(b'n') => "\n",
        Some(b'r') => "\r",
        Some(b't') => "\t",
        _ => return (None, pair_len(s)),
    };
    (Some(Piece::Text(text.into())), 2)
}

impl WriteOut {
    /// Renders the format for one URL.
    pub fn render(&self, v: &Values<'_>) -> Written {
        let mut written = Written::default();
        let mut to_stderr = false;
        for piece in &self.pieces {
            let out = if to_stderr {
                &mut written.stderr
            } else {
                &mut written.stdout
            };
            match piece {
                Piece::Text(t) => out.extend_from_slice(t.as_bytes()),
                Piece::Var(var) => out.extend_from_slice(text_of(*var, v).as_bytes()),
                Piece::Header(name) => {
                    let first = header_values(v, name).into_iter().next();
                    out.extend_from_slice(first.unwrap_or_default().as_bytes());
                }
                Piece::Json => out.extend_from_slice(all_json(v).as_bytes()),
                Piece::HeaderJson => out.extend_from_slice(header_json(v).as_bytes()),
                Piece::ToStderr(e) => to_stderr = *e,
                Piece::OnError if v.exit == 0 => break,
                Piece::OnError => {}
            }
        }
        written
    }
}

/// A variable's value as JSON (numbers stay numbers).
fn value_of(var: Var, v: &Values<'_>) -> Value {
    let ex = v.exchange;
    let head = ex.and_then(|e| e.head.as_ref());
    let connected = ex.filter(|e| e.timing.connect.is_some());
    let secs = |d: Option<Duration>| Value::from(seconds(d.unwrap_or_default()));
    match var {
        Var::HttpCode | Var::ResponseCode => head.map_or(0, |h| h.status).into(),
        Var::HttpVersion => match head {
            Some(h) if h.version == 0 => "1".into(),
            Some(_) => "1.1".into(),
            None => "0".into(),
        },
        Var::RemoteIp => connected
            .and_then(|e| e.ip)
            .map_or_else(String::new, |ip| ip.to_string())
            .into(),
        Var::RemotePort => connected.map_or(0, |e| e.port).into(),
        Var::LocalIp => v
            .observed
            .local
            .map_or_else(String::new, |a| a.ip().to_string())
            .into(),
        Var::LocalPort => v.observed.local.map_or(0, |a| a.port()).into(),
        Var::TimeNamelookup => secs(ex.and_then(|e| e.timing.dns)),
        Var::TimeConnect => secs(ex.and_then(|e| e.timing.connect)),
        Var::TimeAppconnect => secs(time_appconnect(ex)),
        Var::TimeStarttransfer => secs(ex.and_then(|e| e.timing.first_byte)),
        Var::TimeTotal => secs(ex.map(|e| e.timing.total)),
        Var::TimePretransfer => secs(time_pretransfer(ex)),
        Var::TimeRedirect => secs(Some(v.context.time_redirect)),
        Var::SizeDownload => ex.map_or(0, |e| e.body_bytes).into(),
        Var::SizeHeader => ex.map_or(0, |e| e.header_bytes).into(),
        Var::SizeRequest => v.observed.request_bytes.into(),
        Var::SizeUpload => v.observed.upload_bytes.into(),
        Var::SpeedDownload => speed(ex.map_or(0, |e| e.body_bytes), ex).into(),
        Var::SpeedUpload => speed(v.observed.upload_bytes, ex).into(),
        Var::Url => v.url.into(),
        Var::UrlEffective => url_effective(v).into(),
        Var::NumRedirects => num_redirects(v).into(),
        // Summed over the hops (see add_earlier_hops), as curl counts.
        Var::NumConnects => ex.map_or(0, |e| e.connection.new_connects).into(),
        // curl 8's conn_id: the last connection used, -1 when there was none.
        Var::ConnId => ex
            .and_then(|e| e.connection.id)
            .map_or(Value::from(-1), Value::from),
        Var::NumHeaders => head.map_or(0, |h| h.headers.len()).into(),
        Var::Exitcode => v.exit.into(),
        Var::Errormsg => v.error.clone().map_or(Value::Null, Value::from),
        // curl keeps the last Content-Type field it saw.
        Var::ContentType => header_values(v, "content-type")
            .last()
            .map_or(Value::Null, |s| Value::from(s.as_str())),
        Var::Method => v.context.method.into(),
        Var::Referer => v.context.referer.map_or(Value::Null, Value::from),
        Var::FilenameEffective => v.context.filename.clone().map_or(Value::Null, Value::from),
        Var::RedirectUrl => v
            .context
            .redirect_url
            .clone()
            .map_or(Value::Null, Value::from),
        Var::Urlnum => v.context.urlnum.into(),
        Var::Scheme => v.target.map_or(Value::Null, |t| {
            t.scheme.as_str().to_ascii_uppercase().into()
        }),
        Var::SslVerifyResult => ssl_verify_result(ex).into(),
        // rawget asks no proxy and keeps no certificate list for -w: the
        // values curl gives in that case.
        Var::HttpConnect | Var::ProxySslVerifyResult | Var::NumCerts => 0.into(),
        Var::Certs => "".into(),
        Var::FtpEntryPath => Value::Null,
        Var::CurlVersion => rawnet::http::request::USER_AGENT.into(),
    }
}

/// When the request was about to be sent: after the TLS handshake, or
/// the connect for `http://` (curl's `time_pretransfer`).
fn time_pretransfer(ex: Option<&Exchange>) -> Option<Duration> {
    ex.and_then(|e| e.timing.tls.or(e.timing.connect))
}

/// Bytes per second over the whole transfer, as curl's `speed_*`.
fn speed(bytes: u64, ex: Option<&Exchange>) -> u64 {
    let secs = ex.map_or(0.0, |e| e.timing.total.as_secs_f64());
    if secs > 0.0 {
        (bytes as f64 / secs) as u64
    } else {
        0
    }
}

/// OpenSSL's verdict as curl reports it: 0 when the certificate was
/// verified (or for `http://`), 1 otherwise (`-k` went on regardless).
fn ssl_verify_result(ex: Option<&Exchange>) -> u64 {
    match ex.and_then(|e| e.tls.as_ref()) {
        Some(tls) if !tls.verified => 1,
        _ => 0,
    }
}

/// A variable as `%{var}` prints it: times with six decimals, like curl.
fn text_of(var: Var, v: &Values<'_>) -> String {
    match value_of(var, v) {
        Value::String(s) => s,
        Value::Null => String::new(),
        Value::Number(n) if n.is_f64() => format!("{:.6}", n.as_f64().unwrap_or(0.0)),
        Value::Number(n) if matches!(var, Var::HttpCode | Var::ResponseCode) => {
            format!("{:03}", n.as_u64().unwrap_or(0))
        }
        other => other.to_string(),
    }
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// When the TLS handshake finished (of the final exchange). Plain HTTP
/// has none: 0, as curl prints for `http://`.
fn time_appconnect(ex: Option<&Exchange>) -> Option<Duration> {
    ex.and_then(|e| e.timing.tls)
}

/// How many redirects were followed (`-L`).
fn num_redirects(v: &Values<'_>) -> u64 {
    v.redirects as u64
}

/// The URL last fetched, as curl prints it. Without redirects: the
/// scheme, then the authority as typed (user info, host in its case, port
/// even when it is the default), the normalised path and query, and the
/// fragment when not empty. After redirects: the last hop's URL,
/// normalised (`scheme://host[:port]/path`). The URL given when it did
/// not parse.
fn url_effective(v: &Values<'_>) -> String {
    let Some(t) = v.target else {
        return v.url.to_owned();
    };
    let scheme = t.scheme.as_str();
    if v.redirects > 0 {
        return format!("{scheme}://{}{}", t.host_header(), t.path_and_query);
    }
    let typed = match v.url.split_once("://") {
        Some((given, rest)) if given.eq_ignore_ascii_case(scheme) => rest,
        _ => v.url,
    };
    let authority = typed.split(['/', '?', '#']).next().unwrap_or_default();
    let fragment = match v.url.split_once('#') {
        Some((_, f)) if !f.is_empty() => format!("#{f}"),
        _ => String::new(),
    };
    format!("{scheme}://{authority}{}{fragment}", t.path_and_query)
}

/// The values of the final head's fields named `name` (any case).
fn header_values(v: &Values<'_>, name: &str) -> Vec<String> {
    let Some(head) = v.exchange.and_then(|e| e.head.as_ref()) else {
        return Vec::new();
    };
    head.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
        .collect()
}

/// Every variable as one JSON object; times with six decimals, as curl
/// writes them (serde would print `4e-6`).
fn all_json(v: &Values<'_>) -> String {
    let fields: Vec<String> = VARS
        .iter()
        .map(|(name, var)| {
            let value = match value_of(*var, v) {
                Value::Number(n) if n.is_f64() => format!("{:.6}", n.as_f64().unwrap_or(0.0)),
                other => other.to_string(),
            };
            format!("\"{name}\":{value}")
        })
        .collect();
    format!("{{{}}}", fields.join(","))
}

/// The final head's fields by lower-case name, each an array of its
/// values, in the order the names were first received, laid out as curl
/// 7.88 writes it (one field a line).
fn header_json(v: &Values<'_>) -> String {
    let mut fields: Vec<(String, Vec<&str>)> = Vec::new();
    if let Some(head) = v.exchange.and_then(|e| e.head.as_ref()) {
        for (name, value) in &head.headers {
            let name = name.to_ascii_lowercase();
            match fields.iter_mut().find(|(n, _)| *n == name) {
                Some((_, values)) => values.push(value),
                None => fields.push((name, vec![value])),
            }
        }
    }
    let lines: Vec<String> = fields
        .iter()
        .map(|(name, values)| format!("{}:{}", Value::from(name.as_str()), json!(values)))
        .collect();
    format!("{{{}\n}}", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(url: &str) -> Values<'_> {
        Values {
            url,
            target: None,
            redirects: 0,
            exchange: None,
            observed: Observed::default(),
            exit: 7,
            error: Some("failed to connect".into()),
            context: Context::default(),
        }
    }

    fn render(format: &str) -> Written {
        format.parse::<WriteOut>().unwrap().render(&values("h:1"))
    }

    #[test]
    fn variables_escapes_and_streams() {
        let w = render("%{http_code} %{exitcode}\\t%{url}%% 100% \\n%{stderr}[%{errormsg}]\\x");
        assert_eq!(w.stdout, b"000 7\th:1% 100% \n");
        assert_eq!(w.stderr, b"[failed to connect]\\x");
        assert_eq!(
            render("%{time_total} %{size_download}").stdout,
            b"0.000000 0"
        );
        assert_eq!(render("%{unclosed").stdout, b"%{unclosed");
    }

    #[test]
    fn json_lists_every_variable() {
        let w = render("%{json}");
        let v: Value = serde_json::from_slice(&w.stdout).unwrap();
        assert_eq!(v.as_object().unwrap().len(), VARS.len());
        assert_eq!(v["exitcode"], 7);
        assert_eq!(v["http_version"], "0");
        assert_eq!(v["method"], "");
        assert!(v["redirect_url"].is_null());
        let text = String::from_utf8(w.stdout).unwrap();
        assert!(text.starts_with("{\"certs\":\"\","), "{text}");
        assert!(
            text.contains(",\"urlnum\":0,\"curl_version\":\"rawget/"),
            "{text}"
        );
    }

    #[test]
    fn sequences_curl_does_not_know_are_copied_with_the_next_character() {
        // curl 7.88 prints these literally: the character after an unknown
        // `%` or `\` pair never starts a sequence of its own.
        let literal = r"100%\n|\\n|\\|%z|\q|%{http_code\n";
        assert_eq!(
            render(literal).stdout,
            b"100%\\n|\\\\n|\\\\|%z|\\q|%{http_code\n"
        );
        assert_eq!(render(r"%").stdout, b"%");
        assert_eq!(render("\\").stdout, b"\\");
        assert_eq!(
            render("%\u{e9}%{http_code}").stdout,
            "%\u{e9}000".as_bytes()
        );
        assert_eq!(render(r"\t%%\r").stdout, b"\t%\r");
    }

    #[test]
    fn variable_names_match_in_any_case_as_in_curl() {
        assert_eq!(render("%{HTTP_CODE} %{Exitcode}").stdout, b"000 7");
        let w = render("%{JSON}%{STDERR}x");
        assert!(w.stdout.starts_with(b"{"), "{:?}", w.stdout);
        assert_eq!(w.stderr, b"x");
    }

    #[test]
    fn content_type_is_the_last_field_and_url_effective_keeps_what_curl_keeps() {
        let url = "HTTP://u:p@LocalHost:80/a/../b?x=1#frag";
        let target: Target = url.parse().unwrap();
        let exchange = Exchange {
            head: Some(rawnet::http::response::Head {
                version: 1,
                status: 200,
                reason: "OK".into(),
                headers: vec![
                    ("Content-Type".into(), "text/plain".into()),
                    ("content-type".into(), "text/html".into()),
                ],
                reason_bytes: None,
                value_bytes: Vec::new(),
            }),
            ..Exchange::default()
        };
        let v = Values {
            url,
            target: Some(&target),
            exchange: Some(&exchange),
            ..values(url)
        };
        let format: WriteOut = "%{content_type} %header{CONTENT-TYPE} %{url_effective}"
            .parse()
            .unwrap();
        assert_eq!(
            String::from_utf8(format.render(&v).stdout).unwrap(),
            "text/html text/plain http://u:p@LocalHost:80/b?x=1#frag"
        );
        let plain = "127.0.0.1:8080?q#";
        let target: Target = plain.parse().unwrap();
        let v = Values {
            target: Some(&target),
            ..values(plain)
        };
        let format: WriteOut = "%{url_effective}".parse().unwrap();
        assert_eq!(format.render(&v).stdout, b"http://127.0.0.1:8080/?q");
    }

    #[test]
    fn unknown_variables_are_refused() {
        let e = "%{no_such_var}".parse::<WriteOut>().unwrap_err();
        assert!(e.contains("'no_such_var'"), "{e}");
    }
}
