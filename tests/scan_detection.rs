//! Service detection (`-sV`) as sessions of the scan engine, against
//! real sockets on loopback: detection never blocks the event loop, so
//! the other connects of the scan keep their true round-trip times even
//! when far more open ports wait for detection than the window holds.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rawnet::scan::detection::{ServiceConfig, ServiceSource};
use rawnet::scan::{
    run_with_detection, ConnectBudget, PortResult, Probe, ProbeSource, Proto, ScanConfig, State,
};
use socket2::{Domain, Socket, Type};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct VecSource(Vec<Probe>);

impl ProbeSource for VecSource {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn probe(&self, index: u64) -> Probe {
        self.0[index as usize].clone()
    }
}

#[test]
fn detection_sessions_never_block_the_loop_or_inflate_other_round_trips() {
    const OPEN: usize = 40;
    const CLOSED: usize = 300;
    const WINDOW: usize = 8;
    let budget_per_port = Duration::from_millis(500);
    // Listeners that complete handshakes and never say a word: each
    // session waits out its port's budget.
    let silent: Vec<TcpListener> = (0..OPEN)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
        .collect();
    let closed: Vec<Socket> = (0..CLOSED)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.bind(&SocketAddr::new(V4, 0).into()).unwrap();
            s
        })
        .collect();
    let target: Arc<str> = Arc::from("127.0.0.1");
    let ports = silent.iter().map(|l| l.local_addr().unwrap().port()).chain(
        closed
            .iter()
            .map(|s| s.local_addr().unwrap().as_socket().unwrap().port()),
    );
    let source = VecSource(
        ports
            .map(|port| Probe {
                target: target.clone(),
                ip: V4,
                port,
                proto: Proto::Tcp,
            })
            .collect(),
    );
    let cfg = ScanConfig {
        timeout: Duration::from_millis(1000),
        min_timeout: Duration::from_millis(100),
        concurrency: WINDOW,
        retries: 0,
        rate: None,
        banner: None,
        discover_hosts: false,
        host_timeout: None,
    };
    let service = ServiceConfig {
        port_budget: budget_per_port,
    };
    let results = Mutex::new(Vec::<PortResult>::new());
    let sink = |r| results.lock().unwrap().push(r);
    let budget = ConnectBudget::new(WINDOW, None);
    let summary = run_with_detection(&source, &cfg, &service, &sink, &budget).unwrap();
    let results = results.into_inner().unwrap();

    assert_eq!((summary.open, summary.closed), (OPEN as u64, CLOSED as u64));
    // Five times more sessions than the window, each holding a flight for
    // the port's budget: they queued, and every one was identified.
    for r in results.iter().filter(|r| r.state == State::Open) {
        let s = r.service.as_ref().expect("detected");
        assert!(
            s.source == ServiceSource::Table || s.name == "unknown",
            "{s:?}"
        );
    }
    // The connects to closed ports were answered during the scan's seconds
    // of detection; their round trips are what loopback takes, not a wait
    // behind a blocked loop.
    let slowest = results
        .iter()
        .filter(|r| r.state == State::Closed)
        .map(|r| r.rtt)
        .max()
        .unwrap();
    assert!(
        slowest < budget_per_port / 2,
        "a closed port's round trip took {slowest:?} while sessions ran"
    );
}
