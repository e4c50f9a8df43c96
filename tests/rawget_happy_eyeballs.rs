//! rawget's happy-eyeballs race (RFC 8305): a silent IPv6 address on
//! loopback (a listener whose accept queue is full), two silent
//! addresses under --connect-timeout, and a namespace where an nft rule
//! drops an IPv6 address's packets (root; tests/require decides when it
//! cannot run).

mod rawget_servers;
mod rawget_support;
mod require;

use std::io::{self};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rawget_servers::*;

/// A listener on `addr` whose accept queue is full: Linux drops further
/// SYNs, so a connect to it gets no answer at all (an IPv6 route that
/// silently loses packets, on loopback). Returns it and its filler.
fn black_hole(addr: SocketAddr) -> io::Result<(socket2::Socket, Vec<TcpStream>)> {
    let listener = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        listener.set_only_v6(true)?;
    }
    listener.bind(&addr.into())?;
    listener.listen(0)?;
    let bound = listener.local_addr()?.as_socket().unwrap();
    let fill = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&bound, Duration::from_millis(300)).ok())
        .collect();
    Ok((listener, fill))
}

/// What the -v trace says about the race: the IPv4 attempt started about
/// one stagger after the IPv6 one, won, and the IPv6 attempt was closed.
fn check_race(run: &Run, v6: &str) {
    let line = |needle: &str| -> f64 {
        let l = run
            .stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} in {}", run.stderr));
        l.split('[')
            .nth(1)
            .unwrap()
            .split("ms]")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let started_v6 = line(&format!("connect([{v6}]"));
    let started_v4 = line("happy eyeballs, 1 earlier attempt(s) unanswered");
    assert!(
        started_v4 - started_v6 >= 240.0,
        "staggered: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("connect([{v6}]:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("abandoned"), "{}", run.stderr);
    assert!(
        run.stderr.contains("connected 127.0.0.1:"),
        "{}",
        run.stderr
    );
}

#[test]
fn happy_eyeballs_a_silent_ipv6_address_costs_one_stagger() {
    require::or_skip!(require::ipv6());
    // The same port on ::1 (silent) and 127.0.0.1 (serving); retry until
    // a port free on both is found. The IPv4 listener found free is the
    // one served on: let go and bound again, the port could be taken in
    // between.
    let (hole, srv) = (0..20)
        .find_map(|_| {
            let hole = black_hole((Ipv6Addr::LOCALHOST, 0).into()).ok()?;
            let port = hole.0.local_addr().ok()?.as_socket()?.port();
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).ok()?;
            let srv = http_server_with(listener, Duration::ZERO, vec![OK_HELLO.to_vec()]);
            Some((hole, srv))
        })
        .expect("a port free on ::1 and 127.0.0.1");
    let port = srv.port();
    let resolve = format!("dual.test:{port}:[::1],127.0.0.1");
    let url = format!("http://dual.test:{port}/");
    // Without the race the connect would wait for --connect-timeout,
    // past -m: only racing the second address gets exit 0.
    let run = rawget(&[
        "--connect-timeout",
        "30",
        "-m",
        "10",
        "-v",
        "--resolve",
        &resolve,
        &url,
    ])
    .expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    check_race(&run, "::1");
    srv.seen();
    drop(hole);
}

#[test]
fn happy_eyeballs_connect_timeout_bounds_the_race() {
    let (hole, _fill) = black_hole((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
    let port = hole.local_addr().unwrap().as_socket().unwrap().port();
    // Two silent addresses (the same black hole twice, as two families
    // cannot both be black-holed portably): both race, neither answers.
    let resolve = format!("dead.test:{port}:127.0.0.1,127.0.0.1");
    let url = format!("http://dead.test:{port}/");
    let run = rawget(&[
        "--connect-timeout",
        "0.6",
        "-v",
        "--resolve",
        &resolve,
        &url,
    ])
    .expect(28);
    // The kernel's SYN retries last minutes, past the watchdog: exit 28
    // in time is --connect-timeout's doing.
    assert!(run.stderr.contains("connecting"), "{}", run.stderr);
}

/// A network namespace made for one test, deleted on drop.
struct Netns(String);

impl Netns {
    /// Creates it; without root or `ip` the test fails, unless
    /// `RAWNET_TEST_SKIP` names what is missing (tests/require).
    fn create(tag: &str) -> Result<Netns, require::Skipped> {
        require::root("a network namespace")?;
        let ip = require::program("ip", "iproute2")?;
        let name = format!("rgt{tag}{}", std::process::id());
        let ok = Command::new(ip)
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(require::missing(
                "netns",
                &format!("`ip netns add {name}` failed"),
            ));
        }
        Ok(Netns(name))
    }

    fn ip(&self, args: &str) {
        let status = Command::new("ip")
            .args(["-n", &self.0])
            .args(args.split(' '))
            .status()
            .unwrap();
        assert!(status.success(), "ip -n {} {args}", self.0);
    }

    /// Runs `f` on a thread that has entered the namespace.
    fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        let path = format!("/run/netns/{}", self.0);
        thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            use std::os::fd::AsRawFd;
            // SAFETY: a valid namespace descriptor; only this thread moves.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn happy_eyeballs_in_a_namespace_with_a_dropping_ipv6_address() {
    // fd00:2e6::99 is an address of our own namespace whose incoming
    // packets an nft rule drops: a dead IPv6 path that never answers.
    let ns = require::or_skip!(Netns::create("he"));
    require::or_skip!(require::program("nft", "nftables"));
    ns.ip("link set lo up");
    ns.ip("addr add fd00:2e6::99/128 dev lo nodad");
    let nft = |rule: &str| {
        let status = Command::new("ip")
            .args(["netns", "exec", &ns.0, "nft"])
            .args(rule.split(' '))
            .status()
            .unwrap();
        assert!(status.success(), "nft {rule}");
    };
    nft("add table ip6 rawget_test");
    nft("add chain ip6 rawget_test input { type filter hook input priority 0 ; }");
    nft("add rule ip6 rawget_test input ip6 daddr fd00:2e6::99 drop");
    let (tx, rx) = mpsc::channel();
    let server = ns.spawn(move || {
        let srv = http_server(vec![OK_HELLO.to_vec()]);
        tx.send(srv.port()).unwrap();
        srv.seen()
    });
    let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let resolve = format!("dual.test:{port}:[fd00:2e6::99],127.0.0.1");
    let url = format!("http://dual.test:{port}/");
    let run = rawget_in(
        Some(&ns.0),
        &[
            // Past -m: only the race gets exit 0.
            "--connect-timeout",
            "30",
            "-m",
            "10",
            "-v",
            "--resolve",
            &resolve,
            &url,
        ],
    )
    .expect(0);
    assert_eq!(run.stdout, OK_HELLO);
    check_race(&run, "fd00:2e6::99");
    assert_eq!(server.join().unwrap().len(), 1);
}
