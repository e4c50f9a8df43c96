//! curl's habits in rawget: the flags people paste from curl commands,
//! `-w` checked variable by variable against curl's own `-w` output on the
//! same local server, `-f`, and the binary-body guard on a terminal.

mod rawget_support;
mod require;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::thread;
use std::time::Duration;

use rawget_support::*;
use require::{or_skip, Skipped};

const PAGE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Twice: a\r\n\
X-Twice: b\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn silent_show_error_and_include_are_accepted() {
    let srv = serve_n(1, PAGE);
    let run = rawget(&["-s", "-S", "-i", "-sS", &srv.url("/")]).expect(0);
    assert_eq!(run.stdout, PAGE);
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn user_agent_referer_and_basic_auth_are_sent() {
    let srv = serve_n(1, PAGE);
    let url = srv.url("/");
    rawget(&["-A", "probe/2", "-e", "http://from/", "-u", "al:pw", &url]).expect(0);
    let req = srv.requests().remove(0);
    assert!(req.contains("\r\nUser-Agent: probe/2\r\n"), "{req}");
    assert!(req.contains("\r\nReferer: http://from/\r\n"), "{req}");
    assert!(
        req.contains("\r\nAuthorization: Basic YWw6cHc=\r\n"),
        "{req}"
    );
    // An explicit -H wins, as in curl.
    let srv = serve_n(1, PAGE);
    rawget(&["-A", "a", "-H", "User-Agent: b", &srv.url("/")]).expect(0);
    assert!(srv.requests()[0].contains("\r\nUser-Agent: b\r\n"));
    // -u without a password would make curl prompt: a usage error here.
    let run = rawget(&["-u", "al", "127.0.0.1:1"]).expect(2);
    assert!(run.stderr.contains("USER:PASSWORD"), "{}", run.stderr);
}

#[test]
fn data_raw_keeps_the_at_sign_and_data_binary_reads_the_file() {
    let srv = serve_n(1, PAGE);
    rawget(&["--data-raw", "@not-a-file", &srv.url("/")]).expect(0);
    let req = srv.requests().remove(0);
    assert!(req.starts_with("POST / "), "{req}");
    assert!(req.ends_with("\r\n\r\n@not-a-file"), "{req}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, "line1\nline2\n").unwrap();
    let srv = serve_n(1, PAGE);
    let arg = format!("@{}", file.display());
    rawget(&["--data-binary", &arg, "--data-raw", "x=1", &srv.url("/")]).expect(0);
    assert!(srv.requests()[0].ends_with("\r\n\r\nline1\nline2\n&x=1"));
}

#[test]
fn fail_exits_22_without_the_response_and_fail_with_body_shows_it() {
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone";
    let srv = serve_n(2, not_found);
    let run = rawget(&["-f", &srv.url("/x")]).expect(22);
    assert!(run.stdout.is_empty(), "{}", run.out());
    assert!(run.stderr.contains("404"), "{}", run.stderr);
    let run = rawget(&["--fail-with-body", &srv.url("/x")]).expect(22);
    assert_eq!(run.stdout, not_found);
    srv.requests();
    // A success is untouched.
    let srv = serve_n(1, PAGE);
    assert_eq!(rawget(&["-f", &srv.url("/")]).expect(0).stdout, PAGE);
    srv.requests();
    // curl agrees on the exit code.
    if have("curl") {
        let srv = serve_n(1, not_found);
        let curl = rawget_support::run(Command::new("curl").args(["-sf", &srv.url("/x")]));
        assert_eq!(curl.code, 22);
        srv.requests();
    }
}

#[test]
fn a_json_document_after_json_is_explained() {
    let run = rawget(&["--json", r#"{"a":1}"#, "127.0.0.1:1"]).expect(2);
    assert!(run.stdout.is_empty());
    for part in ["formats the output", "-d", "Content-Type: application/json"] {
        assert!(run.stderr.contains(part), "{}", run.stderr);
    }
}

/// Variables both tools know and print the same way for one exchange.
const SAME_AS_CURL: &[&str] = &[
    "http_code",
    "response_code",
    "http_version",
    "remote_ip",
    "remote_port",
    "local_ip",
    "time_appconnect",
    "size_download",
    "size_header",
    "size_request",
    "url",
    "url_effective",
    "num_redirects",
    "exitcode",
    "errormsg",
    "content_type",
];

/// `-w` output for one variable per line, from `tool` against `url`.
fn write_out_lines(tool: &str, url: &str, extra: &[&str]) -> BTreeMap<String, String> {
    let names = SAME_AS_CURL
        .iter()
        .chain(&[
            "local_port",
            "time_namelookup",
            "time_connect",
            "time_starttransfer",
            "time_total",
        ])
        .copied();
    let format: String = names
        .clone()
        .map(|n| format!("{n}=%{{{n}}}\\n"))
        .chain(["ct=%header{content-type}\\ntwice=%header{x-twice}\\n".to_owned()])
        .collect();
    let mut cmd = match tool {
        "rawget" => Command::new(env!("CARGO_BIN_EXE_rawget")),
        other => Command::new(other),
    };
    cmd.args(["-s", "-o", "/dev/null", "-w", &format])
        .args(extra)
        .arg(url);
    let run = rawget_support::run(&mut cmd);
    run.out()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn write_out_variables_match_curl() {
    if !have("curl") {
        return;
    }
    // The same request bytes from both: curl's size_request then matches.
    let ua = format!("rawget/{}", env!("CARGO_PKG_VERSION"));
    let srv = serve_n(2, PAGE);
    let url = srv.url("/w?q=1");
    let ours = write_out_lines("rawget", &url, &[]);
    let curls = write_out_lines("curl", &url, &["-A", &ua]);
    let reqs = srv.requests();
    assert_eq!(reqs[0], reqs[1], "both sent the same request");
    for name in SAME_AS_CURL.iter().chain(&["ct", "twice"]) {
        assert_eq!(ours.get(*name), curls.get(*name), "-w %{{{name}}}");
    }
    assert_eq!(ours["http_code"], "200");
    assert_eq!(ours["twice"], "a");
    assert_ne!(ours["local_port"], "0");
    // Times: seconds with six decimals, in the order the phases happen.
    let t = |n: &str| -> f64 {
        let v = &ours[n];
        assert!(v.len() > 7 && v.as_bytes()[v.len() - 7] == b'.', "{n}={v}");
        v.parse().unwrap()
    };
    assert!(t("time_namelookup") <= t("time_connect"));
    assert!(t("time_connect") <= t("time_starttransfer"));
    assert!(t("time_starttransfer") <= t("time_total"));

    // A failed connect: the same code, address and exit status.
    let closed = format!("http://127.0.0.1:{}/", closed_port());
    let ours = write_out_lines("rawget", &closed, &[]);
    let curls = write_out_lines("curl", &closed, &[]);
    for name in [
        "http_code",
        "http_version",
        "remote_ip",
        "remote_port",
        "exitcode",
        "url",
    ] {
        assert_eq!(ours.get(name), curls.get(name), "failed connect: {name}");
    }
    assert!(!ours["errormsg"].is_empty());
}

#[test]
fn write_out_json_header_json_and_stderr() {
    let srv = serve_n(1, PAGE);
    let fmt = "%{json}\\n%{header_json}\\n%{stderr}code %{http_code}\\n";
    let run = rawget(&["-w", fmt, &srv.url("/")]).expect(0);
    srv.requests();
    let out = run.out();
    let body_end = out.find("hello").unwrap() + 5;
    let mut lines = out[body_end..].lines();
    let all: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(all["http_code"], 200);
    assert_eq!(all["content_type"], "text/plain");
    assert_eq!(all["errormsg"], serde_json::Value::Null);
    // curl writes header_json one field a line.
    let rest: Vec<&str> = lines.collect();
    let headers: serde_json::Value = serde_json::from_str(&rest.join("\n")).unwrap();
    assert_eq!(headers["x-twice"], serde_json::json!(["a", "b"]));
    assert_eq!(run.stderr, "code 200\n");
}

#[test]
fn write_out_goes_to_stdout_when_the_body_goes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    let srv = serve_n(2, PAGE);
    let (a, b) = (srv.url("/a"), srv.url("/b"));
    let path = file.to_str().unwrap();
    let second = dir.path().join("second");
    let run = rawget(&[
        "-o",
        path,
        "-o",
        second.to_str().unwrap(),
        "-w",
        "%{url}\\n",
        &a,
        &b,
    ])
    .expect(0);
    srv.requests();
    assert_eq!(run.out(), format!("{a}\n{b}\n"));
    // Each -o saves the body of its URL, in order, as curl.
    assert_eq!(std::fs::read(&file).unwrap(), b"hello");
    assert_eq!(std::fs::read(&second).unwrap(), b"hello");
}

/// Runs `rawget ARGS` with stdout on a pseudo-terminal (script(1)); the
/// exit code and what the terminal showed.
fn on_terminal(args: &[&str]) -> Result<(i32, String), Skipped> {
    program_on_terminal(env!("CARGO_BIN_EXE_rawget"), args)
}

fn program_on_terminal(program: &str, args: &[&str]) -> Result<(i32, String), Skipped> {
    if !require::runs("script", &["-qec", "true", "/dev/null"]) {
        return Err(require::missing(
            "script",
            "script(1) (Debian package bsdutils) does not run here",
        ));
    }
    let cmd = std::iter::once(program)
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let run = rawget_support::run(Command::new("script").args(["-qec", &cmd, "/dev/null"]));
    Ok((run.code, run.out()))
}

#[test]
fn a_binary_body_is_refused_on_a_terminal() {
    let binary = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\x89PNG\x00\x01";
    let srv = serve_n(4, binary);
    let (code, shown) = or_skip!(on_terminal(&[&srv.url("/img")]));
    assert_eq!(code, 23, "{shown}");
    assert!(
        shown.contains("HTTP/1.1 200 OK"),
        "the head is shown: {shown}"
    );
    assert!(shown.contains("-o -"), "{shown}");
    assert!(!shown.contains("PNG"), "{shown}");
    // -o - shows the body anyway (escaped on a terminal); a pipe gets
    // the exact bytes.
    let (code, shown) = on_terminal(&["-o", "-", &srv.url("/img")]).unwrap();
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("\\x89PNG\\x00\\x01"), "{shown}");
    assert_eq!(rawget(&[&srv.url("/img")]).expect(0).stdout, binary);
    // curl refuses it with the same exit code.
    if have("curl") {
        let (code, _) = program_on_terminal("curl", &["-s", &srv.url("/img")]).unwrap();
        assert_eq!(code, 23);
    } else {
        let _ = std::net::TcpStream::connect(srv.addr);
    }
    srv.requests();
}

/// The header lines named `names` in a request, in the order of `names`,
/// and its body.
fn picked(request: &str, names: &[&str]) -> (Vec<String>, String) {
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let lines = names
        .iter()
        .map(|n| {
            head.lines()
                .find(|l| l.to_ascii_lowercase().starts_with(&format!("{n}:")))
                .unwrap_or_else(|| panic!("no {n} in {head}"))
                .to_owned()
        })
        .collect();
    (lines, body.to_owned())
}

#[test]
fn curl_habit_flags_send_what_curl_sends() {
    if !have("curl") {
        return;
    }
    let srv = serve_n(2, PAGE);
    let url = srv.url("/form");
    let args = [
        "-s",
        "-A",
        "probe/3",
        "-e",
        "http://from/",
        "-u",
        "user:p@ss",
        "--data-raw",
        "@a=1",
    ];
    rawget(&[&args[..], &[url.as_str()]].concat()).expect(0);
    let curl = rawget_support::run(
        Command::new("curl")
            .args(args)
            .args(["-o", "/dev/null", &url]),
    );
    assert_eq!(curl.code, 0, "{}", curl.stderr);
    let reqs = srv.requests();
    let names = [
        "user-agent",
        "referer",
        "authorization",
        "content-type",
        "content-length",
    ];
    assert_eq!(picked(&reqs[0], &names), picked(&reqs[1], &names));
    assert!(reqs[0].starts_with("POST /form "), "{}", reqs[0]);
}

#[test]
fn write_out_reads_the_format_as_curl_does() {
    if !have("curl") {
        return;
    }
    // Two Content-Type fields: curl's content_type is the last one,
    // %header{} the first; names in any case.
    let page = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n\
content-type: text/html\r\nContent-Length: 2\r\n\r\nhi";
    let srv = serve_n(2, page);
    let port = srv.addr.port();
    let url = format!("HTTP://u:p@LocalHost:{port}/a/../b?x=1#frag");
    let format = concat!(
        r"100%\n|\\n|\\|%z|\q|%|%{CONTENT_TYPE}|%header{content-TYPE}|",
        r"%{Url_Effective}|%{HTTP_CODE}|%{http_code\n"
    );
    let outputs: Vec<Run> = ["rawget", "curl"]
        .iter()
        .map(|tool| {
            let mut cmd = match *tool {
                "rawget" => Command::new(env!("CARGO_BIN_EXE_rawget")),
                other => Command::new(other),
            };
            rawget_support::run(cmd.args(["-s", "-o", "/dev/null", "-w", format, &url]))
        })
        .collect();
    let (ours, curls) = (&outputs[0], &outputs[1]);
    assert_eq!(
        (ours.code, curls.code),
        (0, 0),
        "{}{}",
        ours.stderr,
        curls.stderr
    );
    assert_eq!(ours.out(), curls.out());
    assert_eq!(
        ours.out(),
        format!(
            "100%\\n|\\\\n|\\\\|%z|\\q|%|text/html|text/plain|\
             http://u:p@LocalHost:{port}/b?x=1#frag|200|%{{http_code\n"
        )
    );
    // Only now: had one tool not connected, this would wait for it.
    srv.requests();
}

/// A 404 that announces a large body, sends four bytes of it and then
/// waits: a client that reads the body waits until its `-m`.
const NOT_FOUND_STALLS: &[u8] = b"HTTP/1.1 404 Not Found\r\nContent-Length: 100000\r\n\r\ngone";

/// Answers `n` connections with [`NOT_FOUND_STALLS`] and holds each open
/// until the client closes it (at most 10 s); returns whether each client
/// closed its side.
fn serve_stalling_404(n: usize) -> (String, thread::JoinHandle<Vec<bool>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    let closed = thread::spawn(move || {
        let mut closed = Vec::new();
        for _ in 0..n {
            let Ok((mut conn, _)) = listener.accept() else {
                break;
            };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            read_request(&mut conn);
            let _ = conn.write_all(NOT_FOUND_STALLS);
            // 0 (a FIN) or a reset: the client closed; a timeout: it did not.
            let end = conn.read(&mut [0u8; 1024]);
            closed.push(!matches!(&end, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        }
        closed
    });
    (url, closed)
}

#[test]
fn fail_ends_the_exchange_at_the_head_as_curl_does() {
    let format = "%{http_code} %{size_download}";
    let (url, closed) = serve_stalling_404(3);
    // Before: the body was read (and hidden) until -m ran out: exit 28.
    let run = rawget(&["-f", "-m", "5", "-w", format, &url]).expect(22);
    assert_eq!(run.out(), "404 0");
    let run = rawget(&["-f", "-v", "-m", "5", &url]);
    assert_eq!(run.code, 22, "{}", run.stderr);
    assert!(
        run.stderr.contains("the body is not read"),
        "{}",
        run.stderr
    );
    // --json: an error object, no body.
    let run = rawget(&["-f", "--json", "-m", "5", &url]).expect(22);
    let record: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(record["status"], 404);
    assert_eq!(record["error"]["kind"], "http_error");
    let message = record["error"]["message"].as_str().unwrap();
    assert!(message.contains("404"), "{message}");
    assert_eq!(record["body"], serde_json::Value::Null);
    assert_eq!(record["body_encoding"], serde_json::Value::Null);
    assert_eq!(record["body_bytes"], 0);
    assert_eq!(
        closed.join().unwrap(),
        [true; 3],
        "rawget closes the connection"
    );
    if have("curl") {
        let (url, closed) = serve_stalling_404(1);
        let curl =
            rawget_support::run(Command::new("curl").args(["-sf", "-m", "5", "-w", format, &url]));
        assert_eq!((curl.code, curl.out().as_str()), (22, "404 0"));
        assert_eq!(closed.join().unwrap(), [true]);
    }
}

#[test]
fn fail_warns_only_about_what_it_read() {
    // The head's oddity is reported; the chunk extension in the same
    // packet belongs to the body that -f does not read.
    let response = b"HTTP/1.1 404\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nno\r\n0\r\n\r\n";
    let srv = serve_n(2, response);
    let run = rawget(&["-f", "--json", "-m", "5", &srv.url("/")]).expect(22);
    let record: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let codes: Vec<&str> = record["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["missing_reason_phrase"]);
    // Without -f the body is read, and its extension warned about.
    let run = rawget(&["--json", "-m", "5", &srv.url("/")]).expect(0);
    let record: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(record["warnings"][1]["code"], "chunk_extension");
    srv.requests();
}

#[test]
fn fail_with_body_in_json_keeps_the_body_with_the_error() {
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone";
    let srv = serve_n(1, not_found);
    let run = rawget(&["--fail-with-body", "--json", "-m", "5", &srv.url("/")]).expect(22);
    let record: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(record["error"]["kind"], "http_error");
    assert_eq!(record["body"], "gone");
    srv.requests();
}

#[test]
fn output_file_is_created_on_the_first_byte_as_curl_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\ngone";
    // -f on a 404: no file (it used to be created empty).
    let srv = serve_n(1, not_found);
    rawget(&["-f", "-m", "5", "-o", &file("404"), &srv.url("/")]).expect(22);
    assert!(!dir.path().join("404").exists());
    srv.requests();
    // Nothing received at all: no file either.
    rawget(&["-m", "5", "-o", &file("refused"), "127.0.0.1:1"]).expect(7);
    assert!(!dir.path().join("refused").exists());
    // Each URL has its own -o: the one -f stops is not created.
    let bad = serve_n(1, not_found);
    let good = serve_n(1, PAGE);
    let args = [
        "-f",
        "-m",
        "5",
        "-o",
        &file("one"),
        "-o",
        &file("two"),
        &bad.url("/"),
        &good.url("/"),
    ];
    rawget(&args).expect(22);
    assert!(!dir.path().join("one").exists());
    assert_eq!(std::fs::read(dir.path().join("two")).unwrap(), b"hello");
    bad.requests();
    good.requests();
    if have("curl") {
        let srv = serve_n(1, not_found);
        let curl = rawget_support::run(Command::new("curl").args([
            "-sf",
            "-o",
            &file("curl"),
            &srv.url("/"),
        ]));
        assert_eq!(curl.code, 22);
        assert!(!dir.path().join("curl").exists());
        srv.requests();
    }
}
