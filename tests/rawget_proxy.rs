//! rawget's connection layer against real peers on loopback, each case
//! checked against curl on the same peers: Debian's tinyproxy (HTTP
//! forward proxy and CONNECT), microsocks (SOCKS5), stunnel4 in front of
//! tinyproxy (an `https://` proxy, so HTTPS to the origin runs TLS inside
//! TLS), nginx (keep-alive reuse, counted by nginx's own `$connection`),
//! and scripted peers that record the exact bytes a proxy or origin saw.
//!
//! The daemons come from `.ci/packages.d/rawget-proxies.txt`; a missing one
//! fails the test with one line saying which, unless `RAWNET_TEST_SKIP`
//! names it (tests/require).

mod rawget_support;
mod require;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rawget_support::{read_request, run, Run};
use require::{or_skip, Skipped};

/// Most time a daemon gets to listen after it was started.
const READY: Duration = Duration::from_secs(20);

// ------------------------------------------------------------ helpers

/// Checks that the programs a test runs are installed (tests/require:
/// a missing one fails the test unless `RAWNET_TEST_SKIP` names it).
fn tools(list: &[&str]) -> Result<(), Skipped> {
    for prog in list {
        let package = match *prog {
            "stunnel4" => "stunnel4",
            "unshare" => "util-linux",
            p => p,
        };
        require::program(prog, package)?;
    }
    Ok(())
}

/// The path of a program [`tools`] found.
fn prog(name: &str) -> PathBuf {
    require::find_program(name).unwrap_or_else(|| panic!("{name}: checked by tools() first"))
}

/// A free loopback port for a daemon: each call of this process gets
/// another one (tests run in parallel, and a port the kernel handed out
/// and took back could go to two daemons), checked free by binding it.
fn free_port() -> u16 {
    use std::sync::atomic::AtomicU32;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 20_000 + (std::process::id() * 97) % 30_000;
    loop {
        let port = u16::try_from(base + NEXT.fetch_add(1, Ordering::SeqCst) % 10_000).unwrap();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

/// A daemon started by a test, killed on Drop, with a scratch directory.
struct Daemon {
    child: Child,
    name: &'static str,
    dir: tempfile::TempDir,
}

impl Daemon {
    fn start(name: &'static str, program: &str, args: &[&str], dir: tempfile::TempDir) -> Daemon {
        let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
        let child = Command::new(prog(program))
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Daemon { child, name, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Waits until it accepts on `port` (TCP) or `path` (Unix).
    fn ready(mut self, port: Option<u16>, path: Option<&Path>) -> Daemon {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}): {}", self.name, self.log());
            }
            let up = match (port, path) {
                (Some(p), _) => TcpStream::connect((Ipv4Addr::LOCALHOST, p)).is_ok(),
                (None, Some(p)) => std::os::unix::net::UnixStream::connect(p).is_ok(),
                _ => true,
            };
            if up {
                // Still running: the port is its own, not another's.
                thread::sleep(Duration::from_millis(50));
                if let Ok(Some(status)) = self.child.try_wait() {
                    panic!("{} exited ({status}): {}", self.name, self.log());
                }
                return self;
            }
            assert!(
                start.elapsed() < READY,
                "{} did not listen within {READY:?}: {}",
                self.name,
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tinyproxy on a free port; with `auth`, BasicAuth required.
fn tinyproxy(auth: Option<(&str, &str)>) -> (Daemon, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 64\nAllow 127.0.0.1\n\
         LogLevel Connect\nPidFile \"{}\"\n",
        dir.path().join("pid").display()
    );
    if let Some((u, p)) = auth {
        conf.push_str(&format!("BasicAuth {u} {p}\n"));
    }
    let path = dir.path().join("tinyproxy.conf");
    std::fs::write(&path, conf).unwrap();
    let path = path.display().to_string();
    let d = Daemon::start("tinyproxy", "tinyproxy", &["-d", "-c", &path], dir);
    (d.ready(Some(port), None), port)
}

/// microsocks on a free port; with `auth`, user/password required.
fn microsocks(auth: Option<(&str, &str)>) -> (Daemon, u16) {
    let port = free_port();
    let p = port.to_string();
    let mut args = vec!["-i", "127.0.0.1", "-p", &p];
    if let Some((u, pw)) = &auth {
        args.extend(["-u", u, "-P", pw]);
    }
    let d = Daemon::start(
        "microsocks",
        "microsocks",
        &args,
        tempfile::tempdir().unwrap(),
    );
    (d.ready(Some(port), None), port)
}

/// A private CA and a leaf for `localhost` and 127.0.0.1, as PEM files in
/// `dir`: (ca, cert chain, key).
fn pki(dir: &Path) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rawget proxy test CA");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

/// stunnel4 terminating TLS on a free port in front of `backend` (an
/// `https://` proxy when the backend is tinyproxy).
fn stunnel(backend: u16, cert: &str, key: &str) -> (Daemon, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "foreground = yes\npid =\n[front]\naccept = 127.0.0.1:{port}\n\
         connect = 127.0.0.1:{backend}\ncert = {cert}\nkey = {key}\n"
    );
    let path = dir.path().join("stunnel.conf");
    std::fs::write(&path, conf).unwrap();
    let path = path.display().to_string();
    let d = Daemon::start("stunnel", "stunnel4", &[&path], dir);
    (d.ready(Some(port), None), port)
}

/// nginx in the foreground on a free port (and, with `tls`, an `ssl`
/// one), every request logged as `$connection $request`. Locations:
/// `/a` says "rawnet", `/r` redirects to `/a`.
struct Nginx {
    daemon: Daemon,
    port: u16,
    /// A server that forwards absolute-form requests (a forward proxy for
    /// http:// origins on loopback addresses).
    proxy_port: u16,
    tls_port: u16,
    unix: PathBuf,
}

fn nginx(tls: Option<(&str, &str)>) -> Nginx {
    let (port, tls_port, proxy_port) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let unix = dir.path().join("nginx.sock");
    let ssl = match tls {
        Some((cert, key)) => format!(
            "listen 127.0.0.1:{tls_port} ssl;\n ssl_certificate {cert};\n ssl_certificate_key {key};"
        ),
        None => String::new(),
    };
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root root;\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 64; }}\n\
         http {{\n log_format conn '$connection $request';\n access_log {d}/access.log conn;\n\
         client_body_temp_path {d}/cb;\n proxy_temp_path {d}/px;\n fastcgi_temp_path {d}/fc;\n\
         uwsgi_temp_path {d}/uw;\n scgi_temp_path {d}/sc;\n keepalive_requests 10000;\n\
         server {{\n listen 127.0.0.1:{port};\n listen unix:{};\n {ssl}\n\
         location /a {{ return 200 \"rawnet\\n\"; }}\n location /r {{ return 302 /a; }}\n }}\n\
         server {{\n listen 127.0.0.1:{proxy_port};\n location / {{ proxy_pass http://$http_host; }}\n }}\n}}\n",
        unix.display()
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let path = path.display().to_string();
    let daemon = Daemon::start(
        "nginx",
        "nginx",
        &["-c", &path, "-p", &d, "-e", &format!("{d}/error.log")],
        dir,
    );
    let daemon = daemon.ready(Some(port), None);
    Nginx {
        daemon,
        port,
        proxy_port,
        tls_port,
        unix,
    }
}

impl Nginx {
    /// The access log: one `(connection number, request line)` per request.
    fn log(&self) -> Vec<(u64, String)> {
        // nginx writes the line after the response; give it a moment.
        let path = self.daemon.dir.path().join("access.log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (c, r) = l.split_once(' ').unwrap();
                (c.parse().unwrap(), r.to_owned())
            })
            .collect()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A scripted peer: accepts any number of connections until dropped,
/// records each request head, and answers each with `reply` (then closes
/// its side). Stands for a proxy or an origin whose received bytes are
/// compared.
struct Spy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spy {
    fn new(reply: &[u8]) -> Spy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, reply) = (Arc::clone(&seen), Arc::clone(&stop), reply.to_vec());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let req = read_request(&mut conn);
                seen2
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&req).into_owned());
                let _ = conn.write_all(&reply);
                let _ = conn.shutdown(Shutdown::Write);
                let _ = conn.read(&mut [0u8; 64]);
            }
        });
        Spy {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Forgets what was seen (between the rawget and the curl run).
    fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }
}

impl Drop for Spy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rawget_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rawget"));
    clean_env(&mut cmd);
    run(cmd.envs(env.iter().copied()).args(args))
}

fn curl_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(prog("curl"));
    clean_env(&mut cmd);
    run(cmd.envs(env.iter().copied()).arg("-s").args(args))
}

fn rawget(args: &[&str]) -> Run {
    rawget_env(args, &[])
}

fn curl(args: &[&str]) -> Run {
    curl_env(args, &[])
}

/// No proxy variable of the test's own environment leaks into a run.
fn clean_env(cmd: &mut Command) {
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
}

/// A request head with the User-Agent value blanked (the one line where
/// rawget and curl differ on purpose).
fn without_agent(req: &str) -> String {
    req.lines()
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("user-agent:") {
                "User-Agent: *"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What follows the head in rawget's raw output.
fn body(run: &Run) -> String {
    let out = run.out();
    out.split_once("\r\n\r\n")
        .map_or(out.clone(), |(_, b)| b.to_owned())
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";

// ------------------------------------------------------------ bytes on the wire

#[test]
fn forward_request_is_curls_byte_for_byte() {
    or_skip!(tools(&["curl"]));
    let proxy = Spy::new(OK);
    let x = format!("http://pu:pp@{}", proxy.addr);
    let args = ["-x", &x, "http://origin.test:8080/a?b=1"];
    let ours = rawget(&args).expect(0);
    let our_req = proxy.seen();
    proxy.clear();
    let theirs = curl(&args);
    assert_eq!((ours.code, body(&ours)), (theirs.code, theirs.out()));
    let their_req = proxy.seen();
    assert_eq!(our_req.len(), 1, "{our_req:?}");
    assert_eq!(without_agent(&our_req[0]), without_agent(&their_req[0]));
    assert!(our_req[0].starts_with("GET http://origin.test:8080/a?b=1 HTTP/1.1\r\n"));
    assert!(our_req[0].contains("\r\nProxy-Authorization: Basic cHU6cHA=\r\n"));
}

#[test]
fn connect_request_is_curls_and_a_refusal_is_exit_56() {
    or_skip!(tools(&["curl"]));
    let proxy = Spy::new(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    let x = format!("http://{}", proxy.addr);
    for url in ["https://origin.test/", "http://origin.test:81/p"] {
        let args = ["-p", "-U", "pu:pp", "-x", &x, url];
        let ours = rawget(&args).expect(56);
        assert!(ours.stderr.contains("403"), "{}", ours.stderr);
        let our_req = proxy.seen();
        proxy.clear();
        let theirs = curl(&args);
        assert_eq!(theirs.code, 56);
        let their_req = proxy.seen();
        proxy.clear();
        assert_eq!(without_agent(&our_req[0]), without_agent(&their_req[0]));
    }
}

// ------------------------------------------------------------ real proxies

#[test]
fn tinyproxy_forwards_and_tunnels_with_credentials_for_the_proxy_only() {
    or_skip!(tools(&["curl", "tinyproxy"]));
    let (_tp, port) = tinyproxy(Some(("user", "secret")));
    let origin = Spy::new(OK);
    let x = format!("http://127.0.0.1:{port}");
    let url = origin.url("/page");
    for tunnel in [false, true] {
        let mut args = vec!["-x", &x, "-U", "user:secret", &url];
        if tunnel {
            args.insert(0, "-p");
        }
        let ours = rawget(&args).expect(0);
        assert_eq!(body(&ours), "ok\n", "{}", ours.out());
        let seen = origin.seen();
        origin.clear();
        let theirs = curl(&args);
        assert_eq!((theirs.code, theirs.out().as_str()), (0, "ok\n"));
        let request = &seen[0];
        // The proxy's credentials stop at the proxy.
        assert!(
            !request.to_ascii_lowercase().contains("proxy-authorization"),
            "{request}"
        );
        assert!(!request.contains("c2VjcmV0"), "{request}");
        assert!(request.starts_with("GET /page HTTP/1.1\r\n"), "{request}");
    }
    // Wrong credentials: the tunnel is refused (56), as in curl; a
    // forwarded request gets the proxy's refusal as its response (0).
    let bad = ["-p", "-x", &x, "-U", "user:wrong", &url];
    assert_eq!(rawget(&bad).expect(56).code, curl(&bad).code);
    let w = [
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-x",
        &x,
        "-U",
        "user:wrong",
        &url,
    ];
    let ours = rawget(&w).expect(0).out();
    assert!(ours == "401" || ours == "407", "{ours}");
    assert_eq!(ours, curl(&w).out());
}

#[test]
fn microsocks_socks5_and_socks5h_as_curl() {
    or_skip!(tools(&["curl", "microsocks", "nginx"]));
    let (_ms, port) = microsocks(Some(("su", "sp")));
    let nginx = nginx(None);
    for scheme in ["socks5", "socks5h"] {
        let x = format!("{scheme}://su:sp@127.0.0.1:{port}");
        let url = format!("http://localhost:{}/a", nginx.port);
        let ours = rawget(&["-x", &x, "--json", &url]).expect(0);
        let rec: serde_json::Value = serde_json::from_str(ours.out().trim()).unwrap();
        assert_eq!(rec["body"], "rawnet\n");
        assert_eq!(rec["proxy"], format!("{scheme}://127.0.0.1:{port}"));
        let theirs = curl(&["-x", &x, &url]);
        assert_eq!((theirs.code, theirs.out().as_str()), (0, "rawnet\n"));
        // The proxy refuses other credentials: curl's 97.
        let bad = format!("{scheme}://su:nope@127.0.0.1:{port}");
        assert_eq!(
            rawget(&["-x", &bad, &url]).expect(97).code,
            curl(&["-x", &bad, &url]).code
        );
        // And wants some: 97 without them too.
        let none = format!("{scheme}://127.0.0.1:{port}");
        assert_eq!(
            rawget(&["-x", &none, &url]).expect(97).code,
            curl(&["-x", &none, &url]).code
        );
    }
}

#[test]
fn https_in_https_through_stunnel_and_tinyproxy() {
    or_skip!(tools(&["curl", "tinyproxy", "stunnel4", "nginx"]));
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let (_tp, tp_port) = tinyproxy(None);
    let (_st, st_port) = stunnel(tp_port, &cert, &key);
    let nginx = nginx(Some((&cert, &key)));
    let x = format!("https://localhost:{st_port}");
    let url = format!("https://localhost:{}/a", nginx.tls_port);
    let args = ["-x", &x, "--proxy-cacert", &ca, "--cacert", &ca, &url];
    let ours = rawget(&[&args[..], &["--json"]].concat()).expect(0);
    let rec: serde_json::Value = serde_json::from_str(ours.out().trim()).unwrap();
    assert_eq!(rec["body"], "rawnet\n");
    assert_eq!(rec["tls"]["verified"], true);
    let theirs = curl(&args);
    assert_eq!((theirs.code, theirs.out().as_str()), (0, "rawnet\n"));
    // The proxy's certificate is checked against --proxy-cacert, not the
    // origin's CA store: without it, curl's 60.
    let unverified = ["-x", &x, "--cacert", &ca, &url];
    assert_eq!(rawget(&unverified).expect(60).code, curl(&unverified).code);
    let insecure = ["-x", &x, "--proxy-insecure", "--cacert", &ca, &url];
    assert_eq!(body(&rawget(&insecure).expect(0)), "rawnet\n");
    assert_eq!(curl(&insecure).out(), "rawnet\n");
}

// ------------------------------------------------------------ reuse

#[test]
fn one_nginx_connection_serves_every_url_and_redirect_hop() {
    or_skip!(tools(&["curl", "nginx"]));
    let nginx = nginx(None);
    let urls: Vec<String> = (0..5).map(|i| nginx.url(&format!("/a{i}"))).collect();
    let mut args: Vec<&str> = vec!["--json"];
    args.extend(urls.iter().map(String::as_str));
    let ours = rawget(&args).expect(0);
    let recs: Vec<serde_json::Value> = ours
        .out()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<_> = recs.iter().map(|r| r["conn_id"].clone()).collect();
    assert!(ids.iter().all(|i| *i == ids[0] && i.is_u64()), "{ids:?}");
    let connects: Vec<_> = recs
        .iter()
        .map(|r| r["num_connects"].as_u64().unwrap())
        .collect();
    assert_eq!(connects, [1, 0, 0, 0, 0]);
    // nginx saw one connection serve all five.
    let log = wait_log(&nginx, 5);
    assert!(log.iter().all(|(c, _)| *c == log[0].0), "{log:?}");
    // curl does the same on the same server: one connect, then reuse.
    let w = [
        "-w",
        "%{num_connects} ",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ];
    let theirs = curl(&[&w[..], &[&urls[0], &urls[1], &urls[2]]].concat());
    assert_eq!(theirs.out(), "1 0 0 ");
    let ours = rawget(&[&w[..], &[&urls[0], &urls[1], &urls[2]]].concat());
    assert_eq!(ours.out(), "1 0 0 ");

    // A redirect back to the same origin is served on the same connection
    // (curl: num_connects 1 for the whole chain), and -v says so.
    let before = nginx.log().len();
    let ours = rawget(&[
        "-L",
        "-v",
        "-w",
        "%{num_connects} %{num_redirects}",
        "-o",
        "/dev/null",
        &nginx.url("/r"),
    ])
    .expect(0);
    assert_eq!(ours.out(), "1 1");
    assert!(
        ours.stderr.contains("reusing connection #"),
        "{}",
        ours.stderr
    );
    let theirs = curl(&[
        "-L",
        "-w",
        "%{num_connects} %{num_redirects}",
        "-o",
        "/dev/null",
        &nginx.url("/r"),
    ]);
    assert_eq!(theirs.out(), "1 1");
    let log = wait_log(&nginx, before + 4);
    let ours_hops = &log[before..before + 2];
    assert_eq!(ours_hops[0].0, ours_hops[1].0, "{log:?}");
}

/// The access log once it has `n` lines (nginx writes each after its
/// response went out).
fn wait_log(nginx: &Nginx, n: usize) -> Vec<(u64, String)> {
    let start = Instant::now();
    loop {
        let log = nginx.log();
        if log.len() >= n || start.elapsed() > READY {
            assert!(log.len() >= n, "{log:?}");
            return log;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_forward_proxy_connection_is_reused_across_origins() {
    or_skip!(tools(&["curl", "nginx", "tinyproxy"]));
    // nginx forwarding absolute-form requests keeps its client connection
    // alive: one connection to it serves both origins.
    let proxy = nginx(None);
    let (a, b) = (nginx(None), nginx(None));
    let x = format!("127.0.0.1:{}", proxy.proxy_port);
    let urls = [a.url("/a"), b.url("/a"), a.url("/a")];
    let w = [
        "-x",
        &x,
        "-w",
        "%{num_connects}:%{conn_id} ",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ];
    let run = rawget(&[&w[..], &[&urls[0], &urls[1], &urls[2]]].concat()).expect(0);
    assert_eq!(run.out(), "1:0 0:0 0:0 ");
    let log = wait_log(&proxy, 3);
    assert!(
        log.iter()
            .all(|(c, r)| *c == log[0].0 && r.starts_with("GET http://")),
        "{log:?}"
    );
    let w = [
        "-x",
        &x,
        "-w",
        "%{num_connects} ",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ];
    assert_eq!(
        curl(&[&w[..], &[&urls[0], &urls[1], &urls[2]]].concat()).out(),
        "1 0 0 "
    );
    // tinyproxy closes after every response: a new connection each time,
    // for curl too.
    let (_tp, port) = tinyproxy(None);
    let x = format!("127.0.0.1:{port}");
    let w = [
        "-x",
        &x,
        "-w",
        "%{num_connects} ",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ];
    let args = [&w[..], &[&urls[0], &urls[1]]].concat();
    assert_eq!(rawget(&args).expect(0).out(), "1 1 ");
    assert_eq!(curl(&args).out(), "1 1 ");
}

// ------------------------------------------------------------ environment

/// Environment variables and flags of one run.
type EnvCase<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>);

#[test]
fn environment_proxies_follow_curls_rules() {
    or_skip!(tools(&["curl"]));
    let proxy = Spy::new(OK);
    let origin = Spy::new(OK);
    let p = format!("http://{}", proxy.addr);
    let url = origin.url("/");
    let host = origin.addr.ip().to_string();
    let cases: Vec<EnvCase> = vec![
        (vec![("http_proxy", &p)], vec![]),
        // curl ignores HTTP_PROXY (httpoxy).
        (vec![("HTTP_PROXY", &p)], vec![]),
        (vec![("ALL_PROXY", &p)], vec![]),
        (
            vec![("all_proxy", &p), ("https_proxy", "http://127.0.0.1:1")],
            vec![],
        ),
        (vec![("http_proxy", &p), ("NO_PROXY", &host)], vec![]),
        (vec![("http_proxy", &p), ("no_proxy", "*")], vec![]),
        (
            vec![("http_proxy", &p), ("no_proxy", "example.com,127.0.0.0/8")],
            vec![],
        ),
        (vec![("http_proxy", &p), ("no_proxy", "127.0.0.10")], vec![]),
        (
            vec![("http_proxy", &p), ("no_proxy", &host)],
            vec!["--noproxy", "other.test"],
        ),
        (vec![], vec!["-x", &p, "--noproxy", &host]),
        (vec![("no_proxy", &host)], vec!["-x", &p]),
        (vec![("http_proxy", &p)], vec!["-x", ""]),
    ];
    for (env, flags) in cases {
        let args: Vec<&str> = flags.iter().copied().chain([url.as_str()]).collect();
        rawget_env(&args, &env).expect(0);
        let ours = (proxy.seen().len(), origin.seen().len());
        proxy.clear();
        origin.clear();
        curl_env(&args, &env);
        let theirs = (proxy.seen().len(), origin.seen().len());
        proxy.clear();
        origin.clear();
        assert_eq!(
            ours, theirs,
            "env {env:?} flags {flags:?}: (proxy, origin) hits"
        );
    }
}

// ------------------------------------------------------------ credentials

#[test]
fn a_redirect_never_forwards_proxy_authorization() {
    or_skip!(tools(&["tinyproxy"]));
    let second = Spy::new(OK);
    let to = second.url("/landing");
    let first = Spy::new(
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
    );
    let args = [
        "-L",
        "-H",
        "Proxy-Authorization: Basic c2VjcmV0",
        &first.url("/"),
    ];
    rawget(&args).expect(0);
    let seen = second.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0].to_ascii_lowercase().contains("proxy-authorization"),
        "{}",
        seen[0]
    );
    // The first host got it: the user sent it there.
    assert!(first.seen()[0].contains("Proxy-Authorization: Basic c2VjcmV0"));
    first.clear();
    second.clear();
    // --proxy-user inside a CONNECT tunnel reaches the proxy only.
    let (_tp, port) = tinyproxy(Some(("u", "pw")));
    let x = format!("http://127.0.0.1:{port}");
    let run = rawget(&["-p", "-x", &x, "-U", "u:pw", "-L", "-v", &first.url("/")]).expect(0);
    // -v shows it in the two CONNECT requests, never in a request inside.
    assert_eq!(
        run.stderr.matches("> Proxy-Authorization").count(),
        2,
        "{}",
        run.stderr
    );
    assert_eq!((first.seen().len(), second.seen().len()), (1, 1));
    for req in second.seen().iter().chain(first.seen().iter()) {
        assert!(
            !req.to_ascii_lowercase().contains("proxy-authorization"),
            "{req}"
        );
    }
}

// ------------------------------------------------------------ exit codes

#[test]
fn proxy_failures_exit_as_curl() {
    or_skip!(tools(&["curl", "unshare", "ip"]));
    or_skip!(require::root(
        "a network namespace, SO_BINDTODEVICE and nginx as root"
    ));
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cases: Vec<Vec<String>> = vec![
        vec!["-x".into(), closed.clone(), "http://a.test/".into()],
        vec![
            "-x".into(),
            "socks5://127.0.0.1:1".into(),
            "http://a.test/".into(),
        ],
        vec![
            "-x".into(),
            "socks4://127.0.0.1:1".into(),
            "http://a.test/".into(),
        ],
    ];
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ours = rawget(&args).expect(7);
        assert_eq!(ours.code, curl(&args).code, "{args:?}");
    }
    // An unresolvable proxy name (5), in a namespace of our own: the
    // lookup must not leave the machine.
    let unshare = prog("unshare");
    let resolve_fail = |prog: &str, extra: &[&str]| {
        let script = "ip link set lo up; exec \"$@\"";
        run(Command::new(&unshare)
            .args(["--net", "sh", "-c", script, "sh", prog])
            .args(extra)
            .args(["-x", "http://proxy.invalid:3128", "http://a.test/"]))
    };
    let ours = resolve_fail(env!("CARGO_BIN_EXE_rawget"), &[]).expect(5);
    assert!(ours.stderr.contains("proxy"), "{}", ours.stderr);
    assert_eq!(resolve_fail("curl", &["-s"]).code, 5);
}

// ------------------------------------------------------------ socket flags

#[test]
fn unix_socket_local_port_and_interface_as_curl() {
    or_skip!(tools(&["curl", "nginx"]));
    or_skip!(require::root(
        "a network namespace, SO_BINDTODEVICE and nginx as root"
    ));
    let nginx = nginx(None);
    let sock = nginx.unix.display().to_string();
    let args = ["--unix-socket", &sock, "http://localhost/a"];
    let ours = rawget(&args).expect(0);
    assert!(ours.out().ends_with("\r\n\r\nrawnet\n"), "{}", ours.out());
    assert_eq!(curl(&args).out(), "rawnet\n");
    let missing = [
        "--unix-socket",
        "/nonexistent/rawget.sock",
        "http://localhost/a",
    ];
    assert_eq!(rawget(&missing).expect(7).code, curl(&missing).code);

    let low = free_port();
    let range = format!("{low}-{}", low + 20);
    let w = [
        "-w",
        "%{local_port}",
        "-o",
        "/dev/null",
        "--local-port",
        &range,
    ];
    let port: u16 = rawget(&[&w[..], &[nginx.url("/a").as_str()]].concat())
        .expect(0)
        .out()
        .parse()
        .unwrap();
    assert!((low..=low + 20).contains(&port), "{port} not in {range}");
    let port: u16 = curl(&[&w[..], &[nginx.url("/a").as_str()]].concat())
        .out()
        .parse()
        .unwrap();
    assert!((low..=low + 20).contains(&port));

    for iface in ["lo", "127.0.0.1", "if!lo", "host!127.0.0.1"] {
        let args = ["--interface", iface, &nginx.url("/a")];
        let ours =
            rawget(&[&["-o", "/dev/null", "-w", "%{http_code}"][..], &args].concat()).expect(0);
        assert_eq!(ours.out(), "200", "{iface}");
    }
    let bad = ["--interface", "nosuchif0", &nginx.url("/a")];
    assert_eq!(rawget(&bad).expect(45).code, curl(&bad).code);
    assert!(rawget(&["--local-port", "70000", "x"]).code == 2);
}

/// A server that answers the first request of each client connection and
/// keeps it open, then closes the connection when a second request comes
/// on it, unanswered: a kept-alive connection the server dropped just as
/// it was reused. `rounds` clients, each making two connections.
fn drops_second_request(rounds: usize) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let t = thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..rounds {
            let (mut first, _) = listener.accept().unwrap();
            first
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            seen.push(String::from_utf8_lossy(&read_request(&mut first)).into_owned());
            first
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none")
                .unwrap();
            seen.push(String::from_utf8_lossy(&read_request(&mut first)).into_owned());
            drop(first);
            let (mut second, _) = listener.accept().unwrap();
            second
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            seen.push(String::from_utf8_lossy(&read_request(&mut second)).into_owned());
            second
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\ntwo")
                .unwrap();
        }
        seen
    });
    (addr, t)
}

#[test]
fn a_kept_connection_closed_by_the_server_is_replaced_once() {
    or_skip!(tools(&["curl"]));
    let (addr, server) = drops_second_request(2);
    let (a, b) = (format!("http://{addr}/a"), format!("http://{addr}/b"));
    let w = [
        "-w",
        "%{num_connects}:%{http_code} ",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
    ];
    let ours = rawget(&[&w[..], &["-v", &a, &b]].concat()).expect(0);
    assert_eq!(ours.out(), "1:200 1:200 ");
    assert!(
        ours.stderr
            .contains("was closed by the server while kept idle"),
        "{}",
        ours.stderr
    );
    assert_eq!(curl(&[&w[..], &[&a, &b]].concat()).out(), "1:200 1:200 ");
    let seen = server.join().unwrap();
    // Each tool sent /b twice: on the dropped connection, then anew.
    let paths: Vec<&str> = seen
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(paths, ["/a", "/b", "/b", "/a", "/b", "/b"]);
}
