//! rawget's HTTPS, kept on loopback: a rustls server in a thread with a
//! private CA made at test time (tests/rawget_servers): the exact bytes,
//! SNI and Host, the `tls` JSON object, the certificate verdicts and their
//! exit codes (35, 60, 77), uploads over TLS, close_notify, and
//! --connect-timeout over the handshake.

mod rawget_servers;
mod rawget_support;
mod require;

use std::sync::Arc;
use std::time::Duration;

use rawget_servers::*;

#[test]
fn https_with_cacert_shows_the_exact_bytes_and_sends_sni_and_host() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/secure", srv.port());
    let run = rawget(&["-m", "10", "--cacert", &pki.ca_file(&dir), &url]).expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    let seen = srv.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    assert!(
        seen[0].request.starts_with(&format!(
            "GET /secure HTTP/1.1\r\nHost: localhost:{}\r\n",
            seen_port(&url)
        )),
        "{}",
        seen[0].request
    );
}

#[test]
fn https_json_has_the_tls_object_and_timing() {
    for (tls12, version, cipher_prefix) in [
        (false, "TLSv1.3", "TLS13_"),
        (true, "TLSv1.2", "TLS_ECDHE_"),
    ] {
        let pki = pki(Leaf::Good);
        let dir = tempfile::tempdir().unwrap();
        let srv = tls_server(pki.config(tls12), vec![OK_HELLO.to_vec()], End::CloseNotify);
        let url = format!("https://localhost:{}/", srv.port());
        let run = rawget(&["-m", "10", "--json", "--cacert", &pki.ca_file(&dir), &url]).expect(0);
        let v = run.json();
        let tls = &v["tls"];
        assert_eq!(tls["version"], version, "{v}");
        assert!(
            tls["cipher"].as_str().unwrap().starts_with(cipher_prefix),
            "{v}"
        );
        assert_eq!(tls["alpn"], "http/1.1");
        assert_eq!(tls["sni"], "localhost");
        assert_eq!(tls["verified"], true);
        assert!(tls["close_notify"].is_null(), "ended by Content-Length");
        let certs = tls["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 2, "leaf and CA as sent");
        assert_eq!(certs[0]["subject"], "CN=rawget test leaf");
        assert_eq!(certs[0]["issuer"], "CN=rawget test CA");
        assert_eq!(certs[0]["sans"][0], "DNS:localhost");
        assert_eq!(certs[0]["sha256"].as_str().unwrap().len(), 64);
        assert!(certs[0]["not_after"].as_str().unwrap().ends_with('Z'));
        let t = &v["timing_ms"];
        let (connect, tls_at, first) = (
            t["connect"].as_f64().unwrap(),
            t["tls"].as_f64().unwrap(),
            t["first_byte"].as_f64().unwrap(),
        );
        assert!(connect <= tls_at && tls_at <= first, "{t}");
        assert_eq!(v["body"], "hello");
        srv.seen();
    }
}

#[test]
fn http_json_has_a_null_tls_object() {
    let srv = http_server(vec![OK_HELLO.to_vec()]);
    let run = rawget(&["-m", "10", "--json", &format!("http://{}/", srv.addr)]).expect(0);
    let v = run.json();
    assert!(v["tls"].is_null() && v["timing_ms"]["tls"].is_null(), "{v}");
    srv.seen();
}

#[test]
fn exit_60_unknown_ca_expired_leaf_and_wrong_name() {
    let dir = tempfile::tempdir().unwrap();
    // Unknown CA: the system store does not know the test CA.
    let good = pki(Leaf::Good);
    let srv = tls_server(
        good.config(false),
        vec![OK_HELLO.to_vec()],
        End::CloseNotify,
    );
    let run = rawget(&["-m", "10", &format!("https://localhost:{}/", srv.port())]).expect(60);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    srv.seen();
    // Expired leaf, trusted CA.
    let expired = pki(Leaf::Expired);
    let ca = expired.ca_file(&dir);
    let srv = tls_server(
        expired.config(false),
        vec![OK_HELLO.to_vec()],
        End::CloseNotify,
    );
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "--json", "--cacert", &ca, &url]).expect(60);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "certificate", "{v}");
    assert!(
        v["tls"]["verify_error"]
            .as_str()
            .unwrap()
            .contains("xpired"),
        "{v}"
    );
    srv.seen();
    // Wrong name: the leaf is for localhost, not 127.0.0.1.
    let ca = good.ca_file(&dir);
    let srv = tls_server(
        good.config(false),
        vec![OK_HELLO.to_vec()],
        End::CloseNotify,
    );
    let url = format!("https://127.0.0.1:{}/", srv.port());
    rawget(&["-m", "10", "--cacert", &ca, &url]).expect(60);
    srv.seen();
}

#[test]
fn insecure_accepts_an_unknown_ca_and_says_so() {
    let pki = pki(Leaf::Good);
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "-k", "-v", "--json", &url]).expect(0);
    let v = run.json();
    assert_eq!(v["tls"]["verified"], false, "{v}");
    assert_eq!(v["status"], 200);
    assert!(run.stderr.contains("--insecure"), "{}", run.stderr);
    assert!(
        run.stderr.contains("TLS ClientHello sent (SNI localhost"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("TLS handshake complete: TLSv1.3"),
        "{}",
        run.stderr
    );
    srv.seen();
}

#[test]
fn exit_35_for_a_plain_http_peer_on_an_https_url() {
    let srv = http_server(vec![OK_HELLO.to_vec()]);
    let run = rawget(&["-m", "10", &format!("https://{}/", srv.addr)]).expect(35);
    assert!(
        run.stderr.contains("TLS handshake failed"),
        "{}",
        run.stderr
    );
    srv.seen();
}

#[test]
fn https_upload_streams_a_file_body() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    std::fs::write(&path, vec![b'u'; 3 << 20]).unwrap();
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/up", srv.port());
    let data = format!("@{}", path.display());
    let run = rawget(&[
        "-m",
        "10",
        "--data-binary",
        &data,
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    let req = &srv.seen()[0].request;
    assert!(
        req.contains("Content-Length: 3145728\r\n"),
        "{}",
        &req[..300]
    );
    assert_eq!(req.len() - req.find("\r\n\r\n").unwrap() - 4, 3 << 20);
}

#[test]
fn https_an_early_answer_to_an_upload_is_read_not_waited_on() {
    // The server answers after the head and stops reading: the answer is
    // decrypted while sending (not mere socket readability: TLS 1.3 sends
    // session tickets right after the handshake).
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    std::fs::write(&path, vec![b'u'; 32 << 20]).unwrap();
    let answer = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n".to_vec();
    let srv = tls_server(pki.config(false), vec![answer.clone()], End::EarlyAnswer);
    let url = format!("https://localhost:{}/up", srv.port());
    let data = format!("@{}", path.display());
    let run = rawget(&[
        "-m",
        "10",
        "--data-binary",
        &data,
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    // The server closes only after rawget has: exit 0 before -m proves
    // the answer was read while sending, not after.
    assert_eq!(run.stdout, answer);
}

#[test]
fn exit_35_for_a_handshake_alert() {
    // The server speaks only h2: rustls refuses a client offering
    // http/1.1 with a no_application_protocol alert.
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let mut config = (*pki.config(false)).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let srv = tls_server(Arc::new(config), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "--json", "--cacert", &pki.ca_file(&dir), &url]).expect(35);
    assert_eq!(run.json()["error"]["kind"], "tls");
    srv.seen();
}

#[test]
fn exit_77_for_an_unusable_cacert_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let pki = pki(Leaf::Good);
    let srv = tls_server(pki.config(false), vec![], End::CloseNotify);
    for file in [bad.display().to_string(), "/nonexistent/ca.pem".to_string()] {
        let url = format!("https://localhost:{}/", srv.port());
        let run = rawget(&["-m", "10", "--cacert", &file, &url]).expect(77);
        assert!(run.stderr.contains("CA file"), "{}", run.stderr);
    }
    srv.seen();
}

#[test]
fn a_close_delimited_body_without_close_notify_is_reported() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.ca_file(&dir);
    let answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it?".to_vec();
    let srv = tls_server(
        pki.config(false),
        vec![answer.clone(), answer.clone(), answer.clone()],
        End::TcpOnly,
    );
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-m", "10", "--cacert", &ca, &url]).expect(0);
    assert_eq!(run.stdout, answer);
    assert!(run.stderr.contains("close_notify"), "{}", run.stderr);
    let run = rawget(&["-m", "10", "--json", "--cacert", &ca, &url]).expect(0);
    let v = run.json();
    assert_eq!(v["tls"]["close_notify"], false, "{v}");
    assert!(v["tls"]["warning"].as_str().unwrap().contains("truncated"));
    assert_eq!(v["warnings"][0]["code"], "missing_close_notify", "{v}");
    // --strict makes the linter's warning an error (exit 8).
    rawget(&["-m", "10", "--strict", "--cacert", &ca, &url]).expect(8);
    srv.seen();
}

#[test]
fn connect_timeout_bounds_the_tls_handshake() {
    // curl's --connect-timeout covers the TLS handshake: a server that
    // accepts and never answers the ClientHello is a timeout (28), not a
    // wait for as long as the server holds the connection.
    let (addr, seen) = silent_server(Duration::from_secs(15));
    let url = format!("https://127.0.0.1:{}/", addr.port());
    let run = rawget(&["-k", "--connect-timeout", "0.5", &url]).expect(28);
    assert!(run.stderr.contains("TLS handshake"), "{}", run.stderr);
    assert!(seen.join().unwrap() > 0, "the ClientHello was sent");
}

#[test]
fn insecure_with_an_unusable_cacert_goes_on_and_names_the_file_in_the_verdict() {
    // curl -k ignores a --cacert it cannot use; the verdict still says why
    // nothing was verified.
    let pki = pki(Leaf::Good);
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let url = format!("https://localhost:{}/", srv.port());
    let run = rawget(&["-k", "--json", "--cacert", "/nonexistent/ca.pem", &url]).expect(0);
    let tls = &run.json()["tls"];
    assert_eq!(tls["verified"], false);
    let why = tls["verify_error"].as_str().unwrap_or_default();
    assert!(why.contains("CA file"), "{tls}");
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn send_over_tls_puts_the_file_on_the_wire_byte_for_byte() {
    // --send with an https:// URL: the TLS server sees exactly the file's
    // plaintext (duplicate fields, mixed case, obs-fold, bare LF, both
    // framing headers) and SNI from the URL; both pipelined answers are
    // read, the one to HEAD without a body.
    let file: &[u8] = b"HEAD /a HTTP/1.1\r\nHost: x\r\nX-Dup: 1\r\nx-dup: 2\r\n\
X-Fold: a\r\n  b\r\nmIxEd-CaSe: v\r\n\r\n\
POST /b HTTP/1.1\nHost: x\nContent-Length: 3\nTransfer-Encoding: chunked\n\n0\r\n\r\n";
    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let pki = pki(Leaf::Good);
    let config = pki.config(false);
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut tcp = accept_within(&listener).expect("rawget connects");
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
        let mut got = vec![0u8; file.len()];
        let read = stream.read_exact(&mut got);
        if read.is_ok() {
            stream.write_all(answer).unwrap();
            stream.conn.send_close_notify();
            stream.flush().unwrap();
        }
        let sni = stream.conn.server_name().map(str::to_owned);
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        (got, sni)
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.http");
    std::fs::write(&path, file).unwrap();
    let url = format!("https://localhost:{port}/ignored");
    let run = rawget(&[
        "-m",
        "10",
        "--cacert",
        &pki.ca_file(&dir),
        "--send",
        path.to_str().unwrap(),
        &url,
        "--json",
    ])
    .expect(0);
    let (got, sni) = peer.join().unwrap();
    assert_eq!(got, file, "the plaintext on the wire is the file");
    assert_eq!(sni.as_deref(), Some("localhost"));
    let v = run.json();
    assert_eq!(v["tls"]["verified"], true, "{v}");
    let responses: Vec<(u64, u64, &str)> = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["request"].as_u64().unwrap(),
                r["body_bytes"].as_u64().unwrap(),
                r["framing"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(responses, [(1, 0, "none"), (2, 5, "length")], "{v}");
    let notes = v["requests"][1]["notes"].as_array().unwrap();
    for note in ["bare_lf", "content_length_with_transfer_encoding"] {
        assert!(notes.iter().any(|n| n == note), "{note}: {v}");
    }
    assert_eq!(v["requests"][1]["framing"], "chunked", "{v}");
}
