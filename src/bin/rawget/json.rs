//! `--json`: one object per URL, on one line, for jq. The field names and
//! types are a contract documented in docs/rawget-output.md; change them
//! only with a CHANGELOG entry.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use base64::Engine as _;
use rawnet::http::client::{Exchange, Handler, Step};
use rawnet::http::redirect::{self, Hop};
use rawnet::http::response::Head;
use rawnet::http::timeline::Timeline;
use rawnet::http::tls::{CertInfo, TlsInfo};
use rawnet::sanitize::TerminalSafeJson;
use serde::Serialize;

use crate::trace::Tracer;
use crate::writeout::Observed;

/// Collects the decoded body (bounded by the reader's `max_body`).
pub struct JsonHandler {
    pub body: Vec<u8>,
    tracer: Option<Tracer>,
    pub observed: Observed,
    /// Each hop's steps (connect attempts included), in order: the
    /// redirects, then the final response.
    pub hops: Vec<Timeline>,
}

impl JsonHandler {
    pub fn new(tracer: Option<Tracer>) -> Self {
        JsonHandler {
            body: Vec::new(),
            tracer,
            observed: Observed::default(),
            hops: vec![Timeline::default()],
        }
    }
}

/// Writes each hop's connect attempts into its record: `hops` are
/// [`JsonHandler::hops`], `chain` what they were steps of, `record` its
/// final response's record.
pub fn add_attempts(hops: &mut [Timeline], chain: &redirect::Chain, record: &mut Record<'_>) {
    let exchanges = chain.redirects.iter().chain(std::iter::once(&chain.last));
    for (timeline, hop) in hops.iter_mut().zip(exchanges) {
        timeline.close(hop.exchange.timing.total);
    }
    let mut timelines = hops.iter();
    for (r, t) in record.redirects.iter_mut().zip(&mut timelines) {
        r.timing_ms.attempts = crate::workbench::attempts(t);
    }
    if let Some(t) = timelines.next() {
        record.timing_ms.attempts = crate::workbench::attempts(t);
    }
}

impl Handler for JsonHandler {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        self.observed.see(step);
        if let Some(hop) = self.hops.last_mut() {
            hop.trace(at, step);
        }
        if let Some(t) = &self.tracer {
            t.step(at, step);
        }
    }

    fn body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }

    /// The record describes the final response: an earlier hop's body
    /// is dropped.
    fn next_hop(&mut self) {
        self.body.clear();
        self.hops.push(Timeline::default());
    }
}

/// One line of `--json` output.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub url: &'a str,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub version: Option<String>,
    pub status: Option<u16>,
    pub reason: Option<&'a str>,
    /// The reason's exact bytes in base64, when they are not UTF-8.
    pub reason_base64: Option<String>,
    pub headers: Vec<Field<'a>>,
    pub body: Option<Cow<'a, str>>,
    pub body_encoding: Option<&'static str>,
    pub body_bytes: u64,
    /// Trailer fields, in the same form as `headers`.
    pub trailers: Vec<Field<'a>>,
    pub timing_ms: TimingMs,
    pub error: Option<ErrorRecord>,
    /// Linter warnings about the response, in order.
    pub warnings: Vec<WarningRecord>,
    /// The TLS session (null for http://).
    pub tls: Option<TlsRecord<'a>>,
    /// The redirects followed before the final response (-L), in order.
    pub redirects: Vec<RedirectRecord<'a>>,
    /// The final response's `Server-Timing` metrics.
    pub server_timing: Vec<crate::workbench::MetricRecord>,
    /// The connection that served it (curl's conn_id); null when none was made.
    pub conn_id: Option<u64>,
    /// New connections made for it: 0 when a kept-alive one was reused.
    pub num_connects: u32,
    /// A kept-alive connection was reused.
    pub reused: bool,
    /// The proxy it went through (scheme://host:port, no credentials).
    pub proxy: Option<String>,
}

/// One linter warning: its stable code and a one-line message.
#[derive(Debug, Serialize)]
pub struct WarningRecord {
    pub code: &'static str,
    pub message: &'static str,
}

/// One earlier hop of a redirect chain.
#[derive(Debug, Serialize)]
pub struct RedirectRecord<'a> {
    pub url: &'a str,
    pub ip: Option<String>,
    pub port: u16,
    pub status: Option<u16>,
    pub reason: Option<&'a str>,
    pub headers: Vec<Field<'a>>,
    pub timing_ms: TimingMs,
    pub conn_id: Option<u64>,
    pub num_connects: u32,
    pub reused: bool,
}

impl<'a> RedirectRecord<'a> {
    pub fn new(hop: &'a Hop) -> Self {
        let ex = &hop.exchange;
        let head = ex.head.as_ref();
        RedirectRecord {
            url: hop.target.url.as_str(),
            ip: ex.ip.map(|ip| ip.to_string()),
            port: ex.port,
            status: head.map(|h| h.status),
            reason: head.map(|h| h.reason.as_str()),
            headers: head.map_or_else(Vec::new, exact_fields),
            timing_ms: TimingMs::new(ex),
            conn_id: ex.connection.id,
            num_connects: ex.connection.new_connects,
            reused: ex.connection.reused,
        }
    }
}

impl TimingMs {
    fn new(ex: &Exchange) -> Self {
        TimingMs {
            dns: ex.timing.dns.map(ms),
            connect: ex.timing.connect.map(ms),
            tls: ex.timing.tls.map(ms),
            first_byte: ex.timing.first_byte.map(ms),
            total: ms(ex.timing.total),
            attempts: Vec::new(),
        }
    }
}

/// What the TLS handshake established.
#[derive(Debug, Serialize)]
pub struct TlsRecord<'a> {
    pub version: &'a str,
    pub cipher: &'a str,
    pub alpn: Option<&'a str>,
    pub sni: Option<&'a str>,
    pub verified: bool,
    pub verify_error: Option<&'a str>,
    pub certificates: Vec<CertRecord<'a>>,
    /// Whether the stream ended with the server's close_notify; null when
    /// the message ended by its framing before the stream did.
    pub close_notify: Option<bool>,
    /// Set when that matters: the body may be truncated.
    pub warning: Option<&'static str>,
}

/// One certificate of the chain, leaf first.
#[derive(Debug, Serialize)]
pub struct CertRecord<'a> {
    pub subject: &'a str,
    pub issuer: &'a str,
    pub sans: &'a [String],
    pub not_before: &'a str,
    pub not_after: &'a str,
    pub sha256: &'a str,
}

/// The message for a close-delimited body without close_notify.
pub const NO_CLOSE_NOTIFY: &str =
    "the server closed the connection without a TLS close_notify: the body may be truncated";

impl<'a> TlsRecord<'a> {
    pub fn new(info: &'a TlsInfo, ex: &Exchange) -> Self {
        TlsRecord {
            version: &info.version,
            cipher: &info.cipher,
            alpn: info.alpn.as_deref(),
            sni: info.sni.as_deref(),
            verified: info.verified,
            verify_error: info.verify_error.as_deref(),
            certificates: info.certificates.iter().map(CertRecord::new).collect(),
            close_notify: info.close_notify,
            warning: ex.close_notify_missing().then_some(NO_CLOSE_NOTIFY),
        }
    }
}

impl<'a> CertRecord<'a> {
    fn new(c: &'a CertInfo) -> Self {
        CertRecord {
            subject: &c.subject,
            issuer: &c.issuer,
            sans: &c.sans,
            not_before: &c.not_before,
            not_after: &c.not_after,
            sha256: &c.sha256,
        }
    }
}

/// Milliseconds since the start of the exchange (curl's `time_*`).
#[derive(Debug, Serialize)]
pub struct TimingMs {
    pub dns: Option<f64>,
    pub connect: Option<f64>,
    /// TLS handshake complete (curl's time_appconnect); null for http://.
    pub tls: Option<f64>,
    pub first_byte: Option<f64>,
    pub total: f64,
    /// Every connect attempt of the exchange (failed and abandoned
    /// happy-eyeballs attempts too); empty on a reused connection.
    pub attempts: Vec<crate::workbench::AttemptRecord>,
}

/// `error.kind` of a response that `-f` / `--fail-with-body` turn into
/// a failure (exit 22): its status is 400 or above.
pub const HTTP_ERROR: &str = "http_error";

/// Why the exchange failed.
#[derive(Debug, Serialize)]
pub struct ErrorRecord {
    pub kind: &'static str,
    pub message: String,
}

impl<'a> Record<'a> {
    /// The record of a URL that never got as far as a connection.
    pub fn failed(url: &'a str, error: ErrorRecord) -> Self {
        Record {
            url,
            ip: None,
            port: None,
            version: None,
            status: None,
            reason: None,
            reason_base64: None,
            headers: Vec::new(),
            body: None,
            body_encoding: None,
            body_bytes: 0,
            trailers: Vec::new(),
            timing_ms: TimingMs {
                dns: None,
                connect: None,
                tls: None,
                first_byte: None,
                total: 0.0,
                attempts: Vec::new(),
            },
            error: Some(error),
            warnings: Vec::new(),
            tls: None,
            redirects: Vec::new(),
            server_timing: Vec::new(),
            conn_id: None,
            num_connects: 0,
            reused: false,
            proxy: None,
        }
    }

    pub fn new(url: &'a str, ex: &'a Exchange, body: &'a [u8], error: Option<ErrorRecord>) -> Self {
        let head = ex.head.as_ref();
        let (body, body_encoding) = match head {
            None => (None, None),
            Some(_) => {
                let (text, enc) = encode_body(body);
                (Some(text), Some(enc))
            }
        };
        Record {
            url,
            ip: ex.ip.map(|ip| ip.to_string()),
            port: Some(ex.port),
            version: head.map(|h| format!("HTTP/1.{}", h.version)),
            status: head.map(|h| h.status),
            reason: head.map(|h| h.reason.as_str()),
            reason_base64: head.and_then(|h| h.reason_bytes.as_deref()).map(base64_of),
            headers: head.map_or_else(Vec::new, exact_fields),
            body,
            body_encoding,
            body_bytes: ex.body_bytes,
            trailers: exact(&ex.trailers, &ex.trailer_value_bytes),
            timing_ms: TimingMs::new(ex),
            error,
            warnings: ex
                .warnings
                .iter()
                .map(|w| WarningRecord {
                    code: w.code(),
                    message: w.message(),
                })
                .collect(),
            tls: ex.tls.as_ref().map(|t| TlsRecord::new(t, ex)),
            redirects: Vec::new(),
            server_timing: head.map_or_else(Vec::new, |h| crate::workbench::metrics(&h.headers)),
            conn_id: ex.connection.id,
            num_connects: ex.connection.new_connects,
            reused: ex.connection.reused,
            proxy: ex.connection.proxy.clone(),
        }
    }
}

/// One header field: `[name, value]`, or `[name, lossy value, exact
/// bytes in base64]` when the value is not UTF-8. The second element is
/// always a string, so consumers that read `.[1]` keep working; the third
/// is there only when the second is not exact.
#[derive(Debug)]
pub struct Field<'a> {
    name: &'a str,
    value: &'a str,
    exact: Option<String>,
}

impl Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = ser.serialize_seq(Some(2 + usize::from(self.exact.is_some())))?;
        seq.serialize_element(self.name)?;
        seq.serialize_element(self.value)?;
        if let Some(exact) = &self.exact {
            seq.serialize_element(exact)?;
        }
        seq.end()
    }
}

pub(crate) fn exact_fields(head: &Head) -> Vec<Field<'_>> {
    exact(&head.headers, &head.value_bytes)
}

/// Fields with the exact bytes of the values that are not UTF-8
/// (`value_bytes` as in `Head::value_bytes`: index order).
pub(crate) fn exact<'a>(
    fields: &'a [(String, String)],
    value_bytes: &[(usize, Vec<u8>)],
) -> Vec<Field<'a>> {
    let mut exact = value_bytes.iter().peekable();
    fields
        .iter()
        .enumerate()
        .map(|(i, (name, value))| Field {
            name,
            value,
            exact: exact.next_if(|(at, _)| *at == i).map(|(_, b)| base64_of(b)),
        })
        .collect()
}

pub(crate) fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The body as text when it is UTF-8 (borrowed: a large body is not
/// copied), else base64.
pub(crate) fn encode_body(body: &[u8]) -> (Cow<'_, str>, &'static str) {
    match std::str::from_utf8(body) {
        Ok(text) => (Cow::Borrowed(text), "utf-8"),
        Err(_) => (
            Cow::Owned(base64::engine::general_purpose::STANDARD.encode(body)),
            "base64",
        ),
    }
}

/// Milliseconds with microsecond resolution.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Writes one record as a line of JSON, serialised straight into `out`
/// (the escaped text is never held in memory as a whole).
pub fn write_line(out: &mut dyn Write, record: &Record<'_>) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, TerminalSafeJson);
    // io::Error::from gives back the writer's own error (a closed pipe,
    // a failed spill), so it is classified as what it is.
    record.serialize(&mut ser).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c1_controls_are_escaped_and_json_stays_equal() {
        let error = ErrorRecord {
            kind: "bad_head",
            message: "a\u{9b}31m\u{7f}\u{1b}z é".into(),
        };
        let mut line = Vec::new();
        write_line(&mut line, &Record::failed("u", error)).unwrap();
        let text = String::from_utf8(line).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains(r"a\u009b31m\u007f\u001bz é"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["message"], "a\u{9b}31m\u{7f}\u{1b}z é");
    }
}
