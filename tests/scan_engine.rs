//! The scan engine against real sockets on loopback (127.0.0.1 and ::1
//! only): listeners for open ports, bound-but-not-listening sockets for
//! closed ports, and a listener whose backlog is full for a filtered port.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::TcpStream;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rawnet::scan::{
    run, BannerConfig, PortResult, Probe, ProbeSource, Proto, ScanConfig, State, Summary,
};
use socket2::{Domain, Socket, Type};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// A tiny probe source: a list.
struct VecSource(Vec<Probe>);

impl ProbeSource for VecSource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn probe(&self, index: u64) -> Probe {
        self.0[index as usize].clone()
    }
}

fn probes(ip: IpAddr, ports: impl IntoIterator<Item = u16>) -> VecSource {
    let target: Arc<str> = Arc::from(ip.to_string());
    VecSource(
        ports
            .into_iter()
            .map(|port| Probe {
                target: target.clone(),
                ip,
                port,
                proto: Proto::Tcp,
            })
            .collect(),
    )
}

/// A generous timeout: loopback answers in microseconds, but the machine
/// running the tests may be busy; tests that want timeouts set their own.
/// The minimum is the binary's default, so these tests scan the way the
/// binary does.
fn config() -> ScanConfig {
    ScanConfig {
        timeout: Duration::from_millis(1000),
        min_timeout: Duration::from_millis(100),
        concurrency: 100,
        retries: 0,
        discover_hosts: false,
        host_timeout: None,
        rate: None,
        banner: None,
    }
}

fn scan(source: &VecSource, cfg: &ScanConfig) -> (Vec<PortResult>, Summary) {
    let results = Mutex::new(Vec::new());
    let summary = run(source, cfg, &|r| results.lock().unwrap().push(r)).expect("scan runs");
    (results.into_inner().unwrap(), summary)
}

/// Listeners that complete handshakes in the kernel (never accepted).
fn listeners(ip: IpAddr, n: usize) -> Vec<TcpListener> {
    (0..n)
        .map(|_| TcpListener::bind(SocketAddr::new(ip, 0)).unwrap())
        .collect()
}

/// Sockets bound to a port but not listening: that port answers RST, and
/// nobody else can listen on it while the socket lives.
fn closed_ports(ip: IpAddr, n: usize) -> Vec<Socket> {
    (0..n)
        .map(|_| {
            let s = Socket::new(
                Domain::for_address(SocketAddr::new(ip, 0)),
                Type::STREAM,
                None,
            )
            .unwrap();
            s.bind(&SocketAddr::new(ip, 0).into()).unwrap();
            s
        })
        .collect()
}

fn port_of(s: &Socket) -> u16 {
    s.local_addr().unwrap().as_socket().unwrap().port()
}

/// A listener with backlog 0 that never accepts, its queue filled by a few
/// connects: further SYNs are dropped, so a probe times out.
fn filtered_port(ip: IpAddr) -> (Socket, Vec<TcpStream>) {
    let addr = SocketAddr::new(ip, 0);
    let listener = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    listener.bind(&addr.into()).unwrap();
    listener.listen(0).unwrap();
    let target = listener.local_addr().unwrap().as_socket().unwrap();
    // Connect until one connect gets no answer: the queue is full then.
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match TcpStream::connect_timeout(&target, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => return (listener, fillers),
        }
    }
    panic!("the accept queue of {target} never filled");
}

/// A liveness bound, not a timing claim: far above what any correct run
/// takes on a loaded machine, far below what the behaviour under test
/// avoids (the tests that use it set their maximum timeouts past it).
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `f`, aborting the test process (with `what` on stderr) if it has
/// not returned within [`WATCHDOG`].
fn live<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (done, wait) = mpsc::channel::<()>();
    let what = what.to_owned();
    let dog = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(WATCHDOG) {
            eprintln!("{what}: still running after {WATCHDOG:?}");
            std::process::abort();
        }
    });
    let out = f();
    drop(done);
    let _ = dog.join();
    out
}

fn states(results: &[PortResult]) -> HashMap<u16, State> {
    results.iter().map(|r| (r.port, r.state)).collect()
}

fn ports_in(results: &[PortResult], state: State) -> BTreeSet<u16> {
    results
        .iter()
        .filter(|r| r.state == state)
        .map(|r| r.port)
        .collect()
}

fn exact_sets(ip: IpAddr) {
    let open = listeners(ip, 3);
    let closed = closed_ports(ip, 20);
    let open_ports: BTreeSet<u16> = open
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let closed_set: BTreeSet<u16> = closed.iter().map(port_of).collect();
    let source = probes(ip, open_ports.iter().chain(&closed_set).copied());
    let (results, summary) = scan(&source, &config());
    assert_eq!(results.len(), 23);
    assert_eq!(ports_in(&results, State::Open), open_ports);
    assert_eq!(ports_in(&results, State::Closed), closed_set);
    assert_eq!((summary.open, summary.closed, summary.filtered), (3, 20, 0));
    for r in &results {
        assert_eq!(r.ip, ip);
        assert_eq!(&*r.target, ip.to_string());
        // Answered, so within the attempt's timeout.
        assert!(r.rtt <= config().timeout, "{r:?}");
        assert_eq!(r.banner, None);
    }
}

#[test]
fn exact_open_and_closed_sets_ipv4() {
    exact_sets(V4);
}

#[test]
fn exact_open_and_closed_sets_ipv6() {
    exact_sets(V6);
}

#[test]
fn full_backlog_is_filtered_after_the_timeout() {
    let (listener, _fillers) = filtered_port(V4);
    let port = port_of(&listener);
    let cfg = ScanConfig {
        timeout: Duration::from_millis(300),
        ..config()
    };
    let (results, summary) = live("a filtered probe", || scan(&probes(V4, [port]), &cfg));
    assert_eq!(states(&results), HashMap::from([(port, State::Filtered)]));
    assert_eq!(summary.filtered, 1);
    assert!(
        results[0].rtt >= Duration::from_millis(250),
        "{:?}",
        results[0]
    );
}

#[test]
fn retries_report_once_with_the_final_state() {
    let (listener, _fillers) = filtered_port(V4);
    let port = port_of(&listener);
    let cfg = ScanConfig {
        retries: 2,
        discover_hosts: false,
        host_timeout: None,
        timeout: Duration::from_millis(200),
        ..config()
    };
    let start = Instant::now();
    let (results, _) = scan(&probes(V4, [port]), &cfg);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].state, State::Filtered);
    // Three attempts of 200 ms each, one after the other.
    assert!(
        start.elapsed() >= Duration::from_millis(550),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn many_filtered_probes_do_not_hang() {
    let (listener, _fillers) = filtered_port(V4);
    let port = port_of(&listener);
    let cfg = ScanConfig {
        timeout: Duration::from_millis(200),
        concurrency: 10,
        ..config()
    };
    let (results, summary) = live("50 filtered probes", || {
        scan(&probes(V4, vec![port; 50]), &cfg)
    });
    assert_eq!(results.len(), 50);
    assert_eq!(summary.filtered, 50);
}

/// Scans `source` with one worker (a one-thread rayon pool), so that every
/// probe shares one worker's round-trip estimates, in the source's order.
fn scan_one_worker(source: &VecSource, cfg: &ScanConfig) -> (Vec<PortResult>, Summary) {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| scan(source, cfg))
}

/// A config whose maximum timeout (10 minutes) dwarfs its minimum
/// (100 ms): once loopback has answered, a filtered port should cost a
/// few hundred ms; waiting the maximum would outlast the [`WATCHDOG`].
fn adaptive_config() -> ScanConfig {
    ScanConfig {
        timeout: Duration::from_secs(600),
        min_timeout: Duration::from_millis(100),
        retries: 1,
        discover_hosts: false,
        host_timeout: None,
        ..config()
    }
}

/// Closed ports and one filtered port, in the order `filtered_first` says.
fn closed_and_filtered(
    closed: &[Socket],
    filtered: u16,
    filtered_first: bool,
) -> (VecSource, BTreeSet<u16>) {
    let closed_set: BTreeSet<u16> = closed.iter().map(port_of).collect();
    let mut ports: Vec<u16> = closed_set.iter().copied().collect();
    if filtered_first {
        ports.insert(0, filtered);
    } else {
        ports.push(filtered);
    }
    (probes(V4, ports), closed_set)
}

/// Old behaviour: two attempts of the maximum each, 20 minutes (the scan
/// runs under [`live`], which aborts long before). Adaptive: two attempts
/// at the 100 ms floor (loopback's round trip is microseconds).
fn assert_filtered_well_before_the_maximum(
    results: &[PortResult],
    filtered: u16,
    closed: &BTreeSet<u16>,
    summary: &Summary,
) {
    assert_eq!(
        ports_in(results, State::Filtered),
        BTreeSet::from([filtered])
    );
    assert_eq!(&ports_in(results, State::Closed), closed);
    assert!(summary.elapsed < adaptive_config().timeout, "{summary:?}");
}

#[test]
fn after_answers_a_filtered_port_times_out_near_the_minimum() {
    let (listener, _fillers) = filtered_port(V4);
    let closed = closed_ports(V4, 10);
    let (source, closed) = closed_and_filtered(&closed, port_of(&listener), false);
    let (results, summary) = live("adaptive timeouts", || {
        scan_one_worker(&source, &adaptive_config())
    });
    assert_filtered_well_before_the_maximum(&results, port_of(&listener), &closed, &summary);
}

#[test]
fn an_attempt_started_before_the_first_answer_is_shortened() {
    let (listener, _fillers) = filtered_port(V4);
    let closed = closed_ports(V4, 10);
    let (source, closed) = closed_and_filtered(&closed, port_of(&listener), true);
    let (results, summary) = live("adaptive timeouts", || {
        scan_one_worker(&source, &adaptive_config())
    });
    assert_filtered_well_before_the_maximum(&results, port_of(&listener), &closed, &summary);
}

#[test]
fn min_timeout_equal_to_timeout_is_a_fixed_timeout() {
    let (listener, _fillers) = filtered_port(V4);
    let closed = closed_ports(V4, 10);
    let (source, closed) = closed_and_filtered(&closed, port_of(&listener), false);
    let cfg = ScanConfig {
        timeout: Duration::from_millis(300),
        min_timeout: Duration::from_millis(300),
        retries: 1,
        discover_hosts: false,
        host_timeout: None,
        ..config()
    };
    let (results, summary) = scan_one_worker(&source, &cfg);
    assert_eq!(ports_in(&results, State::Closed), closed);
    let filtered: Vec<_> = results
        .iter()
        .filter(|r| r.state == State::Filtered)
        .collect();
    assert_eq!(filtered.len(), 1);
    // Each of the two attempts waited the full 300 ms despite the answers.
    assert!(
        filtered[0].rtt >= Duration::from_millis(250),
        "{:?}",
        filtered[0]
    );
    assert!(
        summary.elapsed >= Duration::from_millis(550),
        "{:?}",
        summary.elapsed
    );
}

#[test]
fn without_answers_every_attempt_waits_the_maximum() {
    let (listener, _fillers) = filtered_port(V4);
    let cfg = ScanConfig {
        timeout: Duration::from_millis(300),
        min_timeout: Duration::from_millis(10),
        retries: 1,
        discover_hosts: false,
        host_timeout: None,
        ..config()
    };
    let (results, summary) = scan_one_worker(&probes(V4, [port_of(&listener)]), &cfg);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].state, State::Filtered);
    assert!(
        results[0].rtt >= Duration::from_millis(250),
        "{:?}",
        results[0]
    );
    assert!(
        summary.elapsed >= Duration::from_millis(550),
        "{:?}",
        summary.elapsed
    );
}

#[test]
fn each_probe_is_reported_exactly_once() {
    let open = listeners(V4, 2);
    let closed = closed_ports(V4, 3);
    let mut ports: Vec<u16> = open
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    ports.extend(closed.iter().map(port_of));
    let repeated: Vec<u16> = (0..40).flat_map(|_| ports.iter().copied()).collect();
    let cfg = ScanConfig {
        concurrency: 7,
        ..config()
    };
    let (results, summary) = scan(&probes(V4, repeated), &cfg);
    assert_eq!(results.len(), 200);
    let mut per_port: HashMap<u16, usize> = HashMap::new();
    for r in &results {
        *per_port.entry(r.port).or_default() += 1;
    }
    assert!(per_port.values().all(|&n| n == 40), "{per_port:?}");
    assert_eq!((summary.open, summary.closed), (80, 120));
}

#[test]
fn concurrency_one_is_exact() {
    let open = listeners(V4, 2);
    let closed = closed_ports(V4, 5);
    let open_ports: BTreeSet<u16> = open
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let closed_set: BTreeSet<u16> = closed.iter().map(port_of).collect();
    let cfg = ScanConfig {
        concurrency: 1,
        ..config()
    };
    let source = probes(V4, open_ports.iter().chain(&closed_set).copied());
    let (results, summary) = scan(&source, &cfg);
    assert_eq!(ports_in(&results, State::Open), open_ports);
    assert_eq!(ports_in(&results, State::Closed), closed_set);
    assert_eq!(summary.concurrency, 1);
}

#[test]
fn empty_source_is_an_empty_summary() {
    let (results, summary) = scan(&VecSource(Vec::new()), &config());
    assert!(results.is_empty());
    assert_eq!((summary.open, summary.closed, summary.filtered), (0, 0, 0));
}

#[test]
fn rate_limit_paces_connects() {
    let closed = closed_ports(V4, 20);
    let cfg = ScanConfig {
        rate: Some(50),
        ..config()
    };
    let (results, summary) = scan(&probes(V4, closed.iter().map(port_of)), &cfg);
    assert_eq!(results.len(), 20);
    // 20 starts at 50/s are spread over at least 19 intervals of 20 ms.
    assert!(
        summary.elapsed >= Duration::from_millis(300),
        "{:?}",
        summary.elapsed
    );
}

/// A server that sends `greeting` to each client, then keeps it open.
fn talker(greeting: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut keep = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(greeting);
            keep.push(conn);
        }
    });
    port
}

#[test]
fn banners_are_read_capped_and_absent_when_silent() {
    let speaks = talker(b"220 rawnet test\r\n");
    let long = talker(b"0123456789abcdefghijklmnopqrstuvwxyz");
    let silent = listeners(V4, 1);
    let silent_port = silent[0].local_addr().unwrap().port();
    let cfg = ScanConfig {
        banner: Some(BannerConfig {
            wait: Duration::from_millis(1000),
            max_len: 20,
        }),
        ..config()
    };
    let (results, _) = scan(&probes(V4, [speaks, long, silent_port]), &cfg);
    let banner: HashMap<u16, Option<Vec<u8>>> =
        results.iter().map(|r| (r.port, r.banner.clone())).collect();
    assert_eq!(
        banner[&speaks].as_deref(),
        Some(&b"220 rawnet test\r\n"[..])
    );
    assert_eq!(banner[&long].as_deref(), Some(&b"0123456789abcdefghij"[..]));
    assert_eq!(banner[&silent_port], None);
    assert!(results.iter().all(|r| r.state == State::Open));
}

/// Environment variable carrying the port lists into the low-limit child.
const CHILD_ENV: &str = "RAWNET_SCAN_LOW_FD_PORTS";

/// Scans reserved ports and checks the sets; in the child spawned by
/// `low_fd_limit_scan_is_exact` the ports come from the parent and the
/// descriptor limit is 64, otherwise it makes its own at the default limit.
#[test]
fn scan_of_reserved_ports_is_exact() {
    let (_keep_open, _keep_closed, open, closed) = match std::env::var(CHILD_ENV) {
        Ok(list) => {
            let (o, c) = list.split_once(';').unwrap();
            let parse =
                |s: &str| -> BTreeSet<u16> { s.split(',').map(|p| p.parse().unwrap()).collect() };
            (Vec::new(), Vec::new(), parse(o), parse(c))
        }
        Err(_) => {
            let (l, c) = (listeners(V4, 3), closed_ports(V4, 300));
            let o = l.iter().map(|l| l.local_addr().unwrap().port()).collect();
            let cs = c.iter().map(port_of).collect();
            (l, c, o, cs)
        }
    };
    let cfg = ScanConfig {
        concurrency: 1000,
        ..config()
    };
    let (results, summary) = scan(&probes(V4, open.iter().chain(&closed).copied()), &cfg);
    assert_eq!(ports_in(&results, State::Open), open);
    assert_eq!(ports_in(&results, State::Closed), closed);
    assert_eq!(results.len(), open.len() + closed.len());
    if std::env::var(CHILD_ENV).is_ok() {
        assert!(summary.concurrency < 64, "{}", summary.concurrency);
    }
}

#[test]
fn low_fd_limit_scan_is_exact() {
    use std::os::unix::process::CommandExt;
    let open = listeners(V4, 3);
    let closed = closed_ports(V4, 300);
    let join = |ports: Vec<u16>| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let list = format!(
        "{};{}",
        join(
            open.iter()
                .map(|l| l.local_addr().unwrap().port())
                .collect()
        ),
        join(closed.iter().map(port_of).collect())
    );
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "scan_of_reserved_ports_is_exact",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, list);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in between.
    unsafe {
        child.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn a_port_that_accepts_and_resets_at_once_is_open() {
    // nmap's "tcpwrapped": the handshake completes, then the service
    // resets. Depending on when the worker looks, the connect shows as
    // connected, as ECONNRESET or as a writable socket that is no longer
    // connected (ENOTCONN): all three mean something accepted.
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&SocketAddr::new(V4, 0).into()).unwrap();
    listener.listen(4096).unwrap();
    let listener: TcpListener = listener.into();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        listener.set_nonblocking(true).unwrap();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((conn, _)) => {
                        socket2::SockRef::from(&conn)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    }
                    Err(_) => thread::sleep(Duration::from_micros(200)),
                }
            }
        })
    };
    let source = probes(V4, std::iter::repeat_n(port, 2000));
    // Far fewer in flight than the accept queue holds, and patient
    // retries: no SYN is dropped for a full queue, which would rightly be
    // filtered and is not what this test is about.
    let cfg = ScanConfig {
        concurrency: 32,
        min_timeout: Duration::from_millis(1000),
        retries: 2,
        discover_hosts: false,
        host_timeout: None,
        ..config()
    };
    let (results, _) = scan(&source, &cfg);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    server.join().unwrap();
    assert_eq!(results.len(), 2000);
    let not_open: Vec<&PortResult> = results.iter().filter(|r| r.state != State::Open).collect();
    assert!(
        not_open.is_empty(),
        "{} of 2000 not open: {:?}",
        not_open.len(),
        not_open.first()
    );
}

/// A sink that stops after `limit` results, or as soon as `cancel` is set.
struct Stopping {
    seen: Mutex<Vec<PortResult>>,
    limit: usize,
    cancel: std::sync::atomic::AtomicBool,
}

impl rawnet::scan::Sink for Stopping {
    fn result(&self, r: PortResult) -> std::ops::ControlFlow<()> {
        let mut seen = self.seen.lock().unwrap();
        seen.push(r);
        if seen.len() >= self.limit {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn a_sink_that_says_stop_ends_the_scan_and_the_summary_counts_what_it_saw() {
    let _closed = closed_ports(V4, 1);
    let source = probes(V4, 1..=60000);
    let sink = Stopping {
        seen: Mutex::new(Vec::new()),
        limit: 100,
        cancel: Default::default(),
    };
    let summary = run(&source, &config(), &sink).expect("scan runs");
    let seen = sink.seen.into_inner().unwrap();
    assert!(summary.stopped, "summary does not say the scan stopped");
    assert_eq!(
        seen.len(),
        100,
        "results delivered after the sink said stop"
    );
    assert_eq!(summary.reported, 100);
    assert_eq!(summary.open + summary.closed + summary.filtered, 100);
    let unique: BTreeSet<u16> = seen.iter().map(|r| r.port).collect();
    assert_eq!(unique.len(), 100, "a port was reported twice");
}

#[test]
fn a_cancelled_sink_ends_a_scan_of_silent_ports_promptly() {
    // Every probe waits for the full timeout (a backlog-full listener is
    // silent); the cancel flag is set before the scan, so the scan must end
    // without reporting anything and well before the first timeout.
    let source = probes(V4, 1..=1000);
    let sink = Stopping {
        seen: Mutex::new(Vec::new()),
        limit: usize::MAX,
        cancel: true.into(),
    };
    let mut cfg = config();
    cfg.timeout = Duration::from_secs(30);
    cfg.min_timeout = cfg.timeout;
    let summary = run(&source, &cfg, &sink).expect("scan runs");
    assert!(summary.stopped);
    assert_eq!(summary.reported, 0);
    assert!(sink.seen.into_inner().unwrap().is_empty());
}

#[test]
fn discovery_on_loopback_changes_nothing_but_counts_the_host() {
    let open = listeners(V4, 3);
    let closed = closed_ports(V4, 3);
    let ports: Vec<u16> = open
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .chain(closed.iter().map(port_of))
        .collect();
    let source = probes(V4, ports.iter().copied());
    let cfg = ScanConfig {
        discover_hosts: true,
        ..config()
    };
    let (results, summary) = scan(&source, &cfg);
    assert_eq!(results.len(), ports.len(), "each port reported once");
    let open_ports: BTreeSet<u16> = open
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    assert_eq!(ports_in(&results, State::Open), open_ports);
    let hosts = summary.hosts.expect("discovery counts hosts");
    assert_eq!((hosts.up, hosts.down), (1, 0));
}

#[test]
fn the_window_grows_while_answers_come_and_stays_under_the_ceiling() {
    // Every loopback port answers (closed, or open if something on this
    // machine listens there): 1500 answers on first attempts.
    let source = probes(V4, 1..=1500);
    let cfg = ScanConfig {
        concurrency: 2000,
        ..config()
    };
    let (results, summary) = scan(&source, &cfg);
    assert_eq!(results.len(), 1500);
    assert!(results.iter().all(|r| r.state != State::Filtered));
    assert!(
        summary.window > rawnet::scan::INITIAL_WINDOW && summary.window <= 2000,
        "{}",
        summary.window
    );
}

/// A host all of whose canary ports are open (listeners on 127.0.0.77,
/// never accepted: the kernel completes the handshakes and the ports stay
/// silent) has its open ports marked; 127.0.0.1's are not.
#[test]
fn open_ports_of_a_host_that_accepts_every_port_are_marked() {
    use rawnet::scan::evidence::CANARY_PORTS;
    use rawnet::scan::AfterHandshake;
    let accepting = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 77));
    let _canaries: Vec<TcpListener> = CANARY_PORTS
        .iter()
        .map(|&p| {
            TcpListener::bind((accepting, p))
                .unwrap_or_else(|e| panic!("cannot listen on {accepting}:{p}: {e}"))
        })
        .collect();
    let services = listeners(accepting, 2);
    let plain = listeners(V4, 1);
    let closed = closed_ports(accepting, 2);
    let mut ports: Vec<u16> = services
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    ports.extend(closed.iter().map(port_of));
    let cfg = config();
    let (marked, _) = scan(&probes(accepting, ports.clone()), &cfg);
    let open: Vec<&PortResult> = marked.iter().filter(|r| r.state == State::Open).collect();
    assert_eq!(open.len(), 2, "{marked:?}");
    for r in open {
        assert_eq!(r.host_accepts_all, Some(true), "{r:?}");
        assert_eq!(r.after_handshake, Some(AfterHandshake::Silent), "{r:?}");
    }
    for r in marked.iter().filter(|r| r.state != State::Open) {
        assert_eq!((r.host_accepts_all, r.after_handshake), (None, None));
    }
    let port = plain[0].local_addr().unwrap().port();
    let (unmarked, _) = scan(&probes(V4, [port]), &cfg);
    assert_eq!(unmarked.len(), 1);
    assert_eq!(unmarked[0].state, State::Open);
    assert_eq!(unmarked[0].host_accepts_all, Some(false));
    assert_eq!(unmarked[0].after_handshake, Some(AfterHandshake::Silent));
}
