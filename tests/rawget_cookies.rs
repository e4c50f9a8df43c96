//! Issue 16, cookies and HTTP/1.0: `-b`, `-c`, `-j` and `--http1.0`, each
//! run by rawget and by curl 7.88 against one nginx, in a network
//! namespace of its own, that sets cookies, redirects across host names
//! and echoes the `Cookie` header it received (so the test sees what each
//! tool sent, not what it says it sent).
//!
//! Host names: `a.test`, `x.a.test` and `b.test`, all 127.0.0.1 inside
//! the namespace by `--resolve` (both tools have it): three hosts to
//! cookies, one server. `.test` hosts are not a secure context for curl,
//! so `Secure` cookies behave as over any plain http.

mod daemons;
mod rawget_support;
mod require;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use daemons::Netns;
use rawget_support::*;
use require::or_skip;

const HOSTS: [&str; 3] = ["a.test", "x.a.test", "b.test"];

/// nginx on 127.0.0.1:8080 in a namespace of its own.
struct Lab {
    ns: Netns,
    www: PathBuf,
}

impl Lab {
    fn start() -> Result<Lab, require::Skipped> {
        let mut ns = Netns::new()?;
        let nginx = daemons::need("nginx")?;
        let d = ns.dir.path().display().to_string();
        let www = ns.dir.path().join("www");
        std::fs::create_dir_all(www.join("files")).unwrap();
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("line {i}: the quick brown fox\n"));
        }
        std::fs::write(www.join("files/big.txt"), &text).unwrap();
        let set = |c: &str| format!("add_header Set-Cookie \"{c}\" always;");
        let conf = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root root;\n\
             pid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/cb;\n proxy_temp_path {d}/px;\n\
             fastcgi_temp_path {d}/fc;\n uwsgi_temp_path {d}/uw;\n scgi_temp_path {d}/sc;\n\
             gzip on;\n gzip_types text/plain;\n gzip_min_length 0;\n gzip_http_version 1.0;\n\
             server {{\n listen 127.0.0.1:8080;\n root {www};\n\
             location = /set {{ {a} {b} {c} {e} {f} {g} return 200 \"set\\n\"; }}\n\
             location = /p/set {{ {h} return 200 \"set\\n\"; }}\n\
             location = /echo {{ return 200 \"[$http_cookie]\\n\"; }}\n\
             location = /p/echo {{ return 200 \"[$http_cookie]\\n\"; }}\n\
             location = /hop-b {{ {hop} {wide} return 302 http://b.test:8080/echo; }}\n\
             location = /hop-x {{ {hop} {wide} return 302 http://x.a.test:8080/echo; }}\n\
             location = /gone {{ {gone} return 200 \"gone\\n\"; }}\n\
             location = /ver {{ return 200 \"$server_protocol [$http_connection]\\n\"; }}\n\
             }}\n}}\n",
            a = set("plain=1"),
            b = set("ho=2; HttpOnly; Max-Age=3600"),
            c = set("wide=3; Domain=a.test; Path=/"),
            e = set("sec=4; Secure"),
            f = set("psl=5; Domain=test"),
            g = set("other=6; Domain=b.test"),
            h = set("deep=7"),
            hop = set("hop=1"),
            wide = set("hopwide=2; Domain=a.test; Path=/"),
            gone = set("plain=x; Max-Age=0"),
            www = www.display(),
        );
        let conf = ns.write("nginx.conf", &conf);
        let conf = conf.to_str().unwrap().to_owned();
        ns.spawn(
            "nginx",
            &nginx,
            &["-c", &conf, "-p", &d, "-e", &format!("{d}/nginx-error.log")],
        );
        ns.wait_tcp("nginx", 8080);
        Ok(Lab { ns, www })
    }

    /// `tool` (rawget or curl) with `args`, inside the namespace, with
    /// the three host names resolved to 127.0.0.1.
    fn run(&self, tool: &str, args: &[&str]) -> Run {
        let program = match tool {
            "rawget" => env!("CARGO_BIN_EXE_rawget"),
            _ => {
                assert!(
                    have("curl"),
                    "curl is needed by this test (.ci/packages.d/rawget-curl.txt)"
                );
                "curl"
            }
        };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name, program, "-s"]);
        for host in HOSTS {
            cmd.args(["--resolve", &format!("{host}:8080:127.0.0.1")]);
        }
        run(cmd.args(args))
    }

    /// Like [`Lab::run`], asserting exit 0; the stdout as text.
    fn ok(&self, tool: &str, args: &[&str]) -> String {
        let out = self.run(tool, args);
        assert_eq!(out.code, 0, "{tool} {args:?}: {}", out.stderr);
        out.out()
    }
}

fn url(host: &str, path: &str) -> String {
    format!("http://{host}:8080{path}")
}

/// One cookie of a Netscape file, parsed here (not by rawget's code):
/// `(http_only, domain, subdomains, path, secure, persistent, name,
/// value)`; the expiries themselves are in [`expiries`] (the two tools
/// turn a Max-Age into a time a moment apart).
type Line = (bool, String, String, String, String, bool, String, String);

fn parse_jar(text: &str) -> BTreeSet<Line> {
    let mut set = BTreeSet::new();
    for line in text.lines() {
        let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
            Some(rest) => (rest, true),
            None => (line, false),
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "a jar line has 7 fields: {line:?}");
        let expires: i64 = f[4].parse().expect("expiry");
        // curl writes a default path with its trailing slash ("/p/" for
        // /p/set) and reads it back without, as "/p".
        let path = match f[2] {
            "/" => "/",
            p => p.trim_end_matches('/'),
        };
        set.insert((
            http_only,
            f[0].to_owned(),
            f[1].to_owned(),
            path.to_owned(),
            f[3].to_owned(),
            expires > 0,
            f[5].to_owned(),
            f[6].to_owned(),
        ));
    }
    set
}

/// The expiry of each persistent cookie of a jar, by name.
fn expiries(text: &str) -> Vec<(String, i64)> {
    let mut all: Vec<(String, i64)> = text
        .lines()
        .map(|l| l.strip_prefix("#HttpOnly_").unwrap_or(l))
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[5].to_owned(), f[4].parse().unwrap())
        })
        .filter(|(_, e)| *e > 0)
        .collect();
    all.sort();
    all
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Cookies set by one host are stored with curl's rules (no `Secure`
/// from plain http, no public suffix, no other host's domain) and sent
/// back by domain and path: the Cookie header each host receives and the
/// jar each tool writes are the same.
#[test]
fn cookies_sent_and_jar_written_match_curl() {
    let lab = or_skip!(Lab::start());
    let dir = tempfile::tempdir().unwrap();
    let mut jars = Vec::new();
    for tool in ["rawget", "curl"] {
        let jar = dir.path().join(format!("{tool}.jar"));
        let j = jar.to_str().unwrap();
        lab.ok(
            tool,
            &["-b", "", "-c", j, "-o", "/dev/null", &url("a.test", "/set")],
        );
        lab.ok(
            tool,
            &[
                "-b",
                j,
                "-c",
                j,
                "-o",
                "/dev/null",
                &url("a.test", "/p/set"),
            ],
        );
        let mut seen = Vec::new();
        for (host, path) in [
            ("a.test", "/p/echo"),
            ("a.test", "/echo"),
            ("x.a.test", "/p/echo"),
            ("b.test", "/echo"),
        ] {
            seen.push(lab.ok(tool, &["-b", j, "-o", "-", &url(host, path)]));
        }
        jars.push((tool, jar, seen));
    }
    let (ours, theirs) = (&jars[0], &jars[1]);
    assert_eq!(ours.2, theirs.2, "the Cookie headers nginx received");
    assert_eq!(
        ours.2,
        [
            "[deep=7; plain=1; wide=3; ho=2]\n",
            "[plain=1; wide=3; ho=2]\n",
            "[wide=3]\n",
            "[]\n"
        ],
        "longer path, then longer domain, then longer name first; \
         no Secure over http; no cookie for a public suffix or another host"
    );
    let (ours_jar, theirs_jar) = (parse_jar(&read(&ours.1)), parse_jar(&read(&theirs.1)));
    assert_eq!(ours_jar, theirs_jar, "the jars hold the same cookies");
    assert_eq!(ours_jar.len(), 4, "{ours_jar:?}");
    let (e1, e2) = (expiries(&read(&ours.1)), expiries(&read(&theirs.1)));
    assert_eq!(e1.len(), 1, "{e1:?}");
    assert_eq!(e1[0].0, e2[0].0);
    assert!((e1[0].1 - e2[0].1).abs() <= 30, "Max-Age: {e1:?} {e2:?}");
    // A cookie set to expire is gone from the jar and the requests.
    for tool in ["rawget", "curl"] {
        let jar = dir.path().join(format!("{tool}.jar"));
        let j = jar.to_str().unwrap();
        lab.ok(
            tool,
            &["-b", j, "-c", j, "-o", "/dev/null", &url("a.test", "/gone")],
        );
        let echo = lab.ok(tool, &["-b", j, "-o", "-", &url("a.test", "/echo")]);
        assert_eq!(echo, "[wide=3; ho=2]\n", "{tool}");
    }
    assert_eq!(
        parse_jar(&read(&ours.1)),
        parse_jar(&read(&theirs.1)),
        "after the expiry"
    );
    // -j leaves the session cookies of the file out.
    let kept: Vec<String> = ["rawget", "curl"]
        .iter()
        .map(|tool| {
            let jar = dir.path().join(format!("{tool}.jar"));
            let j = jar.to_str().unwrap();
            lab.ok(tool, &["-j", "-b", j, "-o", "-", &url("a.test", "/echo")])
        })
        .collect();
    assert_eq!(kept, ["[ho=2]\n", "[ho=2]\n"]);
    // Each tool reads the other's jar to the same Cookie header.
    let cross: Vec<String> = [("rawget", &theirs.1), ("curl", &ours.1)]
        .iter()
        .map(|(tool, jar)| {
            let j = jar.to_str().unwrap();
            lab.ok(tool, &["-b", j, "-o", "-", &url("x.a.test", "/echo")])
        })
        .collect();
    assert_eq!(cross, ["[wide=3]\n", "[wide=3]\n"]);
}

/// Cookies received on a redirect follow it by their host: a host-only
/// cookie stays with its host, a domain cookie reaches the subdomain,
/// nothing reaches another host. `-b NAME=VALUE` and `-b FILE` of
/// Set-Cookie lines.
#[test]
fn cookies_follow_redirects_by_host() {
    let lab = or_skip!(Lab::start());
    for tool in ["rawget", "curl"] {
        let to_b = lab.ok(tool, &["-L", "-b", "", "-o", "-", &url("a.test", "/hop-b")]);
        assert_eq!(to_b, "[]\n", "{tool}: another host gets none");
        let to_x = lab.ok(tool, &["-L", "-b", "", "-o", "-", &url("a.test", "/hop-x")]);
        assert_eq!(
            to_x, "[hopwide=2]\n",
            "{tool}: the subdomain gets the domain cookie"
        );
        // Without the engine (-b NAME=VALUE only) nothing received is sent.
        let typed = lab.ok(
            tool,
            &["-L", "-b", "t=1", "-o", "-", &url("a.test", "/hop-x")],
        );
        assert!(!typed.contains("hopwide"), "{tool}: {typed}");
    }
    // rawget sends -b NAME=VALUE to the URL's own host only (curl 7.88
    // sends it to every host of a redirect chain).
    let typed = lab.ok(
        "rawget",
        &["-L", "-b", "t=1", "-o", "-", &url("a.test", "/hop-b")],
    );
    assert_eq!(typed, "[]\n");
    let typed = lab.ok(
        "rawget",
        &[
            "--location-trusted",
            "-b",
            "t=1",
            "-o",
            "-",
            &url("a.test", "/hop-b"),
        ],
    );
    assert_eq!(typed, "[t=1]\n");
    // A file of Set-Cookie lines: the one naming a domain is loaded.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("headers.txt");
    std::fs::write(
        &file,
        "Set-Cookie: nodomain=1\nSet-Cookie: d=2; Domain=a.test\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    for tool in ["rawget", "curl"] {
        for (host, want) in [("x.a.test", "[d=2]\n"), ("b.test", "[]\n")] {
            let got = lab.ok(tool, &["-b", f, "-o", "-", &url(host, "/echo")]);
            assert_eq!(got, want, "{tool} to {host}");
        }
    }
}

/// A `Secure` cookie is never sent over plain http, from a jar or
/// received; over the loopback names curl counts as secure it is.
#[test]
fn secure_cookies_never_go_over_plain_http() {
    let lab = or_skip!(Lab::start());
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("in.jar");
    std::fs::write(
        &jar,
        "# Netscape HTTP Cookie File\n\
         a.test\tFALSE\t/\tTRUE\t0\tsec\t1\n\
         a.test\tFALSE\t/\tFALSE\t0\tplain\t2\n\
         127.0.0.1\tFALSE\t/\tTRUE\t0\tlocal\t3\n",
    )
    .unwrap();
    let j = jar.to_str().unwrap();
    for tool in ["rawget", "curl"] {
        let got = lab.ok(tool, &["-b", j, "-o", "-", &url("a.test", "/echo")]);
        assert_eq!(got, "[plain=2]\n", "{tool}");
        let got = lab.ok(tool, &["-b", j, "-o", "-", &url("127.0.0.1", "/echo")]);
        assert_eq!(got, "[local=3]\n", "{tool}: 127.0.0.1 is a secure context");
        // Received over http from a .test host: not stored at all.
        let out = dir.path().join(format!("{tool}.jar"));
        let o = out.to_str().unwrap();
        lab.ok(tool, &["-c", o, "-o", "/dev/null", &url("a.test", "/set")]);
        assert!(!read(&out).contains("\tsec\t"), "{tool}");
    }
    // -v says what became of each cookie, without its value.
    let v = lab.run(
        "rawget",
        &["-v", "-b", "", "-o", "/dev/null", &url("a.test", "/set")],
    );
    assert_eq!(v.code, 0, "{}", v.stderr);
    for line in [
        "cookie plain stored for a.test, path /, until the session ends",
        "cookie wide stored for .a.test, path /,",
        "cookie ho stored for a.test, path /, expires ",
        "cookie sec refused: Secure, set over plain http",
        "cookie psl refused: its Domain is a public suffix",
        "cookie other refused: its Domain does not match the host",
    ] {
        assert!(v.stderr.contains(line), "{line}: {}", v.stderr);
    }
}

/// The jar is written by rename (a hard link to the old file keeps the
/// old bytes), owner-only also when the file existed with another mode,
/// and leaves no temporary file; one that cannot be written is exit 23.
#[test]
fn the_jar_is_written_atomically_and_owner_only() {
    let lab = or_skip!(Lab::start());
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar.txt");
    let old = dir.path().join("old-link");
    std::fs::write(&jar, "old contents\n").unwrap();
    std::fs::set_permissions(&jar, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(&jar, &old).unwrap();
    let ino = std::fs::metadata(&jar).unwrap().ino();
    let j = jar.to_str().unwrap();
    lab.ok(
        "rawget",
        &["-c", j, "-o", "/dev/null", &url("a.test", "/set")],
    );
    let meta = std::fs::metadata(&jar).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_ne!(meta.ino(), ino, "a new file renamed over the old one");
    assert_eq!(read(&old), "old contents\n");
    assert!(read(&jar).contains("\tplain\t1\n"));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file is left: {names:?}");
    // A new jar is owner-only too.
    let fresh = dir.path().join("fresh.txt");
    lab.ok(
        "rawget",
        &[
            "-c",
            fresh.to_str().unwrap(),
            "-o",
            "/dev/null",
            &url("a.test", "/set"),
        ],
    );
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A directory that does not exist: exit 23, one line.
    let bad = dir.path().join("no/such/dir/jar");
    let out = lab.run(
        "rawget",
        &[
            "-S",
            "-c",
            bad.to_str().unwrap(),
            "-o",
            "/dev/null",
            &url("a.test", "/set"),
        ],
    );
    assert_eq!(out.code, 23, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("cookie jar"), "{}", out.stderr);
}

/// `--http1.0`: the request line nginx sees, a compressed body nginx can
/// only end by closing (no chunks for a 1.0 client), and no connection
/// kept between two URLs: as curl.
#[test]
fn http_1_0_matches_curl() {
    let lab = or_skip!(Lab::start());
    let original = read(&lab.www.join("files/big.txt"));
    let dir = tempfile::tempdir().unwrap();
    for (tool, short) in [("rawget", "-0"), ("curl", "--http1.0")] {
        let ver = lab.ok(tool, &[short, "-o", "-", &url("a.test", "/ver")]);
        assert_eq!(ver, "HTTP/1.0 []\n", "{tool}");
        let saved = dir.path().join(tool);
        let s = saved.to_str().unwrap();
        let big = url("a.test", "/files/big.txt");
        let w = lab.ok(
            tool,
            &[
                "--http1.0",
                "--compressed",
                "-o",
                s,
                "-w",
                "%{size_download}",
                &big,
            ],
        );
        assert!(
            w.parse::<usize>().unwrap() < original.len() / 4,
            "{tool}: gzip"
        );
        assert_eq!(read(&saved), original, "{tool}");
        // One -o per URL, paired in order, for both tools.
        let outputs: &[&str] = &["-o", "/dev/null", "-o", "/dev/null"];
        let ver = url("a.test", "/ver");
        let args = [
            &["--http1.0", "-w", "%{num_connects} "][..],
            outputs,
            &[ver.as_str(), ver.as_str()],
        ]
        .concat();
        let two = lab.ok(tool, &args);
        assert_eq!(two, "1 1 ", "{tool}: a new connection for each URL");
    }
    // The raw view: the response came without chunks, ended by the close.
    let raw = lab.ok(
        "rawget",
        &[
            "--http1.0",
            "--compressed",
            &url("a.test", "/files/big.txt"),
        ],
    );
    let head = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
}
