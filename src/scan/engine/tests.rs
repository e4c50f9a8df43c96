//! The engine's seams for techniques to come, proven with a test-only
//! prober: flights that share one socket (replies demultiplexed by match
//! key) and a timed retry.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::scan::technique::{Outcome, Prober, Step, Technique};
use crate::scan::{
    run_prober, ConnectBudget, PortResult, Probe, ProbeSource, Proto, Reason, ScanConfig, State,
};
use crate::test_support;

/// How long after a silent first attempt the prober asks to try again.
const RETRY_AFTER: Duration = Duration::from_millis(50);
/// A match key nobody waits for: the responder sends it unasked.
const FORGED: u16 = 999;

struct Ports(Vec<Probe>);

impl ProbeSource for Ports {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn probe(&self, index: u64) -> Probe {
        self.0[index as usize].clone()
    }
}

/// What the prober saw: when each attempt of each port started, and the
/// instant each timed retry asked for.
#[derive(Default)]
struct Log {
    starts: HashMap<(u16, u32), Instant>,
    retry_at: HashMap<u16, Instant>,
}

/// One socket for every flight, to a loopback responder; a flight is the
/// port number it waits under.
struct Echo {
    sock: UdpSocket,
    log: Arc<Mutex<Log>>,
}

struct EchoFlight {
    port: u16,
    attempt: u32,
}

impl Prober for Echo {
    type Flight = EchoFlight;
    type Session = ();
    type Reply = Vec<u8>;
    const MAX_WORKERS: Option<usize> = Some(1);

    fn technique(&self) -> Technique {
        Technique::Udp
    }

    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        _: &mut (),
    ) -> Result<(EchoFlight, Step), Step> {
        let [hi, lo] = probe.port.to_be_bytes();
        self.sock
            .send(&[hi, lo, attempt as u8])
            .map_err(|_| Step::BackOff)?;
        let mut log = self.log.lock().unwrap();
        log.starts.insert((probe.port, attempt), Instant::now());
        let flight = EchoFlight {
            port: probe.port,
            attempt,
        };
        Ok((flight, Step::Expect(u64::from(probe.port))))
    }

    fn fd(_: &EchoFlight) -> Option<BorrowedFd<'_>> {
        None
    }

    fn ready(&mut self, _: &mut EchoFlight) -> Step {
        unreachable!("no flight has a socket of its own")
    }

    fn shared_sockets(&self) -> Vec<BorrowedFd<'_>> {
        vec![self.sock.as_fd()]
    }

    fn demux(&mut self, socket: usize, replies: &mut Vec<(u64, Vec<u8>)>) -> std::io::Result<()> {
        assert_eq!(socket, 0);
        let mut buf = [0u8; 64];
        loop {
            match self.sock.recv(&mut buf) {
                Ok(n) if n >= 3 => {
                    let port = u16::from_be_bytes([buf[0], buf[1]]);
                    replies.push((u64::from(port), buf[..n].to_vec()));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn matched(&mut self, flight: &mut EchoFlight, reply: Vec<u8>) -> Step {
        assert_eq!(u16::from_be_bytes([reply[0], reply[1]]), flight.port);
        if u32::from(reply[2]) != flight.attempt {
            // An echo of an earlier attempt: not this flight's answer.
            return Step::Expect(u64::from(flight.port));
        }
        Step::Done(Outcome {
            reply: Some(reply),
            ..Outcome::new(State::Open, Reason::UdpResponse)
        })
    }

    fn deadline(&mut self, flight: &mut EchoFlight) -> Step {
        if flight.attempt > 0 {
            return Step::Unanswered(self.silence());
        }
        let at = Instant::now() + RETRY_AFTER;
        self.log.lock().unwrap().retry_at.insert(flight.port, at);
        Step::RetryAt(at)
    }

    fn silence(&self) -> Outcome {
        Outcome::new(State::OpenFiltered, Reason::NoResponse)
    }
}

/// Ignores first attempts (so each port needs its timed retry), answers
/// the others in reverse order of arrival, in batches of `batch`, after
/// an unasked datagram under a key nobody waits for. Ends after
/// `expected` answers or 20 s.
fn responder(expected: usize, batch: usize) -> (u16, std::thread::JoinHandle<()>) {
    let (addr, thread) = test_support::udp_server(Ipv4Addr::LOCALHOST.into(), move |sock| {
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        let (mut held, mut answered) = (Vec::new(), 0);
        let mut buf = [0u8; 64];
        while answered < expected && Instant::now() < end {
            let got = sock.recv_from(&mut buf);
            if let Ok((3, from)) = got {
                if buf[2] > 0 {
                    held.push((buf[..3].to_vec(), from));
                }
            }
            if held.len() >= batch || (got.is_err() && !held.is_empty()) {
                let [hi, lo] = FORGED.to_be_bytes();
                let _ = sock.send_to(&[hi, lo, 1], held[0].1);
                while let Some((bytes, from)) = held.pop() {
                    sock.send_to(&bytes, from).unwrap();
                    answered += 1;
                }
            }
        }
    });
    (addr.port(), thread)
}

#[test]
fn a_shared_socket_technique_with_a_timed_retry_runs_through_the_engine() {
    const PORTS: u16 = 24;
    let (port, responder) = responder(PORTS as usize, 8);
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    sock.set_nonblocking(true).unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let source = Ports(
        (1..=PORTS)
            .map(|port| Probe {
                target: Arc::from("t"),
                ip,
                port,
                proto: Proto::Udp,
            })
            .collect(),
    );
    let cfg = ScanConfig {
        timeout: Duration::from_millis(300),
        min_timeout: Duration::from_millis(300),
        concurrency: 100,
        retries: 0,
        rate: None,
        banner: None,
        discover_hosts: false,
        host_timeout: None,
    };
    let results = Mutex::new(Vec::<PortResult>::new());
    let sink = |r| results.lock().unwrap().push(r);
    let budget = ConnectBudget::new(cfg.concurrency, None);
    let shared = Mutex::new(Some(sock));
    let summary = run_prober(&source, &cfg, &sink, &budget, &|| Echo {
        sock: shared.lock().unwrap().take().expect("one worker"),
        log: log.clone(),
    })
    .unwrap();
    responder.join().unwrap();

    let results = results.into_inner().unwrap();
    assert_eq!(summary.open, u64::from(PORTS), "{results:?}");
    assert_eq!(results.len(), PORTS as usize);
    let log = log.lock().unwrap();
    for r in &results {
        assert_eq!((r.state, r.technique), (State::Open, Technique::Udp));
        let reply = r.banner.as_deref().unwrap();
        assert_eq!(reply, &[(r.port >> 8) as u8, r.port as u8, 1][..], "{r:?}");
        let retry = log.starts[&(r.port, 1)];
        assert!(
            retry >= log.retry_at[&r.port],
            "port {} retried early",
            r.port
        );
    }
    let mut ports: Vec<u16> = results.iter().map(|r| r.port).collect();
    ports.sort_unstable();
    assert_eq!(ports, (1..=PORTS).collect::<Vec<_>>(), "each port once");
}
