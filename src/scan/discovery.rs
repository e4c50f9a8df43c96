//! Host discovery, overlapped with the scan: which addresses are up, and
//! holding back the port probes of an address until it is known to be.
//!
//! # Why
//!
//! A probe to an address nobody uses waits its whole timeout, on every
//! attempt. A mostly dead /24 scanned port by port is thus hundreds of
//! timeouts per dead address. nmap first finds which hosts are up; an
//! unprivileged nmap does it with connects to ports 80 and 443. Here
//! discovery is not a phase of its own: the first probes of an address
//! *are* its discovery.
//!
//! # How
//!
//! An address is up as soon as any probe to it finds a port open or
//! closed, an answer only the host itself gives (for TCP a SYN-ACK or a
//! RST, for UDP a reply or a port unreachable; other ICMP errors may come
//! from a router and prove nothing). The first time a worker meets an
//! address, the address gets up to [`DISCOVERY_PROBES`] discovery probes
//! in flight, probes of the scan's own technique (connects, datagrams,
//! SYNs) to the port it was met with and to ports 80 and 443, each port
//! once. Except the first (see below), their results are not reported
//! (they only tell whether the host answers, so a down host leaves no
//! line per port); the address's other port probes are *parked* here
//! while its discovery is in flight. The first answer makes the address
//! up and hands its parked probes back to the worker that saw it; when
//! every discovery probe has ended unanswered (after its retries), the
//! address is down: its parked
//! and later probes are dropped unreported, and it is counted once.
//!
//! A prober that can send an ICMP echo request (`-sS`, on raw sockets:
//! `Prober::ECHO`) discovers as a privileged nmap does: an echo request
//! and SYNs to the port the address was met with and to 443 (in place of
//! the connect to 80). A host that drops every TCP probe but answers
//! pings is then up, and its ports are probed (and reported filtered);
//! the echo request is one more discovery probe, as silent as the others.
//! Two things make discovery cheap on silent space, with or without echo:
//!
//! - The probe to the port the address was met with *is* that port's
//!   probe: it is not parked and probed again, and 80 or 443 is not probed
//!   twice when it is that port. Its answer (for TCP a SYN-ACK or a RST)
//!   makes the address up and is reported as the port's result;
//!   unanswered, it is reported filtered only if the address is up by
//!   then (and given the rest of its retries), else it waits with the
//!   parked probes, or is dropped with them when the address is down
//!   ([`HostTable::met_unanswered`]).
//! - With echo, the three probes are independent, and any answer makes
//!   the address up: they are retried only once the scan has seen
//!   evidence of a lost packet ([`HostTable::discovery_retries`]). nmap
//!   likewise retransmits only as far as retransmissions ever helped. A
//!   dead address costs three packets, sent in the same batch. Connect
//!   discovery keeps its retries (with a met port of 80 or 443 it has
//!   only two probes, and a lossy link to one host would take it for
//!   down): a dead address costs two or three connects and their
//!   retries.
//!
//! # Not waiting a round trip
//!
//! Parking every port probe until the first answer would add a round
//! trip before any port of an address is probed. So while an address is
//! being discovered, some of its port probes go out *speculatively* (at
//! most [`SPECULATIVE_PER_HOST`] per address and [`SPECULATIVE_TOTAL`] in
//! all): such a probe that is answered makes the address up and is
//! reported as usual; one that is not is never reported as it stands,
//! but parked like the others (or dropped if the address turned out
//! down, or started again as an ordinary probe if it turned out up). Its
//! timeout is a discovery probe's and it has no retries of its own, so
//! speculation toward dead addresses costs little.
//!
//! `--host-timeout` (nmap's) gives up on an address that long after its
//! first probe: probes not yet started for it are dropped (what it
//! reported so far stays reported).
//!
//! # Memory and locking
//!
//! One entry per address (at most the target cap, 65536) and the parked
//! probes of addresses still being discovered: at worst every probe of
//! the scan whose address has not answered yet (about 48 bytes each; for
//! a /16 with 3 ports, under 10 MB). The table is one mutex shared by all
//! workers, taken once per probe started; with discovery off (`-Pn`) it is
//! never touched.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::Probe;

/// Ports connected to, besides the address's first port probe, to find
/// out whether it is up (what an unprivileged nmap uses).
pub(crate) const DISCOVERY_PORTS: [u16; 2] = [80, 443];
/// Ports probed besides the first port probe and an ICMP echo request,
/// when the prober can send one (a privileged nmap's choice, less its ACK
/// and timestamp probes).
pub(crate) const ECHO_DISCOVERY_PORTS: [u16; 1] = [443];
/// Discovery probes per address: its first port probe and one per
/// [`DISCOVERY_PORTS`] (or, with echo, one per [`ECHO_DISCOVERY_PORTS`]
/// and the echo request).
pub(crate) const DISCOVERY_PROBES: u32 = 1 + DISCOVERY_PORTS.len() as u32;
const _: () = assert!(DISCOVERY_PROBES == 2 + ECHO_DISCOVERY_PORTS.len() as u32);

/// Port probes of one address still being discovered that may go out
/// before it has answered (see the module docs).
pub(crate) const SPECULATIVE_PER_HOST: u32 = 500;
/// Speculative probes in flight across all addresses.
pub(crate) const SPECULATIVE_TOTAL: u32 = 500;

/// How many discovery probes `admission` starts.
fn probes_of(admission: &Admission) -> u32 {
    match admission {
        Admission::Parked {
            discovery,
            echo,
            met,
        } => (discovery.len() + usize::from(echo.is_some()) + usize::from(met.is_some())) as u32,
        _ => 0,
    }
}

/// Hosts up, down and given up on, for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCounts {
    /// Addresses that answered.
    pub up: u64,
    /// Addresses that answered nothing to their discovery probes: their
    /// ports were not probed (nor reported).
    pub down: u64,
    /// Addresses given up on after `--host-timeout` (also counted up or
    /// down if that was known).
    pub timed_out: u64,
}

/// What to do with a probe the source yielded.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Start it.
    Start,
    /// Start it speculatively (see the module docs): report it only if
    /// answered, else hand it back with [`HostTable::speculation_unanswered`].
    Speculate,
    /// Held here until the address is known; start these discovery-only
    /// probes of its address (empty if its discovery is under way).
    Parked {
        discovery: Vec<Probe>,
        /// With echo discovery: an ICMP echo request to this probe's
        /// address is one more discovery probe (its port means nothing).
        echo: Option<Probe>,
        /// The probe itself, not parked but started as a discovery probe
        /// whose answer is its port's result (see
        /// [`HostTable::met_unanswered`]).
        met: Option<Probe>,
    },
    /// Not probed: the address is down or timed out.
    Dropped,
}

#[derive(Debug)]
enum Status {
    /// Discovery probes still in flight; further probes parked.
    Unknown {
        in_flight: u32,
        /// Speculative probes in flight (see the module docs).
        speculating: u32,
        parked: Vec<Probe>,
    },
    Up,
    Down,
}

#[derive(Debug)]
struct Host {
    status: Status,
    first_seen: Instant,
    timed_out: bool,
}

/// The shared table of addresses and their discovery (see the module
/// docs).
#[derive(Debug)]
pub(crate) struct HostTable {
    discover: bool,
    /// Discovery sends an ICMP echo request (see the module docs).
    echo: bool,
    /// Some packet of the scan was lost, as far as the scan can tell (see
    /// [`HostTable::saw_loss`]).
    loss: AtomicBool,
    host_timeout: Option<Duration>,
    hosts: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    hosts: FxHashMap<IpAddr, Host>,
    /// Speculative probes in flight, all addresses.
    speculating: u32,
}

impl HostTable {
    /// A table; with `discover` false every address counts as up at once
    /// (`-Pn`), and only `host_timeout` applies.
    pub(crate) fn new(discover: bool, host_timeout: Option<Duration>) -> HostTable {
        HostTable {
            discover,
            echo: false,
            loss: AtomicBool::new(false),
            host_timeout,
            hosts: Mutex::new(Table::default()),
        }
    }

    /// The same table, discovering with an ICMP echo request when `echo`
    /// (see the module docs).
    pub(crate) fn with_echo(mut self, echo: bool) -> HostTable {
        self.echo = echo;
        self
    }

    /// True when the table has nothing to do (no discovery, no host
    /// timeout): the worker then skips it entirely.
    pub(crate) fn is_idle(&self) -> bool {
        !self.discover && self.host_timeout.is_none()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides about a probe the source yielded (see [`Admission`]).
    pub(crate) fn admit(&self, probe: &Probe, now: Instant) -> Admission {
        let mut table = self.lock();
        let table = &mut *table;
        let host = table.hosts.entry(probe.ip).or_insert_with(|| Host {
            status: if self.discover {
                Status::Unknown {
                    in_flight: 0,
                    speculating: 0,
                    parked: Vec::new(),
                }
            } else {
                Status::Up
            },
            first_seen: now,
            timed_out: false,
        });
        if let Some(limit) = self.host_timeout {
            if now.duration_since(host.first_seen) >= limit {
                host.timed_out = true;
                return Admission::Dropped;
            }
        }
        match &mut host.status {
            Status::Up => Admission::Start,
            Status::Down => Admission::Dropped,
            Status::Unknown {
                in_flight,
                speculating,
                parked,
            } => {
                if *in_flight > 0
                    && *speculating < SPECULATIVE_PER_HOST
                    && table.speculating < SPECULATIVE_TOTAL
                {
                    *speculating += 1;
                    table.speculating += 1;
                    return Admission::Speculate;
                }
                if *in_flight > 0 {
                    parked.push(probe.clone());
                    return Admission::Parked {
                        discovery: Vec::new(),
                        echo: None,
                        met: None,
                    };
                }
                let admission = self.discovery(probe);
                *in_flight = probes_of(&admission);
                admission
            }
        }
    }

    /// The discovery probes of `probe`'s address (see the module docs):
    /// the probe itself (its answer is its port's), and with echo an echo
    /// request and SYNs to the other [`ECHO_DISCOVERY_PORTS`], without
    /// probes to the other [`DISCOVERY_PORTS`].
    fn discovery(&self, probe: &Probe) -> Admission {
        let at = |port| Probe {
            target: probe.target.clone(),
            ip: probe.ip,
            port,
            proto: probe.proto,
        };
        if self.echo {
            let discovery = ECHO_DISCOVERY_PORTS
                .iter()
                .copied()
                .filter(|&p| p != probe.port)
                .map(at)
                .collect();
            return Admission::Parked {
                discovery,
                echo: Some(probe.clone()),
                met: Some(probe.clone()),
            };
        }
        let discovery = DISCOVERY_PORTS
            .iter()
            .copied()
            .filter(|&p| p != probe.port)
            .map(at)
            .collect();
        Admission::Parked {
            discovery,
            echo: None,
            met: Some(probe.clone()),
        }
    }

    /// Evidence that a packet of the scan was lost: an answer that came
    /// only on a retry, a send path that refused packets, a receive
    /// queue that overflowed. From then on, echo discovery retries its
    /// probes (see [`HostTable::discovery_retries`]).
    pub(crate) fn saw_loss(&self) {
        self.loss.store(true, Ordering::Relaxed);
    }

    /// How many times a discovery probe is retried, for `retries` asked.
    /// Echo discovery sends three independent probes to each address (an
    /// echo request and two SYNs), and a host is up if any is answered:
    /// as nmap caps its retransmissions by what ever helped, they are
    /// retried only once the scan has seen a packet lost. On silent space
    /// a dead address then costs three packets, not six. Connect discovery
    /// has only two probes when the met port is 80 or 443, and keeps its
    /// retries.
    pub(crate) fn discovery_retries(&self, retries: u32) -> u32 {
        if self.echo && !self.loss.load(Ordering::Relaxed) {
            0
        } else {
            retries
        }
    }

    /// True when `ip` is known up.
    pub(crate) fn is_up(&self, ip: IpAddr) -> bool {
        matches!(
            self.lock().hosts.get(&ip),
            Some(Host {
                status: Status::Up,
                ..
            })
        )
    }

    /// The probe an address was met with, started as one of its discovery
    /// probes (echo discovery), ended without an answer from its host
    /// (silence, or an ICMP error a router may send), after
    /// [`HostTable::discovery_unanswered`] was told. True when its result
    /// is to be reported: the address is up. Otherwise it waits with the
    /// parked probes (probed again if the address comes up) or, the
    /// address down, is dropped.
    pub(crate) fn met_unanswered(&self, probe: &Probe) -> bool {
        let mut table = self.lock();
        let Some(host) = table.hosts.get_mut(&probe.ip) else {
            return false;
        };
        match &mut host.status {
            Status::Up => true,
            Status::Unknown { parked, .. } => {
                parked.push(probe.clone());
                false
            }
            Status::Down => false,
        }
    }

    /// True (and counted) when `ip` is past the host timeout at `now`: a
    /// probe of it that was parked or queued for a retry is dropped.
    pub(crate) fn expired(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(limit) = self.host_timeout else {
            return false;
        };
        let mut table = self.lock();
        let Some(host) = table.hosts.get_mut(&ip) else {
            return false;
        };
        if now.duration_since(host.first_seen) >= limit {
            host.timed_out = true;
            return true;
        }
        false
    }

    /// `ip` answered (a SYN-ACK or RST): it is up. Returns the probes
    /// parked for it, to be started by the caller.
    pub(crate) fn answered(&self, ip: IpAddr) -> Vec<Probe> {
        let mut table = self.lock();
        let Some(host) = table.hosts.get_mut(&ip) else {
            return Vec::new();
        };
        match std::mem::replace(&mut host.status, Status::Up) {
            Status::Unknown { parked, .. } => parked,
            Status::Down => {
                // An answer after it was given up: up after all, but its
                // dropped probes stay dropped.
                Vec::new()
            }
            Status::Up => Vec::new(),
        }
    }

    /// A discovery probe of `ip` ended without an answer from its TCP.
    /// When it was the last one in flight, the address is down.
    pub(crate) fn discovery_unanswered(&self, ip: IpAddr) {
        let mut table = self.lock();
        let Some(host) = table.hosts.get_mut(&ip) else {
            return;
        };
        if let Status::Unknown { in_flight, .. } = &mut host.status {
            *in_flight = in_flight.saturating_sub(1);
            if *in_flight == 0 {
                host.status = Status::Down;
            }
        }
    }

    /// A speculative probe ended. `unanswered` is the probe if it got no
    /// answer from its port (an answered one has made its address up
    /// already): it is returned to be started again as an ordinary probe
    /// if its address is up by now, parked if it is still unknown, and
    /// dropped if it is down.
    pub(crate) fn speculation_ended(&self, ip: IpAddr, unanswered: Option<Probe>) -> Option<Probe> {
        let mut table = self.lock();
        table.speculating = table.speculating.saturating_sub(1);
        let host = table.hosts.get_mut(&ip)?;
        match &mut host.status {
            Status::Unknown {
                speculating,
                parked,
                ..
            } => {
                *speculating = speculating.saturating_sub(1);
                parked.extend(unanswered);
                None
            }
            Status::Up => unanswered,
            Status::Down => None,
        }
    }

    /// The counts so far.
    pub(crate) fn counts(&self) -> HostCounts {
        let table = self.lock();
        let mut counts = HostCounts::default();
        for host in table.hosts.values() {
            match host.status {
                Status::Up => counts.up += 1,
                Status::Down => counts.down += 1,
                Status::Unknown { .. } => {}
            }
            counts.timed_out += u64::from(host.timed_out);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn probe(ip: &str, port: u16) -> Probe {
        Probe {
            target: Arc::from(ip),
            ip: ip.parse().unwrap(),
            port,
            proto: crate::scan::Proto::Tcp,
        }
    }

    #[test]
    fn the_first_probe_discovers_and_the_rest_wait_for_the_answer() {
        let t = HostTable::new(true, None);
        let now = Instant::now();
        match t.admit(&probe("10.0.0.1", 22), now) {
            Admission::Parked { discovery, met, .. } => {
                // The probe itself is the first discovery probe.
                let ports: Vec<u16> = discovery.iter().map(|p| p.port).collect();
                assert_eq!(ports, [80, 443]);
                assert_eq!(met.map(|p| p.port), Some(22));
            }
            other => panic!("{other:?}"),
        }
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        // Some go out speculatively, the rest wait.
        for port in 23..23 + SPECULATIVE_PER_HOST as u16 {
            assert!(matches!(
                t.admit(&probe("10.0.0.1", port), now),
                Admission::Speculate
            ));
        }
        let next = 23 + SPECULATIVE_PER_HOST as u16;
        match t.admit(&probe("10.0.0.1", next), now) {
            Admission::Parked { discovery, .. } => assert!(discovery.is_empty()),
            other => panic!("{other:?}"),
        }
        // An unanswered speculative probe waits with the parked ones.
        assert_eq!(t.speculation_ended(ip, Some(probe("10.0.0.1", 23))), None);
        let released: Vec<u16> = t.answered(ip).iter().map(|p| p.port).collect();
        // The first probe was its own discovery probe, not parked.
        assert_eq!(released, [next, 23]);
        // Once up, an unanswered speculative probe is started again.
        let again = t.speculation_ended(ip, Some(probe("10.0.0.1", 24)));
        assert_eq!(again.map(|p| p.port), Some(24));
        assert!(matches!(
            t.admit(&probe("10.0.0.1", 25), now),
            Admission::Start
        ));
        assert_eq!(t.counts().up, 1);
    }

    #[test]
    fn an_address_whose_discovery_goes_unanswered_is_down_once() {
        let t = HostTable::new(true, None);
        let now = Instant::now();
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        t.admit(&probe("10.0.0.2", 22), now);
        assert!(matches!(
            t.admit(&probe("10.0.0.2", 23), now),
            Admission::Speculate
        ));
        for _ in 0..DISCOVERY_PROBES {
            t.discovery_unanswered(ip);
        }
        assert!(matches!(
            t.admit(&probe("10.0.0.2", 24), now),
            Admission::Dropped
        ));
        assert_eq!(
            t.counts(),
            HostCounts {
                up: 0,
                down: 1,
                timed_out: 0
            }
        );
        // A speculative probe of a down address is dropped.
        assert_eq!(t.speculation_ended(ip, Some(probe("10.0.0.2", 23))), None);
        // A late answer makes it up, but parked probes stay dropped.
        assert!(t.answered(ip).is_empty());
    }

    #[test]
    fn with_echo_the_first_probe_is_a_discovery_probe_and_retries_wait_for_loss() {
        let t = HostTable::new(true, None).with_echo(true);
        let now = Instant::now();
        let ip: IpAddr = "10.0.0.4".parse().unwrap();
        match t.admit(&probe("10.0.0.4", 80), now) {
            Admission::Parked {
                discovery,
                echo,
                met,
            } => {
                let ports: Vec<u16> = discovery.iter().map(|p| p.port).collect();
                assert_eq!(ports, [443]);
                assert!(echo.is_some());
                assert_eq!(met.map(|p| p.port), Some(80));
            }
            other => panic!("{other:?}"),
        }
        // Met with 443 itself: no second SYN to 443.
        match t.admit(&probe("10.0.0.5", 443), now) {
            Admission::Parked { discovery, .. } => assert!(discovery.is_empty()),
            other => panic!("{other:?}"),
        }
        // No retries of discovery until a loss is seen; then the user's.
        assert_eq!(t.discovery_retries(2), 0);
        t.saw_loss();
        assert_eq!(t.discovery_retries(2), 2);
        // Without echo, discovery keeps its retries: a lossy link to one
        // host would otherwise take it for down before any loss is seen.
        let connect = HostTable::new(true, None);
        assert_eq!(connect.discovery_retries(2), 2);
        // Met with 80 without echo: no second connect to 80.
        match connect.admit(&probe("10.0.0.6", 80), now) {
            Admission::Parked { discovery, met, .. } => {
                let ports: Vec<u16> = discovery.iter().map(|p| p.port).collect();
                assert_eq!(ports, [443]);
                assert_eq!(met.map(|p| p.port), Some(80));
            }
            other => panic!("{other:?}"),
        }
        // The met probe unanswered while the address is unknown waits
        // for it; nothing was parked before (its answer was its own).
        t.discovery_unanswered(ip);
        assert!(!t.met_unanswered(&probe("10.0.0.4", 80)));
        let released: Vec<u16> = t.answered(ip).iter().map(|p| p.port).collect();
        assert_eq!(released, [80]);
        assert!(t.is_up(ip));
        assert!(t.met_unanswered(&probe("10.0.0.4", 80)));
        // Down once its three discovery probes went unanswered.
        let dead: IpAddr = "10.0.0.5".parse().unwrap();
        for _ in 0..2 {
            t.discovery_unanswered(dead);
        }
        assert!(!t.met_unanswered(&probe("10.0.0.5", 443)));
        assert_eq!(t.counts().down, 1);
        assert!(t.answered(dead).is_empty());
    }

    #[test]
    fn without_discovery_every_address_is_up_and_host_timeout_still_applies() {
        let t = HostTable::new(false, Some(Duration::from_secs(5)));
        let now = Instant::now();
        assert!(matches!(
            t.admit(&probe("10.0.0.3", 22), now),
            Admission::Start
        ));
        let later = now + Duration::from_secs(6);
        assert!(matches!(
            t.admit(&probe("10.0.0.3", 23), later),
            Admission::Dropped
        ));
        assert_eq!(
            t.counts(),
            HostCounts {
                up: 1,
                down: 0,
                timed_out: 1
            }
        );
        assert!(HostTable::new(false, None).is_idle());
    }
}
