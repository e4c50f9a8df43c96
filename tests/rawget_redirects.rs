//! rawget's redirects (-L, curl's method and credential rules, loops,
//! -m over the whole chain, JSON hops, -w over the chain) and the
//! addressing flags `--resolve`/`--connect-to` on every hop, against
//! scripted servers on loopback (tests/rawget_servers).

mod rawget_servers;
mod rawget_support;
mod require;

use std::net::Ipv4Addr;
use std::time::Duration;

use rawget_servers::*;

fn redirect(status: u16, location: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 3\r\n\r\nbye")
        .into_bytes()
}

#[test]
fn every_redirect_status_with_its_method_rule() {
    for (status, method, body) in [
        (301, "GET", false),
        (302, "GET", false),
        (303, "GET", false),
        (307, "POST", true),
        (308, "POST", true),
    ] {
        let first = redirect(status, "/next?x=1");
        let srv = http_server(vec![first.clone(), OK_HELLO.to_vec()]);
        let url = format!("http://{}/start", srv.addr);
        let run = rawget(&["-m", "10", "-L", "-d", "a=1", &url]).expect(0);
        let mut both = first.clone();
        both.extend_from_slice(OK_HELLO);
        assert_eq!(run.stdout, both, "every hop's response, in order");
        let seen = srv.seen();
        assert!(
            seen[0].request.starts_with("POST /start "),
            "{}",
            seen[0].request
        );
        let second = &seen[1].request;
        assert!(
            second.starts_with(&format!("{method} /next?x=1 HTTP/1.1\r\n")),
            "{status}: {second}"
        );
        assert_eq!(second.ends_with("\r\n\r\na=1"), body, "{status}: {second}");
        assert_eq!(
            second.contains("Content-Length"),
            body,
            "{status}: {second}"
        );
    }
}

#[test]
fn a_file_body_is_streamed_again_on_a_307() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("up.bin");
    std::fs::write(&path, vec![b'u'; 300_000]).unwrap();
    let srv = http_server(vec![redirect(307, "/again"), OK_HELLO.to_vec()]);
    let data = format!("@{}", path.display());
    rawget(&[
        "-m",
        "10",
        "-L",
        "-d",
        &data,
        &format!("http://{}/", srv.addr),
    ])
    .expect(0);
    for seen in srv.seen() {
        assert!(seen.request.contains("Content-Length: 300000\r\n"));
        assert!(seen.request.ends_with(&"u".repeat(1000)), "whole body sent");
        assert_eq!(
            seen.request.len() - seen.request.find("\r\n\r\n").unwrap() - 4,
            300_000
        );
    }
}

#[test]
fn without_l_the_redirect_is_the_response() {
    let srv = http_server(vec![redirect(302, "/elsewhere")]);
    let run = rawget(&["-m", "10", &format!("http://{}/", srv.addr)]).expect(0);
    assert_eq!(run.stdout, redirect(302, "/elsewhere"));
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn missing_or_unusable_location_ends_the_chain() {
    let no_location = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n".to_vec();
    for answer in [no_location, redirect(301, "http://[::1/")] {
        let srv = http_server(vec![answer.clone()]);
        let run = rawget(&["-m", "10", "-L", &format!("http://{}/", srv.addr)]).expect(0);
        assert_eq!(run.stdout, answer);
        assert_eq!(srv.seen().len(), 1);
    }
}

#[test]
fn absolute_location_to_another_host_drops_credentials() {
    for trusted in [false, true] {
        let target = http_server(vec![OK_HELLO.to_vec()]);
        let absolute = format!("http://localhost:{}/there", target.port());
        let srv = http_server(vec![redirect(302, "/same"), redirect(301, &absolute)]);
        let url = format!("http://user:pw@{}/", srv.addr);
        let follow = if trusted { "--location-trusted" } else { "-L" };
        let run = rawget(&[
            "-m",
            "10",
            follow,
            "-v",
            "-H",
            "Authorization: Bearer secret",
            "-H",
            "Cookie: session=1",
            "-H",
            "X-Keep: yes",
            &url,
        ])
        .expect(0);
        assert!(run.stdout.ends_with(OK_HELLO));
        let same = srv.seen();
        // The same origin gets everything, on both hops.
        for seen in &same {
            assert!(
                seen.request.contains("Authorization: Bearer secret"),
                "{}",
                seen.request
            );
            assert!(seen.request.contains("Cookie: session=1"));
        }
        let other = &target.seen()[0].request;
        assert!(other.starts_with("GET /there HTTP/1.1\r\n"), "{other}");
        assert!(other.contains(&format!("Host: localhost:{}", seen_port(&absolute))));
        assert!(other.contains("X-Keep: yes"));
        assert_eq!(other.contains("Authorization"), trusted, "{other}");
        assert_eq!(other.contains("Cookie"), trusted, "{other}");
        assert!(
            run.stderr.contains("> GET /there HTTP/1.1"),
            "each hop's request: {}",
            run.stderr
        );
        if !trusted {
            assert!(
                run.stderr.contains("credentials not sent"),
                "{}",
                run.stderr
            );
        }
    }
}

#[test]
fn exit_47_for_a_redirect_loop() {
    let srv = http_server(vec![redirect(302, "/loop"); 4]);
    let url = format!("http://{}/loop", srv.addr);
    let run = rawget(&["-m", "10", "-L", "--max-redirs", "3", "--json", &url]).expect(47);
    let v = run.json();
    assert_eq!(v["error"]["kind"], "too_many_redirects", "{v}");
    assert_eq!(v["redirects"].as_array().unwrap().len(), 3);
    assert_eq!(v["status"], 302);
    assert_eq!(srv.seen().len(), 4);
    assert!(
        run.stderr.contains("maximum (3) redirects"),
        "{}",
        run.stderr
    );
}

#[test]
fn json_lists_the_earlier_hops_and_describes_the_final_response() {
    let srv = http_server(vec![
        redirect(301, "/b"),
        redirect(308, "/c"),
        OK_HELLO.to_vec(),
    ]);
    let url = format!("http://{}/a", srv.addr);
    let v = rawget(&["-m", "10", "-L", "--json", &url]).expect(0).json();
    assert_eq!(
        (v["status"].as_u64(), v["body"].as_str()),
        (Some(200), Some("hello")),
        "{v}"
    );
    assert_eq!(v["url"], url.as_str(), "the URL as given");
    let hops = v["redirects"].as_array().unwrap();
    let got: Vec<(String, u64)> = hops
        .iter()
        .map(|h| {
            (
                h["url"].as_str().unwrap().to_owned(),
                h["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let base = format!("http://{}", srv.addr);
    assert_eq!(
        got,
        vec![(format!("{base}/a"), 301), (format!("{base}/b"), 308)]
    );
    assert_eq!(hops[0]["headers"][0], serde_json::json!(["Location", "/b"]));
    assert_eq!(hops[0]["ip"], "127.0.0.1");
    assert!(hops[0]["timing_ms"]["total"].as_f64().is_some());
    assert_eq!(srv.seen().len(), 3);
}

#[test]
fn max_time_bounds_the_whole_chain() {
    let slow = Duration::from_millis(400);
    let srv = http_server_slow(
        (Ipv4Addr::LOCALHOST, 0).into(),
        slow,
        vec![redirect(302, "/again"); 10],
    );
    let url = format!("http://{}/", srv.addr);
    // Every hop takes less than -m: only a bound on the whole chain ends
    // it with 28 (the server's answers run out after 10 hops).
    rawget(&["-m", "1", "-L", &url]).expect(28);
}

#[test]
fn http_to_https_redirect_verifies_the_new_host() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let to = format!("https://localhost:{}/s", tls.port());
    let srv = http_server(vec![redirect(301, &to)]);
    let url = format!("http://{}/", srv.addr);
    let run = rawget(&[
        "-m",
        "10",
        "-L",
        "--json",
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    let v = run.json();
    assert_eq!(v["tls"]["verified"], true, "{v}");
    assert!(v["redirects"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://"));
    assert_eq!(tls.seen()[0].sni.as_deref(), Some("localhost"));
    srv.seen();
}

// -------------------------------------------------------------- addressing

#[test]
fn resolve_sends_sni_and_host_of_the_url_to_the_given_address() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let srv = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    let port = srv.port();
    let resolve = format!("example.test:{port}:127.0.0.1");
    let url = format!("https://example.test:{port}/r");
    let run = rawget(&[
        "-m",
        "10",
        "--json",
        "--resolve",
        &resolve,
        "--cacert",
        &pki.ca_file(&dir),
        &url,
    ])
    .expect(0);
    let v = run.json();
    assert_eq!(v["ip"], "127.0.0.1", "{v}");
    assert_eq!(v["tls"]["verified"], true, "the name checked is the URL's");
    let seen = srv.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("example.test"));
    assert!(
        seen[0]
            .request
            .contains(&format!("\r\nHost: example.test:{port}\r\n")),
        "{}",
        seen[0].request
    );
}

#[test]
fn connect_to_applies_on_every_hop_of_a_redirect() {
    let pki = pki(Leaf::Good);
    let dir = tempfile::tempdir().unwrap();
    let tls = tls_server(pki.config(false), vec![OK_HELLO.to_vec()], End::CloseNotify);
    // The first hop is http://example.test/ (port 80), the second
    // https://example.test/next (port 443): both moved to local servers.
    let http = http_server(vec![redirect(301, "https://example.test/next")]);
    let connect_http = format!("example.test:80:127.0.0.1:{}", http.port());
    let connect_tls = format!("example.test:443:localhost:{}", tls.port());
    let run = rawget(&[
        "-m",
        "10",
        "-L",
        "--json",
        "--connect-to",
        &connect_http,
        "--connect-to",
        &connect_tls,
        "--cacert",
        &pki.ca_file(&dir),
        "http://example.test/",
    ])
    .expect(0);
    let v = run.json();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["port"], tls.port(), "the port connected to");
    assert_eq!(v["redirects"][0]["port"], http.port());
    let first = &http.seen()[0].request;
    assert!(first.contains("\r\nHost: example.test\r\n"), "{first}");
    let seen = tls.seen();
    assert_eq!(seen[0].sni.as_deref(), Some("example.test"));
    assert!(
        seen[0]
            .request
            .starts_with("GET /next HTTP/1.1\r\nHost: example.test\r\n"),
        "{}",
        seen[0].request
    );
}

#[test]
fn bad_resolve_and_connect_to_are_usage_errors() {
    for args in [
        ["--resolve", "example.test:80"],
        ["--resolve", "example.test:80:not-an-ip"],
        ["--connect-to", "a:1:b"],
    ] {
        let run = rawget(&[args[0], args[1], "http://example.test/"]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}

#[test]
fn an_empty_location_ends_the_chain() {
    // `Location:` with nothing in it points nowhere: the 302 is the final
    // response (as curl has it), not a loop to the same URL until exit 47.
    let srv = http_server(vec![
        b"HTTP/1.1 302 Found\r\nLocation: \r\nContent-Length: 0\r\n\r\n".to_vec(),
    ]);
    let url = format!("http://{}/start", srv.addr);
    let run = rawget(&["-L", "--json", &url]).expect(0);
    let j = run.json();
    assert_eq!(j["status"], 302);
    assert_eq!(j["redirects"].as_array().map(Vec::len), Some(0));
    assert_eq!(srv.seen().len(), 1);
}

#[test]
fn write_out_times_and_header_size_cover_the_whole_chain() {
    // As in curl, -w's times add up every hop (time_total and
    // time_starttransfer include a slow first hop) and size_header counts
    // every head; only lower bounds are checked, never an upper one.
    let end = http_server(vec![OK_HELLO.to_vec()]);
    let first = redirect(302, &format!("http://{}/end", end.addr));
    let first_len = first.len();
    let start = http_server_slow(
        (Ipv4Addr::LOCALHOST, 0).into(),
        Duration::from_millis(400),
        vec![first],
    );
    let url = format!("http://{}/start", start.addr);
    let run = rawget(&[
        "-L",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total} %{time_starttransfer} %{size_header} %{num_redirects}",
        &url,
    ])
    .expect(0);
    let out = run.out();
    let fields: Vec<&str> = out.split(' ').collect();
    let secs = |i: usize| fields[i].parse::<f64>().unwrap();
    assert!(secs(0) >= 0.4, "time_total {out}");
    assert!(secs(1) >= 0.4, "time_starttransfer {out}");
    let heads = first_len - "bye".len() + OK_HELLO.len() - "hello".len();
    assert_eq!(fields[2], heads.to_string(), "{out}");
    assert_eq!(fields[3], "1");
    assert_eq!((start.seen().len(), end.seen().len()), (1, 1));
}

#[test]
fn a_location_that_is_not_utf8_keeps_its_bytes() {
    // A Latin-1 'é' (byte E9) in Location is sent on as %E9, as curl does,
    // not as the %EF%BF%BD of a lossy decoding.
    let end = http_server(vec![OK_HELLO.to_vec()]);
    let mut first = format!("HTTP/1.1 302 Found\r\nLocation: http://{}/caf", end.addr).into_bytes();
    first.extend_from_slice(b"\xe9\r\nContent-Length: 0\r\n\r\n");
    let start = http_server(vec![first]);
    let url = format!("http://{}/start", start.addr);
    rawget(&["-L", "-o", "/dev/null", &url]).expect(0);
    let seen = end.seen();
    assert!(
        seen[0].request.starts_with("GET /caf%E9 HTTP/1.1\r\n"),
        "{}",
        seen[0].request
    );
    assert_eq!(start.seen().len(), 1);
}

#[test]
fn a_custom_host_header_is_not_sent_to_another_host() {
    // curl keeps -H 'Host: ...' for the first host only: the next host
    // gets its own name, never the first one's virtual host.
    let other = http_server(vec![OK_HELLO.to_vec()]);
    let location = format!("http://localhost:{}/next", other.port());
    let first = http_server(vec![redirect(302, &location)]);
    let url = format!("http://{}/start", first.addr);
    rawget(&["-L", "-H", "Host: vhost.test", "-o", "/dev/null", &url]).expect(0);
    let first_req = &first.seen()[0].request;
    assert!(
        first_req.contains("\r\nHost: vhost.test\r\n"),
        "{first_req}"
    );
    let host = format!("\r\nHost: localhost:{}\r\n", other.port());
    let next_req = &other.seen()[0].request;
    assert!(next_req.contains(&host), "{next_req}");
    assert!(!next_req.contains("vhost.test"), "{next_req}");
}
