//! The response linter through the real binary: one scripted server per
//! warning code, seen in `--json`'s `warnings`, on stderr with `-v`, and
//! as exit 8 with `--strict`; the stray empty line before a status line;
//! the incremental field-count limit.

mod rawget_support;
mod require;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::thread;
use std::time::Duration;

use rawget_support::*;

/// A response that draws exactly one warning, and its code.
const CASES: &[(&str, &[u8])] = &[
    (
        "content_length_with_transfer_encoding",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ),
    (
        "repeated_content_length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
    ),
    (
        "transfer_encoding_in_http10",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ),
    (
        "obs_fold",
        b"HTTP/1.1 200 OK\r\nX-Long: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    ),
    ("bare_lf", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
    (
        "empty_line_before_status",
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ),
    ("missing_reason_phrase", b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"),
    (
        "non_ascii_header_value",
        b"HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok",
    ),
    (
        "body_on_no_content_response",
        b"HTTP/1.1 204 No Content\r\n\r\nsurprise",
    ),
    (
        "extra_bytes_after_message",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    ),
    (
        "content_length_on_no_body_status",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    ),
    (
        "chunk_extension",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;sig=x\r\nok\r\n0\r\n\r\n",
    ),
    (
        "trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n",
    ),
    (
        "unknown_transfer_coding",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\nok",
    ),
    ("status_out_of_range", b"HTTP/1.1 799 Odd\r\nContent-Length: 2\r\n\r\nok"),
];

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.out()))
}

#[test]
fn each_warning_code_in_json_verbose_and_strict() {
    for (code, response) in CASES {
        let srv = serve_n(3, response);
        let url = srv.url("/");
        let run = rawget(&["--json", "-m", "5", &url]).expect(0);
        let record = json(&run);
        let warnings = record["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{code}: {warnings:?}");
        assert_eq!(warnings[0]["code"], *code);
        assert!(warnings[0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));

        let run = rawget(&["-v", "-m", "5", "-o", "/dev/null", &url]).expect(0);
        assert!(
            run.stderr.contains(&format!("! {code}: ")),
            "{code}: {}",
            run.stderr
        );

        let run = rawget(&["--strict", "-m", "5", &url]).expect(8);
        assert!(run.stderr.contains(code), "{code}: {}", run.stderr);
        // The response is still shown: --strict judges, it does not hide.
        assert!(!run.stdout.is_empty(), "{code}");
        assert_eq!(srv.requests().len(), 3, "{code}");
    }
}

#[test]
fn a_clean_response_passes_strict() {
    let srv = serve_n(2, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    rawget(&["--strict", &srv.url("/")]).expect(0);
    let run = rawget(&["--json", &srv.url("/")]).expect(0);
    assert_eq!(json(&run)["warnings"], serde_json::json!([]));
    srv.requests();
}

#[test]
fn a_stray_crlf_after_100_continue_is_tolerated() {
    // What an aiohttp server sends.
    let response =
        b"HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let srv = serve_n(1, response);
    let run = rawget(&["--json", "-d", "x", &srv.url("/")]).expect(0);
    let record = json(&run);
    assert_eq!(record["status"], 200);
    assert_eq!(record["body"], "ok");
    assert_eq!(record["warnings"][0]["code"], "empty_line_before_status");
    srv.requests();
}

#[test]
fn too_many_fields_are_refused_before_the_section_ends() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        read_request(&mut conn);
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..300 {
            head.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        conn.write_all(&head).unwrap();
        // No empty line: stall until the client gives up.
        let _ = std::io::Read::read(&mut conn, &mut [0u8; 1]);
    });
    // Waiting for the section's end would be a timeout (28), not exit 8.
    let run = rawget(&["-m", "10", &format!("http://{addr}/")]).expect(8);
    assert!(run.stderr.contains("exceeds the limit"), "{}", run.stderr);
    server.join().unwrap();
}

#[test]
fn json_keeps_the_exact_bytes_of_non_utf8_values_and_reason() {
    use base64::Engine as _;
    let b64 = |s: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_str().unwrap())
            .unwrap()
    };
    // A Latin-1 filename, as old servers send it, and a Latin-1 reason.
    let response = b"HTTP/1.1 200 Sch\xf6n\r\nContent-Disposition: attachment; filename=\"r\xe9sum\xe9.pdf\"\r\n\
X-Utf8: caf\xc3\xa9\r\nContent-Length: 2\r\n\r\nok";
    let srv = serve_n(1, response);
    let run = rawget(&["--json", &srv.url("/")]).expect(0);
    srv.requests();
    let record = json(&run);
    assert_eq!(record["reason"], "Sch\u{fffd}n");
    assert_eq!(b64(&record["reason_base64"]), b"Sch\xf6n");
    let disposition = &record["headers"][0];
    assert_eq!(disposition.as_array().unwrap().len(), 3);
    assert_eq!(
        b64(&disposition[2]),
        b"attachment; filename=\"r\xe9sum\xe9.pdf\""
    );
    // UTF-8 stays as simple as before: two elements, no base64.
    assert_eq!(
        record["headers"][1],
        serde_json::json!(["X-Utf8", "caf\u{e9}"])
    );
    let srv = serve_n(1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let run = rawget(&["--json", &srv.url("/")]).expect(0);
    srv.requests();
    assert_eq!(json(&run)["reason_base64"], serde_json::Value::Null);
}

#[test]
fn trailers_get_the_heads_leniency_and_warnings() {
    // Folded and Latin-1 trailer values: read (they used to fail with
    // exit 8 or pass --strict unnoticed), each with its warning.
    let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\
X-Sum: a\r\n b\r\nX-Name: caf\xe9\r\n\r\n";
    let srv = serve_n(2, response);
    let run = rawget(&["--json", "-m", "5", &srv.url("/")]).expect(0);
    let record = json(&run);
    assert_eq!(record["trailers"][0], serde_json::json!(["X-Sum", "a b"]));
    // A Latin-1 value keeps its exact bytes, in the headers' form.
    assert_eq!(
        record["trailers"][1],
        serde_json::json!(["X-Name", "caf\u{fffd}", "Y2Fm6Q=="])
    );
    let codes: Vec<&str> = record["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["obs_fold", "non_ascii_header_value", "trailers"]);
    let run = rawget(&["--strict", "-m", "5", "-o", "/dev/null", &srv.url("/")]).expect(8);
    assert!(run.stderr.contains("obs_fold"), "{}", run.stderr);
    srv.requests();
}
