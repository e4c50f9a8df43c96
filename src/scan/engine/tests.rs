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

/// Ports from here up belong to the far address: the responder holds
/// their echoes [`FAR_DELAY`].
const FAR_PORTS: u16 = 1000;
/// The far address's round trip: longer than the group's timeout (the
/// floor, [`FLOOR`]; the near address answers at once), shorter than the
/// doubled retry.
const FAR_DELAY: Duration = Duration::from_millis(80);
const FLOOR: Duration = Duration::from_millis(50);

/// [`Echo`] under group timing: a flight is silent at its deadline (no
/// timed retry), and the engine retries it.
struct GroupEcho(Echo);

impl Prober for GroupEcho {
    type Flight = EchoFlight;
    type Session = ();
    type Reply = Vec<u8>;
    const MAX_WORKERS: Option<usize> = Some(1);
    const GROUP_TIMING: bool = true;

    fn technique(&self) -> Technique {
        Technique::Udp
    }
    fn start(
        &mut self,
        probe: &Probe,
        attempt: u32,
        s: &mut (),
    ) -> Result<(EchoFlight, Step), Step> {
        self.0.start(probe, attempt, s)
    }
    fn fd(_: &EchoFlight) -> Option<BorrowedFd<'_>> {
        None
    }
    fn ready(&mut self, _: &mut EchoFlight) -> Step {
        unreachable!("no flight has a socket of its own")
    }
    fn shared_sockets(&self) -> Vec<BorrowedFd<'_>> {
        self.0.shared_sockets()
    }
    fn demux(&mut self, socket: usize, replies: &mut Vec<(u64, Vec<u8>)>) -> std::io::Result<()> {
        self.0.demux(socket, replies)
    }
    fn matched(&mut self, flight: &mut EchoFlight, reply: Vec<u8>) -> Step {
        self.0.matched(flight, reply)
    }
    fn silence(&self) -> Outcome {
        self.0.silence()
    }
}

/// Echoes every datagram, those of far ports [`FAR_DELAY`] late, until
/// `expected` far echoes went out or 20 s.
fn delaying_responder(expected: usize) -> (u16, std::thread::JoinHandle<()>) {
    let (addr, thread) = test_support::udp_server(Ipv4Addr::LOCALHOST.into(), move |sock| {
        sock.set_read_timeout(Some(Duration::from_millis(2)))
            .unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        let (mut held, mut far) = (std::collections::VecDeque::new(), 0);
        let mut buf = [0u8; 64];
        while far < expected && Instant::now() < end {
            if let Ok((3, from)) = sock.recv_from(&mut buf) {
                let port = u16::from_be_bytes([buf[0], buf[1]]);
                if port < FAR_PORTS {
                    sock.send_to(&buf[..3], from).unwrap();
                } else {
                    held.push_back((Instant::now() + FAR_DELAY, buf[..3].to_vec(), from));
                }
            }
            while held
                .front()
                .is_some_and(|(due, _, _)| *due <= Instant::now())
            {
                let (_, bytes, from) = held.pop_front().unwrap();
                let _ = sock.send_to(&bytes, from);
                far += 1;
            }
        }
    });
    (addr.port(), thread)
}

/// Group timing's price, handled: a far address (80 ms) among a near one
/// is first given the group's timeout (the 50 ms floor), so its first
/// answer comes on a retry; from then on its own estimate times it, and
/// the first attempts to it *still in flight* get their deadline moved
/// later, so they are answered, not retried. Starts are paced (200 a
/// second) so that far first attempts are in flight when its first
/// answer comes.
#[test]
fn a_far_address_first_answer_extends_its_attempts_in_flight() {
    const FAR: u16 = 40;
    let (port, responder) = delaying_responder(usize::from(FAR) * 2);
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    sock.set_nonblocking(true).unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let near = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let far = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let probe = |ip, port| Probe {
        target: Arc::from("t"),
        ip,
        port,
        proto: Proto::Udp,
    };
    let mut probes: Vec<Probe> = (1..=5).map(|p| probe(near, p)).collect();
    probes.extend((FAR_PORTS..FAR_PORTS + FAR).map(|p| probe(far, p)));
    let source = Ports(probes);
    let cfg = ScanConfig {
        timeout: Duration::from_secs(1),
        min_timeout: FLOOR,
        concurrency: 100,
        retries: 1,
        rate: Some(200),
        banner: None,
        discover_hosts: false,
        host_timeout: None,
    };
    let results = Mutex::new(Vec::<PortResult>::new());
    let sink = |r| results.lock().unwrap().push(r);
    let budget = ConnectBudget::new(cfg.concurrency, cfg.rate);
    let shared = Mutex::new(Some(sock));
    run_prober(&source, &cfg, &sink, &budget, &|| {
        GroupEcho(Echo {
            sock: shared.lock().unwrap().take().expect("one worker"),
            log: log.clone(),
        })
    })
    .unwrap();
    drop(responder);

    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), 5 + usize::from(FAR), "{results:?}");
    assert!(
        results.iter().all(|r| r.state == State::Open),
        "{results:?}"
    );
    let log = log.lock().unwrap();
    let attempt = |r: &PortResult| u32::from(r.banner.as_ref().unwrap()[2]);
    let far_results: Vec<&PortResult> = results.iter().filter(|r| r.ip == far).collect();
    // When the far address's first answer came.
    let first_far_answer = far_results
        .iter()
        .map(|r| log.starts[&(r.port, attempt(r))] + r.rtt)
        .min()
        .unwrap();
    // Answered on a first attempt started before that answer: its group
    // deadline (start + 50 ms) was before its echo (start + 80 ms), so
    // only a deadline moved later lets it hear the echo.
    let extended = far_results
        .iter()
        .filter(|r| attempt(r) == 0 && log.starts[&(r.port, 0)] < first_far_answer)
        .count();
    let seen: Vec<(u16, u32)> = far_results.iter().map(|r| (r.port, attempt(r))).collect();
    assert!(extended > 0, "no far first attempt was extended: {seen:?}");
}
