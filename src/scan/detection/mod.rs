//! Service detection (`-sV`): how a scan runs it, as sessions of the
//! scan's own engine, and what a detected service is ([`Service`], defined
//! beside [`PortResult`], which carries it, and re-exported here).
//!
//! What to send and how to read the replies is [`crate::service_probes`]'s (bytes
//! only); the session that drives it on an open TCP port is the
//! `session` submodule's prober (`session::Detect`), which the engine runs like any other
//! technique. So every probe connection is a flight of the scan's event
//! loop: it takes a permit of the in-flight window (`-c`) and a slot of
//! the rate schedule (`--rate`) like every other connect, waits in the
//! same poller, and never blocks the loop; a session's result reaches the
//! sink when its last probe is done, with the state, reason and rtt of
//! the scan's own connect.
//!
//! [`detect`] runs one port's detection through the engine (for tests and
//! callers that want one verdict).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod session;

use super::{ConnectBudget, PortResult, Probe, ProbeSource, Proto, ScanConfig, ScanError, State};
pub use super::{Service, ServiceSource};
use crate::service_probes::Identified;

/// Settings of detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Most time spent on one port, all probes together (counted from the
    /// first probe connection).
    pub port_budget: Duration,
}

impl Default for ServiceConfig {
    fn default() -> ServiceConfig {
        ServiceConfig {
            port_budget: Duration::from_secs(30),
        }
    }
}

/// Most reply bytes kept as the banner of a detected port.
pub const BANNER_MAX: usize = 256;

/// The service to report: the detected one, else the port's usual name.
pub(crate) fn service_of(found: Identified, port: u16) -> Service {
    if found.probe.is_none() {
        if let Some(name) = crate::port_names::tcp_service(port) {
            return Service {
                name,
                source: ServiceSource::Table,
                product: None,
                version: None,
                info: None,
            };
        }
    }
    let mut info = found.details.info;
    if let Some(tls) = &found.details.tls {
        let parts: Vec<String> = tls
            .version
            .map(str::to_string)
            .into_iter()
            .chain(tls.subject_cn.as_ref().map(|cn| format!("CN={cn}")))
            .collect();
        if !parts.is_empty() {
            info = Some(parts.join(", "));
        }
    }
    Service {
        name: found.name,
        source: ServiceSource::Probe,
        product: found.details.product,
        version: found.details.version,
        info,
    }
}

/// True when `reply` starts like a text protocol's (a greeting, an HTTP
/// head, an error line), not a binary record: worth keeping as a banner.
pub(crate) fn looks_like_text(reply: &[u8]) -> bool {
    let head = &reply[..reply.len().min(64)];
    !head.is_empty()
        && head
            .iter()
            .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\r' || b == b'\n' || b == b'\t')
}

/// One port, as a probe source.
struct OnePort(Probe);

impl ProbeSource for OnePort {
    fn len(&self) -> u64 {
        1
    }
    fn probe(&self, _: u64) -> Probe {
        self.0.clone()
    }
}

/// Detects the service on TCP `addr` through the scan engine (one port,
/// no host discovery, `timeout` per connect): the result of that port, its
/// `service` set when it was open.
///
/// # Errors
///
/// As [`crate::scan::run`].
pub fn detect(
    addr: SocketAddr,
    timeout: Duration,
    cfg: &ServiceConfig,
) -> Result<PortResult, ScanError> {
    let source = OnePort(Probe {
        target: Arc::from(addr.ip().to_string()),
        ip: addr.ip(),
        port: addr.port(),
        proto: Proto::Tcp,
    });
    let scan = ScanConfig {
        timeout,
        min_timeout: timeout,
        concurrency: 4,
        retries: 1,
        rate: None,
        banner: None,
        discover_hosts: false,
        host_timeout: None,
    };
    let found = std::sync::Mutex::new(None);
    let sink = |r: PortResult| *found.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    let budget = ConnectBudget::new(scan.concurrency, None);
    crate::scan::run_with_detection(&source, &scan, cfg, &sink, &budget)?;
    let found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    Ok(found.unwrap_or_else(|| PortResult {
        target: source.0.target,
        ip: addr.ip(),
        port: addr.port(),
        proto: Proto::Tcp,
        technique: super::Technique::Connect,
        state: State::Filtered,
        reason: super::Reason::Unknown,
        rtt: Duration::ZERO,
        banner: None,
        service: None,
        after_handshake: None,
        host_accepts_all: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support;
    use std::io::{Read, Write};
    use std::net::Ipv4Addr;

    #[test]
    fn text_replies_are_kept_binary_ones_not() {
        assert!(looks_like_text(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(!looks_like_text(&[0x16, 0x03, 0x03, 0x00, 0x4a]));
        assert!(!looks_like_text(b""));
    }

    #[test]
    fn a_greeting_on_an_odd_port_is_identified_by_content() {
        let (addr, server) = test_support::tcp_server(Ipv4Addr::LOCALHOST.into(), |listener| {
            // The scan's connect, then the banner probe's.
            for _ in 0..2 {
                let (mut c, _) = listener.accept().unwrap();
                // (The scan's own connect may be reset before this.)
                let _ = c.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
                let _ = c.read(&mut [0u8; 64]);
            }
        });
        let timeout = Duration::from_secs(2);
        let r = detect(addr, timeout, &ServiceConfig::default()).unwrap();
        server.join().unwrap();
        let service = r.service.expect("open, detected");
        assert_eq!(
            (service.name, service.source),
            ("ssh", ServiceSource::Probe)
        );
        assert_eq!(service.version.as_deref(), Some("9.2p1"));
        assert!(r.banner.unwrap().starts_with(b"SSH-2.0-"));
    }
}
