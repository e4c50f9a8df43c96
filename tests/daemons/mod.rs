//! Real peers for tests/detect_daemons.rs: Debian's daemons (and Python
//! listeners for protocols where a daemon is not worth it), each started in
//! a network namespace of its own with a throwaway configuration, on the
//! port the test chooses, and stopped on Drop.
//!
//! Why a namespace per test: the ports can then be the well-known ones
//! (NTP 123, SNMP 161, TFTP 69) and the non-standard ones (2222,
//! 8443, 7000) without colliding with anything else on the machine or
//! with a parallel test. The test's own sockets are made by a thread that
//! has joined the namespace (`setns(2)`), see [`Netns::run`].
//!
//! What needs what: root (namespaces, daemons that bind low ports), `ip`,
//! and the daemon's package (`.ci/packages.d/daemons.txt`, installed by
//! `.ci/install-packages`, never by a test). When one is missing,
//! [`Netns::new`] / [`Peer::start`] fail the test with the reason, unless
//! `RAWNET_TEST_SKIP` names it (tests/require): then they return
//! [`Skipped`] and the test returns. When they are there, the daemon must
//! start: a daemon that does not answer within [`READY_LIMIT`] fails the
//! test.

#![allow(dead_code)]

use std::fs::File;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::require::{self, Skipped};

/// Most time a daemon gets to answer after it was started.
pub const READY_LIMIT: Duration = Duration::from_secs(20);

/// A network namespace with only `lo`, deleted on Drop (after the
/// processes started in it are stopped).
pub struct Netns {
    pub name: String,
    daemons: Vec<Daemon>,
    pub dir: tempfile::TempDir,
}

/// Most time a set-up command (ip, ssh-keygen, openssl, initdb) may take.
pub const SETUP_LIMIT: Duration = Duration::from_secs(120);

/// Runs `cmd` (output discarded) for at most [`SETUP_LIMIT`], killing it
/// then; true when it exited 0.
fn succeeds(cmd: &mut Command) -> bool {
    let spawned = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = spawned else {
        return false;
    };
    let start = Instant::now();
    while start.elapsed() < SETUP_LIMIT {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// The path of `prog` if it is installed (PATH, then the sbin dirs, and
/// PostgreSQL's own bin directory).
pub fn find_program(prog: &str) -> Option<PathBuf> {
    require::find_program(prog).or_else(|| {
        let pg = Path::new("/usr/lib/postgresql/15/bin").join(prog);
        pg.is_file().then_some(pg)
    })
}

/// `prog`'s path; when it is not installed, the test fails (or skips, if
/// `RAWNET_TEST_SKIP` names `prog`).
pub fn need(prog: &str) -> Result<PathBuf, Skipped> {
    find_program(prog).ok_or_else(|| {
        require::missing(
            prog,
            &format!("{prog} is not installed (see .ci/packages.d; run .ci/install-packages)"),
        )
    })
}

/// Like [`need`] for a program outside PATH, installed by `package`.
pub fn need_at(path: &str, package: &str) -> Result<PathBuf, Skipped> {
    let name = Path::new(path).file_name().unwrap().to_str().unwrap();
    require::file(path, name, package)
}

impl Netns {
    /// A fresh namespace `rwudp-<pid>-<n>` with `lo` up, and a temp dir
    /// for configurations. Without root or `ip`: the test fails, or skips
    /// (`root`, `ip`, `netns`) when `RAWNET_TEST_SKIP` says so.
    pub fn new() -> Result<Netns, Skipped> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        require::root("a network namespace")?;
        need("ip")?;
        let name = format!(
            "rwudp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        if !succeeds(Command::new("ip").args(["netns", "add", &name])) {
            return Err(require::missing(
                "netns",
                &format!("`ip netns add {name}` failed"),
            ));
        }
        let ns = Netns {
            name,
            daemons: Vec::new(),
            dir: tempfile::Builder::new()
                .prefix("rawnet-daemons-")
                .tempdir()
                .expect("temp dir"),
        };
        // World-readable so daemons that drop privileges can read their
        // configuration.
        std::fs::set_permissions(ns.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(
            succeeds(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"])),
            "lo up in {}",
            ns.name
        );
        Ok(ns)
    }

    /// Links this namespace to `other` with a veth pair: `rwA` here with
    /// `here/24`, `rwB` there with `there/24`, both up.
    pub fn link(&self, other: &Netns, here: &str, there: &str) {
        let ok = succeeds(Command::new("ip").args([
            "link",
            "add",
            "rwA",
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            "rwB",
            "netns",
            &other.name,
        ]));
        assert!(ok, "veth pair {} - {}", self.name, other.name);
        for (ns, dev, addr) in [(self, "rwA", here), (other, "rwB", there)] {
            let cidr = format!("{addr}/24");
            let n = ns.name.as_str();
            assert!(succeeds(
                Command::new("ip").args(["-n", n, "addr", "add", &cidr, "dev", dev])
            ));
            assert!(succeeds(
                Command::new("ip").args(["-n", n, "link", "set", dev, "up"])
            ));
        }
    }

    /// A LAN interface for daemons that ignore loopback (nmbd, minissdpd):
    /// a veth pair inside this namespace, `rwA` with [`LAN_ADDR`]/24 (the
    /// container has no dummy interfaces).
    pub fn lan(&self) {
        let n = self.name.as_str();
        let cidr = format!("{LAN_ADDR}/24");
        for args in [
            &["link", "add", "rwA", "type", "veth", "peer", "name", "rwB"][..],
            &["addr", "add", &cidr, "dev", "rwA"],
            &["link", "set", "rwA", "up"],
            &["link", "set", "rwB", "up"],
        ] {
            let ok = succeeds(Command::new("ip").args(["-n", n]).args(args));
            assert!(ok, "ip -n {n} {args:?}");
        }
    }

    /// A path in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the temp dir and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts `program args` inside the namespace (via `ip netns exec`,
    /// which execs it, so the child is the daemon itself), its output
    /// in `<name>.log`.
    pub fn spawn(&mut self, name: &str, program: &Path, args: &[&str]) {
        self.spawn_cmd(name, program, args, &[]);
    }

    /// Like [`Netns::spawn`], with extra environment variables.
    pub fn spawn_cmd(&mut self, name: &str, program: &Path, args: &[&str], env: &[(&str, &str)]) {
        let log = File::create(self.path(&format!("{name}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        self.daemons.push(Daemon {
            name: name.to_owned(),
            child,
        });
    }

    /// Like [`Netns::spawn`], in a mount namespace of its own with a
    /// private tmpfs on /run: for daemons whose pid files, locks and
    /// sockets have fixed paths there (rpcbind, charon), so they neither
    /// meet a copy running on the machine nor leave files behind.
    pub fn spawn_private_run(&mut self, name: &str, program: &Path, args: &[&str]) {
        let unshare = find_program("unshare").expect("unshare (util-linux)");
        let script = "mount -t tmpfs rawnet-run /run && exec \"$0\" \"$@\"";
        let mut all = vec!["--mount", "--propagation", "private", "sh", "-c", script];
        let program = program.to_str().unwrap();
        all.push(program);
        all.extend_from_slice(args);
        self.spawn(name, &unshare, &all);
    }

    /// The log of daemon `name` (for failure messages).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    /// Panics (with the daemon's log) unless daemon `name` is still
    /// running.
    fn assert_running(&mut self, name: &str) {
        let d = self.daemons.iter_mut().find(|d| d.name == name).unwrap();
        if let Ok(Some(status)) = d.child.try_wait() {
            panic!("{name} exited ({status}): {}", self.log(name));
        }
    }

    /// Runs `f` on a thread that has entered this namespace: sockets it
    /// makes live there.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        thread::spawn(move || {
            let ns = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: setns on this thread only, with a valid descriptor.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    /// Waits until daemon `name` accepts TCP connections on `port` in the
    /// namespace; panics with its log after [`READY_LIMIT`].
    pub fn wait_tcp(&mut self, name: &str, port: u16) {
        let start = Instant::now();
        while start.elapsed() < READY_LIMIT {
            self.assert_running(name);
            let ok = self.run(move || {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
            });
            if ok {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("{name} never listened on {port}: {}", self.log(name));
    }

    /// Sends `payload` to UDP `port` on 127.0.0.1 in the namespace from a
    /// connected socket, every 250 ms, until a datagram comes back;
    /// returns it. Panics with the daemon's log after [`READY_LIMIT`].
    pub fn udp_exchange(&mut self, name: &str, port: u16, payload: &[u8]) -> Vec<u8> {
        self.udp_exchange_to(name, SocketAddr::from(([127, 0, 0, 1], port)), payload)
    }

    /// Like [`Netns::udp_exchange`], to `addr`.
    pub fn udp_exchange_to(&mut self, name: &str, addr: SocketAddr, payload: &[u8]) -> Vec<u8> {
        let start = Instant::now();
        while start.elapsed() < READY_LIMIT {
            self.assert_running(name);
            let payload = payload.to_vec();
            let reply = self.run(move || udp_once(addr, &payload, Duration::from_millis(250)));
            if let Some(reply) = reply {
                save_seed("udp_reply", &format!("{name}-{}", addr.port()), &reply);
                return reply;
            }
        }
        panic!("{name} never answered on UDP {addr}: {}", self.log(name));
    }
}

/// With `RAWNET_FUZZ_SEEDS=DIR` set, writes `bytes` (a real peer's reply)
/// to `DIR/<target>/<name>`: seeds for the fuzz targets (fuzz/README.md).
/// Without it, nothing.
pub fn save_seed(target: &str, name: &str, bytes: &[u8]) {
    let Some(dir) = std::env::var_os("RAWNET_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir).join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

/// One request and at most one reply, with a plain connected UdpSocket.
/// `None` on timeout or ICMP error (not started yet).
pub fn udp_once(addr: SocketAddr, payload: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind((addr.ip(), 0)).unwrap();
    sock.connect(addr).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    sock.send(payload).ok()?;
    let mut buf = vec![0u8; 65536];
    match sock.recv(&mut buf) {
        Ok(n) => {
            buf.truncate(n);
            Some(buf)
        }
        Err(e) => {
            // Refused (not listening yet) comes back at once: pace retries.
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                thread::sleep(wait);
            }
            None
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().rev() {
            d.stop();
        }
        // Anything the daemons forked that is still in the namespace is
        // ours too: stop it by pid before deleting the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = succeeds(Command::new("ip").args(["netns", "del", &self.name]));
    }
}

/// A process started by a test.
struct Daemon {
    name: String,
    child: Child,
}

impl Daemon {
    /// SIGTERM, then SIGKILL if it has not exited within 3 s.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ the daemons

/// The namespace with `daemon` started on `port` and answering TCP
/// ([`Skipped`] only when `RAWNET_TEST_SKIP` allows what is missing).
pub fn tcp_peer(daemon: Peer, port: u16) -> Result<Netns, Skipped> {
    let mut ns = Netns::new()?;
    daemon.start(&mut ns, port)?;
    ns.wait_tcp(daemon.name(), port);
    Ok(ns)
}

/// What can be started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Peer {
    Sshd,
    NginxHttp,
    NginxHttps,
    /// nginx with TLS 1.3 only: it must refuse our TLS 1.2 hello.
    NginxTls13Only,
    Redis,
    /// redis-server with `requirepass`: answers `-NOAUTH` to everything.
    RedisWithPassword,
    Memcached,
    Postgres,
    /// dnsmasq serving DNS (UDP and TCP) on the port.
    Dnsmasq,
    /// dnsmasq serving TFTP only, replies from the server port.
    DnsmasqTftp,
    Chrony,
    Snmpd,
    /// dnsmasq serving DHCP (on its fixed port 67) on `rwA`, 10.231.7.1/24
    /// (see [`Netns::link`]).
    DnsmasqDhcp,
    /// Samba's nmbd (NetBIOS name service, fixed port 137) on
    /// [`Netns::lan`].
    Nmbd,
    /// minissdpd (SSDP, fixed port 1900) on [`Netns::lan`], with one
    /// service registered so that it has something to answer.
    Minissdpd,
    /// rpcbind (the portmapper) on its fixed port 111.
    Rpcbind,
    /// strongSwan's charon (IKE) on its fixed port 500, no connections.
    Charon,
    /// tests/daemons/peers.py speaking the named protocol.
    Scripted(&'static str),
}

/// The DHCP server's address and pool, on the veth link of the DHCP test.
pub const DHCP_SERVER: &str = "10.231.7.1";
pub const DHCP_CLIENT: &str = "10.231.7.2";
const DHCP_POOL: &str = "10.231.7.50,10.231.7.60";

/// The address of [`Netns::lan`].
pub const LAN_ADDR: &str = "10.231.8.1";

/// The subject CN of the certificate nginx gets.
pub const TLS_CN: &str = "rawnet-detect.test";

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Sshd => "sshd",
            Peer::NginxHttp | Peer::NginxHttps | Peer::NginxTls13Only => "nginx",
            Peer::Redis | Peer::RedisWithPassword => "redis-server",
            Peer::Memcached => "memcached",
            Peer::Postgres => "postgres",
            Peer::Dnsmasq | Peer::DnsmasqTftp | Peer::DnsmasqDhcp => "dnsmasq",
            Peer::Chrony => "chronyd",
            Peer::Snmpd => "snmpd",
            Peer::Rpcbind => "rpcbind",
            Peer::Nmbd => "nmbd",
            Peer::Minissdpd => "minissdpd",
            Peer::Charon => "charon",
            Peer::Scripted(proto) => proto,
        }
    }

    /// Starts the daemon in `ns` on `port`; when its program is not
    /// installed the test fails, or skips if `RAWNET_TEST_SKIP` names it.
    pub fn start(self, ns: &mut Netns, port: u16) -> Result<(), Skipped> {
        let p = port.to_string();
        match self {
            Peer::Sshd => start_sshd(ns, &p)?,
            Peer::NginxHttp => start_nginx(ns, &format!("listen 127.0.0.1:{p};"), "")?,
            Peer::NginxHttps => {
                start_nginx(ns, &format!("listen 127.0.0.1:{p} ssl;"), "TLSv1.2 TLSv1.3")?
            }
            Peer::NginxTls13Only => {
                start_nginx(ns, &format!("listen 127.0.0.1:{p} ssl;"), "TLSv1.3")?
            }
            Peer::Redis | Peer::RedisWithPassword => {
                let prog = need("redis-server")?;
                let dir = ns.dir.path().to_str().unwrap().to_owned();
                let mut args = vec![
                    "--port",
                    &p,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    &dir,
                ];
                if self == Peer::RedisWithPassword {
                    args.extend(["--requirepass", "rawnet-test-secret"]);
                }
                ns.spawn("redis-server", &prog, &args);
            }
            Peer::Memcached => {
                let prog = need("memcached")?;
                let args = [
                    "-l",
                    "127.0.0.1",
                    "-p",
                    &p,
                    "-U",
                    &p,
                    "-u",
                    "root",
                    "-m",
                    "16",
                ];
                ns.spawn("memcached", &prog, &args);
            }
            Peer::Postgres => start_postgres(ns, &p)?,
            Peer::Dnsmasq => {
                let prog = need("dnsmasq")?;
                let args = dnsmasq_args(ns, &[&format!("--port={p}")]);
                ns.spawn(
                    "dnsmasq",
                    &prog,
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                );
            }
            Peer::DnsmasqTftp => {
                let prog = need("dnsmasq")?;
                let root = ns.path("tftp");
                std::fs::create_dir_all(&root).unwrap();
                let extra = [
                    "--port=0".to_owned(),
                    "--enable-tftp".to_owned(),
                    format!("--tftp-root={}", root.display()),
                    "--tftp-single-port".to_owned(),
                ];
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                assert_eq!(port, 69, "dnsmasq's TFTP port is fixed");
                let args = dnsmasq_args(ns, &extra);
                ns.spawn(
                    "dnsmasq",
                    &prog,
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                );
            }
            Peer::DnsmasqDhcp => {
                assert_eq!(port, 67, "the DHCP server port is fixed");
                let prog = need("dnsmasq")?;
                let extra = [
                    "--port=0".to_owned(),
                    "--interface=rwA".to_owned(),
                    format!("--dhcp-range={DHCP_POOL},1h"),
                    format!("--dhcp-leasefile={}", ns.path("leases").display()),
                ];
                let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                let args = dnsmasq_args(ns, &extra);
                ns.spawn(
                    "dnsmasq",
                    &prog,
                    &args.iter().map(String::as_str).collect::<Vec<_>>(),
                );
            }
            Peer::Chrony => {
                let prog = need("chronyd")?;
                let conf = ns.write(
                    "chrony.conf",
                    &format!(
                        "port {p}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n\
                         cmdport 0\npidfile {}\n",
                        ns.path("chronyd.pid").display()
                    ),
                );
                let conf = conf.to_str().unwrap().to_owned();
                ns.spawn("chronyd", &prog, &["-d", "-x", "-u", "root", "-f", &conf]);
            }
            Peer::Snmpd => {
                let prog = need("snmpd")?;
                let conf = ns.write(
                    "snmpd.conf",
                    "rocommunity public 127.0.0.1\nsysLocation rawnet test namespace\n",
                );
                let conf = conf.to_str().unwrap().to_owned();
                let persist = ns.path("snmp");
                std::fs::create_dir_all(&persist).unwrap();
                let listen = format!("udp:127.0.0.1:{p}");
                let args = ["-f", "-Lo", "-C", "-c", &conf, &listen];
                let env = [
                    ("SNMP_PERSISTENT_DIR", persist.to_str().unwrap()),
                    ("MIBS", ""),
                ];
                ns.spawn_cmd("snmpd", &prog, &args, &env);
            }
            Peer::Rpcbind => {
                assert_eq!(port, 111, "rpcbind's port is fixed");
                let prog = need("rpcbind")?;
                ns.spawn_private_run("rpcbind", &prog, &["-f", "-w"]);
            }
            Peer::Nmbd => start_nmbd(ns, port)?,
            Peer::Minissdpd => start_minissdpd(ns, port)?,
            Peer::Charon => {
                assert_eq!(port, 500, "charon's port is fixed");
                let prog = need_at("/usr/lib/ipsec/charon", "strongswan-charon")?;
                ns.spawn_private_run("charon", &prog, &[]);
            }
            Peer::Scripted(proto) => {
                let prog = need("python3")?;
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/daemons/peers.py");
                let script = script.to_str().unwrap().to_owned();
                ns.spawn(proto, &prog, &[&script, proto, &p]);
            }
        }
        Ok(())
    }
}

/// dnsmasq in the foreground, as root, answering only from its own
/// configuration (no upstream, no /etc/hosts), plus `extra`.
fn dnsmasq_args(ns: &Netns, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        // Wildcard sockets on lo: with --bind-interfaces, TFTP in
        // single-port mode fails to send its answers.
        "--interface=lo",
        "--user=root",
        "--log-facility=-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--pid-file={}", ns.path("dnsmasq.pid").display()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn start_sshd(ns: &mut Netns, port: &str) -> Result<(), Skipped> {
    let sshd = need("sshd")?;
    let keygen = need("ssh-keygen")?;
    let key = ns.path("ssh_host_ed25519_key");
    let made = succeeds(
        Command::new(keygen)
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key),
    );
    assert!(made, "ssh-keygen");
    // sshd insists on its privilege separation directory.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let conf = ns.write(
        "sshd_config",
        &format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
             UsePAM no\nStrictModes no\nPasswordAuthentication no\n",
            key.display(),
            ns.path("sshd.pid").display()
        ),
    );
    let conf = conf.to_str().unwrap().to_owned();
    ns.spawn("sshd", &sshd, &["-D", "-e", "-f", &conf]);
    Ok(())
}

/// nginx in the foreground with one server block `listen`ing; for `ssl`,
/// a self-signed certificate for [`TLS_CN`] made now and the TLS
/// `protocols` given.
fn start_nginx(ns: &mut Netns, listen: &str, protocols: &str) -> Result<(), Skipped> {
    let nginx = need("nginx")?;
    let mut tls = String::new();
    if listen.contains("ssl") {
        let openssl = need("openssl")?;
        let (cert, key) = (ns.path("cert.pem"), ns.path("key.pem"));
        let made = succeeds(
            Command::new(openssl)
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                ])
                .args(["-nodes", "-days", "2", "-subj", &format!("/CN={TLS_CN}")])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        assert!(made, "openssl req");
        tls = format!(
            "ssl_certificate {};\n ssl_certificate_key {};\n ssl_protocols {protocols};",
            cert.display(),
            key.display()
        );
    }
    let d = ns.dir.path().display().to_string();
    let conf = ns.write(
        "nginx.conf",
        &format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\nuser root root;\n\
             pid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/cb;\n proxy_temp_path {d}/px;\n\
             fastcgi_temp_path {d}/fc;\n uwsgi_temp_path {d}/uw;\n scgi_temp_path {d}/sc;\n\
             server {{\n {listen}\n {tls}\n location / {{ return 200 \"rawnet\\n\"; }}\n }}\n}}\n"
        ),
    );
    let conf = conf.to_str().unwrap().to_owned();
    ns.spawn(
        "nginx",
        &nginx,
        &["-c", &conf, "-p", &d, "-e", &format!("{d}/nginx-error.log")],
    );
    Ok(())
}

/// initdb into the temp dir as user postgres, then the server itself (no
/// pg_ctl: the child must be the server so Drop can stop it).
fn start_postgres(ns: &mut Netns, port: &str) -> Result<(), Skipped> {
    let initdb = need("initdb")?;
    let postgres = need("postgres")?;
    let setpriv = need("setpriv")?;
    let data = ns.path("pgdata");
    let owned = succeeds(
        Command::new("install")
            .args(["-d", "-o", "postgres", "-g", "postgres", "-m", "700"])
            .arg(&data),
    );
    if !owned {
        return Err(require::missing(
            "postgres",
            "no user postgres to run the server as (Debian package postgresql)",
        ));
    }
    let inited = succeeds(
        Command::new(&setpriv)
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(&initdb)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data),
    );
    assert!(inited, "initdb");
    let data = data.to_str().unwrap().to_owned();
    let setpriv_args = ["--reuid=postgres", "--regid=postgres", "--init-groups"];
    let mut args: Vec<&str> = setpriv_args.to_vec();
    let postgres = postgres.to_str().unwrap().to_owned();
    args.extend([
        postgres.as_str(),
        "-D",
        &data,
        "-p",
        port,
        "-k",
        &data,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
    ]);
    ns.spawn("postgres", &setpriv, &args);
    Ok(())
}

/// nmbd in the foreground on the LAN interface, every directory it
/// writes in the temp dir.
fn start_nmbd(ns: &mut Netns, port: u16) -> Result<(), Skipped> {
    assert_eq!(port, 137, "nmbd's port is fixed");
    let nmbd = need("nmbd")?;
    ns.lan();
    let d = ns.dir.path().display().to_string();
    let mut conf = String::from(
        "[global]\n netbios name = RAWNETTEST\n workgroup = RAWNET\n interfaces = rwA\n\
         disable netbios = no\n",
    );
    for (key, dir) in [
        ("lock directory", "lock"),
        ("state directory", "state"),
        ("cache directory", "cache"),
        ("private dir", "private"),
        ("pid directory", "pid"),
        ("ncalrpc dir", "ncalrpc"),
        ("nmbd:socket dir", "nmbd-socket"),
    ] {
        std::fs::create_dir_all(ns.path(dir)).unwrap();
        conf.push_str(&format!(" {key} = {d}/{dir}\n"));
    }
    conf.push_str(&format!(" log file = {d}/nmbd-%m.log\n"));
    let conf = ns.write("smb.conf", &conf);
    let conf = format!("--configfile={}", conf.display());
    let args = ["-F", "--debug-stdout", "--no-process-group", &conf];
    ns.spawn_private_run("nmbd", &nmbd, &args);
    Ok(())
}

/// minissdpd on the LAN interface; then one service registered through
/// its socket (request type 4: search target, USN, server, location, each
/// length-prefixed), because it answers M-SEARCH only for what it knows.
fn start_minissdpd(ns: &mut Netns, port: u16) -> Result<(), Skipped> {
    assert_eq!(port, 1900, "SSDP's port is fixed");
    let prog = need("minissdpd")?;
    ns.lan();
    let sock = ns.path("minissdpd.sock");
    let pid = ns.path("minissdpd.pid");
    let (s, p) = (sock.to_str().unwrap(), pid.to_str().unwrap());
    ns.spawn("minissdpd", &prog, &["-d", "-i", "rwA", "-s", s, "-p", p]);
    let start = Instant::now();
    let mut conn = loop {
        ns.assert_running("minissdpd");
        if let Ok(c) = std::os::unix::net::UnixStream::connect(&sock) {
            break c;
        }
        assert!(start.elapsed() < READY_LIMIT, "no minissdpd socket");
        thread::sleep(Duration::from_millis(50));
    };
    let fields = [
        "urn:rawnet-test:device:Probe:1",
        "uuid:72617765-6e65-7400-0000-000000000001::urn:rawnet-test:device:Probe:1",
        "rawnet-test/1.0 UPnP/1.1 minissdpd-peer",
        "http://10.231.8.1:9/description.xml",
    ];
    let mut request = vec![4u8];
    for f in fields {
        request.push(f.len() as u8);
        request.extend_from_slice(f.as_bytes());
    }
    use std::io::{Read, Write};
    conn.write_all(&request).unwrap();
    // The daemon closes the connection once it has taken the request.
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = conn.read(&mut [0u8; 16]);
    Ok(())
}
