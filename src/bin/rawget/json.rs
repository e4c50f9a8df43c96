//! `--json`: one object per URL, on one line, for jq. The field names and
//! types are a contract documented in the README; change them only with a
//! CHANGELOG entry.

use std::time::Duration;

use base64::Engine as _;
use rawnet::http::client::{Exchange, Handler, Step};
use serde::Serialize;

use crate::trace::Tracer;

/// Collects the decoded body (bounded by the reader's `max_body`).
pub struct JsonHandler {
    pub body: Vec<u8>,
    tracer: Option<Tracer>,
}

impl JsonHandler {
    pub fn new(tracer: Option<Tracer>) -> Self {
        JsonHandler {
            body: Vec::new(),
            tracer,
        }
    }
}

impl Handler for JsonHandler {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        if let Some(t) = &self.tracer {
            t.step(at, step);
        }
    }

    fn body(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
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
    pub headers: Vec<[&'a str; 2]>,
    pub body: Option<String>,
    pub body_encoding: Option<&'static str>,
    pub body_bytes: u64,
    pub trailers: Vec<[&'a str; 2]>,
    pub timing_ms: TimingMs,
    pub error: Option<ErrorRecord>,
}

/// Milliseconds since the start of the exchange (curl's `time_*`).
#[derive(Debug, Serialize)]
pub struct TimingMs {
    pub dns: Option<f64>,
    pub connect: Option<f64>,
    pub first_byte: Option<f64>,
    pub total: f64,
}

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
            headers: Vec::new(),
            body: None,
            body_encoding: None,
            body_bytes: 0,
            trailers: Vec::new(),
            timing_ms: TimingMs {
                dns: None,
                connect: None,
                first_byte: None,
                total: 0.0,
            },
            error: Some(error),
        }
    }

    pub fn new(url: &'a str, ex: &'a Exchange, body: &[u8], error: Option<ErrorRecord>) -> Self {
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
            headers: head.map_or_else(Vec::new, |h| pairs(&h.headers)),
            body,
            body_encoding,
            body_bytes: ex.body_bytes,
            trailers: pairs(&ex.trailers),
            timing_ms: TimingMs {
                dns: ex.timing.dns.map(ms),
                connect: ex.timing.connect.map(ms),
                first_byte: ex.timing.first_byte.map(ms),
                total: ms(ex.timing.total),
            },
            error,
        }
    }
}

fn pairs(fields: &[(String, String)]) -> Vec<[&str; 2]> {
    fields
        .iter()
        .map(|(n, v)| [n.as_str(), v.as_str()])
        .collect()
}

/// The body as text when it is UTF-8, else base64.
fn encode_body(body: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), "utf-8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(body),
            "base64",
        ),
    }
}

/// Milliseconds with microsecond resolution.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// One record as a line of JSON.
///
/// serde_json escapes C0 controls but not DEL and the C1 range
/// (U+007F..U+009F), which some terminals still act on (U+009B is CSI), so
/// those are written as `\u00XX` too: the same JSON value, safe on a
/// terminal, whatever the destination.
pub fn to_line(record: &Record<'_>) -> serde_json::Result<Vec<u8>> {
    let text = serde_json::to_string(record)?;
    let mut line = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            line.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            line.push(c);
        }
    }
    line.push('\n');
    Ok(line.into_bytes())
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
        let line = to_line(&Record::failed("u", error)).unwrap();
        let text = String::from_utf8(line).unwrap();
        assert!(text.contains(r"a\u009b31m\u007f\u001bz é"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["message"], "a\u{9b}31m\u{7f}\u{1b}z é");
    }
}
