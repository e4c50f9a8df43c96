//! The connect-scan engine: probes `(ip, port)` pairs and yields typed
//! results. It never prints and never sees the command line.
//!
//! (Skeleton: the types below are the contract between the engine and the
//! `portscan` binary; the engine itself is filled in separately.)

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a probe found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// The connect succeeded.
    Open,
    /// The connect was refused (RST).
    Closed,
    /// No answer within the timeout, or the host/network is unreachable.
    Filtered,
}

/// One thing to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The target as the user wrote it (shared by all its probes).
    pub target: Arc<str>,
    /// The address to connect to.
    pub ip: IpAddr,
    /// The TCP port.
    pub port: u16,
}

/// The outcome of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortResult {
    /// The target as the user wrote it.
    pub target: Arc<str>,
    /// The address probed.
    pub ip: IpAddr,
    /// The port probed.
    pub port: u16,
    /// What was found.
    pub state: State,
    /// Time from the connect() call to the answer (or the timeout).
    pub rtt: Duration,
    /// What the server said first, when banners were asked for: lossy
    /// UTF-8, capped in length. Not yet escaped for a terminal.
    pub banner: Option<String>,
}

/// Where the probes come from: an indexable, deterministic sequence, so the
/// engine can split it among workers without materialising it.
pub trait ProbeSource: Sync {
    /// Number of probes.
    fn len(&self) -> u64;
    /// True when there is nothing to probe.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The probe at `index` (`index < len()`).
    fn probe(&self, index: u64) -> Probe;
}

/// Banner grabbing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BannerConfig {
    /// How long to wait for the server to speak first.
    pub wait: Duration,
    /// Most bytes kept.
    pub max_len: usize,
}

/// How to scan (validated; built by the binary from its flags).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanConfig {
    /// Connect timeout per attempt.
    pub timeout: Duration,
    /// Most connects in flight across all workers (capped further by the
    /// file-descriptor limit).
    pub concurrency: usize,
    /// Extra attempts for a port that came back filtered.
    pub retries: u32,
    /// Most connects started per second, across all workers.
    pub rate: Option<u32>,
    /// Read a banner from open ports.
    pub banner: Option<BannerConfig>,
}

/// Totals of a finished scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Ports found open.
    pub open: u64,
    /// Ports found closed.
    pub closed: u64,
    /// Ports found filtered.
    pub filtered: u64,
    /// Wall time of the scan.
    pub elapsed: Duration,
    /// Connects in flight the engine actually used (after fd limits).
    pub concurrency: usize,
}

/// Why a scan could not run (individual probe failures are results, not
/// errors).
#[non_exhaustive]
#[derive(Debug)]
pub enum ScanError {
    /// The readiness poller or another OS resource could not be set up.
    Io(std::io::Error),
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ScanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScanError::Io(e) => Some(e),
        }
    }
}

/// Probes every entry of `source` and hands each result to `on_result`
/// (from worker threads, in completion order, exactly once per probe).
pub fn run(
    source: &dyn ProbeSource,
    cfg: &ScanConfig,
    on_result: &(dyn Fn(PortResult) + Sync),
) -> Result<Summary, ScanError> {
    let _ = (source, cfg, on_result);
    todo!("engine")
}
