//! Issue 16, the curl-habits half: what `-o`/`-O`/`-i`/`-D` save, the
//! request-shaping flags, `-w` against curl 7.88, and the ten curl lines
//! of the issue's "Why", each run by rawget and by curl on the same peer.
//!
//! Peers: scripted loopback servers that capture the request bytes
//! (rawget_support), nginx in a network namespace of its own (static
//! files, gzip, ranges, WebDAV PUT uploads; tests/daemons), and
//! `openssl s_server` with a plain `openssl req -x509` certificate. A
//! missing tool, root or namespace fails the test with one line saying
//! what is missing.

mod daemons;
mod rawget_support;
mod require;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use daemons::Netns;
use rawget_support::*;
use serde_json::Value;

/// A chunked response, in two chunks.
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/x-sh\r\n\
Transfer-Encoding: chunked\r\nX-B: 1\r\nX-A: 2\r\nx-b: 3\r\n\r\n\
a\r\n#!/bin/sh\n\r\n11\r\necho installed\r\n\n\r\n0\r\n\r\n";
const SCRIPT: &[u8] = b"#!/bin/sh\necho installed\r\n\n";

fn curl(args: &[&str]) -> Run {
    need_tool("curl");
    run(Command::new("curl").args(args))
}

/// Fails the test (one line) when `tool` is missing.
fn need_tool(tool: &str) {
    // openssl has no --version.
    let present = if tool == "openssl" {
        Command::new(tool)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    } else {
        have(tool)
    };
    assert!(
        present,
        "{tool} is needed by this test (.ci/packages.d/wt-curl.txt)"
    );
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `program args` under `sh -c` with stdout closed (`>&-`).
fn with_stdout_closed(program: &str, args: &[&str]) -> i32 {
    let mut line = String::from("\"$0\"");
    for i in 1..=args.len() {
        line.push_str(&format!(" \"${i}\""));
    }
    line.push_str(" >&-");
    let status = run(Command::new("sh")
        .arg("-c")
        .arg(line)
        .arg(program)
        .args(args));
    status.code
}

// ---------------------------------------------------------- the ten lines

/// Why, line 1: `-fsSL URL -o install.sh` saves the body, as curl does.
#[test]
fn why_1_fssl_o_saves_the_body_curl_saves() {
    let dir = temp();
    let (ours, theirs) = (dir.path().join("ours.sh"), dir.path().join("curl.sh"));
    let srv = serve_n(2, CHUNKED);
    let url = srv.url("/install.sh");
    let run = rawget(&["-fsSL", &url, "-o", path_str(&ours)]).expect(0);
    assert!(run.stdout.is_empty() && run.stderr.is_empty());
    assert_eq!(curl(&["-fsSL", &url, "-o", path_str(&theirs)]).code, 0);
    assert_eq!(std::fs::read(&ours).unwrap(), SCRIPT);
    assert_eq!(std::fs::read(&theirs).unwrap(), SCRIPT);
    srv.requests();
}

/// Why, line 2: `-w @curl-format.txt` (the popular one, with
/// time_pretransfer and time_redirect) renders as curl renders it.
#[test]
fn why_2_write_out_from_a_file_renders_the_popular_format() {
    let dir = temp();
    let format = dir.path().join("curl-format.txt");
    std::fs::write(
        &format,
        "     time_namelookup:  %{time_namelookup}s\\n        time_connect:  %{time_connect}s\\n\
         \x20    time_appconnect:  %{time_appconnect}s\\n    time_pretransfer:  %{time_pretransfer}s\\n\
         \x20      time_redirect:  %{time_redirect}s\\n  time_starttransfer:  %{time_starttransfer}s\\n\
         \x20                    ----------\\n          time_total:  %{time_total}s\\n",
    )
    .unwrap();
    let srv = serve_n(3, CHUNKED);
    let at = format!("@{}", format.display());
    let args = ["-w", &at, "-o", "/dev/null", "-s"];
    let ours = rawget(&[&args[..], &[srv.url("/").as_str()]].concat()).expect(0);
    let theirs = curl(&[&args[..], &[srv.url("/").as_str()]].concat());
    let shape = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| match l.rsplit_once(' ').filter(|_| l.contains(':')) {
                Some((label, value)) => {
                    let secs = value.trim_end_matches('s');
                    assert!(
                        secs.len() == secs.find('.').unwrap_or(0) + 7
                            && secs.parse::<f64>().is_ok(),
                        "{l}"
                    );
                    label.to_owned()
                }
                None => l.to_owned(),
            })
            .collect()
    };
    assert_eq!(shape(&ours.out()), shape(&theirs.out()));
    assert_eq!(ours.out().lines().count(), 8, "{}", ours.out());
    // The same format from stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rawget"))
        .args(["-w", "@-", "-o", "/dev/null", "-s", &srv.url("/")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"%{http_code}|%{num_redirects}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"200|0");
    srv.requests();
}

/// Why, line 3: `%{json}` has curl 7.88's key set, in its order.
#[test]
fn why_3_json_has_curls_key_set() {
    let srv = serve_n(2, CHUNKED);
    let args = ["-s", "-o", "/dev/null", "-w", "%{json}"];
    let ours = rawget(&[&args[..], &[srv.url("/").as_str()]].concat()).expect(0);
    let theirs = curl(&[&args[..], &[srv.url("/").as_str()]].concat());
    let keys = |out: &str| -> Vec<String> {
        // Key order as written (serde_json's map would sort them).
        let v: Value = serde_json::from_str(out).unwrap();
        let mut keys: Vec<(usize, String)> = v
            .as_object()
            .unwrap()
            .keys()
            .map(|k| (out.find(&format!("\"{k}\":")).unwrap(), k.clone()))
            .collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k).collect()
    };
    assert_eq!(keys(&ours.out()), keys(&theirs.out()));
    let (o, t): (Value, Value) = (
        serde_json::from_str(&ours.out()).unwrap(),
        serde_json::from_str(&theirs.out()).unwrap(),
    );
    for same in [
        "http_code",
        "method",
        "num_headers",
        "size_download",
        "scheme",
        "filename_effective",
        "num_connects",
        "exitcode",
        "redirect_url",
        "referer",
        "content_type",
    ] {
        assert_eq!(o[same], t[same], "{same}");
    }
    srv.requests();
}

/// Why, line 4: `%{header_json}` lists the fields in received order,
/// laid out as curl writes it. (curl 7.88 drops the fields that come
/// between two fields of one name, `x-a` here: rawget keeps every field,
/// so the exact comparison with curl uses a head without a repeated
/// name.)
#[test]
fn why_4_header_json_keeps_received_order() {
    let args = ["-s", "-o", "/dev/null", "-w", "%{header_json}"];
    let srv = serve_n(1, CHUNKED);
    let ours = rawget(&[&args[..], &[srv.url("/").as_str()]].concat()).expect(0);
    assert_eq!(
        ours.out(),
        "{\"content-type\":[\"text/x-sh\"],\n\"transfer-encoding\":[\"chunked\"],\n\
         \"x-b\":[\"1\",\"3\"],\n\"x-a\":[\"2\"]\n}"
    );
    srv.requests();
    let plain = b"HTTP/1.1 200 OK\r\nZ-Last: 1\r\nA-First: 2\r\nContent-Length: 2\r\n\r\nok";
    let srv = serve_n(2, plain);
    let ours = rawget(&[&args[..], &[srv.url("/").as_str()]].concat()).expect(0);
    let theirs = curl(&[&args[..], &[srv.url("/").as_str()]].concat());
    assert_eq!(ours.out(), theirs.out());
    assert!(
        ours.out().starts_with("{\"z-last\":[\"1\"],\n\"a-first\""),
        "{}",
        ours.out()
    );
    srv.requests();
}

/// Why, line 5: after `-L`, `size_request` and `size_header` count every
/// hop, as curl counts them (checked against the bytes each tool sent).
#[test]
fn why_5_sizes_are_summed_over_hops() {
    for tool in ["rawget", "curl"] {
        let target = serve_n(1, CHUNKED);
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
            target.url("/final")
        );
        let first = serve_n(1, redirect.as_bytes());
        let args = [
            "-sL",
            "-o",
            "/dev/null",
            "-w",
            "%{size_request} %{size_header} %{num_redirects}",
        ];
        let url = first.url("/start");
        let out = if tool == "rawget" {
            rawget(&[&args[..], &[url.as_str()]].concat()).expect(0)
        } else {
            curl(&[&args[..], &[url.as_str()]].concat())
        };
        let sent: usize = first
            .requests()
            .iter()
            .chain(target.requests().iter())
            .map(String::len)
            .sum();
        let heads = redirect.len() + CHUNKED.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(out.out(), format!("{sent} {heads} 1"), "{tool}");
    }
}

/// Why, line 6: the most pasted missing flags either do what curl does
/// or say in one line what to use instead. (`-x` is the connection
/// layer's.)
#[test]
fn why_6_pasted_flags_work_or_say_so() {
    let dir = temp();
    let srv = serve_n(3, CHUNKED);
    // -O saves under the URL's file name.
    let run = run(Command::new(env!("CARGO_BIN_EXE_rawget"))
        .current_dir(dir.path())
        .args(["-sO", &srv.url("/get/install.sh?v=1")]));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(dir.path().join("install.sh")).unwrap(),
        SCRIPT
    );
    // -D writes the head; -D - to stdout, before the body with -o -.
    let heads = dir.path().join("heads");
    rawget(&[
        "-s",
        "-D",
        path_str(&heads),
        "-o",
        "/dev/null",
        &srv.url("/"),
    ])
    .expect(0);
    let head_len = CHUNKED.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(std::fs::read(&heads).unwrap(), &CHUNKED[..head_len]);
    let out = rawget(&["-s", "-D", "-", "-o", "-", &srv.url("/")]).expect(0);
    assert_eq!(out.stdout, [&CHUNKED[..head_len], SCRIPT].concat());
    // -O on a URL with no file name: exit 23, as curl.
    let out = rawget(&["-O", &srv.url("/dir/")]).expect(23);
    assert!(out.stderr.contains("-O"), "{}", out.stderr);
    srv.requests();
    // The ones rawget does not have: one line, exit 2, the flag named.
    for args in [
        &["--trace", "t"][..],
        &["--http2"],
        &["-K", "curlrc"],
        &["--netrc"],
    ] {
        let out = rawget(&[args, &["127.0.0.1:1"]].concat()).expect(2);
        assert!(
            out.stderr
                .starts_with(&format!("rawget: curl's {} ", args[0])),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("'-- "), "{}", out.stderr);
    }
}

/// Why, line 7: the rest of the list, and no look-alike flag offered for
/// a curl flag (`--interface` is not `--insecure`).
#[test]
fn why_7_the_rest_of_the_list_and_no_look_alikes() {
    let srv = serve_n(1, CHUNKED);
    let out = rawget(&[
        "-s",
        "-G",
        "--data-urlencode",
        "q=a b",
        "-r",
        "0-3",
        "--limit-rate",
        "1M",
        "-o",
        "-",
        &srv.url("/s"),
    ])
    .expect(0);
    assert_eq!(out.stdout, SCRIPT);
    let reqs = srv.requests();
    assert!(
        reqs[0].starts_with("GET /s?q=a+b HTTP/1.1\r\n"),
        "{}",
        reqs[0]
    );
    assert!(reqs[0].contains("\r\nRange: bytes=0-3\r\n"), "{}", reqs[0]);
    for flag in ["--interface", "--local-port", "--unix-socket"] {
        let out = rawget(&[flag, "x", "127.0.0.1:1"]);
        for look_alike in ["--insecure", "--location-trusted", "tip:"] {
            assert!(!out.stderr.contains(look_alike), "{flag}: {}", out.stderr);
        }
    }
    // --http1.0: the request line curl sends (tests/rawget_cookies.rs
    // has it against nginx).
    let srv = serve_n(2, CHUNKED);
    rawget(&["-s", "--http1.0", "-o", "/dev/null", &srv.url("/v")]).expect(0);
    assert_eq!(
        curl(&["-s", "--http1.0", "-o", "/dev/null", &srv.url("/v")]).code,
        0
    );
    let reqs = srv.requests();
    for req in &reqs {
        assert!(req.starts_with("GET /v HTTP/1.0\r\n"), "{req}");
    }
}

/// Why, line 8: `--cacert` with the CA:TRUE certificate of a plain
/// `openssl req -x509` works, as in curl; failures read as curl's words.
#[test]
fn why_8_cacert_with_a_plain_openssl_self_signed_certificate() {
    need_tool("openssl");
    let dir = temp();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-keyout",
        path_str(&key),
        "-out",
        path_str(&cert),
    ]));
    assert_eq!(made.code, 0, "{}", made.stderr);
    let port = free_port();
    let server = SServer::start(port, &cert, &key);
    let url = format!("https://localhost:{port}/");
    let args = [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        path_str(&cert),
        &url,
    ];
    assert_eq!(rawget(&args).expect(0).out(), "200");
    assert_eq!(curl(&args).out(), "200");
    // Without it: exit 60 and one line in curl's words, no debug string.
    let ours = rawget(&["-o", "/dev/null", &url]).expect(60);
    assert!(
        ours.stderr
            .contains("SSL certificate problem: self-signed certificate"),
        "{}",
        ours.stderr
    );
    assert!(!ours.stderr.contains("Other("), "{}", ours.stderr);
    // Trusted, but for another name: still refused.
    let ip = format!("https://127.0.0.1:{port}/");
    let ours = rawget(&["-o", "/dev/null", "--cacert", path_str(&cert), &ip]).expect(60);
    assert!(ours.stderr.contains("subject name"), "{}", ours.stderr);
    drop(server);
}

/// Why, line 9: `-s` prints no error, `-sS` does, as curl.
#[test]
fn why_9_silent_hides_errors_show_error_shows_them() {
    let closed = "127.0.0.1:1";
    let quiet = rawget(&["-s", closed]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (7, ""));
    let shown = rawget(&["-sS", closed]).expect(7);
    assert!(shown.stderr.starts_with("rawget: "), "{}", shown.stderr);
    let theirs = curl(&["-s", &format!("http://{closed}/")]);
    assert_eq!((theirs.code, theirs.stderr.as_str()), (7, ""));
}

/// Why, line 10: `-d @file` drops CR and LF, `--data-binary` keeps them
/// (both as curl sends them), and a closed stdout is exit 23.
#[test]
fn why_10_data_files_and_a_closed_stdout() {
    let dir = temp();
    let file = dir.path().join("body");
    std::fs::write(&file, "a=1\r\nb=2\n").unwrap();
    let at = format!("@{}", file.display());
    let srv = serve_n(4, CHUNKED);
    for tool in ["rawget", "curl"] {
        for flag in ["-d", "--data-binary"] {
            let args = [
                "-s",
                "-o",
                "/dev/null",
                flag,
                &at,
                "--data-urlencode",
                "c=é &",
                "--data-raw",
                "@z",
            ];
            let url = srv.url("/");
            if tool == "rawget" {
                rawget(&[&args[..], &[url.as_str()]].concat()).expect(0);
            } else {
                assert_eq!(curl(&[&args[..], &[url.as_str()]].concat()).code, 0);
            }
        }
    }
    let bodies: Vec<String> = srv
        .requests()
        .iter()
        .map(|r| r.split_once("\r\n\r\n").unwrap().1.to_owned())
        .collect();
    assert_eq!(bodies[0], "a=1b=2&c=%C3%A9+%26&@z");
    assert_eq!(bodies[1], "a=1\r\nb=2\n&c=%C3%A9+%26&@z");
    assert_eq!(bodies[..2], bodies[2..]);
    let srv = serve_n(1, CHUNKED);
    let url = srv.url("/");
    assert_eq!(
        with_stdout_closed(env!("CARGO_BIN_EXE_rawget"), &["-s", &url]),
        23
    );
    srv.requests();
    let srv = serve_n(1, CHUNKED);
    need_tool("curl");
    assert_eq!(with_stdout_closed("curl", &["-s", &srv.url("/")]), 23);
    srv.requests();
}

// ---------------------------------------------------------- output model

#[test]
fn include_and_dump_header_match_curl_over_a_redirect_and_an_interim_head() {
    let target = serve_n(
        2,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    );
    let redirect = format!(
        "HTTP/1.1 301 Moved\r\nLocation: {}\r\nContent-Length: 5\r\n\r\nmoved",
        target.url("/t")
    );
    let first = serve_n(2, redirect.as_bytes());
    let dir = temp();
    let mut saved = Vec::new();
    for (i, tool) in ["rawget", "curl"].iter().enumerate() {
        let heads = dir.path().join(format!("heads{i}"));
        let args = [
            "-s",
            "-iL",
            "-D",
            path_str(&heads),
            "-o",
            "-",
            &first.url("/"),
        ];
        let out = if *tool == "rawget" {
            rawget(&args).expect(0)
        } else {
            curl(&args)
        };
        saved.push((out.stdout, std::fs::read(&heads).unwrap()));
    }
    assert_eq!(saved[0], saved[1]);
    assert!(saved[0].0.ends_with(b"\r\n\r\nhi"), "{:?}", saved[0]);
    first.requests();
    target.requests();
}

#[test]
fn the_raw_view_is_unchanged_and_o_dash_is_the_body() {
    let srv = serve_n(2, CHUNKED);
    assert_eq!(rawget(&[&srv.url("/")]).expect(0).stdout, CHUNKED);
    assert_eq!(rawget(&["-o", "-", &srv.url("/")]).expect(0).stdout, SCRIPT);
    srv.requests();
}

#[test]
fn resume_refuses_a_whole_body_with_33_as_curl() {
    let dir = temp();
    let srv = serve_n(2, CHUNKED);
    for (i, tool) in ["rawget", "curl"].iter().enumerate() {
        let part = dir.path().join(format!("part{i}"));
        std::fs::write(&part, "#!/bin").unwrap();
        let args = ["-s", "-C", "-", "-o", path_str(&part), &srv.url("/")];
        let code = if *tool == "rawget" {
            rawget(&args).code
        } else {
            curl(&args).code
        };
        assert_eq!(code, 33, "{tool}");
        assert_eq!(std::fs::read(&part).unwrap(), b"#!/bin", "{tool}");
    }
    for r in srv.requests() {
        assert!(r.contains("\r\nRange: bytes=6-\r\n"), "{r}");
    }
}

#[test]
fn a_corrupt_gzip_body_is_exit_61_as_curl() {
    let bad = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 8\r\n\r\nnot gzip";
    let srv = serve_n(2, bad);
    let args = ["-s", "--compressed", "-o", "/dev/null"];
    assert_eq!(
        rawget(&[&args[..], &[srv.url("/").as_str()]].concat()).code,
        61
    );
    assert_eq!(
        curl(&[&args[..], &[srv.url("/").as_str()]].concat()).code,
        61
    );
    let reqs = srv.requests();
    let ae = |r: &str| {
        r.lines()
            .find(|l| l.starts_with("Accept-Encoding:"))
            .map(str::to_owned)
    };
    assert_eq!(ae(&reqs[0]), ae(&reqs[1]));
}

// ------------------------------------------------------------------ nginx

/// nginx in a namespace of its own on port 8080: `/files/` static (gzip
/// on for text), `/dav/` takes PUT uploads.
struct Lab {
    ns: Netns,
    www: PathBuf,
}

impl Lab {
    fn start() -> Lab {
        let mut ns = Netns::new().expect("root and `ip netns` are needed (see the SKIP line)");
        let nginx = daemons::need("nginx").expect("nginx is needed (.ci/packages.d/wt-curl.txt)");
        let d = ns.dir.path().display().to_string();
        let www = ns.dir.path().join("www");
        std::fs::create_dir_all(www.join("files")).unwrap();
        std::fs::create_dir_all(www.join("dav")).unwrap();
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("line {i}: the quick brown fox\n"));
        }
        std::fs::write(www.join("files/big.txt"), &text).unwrap();
        let conf = ns.write(
            "nginx.conf",
            &format!(
                "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root root;\n\
                 pid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n access_log off;\n client_body_temp_path {d}/cb;\n proxy_temp_path {d}/px;\n\
                 fastcgi_temp_path {d}/fc;\n uwsgi_temp_path {d}/uw;\n scgi_temp_path {d}/sc;\n\
                 gzip on;\n gzip_types text/plain;\n gzip_min_length 0;\n\
                 server {{\n listen 127.0.0.1:8080;\n root {www};\n\
                 location /dav/ {{ dav_methods PUT; client_max_body_size 64m; }}\n }}\n}}\n",
                www = www.display()
            ),
        );
        let conf = conf.to_str().unwrap().to_owned();
        ns.spawn(
            "nginx",
            &nginx,
            &["-c", &conf, "-p", &d, "-e", &format!("{d}/nginx-error.log")],
        );
        ns.wait_tcp("nginx", 8080);
        Lab { ns, www }
    }

    /// `program args` inside the namespace.
    fn run(&self, program: &str, args: &[&str]) -> Run {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns.name, program])
            .args(args))
    }

    fn rawget(&self, args: &[&str]) -> Run {
        self.run(env!("CARGO_BIN_EXE_rawget"), args)
    }

    fn curl(&self, args: &[&str]) -> Run {
        need_tool("curl");
        self.run("curl", args)
    }
}

const BIG: &str = "http://127.0.0.1:8080/files/big.txt";

#[test]
fn nginx_gzip_ranges_resume_and_uploads_match_curl() {
    let lab = Lab::start();
    let dir = temp();
    let file = |n: &str| dir.path().join(n);
    let original = std::fs::read(lab.www.join("files/big.txt")).unwrap();
    // --compressed: nginx sends gzip (chunked); both save the text.
    for (tool, name) in [("rawget", "r.txt"), ("curl", "c.txt")] {
        let saved = file(name);
        let args = [
            "-s",
            "--compressed",
            "-o",
            path_str(&saved),
            "-w",
            "%{size_download}",
            BIG,
        ];
        let out = if tool == "rawget" {
            lab.rawget(&args)
        } else {
            lab.curl(&args)
        };
        assert_eq!(out.code, 0, "{tool}: {}", out.stderr);
        assert!(
            out.out().parse::<usize>().unwrap() < original.len() / 4,
            "{tool}: gzip"
        );
        assert_eq!(std::fs::read(file(name)).unwrap(), original, "{tool}");
    }
    // The raw view still shows the bytes as sent.
    let raw = lab.rawget(&["--compressed", BIG]);
    assert_eq!(raw.code, 0);
    let text = String::from_utf8_lossy(&raw.stdout).to_ascii_lowercase();
    assert!(text.contains("content-encoding: gzip"), "{text:.300}");
    assert!(!text.contains("line 19999"));
    // -r: the same 100 bytes.
    for tool in ["rawget", "curl"] {
        let args = ["-s", "-r", "100-199", "-o", "-", BIG];
        let out = if tool == "rawget" {
            lab.rawget(&args)
        } else {
            lab.curl(&args)
        };
        assert_eq!(out.stdout, &original[100..200], "{tool}");
    }
    // -C -: the rest of a partial file.
    for (tool, name) in [("rawget", "rp"), ("curl", "cp")] {
        let part = file(name);
        std::fs::write(&part, &original[..12_345]).unwrap();
        let args = ["-s", "-C", "-", "-o", path_str(&part), BIG];
        let out = if tool == "rawget" {
            lab.rawget(&args)
        } else {
            lab.curl(&args)
        };
        assert_eq!(out.code, 0, "{tool}: {}", out.stderr);
        assert_eq!(std::fs::read(file(name)).unwrap(), original, "{tool}");
    }
    // A PUT upload of a file, streamed: nginx stores what it received.
    let upload = file("up.bin");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&upload, &bytes).unwrap();
    let at = format!("@{}", upload.display());
    for (tool, name) in [("rawget", "r.bin"), ("curl", "c.bin")] {
        let url = format!("http://127.0.0.1:8080/dav/{name}");
        let args = [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_upload}",
            "-X",
            "PUT",
            "--data-binary",
            &at,
            &url,
        ];
        let out = if tool == "rawget" {
            lab.rawget(&args)
        } else {
            lab.curl(&args)
        };
        assert_eq!(
            out.out(),
            format!("201 {}", bytes.len()),
            "{tool}: {}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(lab.www.join("dav").join(name)).unwrap(),
            bytes,
            "{tool}"
        );
    }
    // -T: PUT, to the directory URL plus the file's name.
    for tool in ["rawget", "curl"] {
        let dav = format!("http://127.0.0.1:8080/dav/{tool}/");
        std::fs::create_dir_all(lab.www.join("dav").join(tool)).unwrap();
        let args = [
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{method} %{url_effective}",
            "-T",
            path_str(&upload),
            &dav,
        ];
        let out = if tool == "rawget" {
            lab.rawget(&args)
        } else {
            lab.curl(&args)
        };
        assert_eq!(
            out.out(),
            format!("201 PUT {dav}up.bin"),
            "{tool}: {}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(lab.www.join("dav").join(tool).join("up.bin")).unwrap(),
            bytes,
            "{tool}"
        );
    }
}

// ------------------------------------------------------------ openssl peer

/// `openssl s_server -www` on 127.0.0.1:`port`, stopped on Drop.
struct SServer(Child);

impl SServer {
    fn start(port: u16, cert: &Path, key: &Path) -> SServer {
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["-cert", path_str(cert), "-key", path_str(key)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let server = SServer(child);
        let start = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(
                start.elapsed() < WATCHDOG,
                "openssl s_server never listened on {port}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}
