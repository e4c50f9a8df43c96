//! `portscan -sV` draws its probe connections from the scan's own connect
//! budget (`-c`) and rate limit (`--rate`): the real binary against
//! loopback listeners that record when each connection arrived and how
//! many were open at once.

mod portscan_support;
mod require;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use portscan_support::*;

const GREETING: &[u8] = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";

/// What the listeners saw.
#[derive(Default)]
struct Seen {
    /// When each connection was accepted, in order.
    accepts: Vec<Instant>,
    /// Most connections open at once, across all listeners.
    most_live: usize,
}

/// `count` SSH-like listeners on 127.0.0.1 served by one thread, which
/// greets each connection `delay` after accepting it and counts the
/// connections open at once after each sweep that accepted new ones and
/// dropped those the client had closed (or reset) by then, so that a
/// connection closed before the next one was made is not counted with it.
struct Listeners {
    ports: Vec<u16>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Listeners {
    fn start(count: usize, delay: Duration) -> Listeners {
        let listeners: Vec<TcpListener> = (0..count)
            .map(|_| {
                let l = TcpListener::bind((LOCALHOST, 0)).unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            thread::spawn(move || serve(&listeners, delay, &seen, &stop))
        };
        Listeners {
            ports,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One live connection: its socket, when it came, whether it was greeted.
struct Conn {
    stream: TcpStream,
    since: Instant,
    greeted: bool,
}

/// The listeners' loop; ends on `stop` or after [`RUN_LIMIT`].
fn serve(listeners: &[TcpListener], delay: Duration, seen: &Mutex<Seen>, stop: &AtomicBool) {
    let end = Instant::now() + RUN_LIMIT;
    let mut live: Vec<Conn> = Vec::new();
    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
        let mut fresh = Vec::new();
        for l in listeners {
            while let Ok((stream, _)) = l.accept() {
                stream.set_nonblocking(true).unwrap();
                fresh.push(Conn {
                    stream,
                    since: Instant::now(),
                    greeted: false,
                });
            }
        }
        let mut s = seen.lock().unwrap();
        s.accepts.extend(fresh.iter().map(|c| c.since));
        drop(s);
        live.extend(fresh);
        live.retain_mut(still_open);
        let now = Instant::now();
        for c in &mut live {
            if !c.greeted && now.duration_since(c.since) >= delay {
                let _ = c.stream.write_all(GREETING);
                c.greeted = true;
            }
        }
        let mut s = seen.lock().unwrap();
        s.most_live = s.most_live.max(live.len());
        drop(s);
        thread::sleep(Duration::from_millis(1));
    }
}

/// Reads and drops what the peer sent; false once it closed or reset.
fn still_open(c: &mut Conn) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Every open port was identified as ssh by its probe.
fn assert_all_ssh(run: &Run, ports: &[u16]) {
    let lines = run.lines();
    for port in ports {
        let line = lines
            .iter()
            .find(|l| l.port == *port)
            .unwrap_or_else(|| panic!("port {port} missing: {}", run.stdout));
        assert_eq!(line.state, "open");
        assert_eq!(line.service.as_deref(), Some("ssh"), "{line:?}");
        assert_eq!(line.service_source.as_deref(), Some("probe"), "{line:?}");
    }
}

#[test]
fn service_probes_are_paced_by_the_scan_rate() {
    const RATE: f64 = 5.0;
    let listeners = Listeners::start(6, Duration::ZERO);
    let ports = listeners.ports.clone();
    let run = portscan(&[
        "-Pn",
        "--rate",
        "5",
        "-sV",
        "-p",
        &list(&ports),
        "127.0.0.1",
    ])
    .ok();
    let seen = listeners.finish();
    assert_all_ssh(&run, &ports);
    // One scan connect and at least one probe connect per port.
    let n = seen.accepts.len();
    assert!(n >= 2 * ports.len(), "{n} connections");
    let first = seen.accepts[0];
    let offsets: Vec<f64> = seen
        .accepts
        .iter()
        .map(|t| t.duration_since(first).as_secs_f64())
        .collect();
    eprintln!("accepts at {offsets:.2?}");
    // At 5/s, n starts take at least (n - 1) / 5 s; the listener's own
    // delays may shorten the span it sees, hence the slack.
    let span = offsets[n - 1];
    let least = (n - 1) as f64 / RATE * 0.75;
    assert!(
        span >= least,
        "{n} connections in {span:.2} s (< {least:.2})"
    );
    // Per second of the run: the rate, plus slack for accepts the
    // listener thread picked up late and together.
    let busiest = offsets
        .iter()
        .map(|&t| offsets.iter().filter(|&&u| u >= t && u < t + 1.0).count())
        .max()
        .unwrap();
    assert!(
        busiest <= RATE as usize + 3,
        "{busiest} connections in one second"
    );
}

#[test]
fn service_probes_share_the_connect_budget() {
    // A greeting after 300 ms keeps each probe connection open that long,
    // so probe connections of different ports would overlap.
    let listeners = Listeners::start(6, Duration::from_millis(300));
    let ports = listeners.ports.clone();
    let run = portscan(&["-Pn", "-c", "2", "-sV", "-p", &list(&ports), "127.0.0.1"]).ok();
    let seen = listeners.finish();
    assert_all_ssh(&run, &ports);
    assert!(seen.accepts.len() >= 2 * ports.len());
    assert!(
        seen.most_live <= 2,
        "{} connections open at once with -c 2",
        seen.most_live
    );
}
