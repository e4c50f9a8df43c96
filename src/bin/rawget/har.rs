//! `--har FILE`: the workbench's exchanges as an HTTP Archive (HAR 1.2),
//! for the browser tools people already use to look at timings.
//!
//! One entry per response that answers a request. The first entry of a
//! connection carries its DNS, connect and TLS times (HAR counts `ssl`
//! inside `connect`); later ones on the same connection have `-1` there,
//! as a browser's reused connections do. Extra fields start with `_`, as
//! the format allows: `_connectAttempts` (every attempt, failed ones
//! too), `_serverTiming`, `_error`, `_framing`, `_warnings`.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use rawnet::http::pipeline::Response;
use rawnet::http::splitter::Request;
use serde_json::{json, Value};

use crate::workbench::{attempts, metrics, Run};

/// Writes the runs to `path` as one HAR document.
pub fn write(path: &Path, runs: &[Run]) -> io::Result<()> {
    let entries: Vec<Value> = runs.iter().flat_map(entries).collect();
    let doc = json!({
        "log": {
            "version": "1.2",
            "creator": { "name": "rawget", "version": env!("CARGO_PKG_VERSION") },
            "entries": entries,
        }
    });
    let mut file = io::BufWriter::new(std::fs::File::create(path)?);
    serde_json::to_writer_pretty(&mut file, &doc).map_err(io::Error::from)?;
    file.write_all(b"\n")?;
    file.flush()
}

fn entries(run: &Run) -> Vec<Value> {
    let t = &run.timeline;
    let outcome = run.outcome.as_ref();
    let sent = |q: usize| outcome.and_then(|o| o.sent.get(q));
    let mut out = Vec::new();
    let mut first = true;
    for (i, r) in run.responses().iter().enumerate() {
        let Some(q) = r.request else { continue };
        let request = &run.plan.requests()[q];
        let start = if first {
            Duration::ZERO
        } else {
            sent(q).unwrap_or_default()
        };
        let sent_at = sent(q).or(r.timing.first_byte).unwrap_or_default();
        let first_byte = r.timing.first_byte.unwrap_or(sent_at);
        let last_byte = r.timing.last_byte.unwrap_or(first_byte);
        let ms = |d: Option<Duration>| d.map_or(-1.0, |d| round(d.as_secs_f64() * 1000.0));
        let (dns, connect, ssl, send) = if first {
            let ready = run.ready.unwrap_or_default();
            let connect = t
                .connect()
                .duration()
                .map(|c| c + t.tls.duration().unwrap_or_default());
            (
                ms(t.dns.duration()),
                ms(connect),
                ms(t.tls.duration()),
                ms(Some(sent_at.saturating_sub(ready))),
            )
        } else {
            (-1.0, -1.0, -1.0, 0.0)
        };
        let wait = ms(Some(first_byte.saturating_sub(sent_at)));
        let receive = ms(Some(last_byte.saturating_sub(first_byte)));
        let time: f64 = [dns, connect, send, wait, receive]
            .iter()
            .filter(|v| **v > 0.0)
            .sum();
        let mut entry = json!({
            "startedDateTime": iso8601(run.started + start),
            "time": round(time),
            "request": request_json(run, request),
            "response": response_json(r, run.bodies.get(i).map_or(&[][..], Vec::as_slice)),
            "cache": {},
            "timings": {
                "blocked": -1, "dns": dns, "connect": connect, "ssl": ssl,
                "send": send, "wait": wait, "receive": receive,
            },
            "_framing": r.framing.map(|f| format!("{f:?}")),
            "_warnings": r.warnings.iter().map(|w| w.code()).collect::<Vec<_>>(),
            "_serverTiming": r.head.as_deref().map(|h| metrics(&h.headers)),
        });
        if let Some(ip) = run.exchange.ip {
            entry["serverIPAddress"] = json!(ip.to_string());
        }
        if first {
            entry["_connectAttempts"] = json!(attempts(t));
        }
        if let Some(s) = &r.stopped {
            entry["_error"] = json!(format!("{} at byte {} of the stream", s.error, s.at));
        }
        out.push(entry);
        first = false;
    }
    if out.is_empty() {
        if let (Some(e), Some(request)) = (run.error(), run.plan.requests().first()) {
            out.push(json!({
                "startedDateTime": iso8601(run.started),
                "time": 0,
                "request": request_json(run, request),
                "response": response_json(&Response::default(), &[]),
                "cache": {},
                "timings": { "blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": 0, "receive": 0 },
                "_connectAttempts": attempts(t),
                "_error": e.to_string(),
            }));
        }
    }
    out
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn request_json(run: &Run, request: &Request) -> Value {
    let bytes = &run.plan.input[request.start as usize..request.end as usize];
    let head_len = head_end(bytes);
    let head = String::from_utf8_lossy(&bytes[..head_len]);
    let mut lines = head.lines().skip_while(|l| l.trim().is_empty());
    let request_line = lines.next().unwrap_or_default();
    let version = request_line.split_whitespace().nth(2).unwrap_or("HTTP/1.1");
    let headers: Vec<Value> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| json!({ "name": n, "value": v.trim() }))
        .collect();
    let target = &run.plan.target;
    let request_target = request.target_text(&run.plan.input);
    let url = if request_target.starts_with('/') {
        let mut u = target.url.clone();
        u.set_path("");
        u.set_query(None);
        format!("{}{}", u.as_str().trim_end_matches('/'), request_target)
    } else {
        request_target.into_owned()
    };
    json!({
        "method": request.method,
        "url": url,
        "httpVersion": version,
        "cookies": [],
        "headers": headers,
        "queryString": [],
        "headersSize": head_len,
        "bodySize": bytes.len() - head_len,
    })
}

/// Where a request's head ends (after its empty line), or its length.
fn head_end(bytes: &[u8]) -> usize {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(bytes.len()),
    }
}

fn response_json(r: &Response, body: &[u8]) -> Value {
    let head = r.head.as_deref();
    let headers: Vec<Value> = head
        .map(|h| {
            h.headers
                .iter()
                .map(|(n, v)| json!({ "name": n, "value": v }))
                .collect()
        })
        .unwrap_or_default();
    let field = |name: &str| {
        head.and_then(|h| {
            h.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_default()
    };
    let mut content = json!({ "size": r.body_bytes, "mimeType": field("content-type") });
    match std::str::from_utf8(body) {
        Ok(text) => content["text"] = json!(text),
        Err(_) => {
            content["text"] = json!(crate::json::base64_of(body));
            content["encoding"] = json!("base64");
        }
    }
    json!({
        "status": head.map_or(0, |h| h.status),
        "statusText": head.map_or("", |h| h.reason.as_str()),
        "httpVersion": head.map_or(String::new(), |h| format!("HTTP/1.{}", h.version)),
        "cookies": [],
        "headers": headers,
        "content": content,
        "redirectURL": field("location"),
        "headersSize": -1,
        "bodySize": r.body_bytes,
    })
}

/// `2026-12-07T15:04:05.123Z` (UTC, milliseconds).
fn iso8601(t: SystemTime) -> String {
    rawnet::utc::Utc::of(t).rfc3339_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn iso8601_of_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_164_800_250);
        assert_eq!(iso8601(t), "2024-02-29T00:00:00.250Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_868_799);
        assert_eq!(iso8601(t), "2000-02-29T23:59:59.000Z");
    }
}
