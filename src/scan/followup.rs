//! Service detection after a scan that opens no connection (`-sS -sV`):
//! the open ports of the first pass are held back from the caller, then
//! connected to and identified by the detection sessions of a second
//! pass of the same engine, and reported from there.
//!
//! What this module owns is only the hand-over between the two passes;
//! both are ordinary runs of the engine.

use std::ops::ControlFlow;
use std::sync::Mutex;

use super::{PortResult, Probe, ProbeSource, ScanConfig, ScanError, Sink, State, Summary};

/// The open ports of the first pass, held back for detection.
struct HoldOpen<'a> {
    sink: &'a dyn Sink,
    open: Mutex<Vec<Probe>>,
}

impl Sink for HoldOpen<'_> {
    fn result(&self, result: PortResult) -> ControlFlow<()> {
        if result.state == State::Open {
            let probe = Probe {
                target: result.target,
                ip: result.ip,
                port: result.port,
                proto: result.proto,
            };
            self.open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(probe);
            return ControlFlow::Continue(());
        }
        self.sink.result(result)
    }

    fn cancelled(&self) -> bool {
        self.sink.cancelled()
    }
}

/// The open ports of the first pass, as the source of the second.
struct Opened(Vec<Probe>);

impl ProbeSource for Opened {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    fn probe(&self, index: u64) -> Probe {
        self.0[index as usize].clone()
    }
}

/// Runs `first` with a sink that holds the open ports back, then `detect`
/// over them (discovery off: their addresses are known up), and reports
/// both to `sink`; a port that closed in between is reported as it is
/// then. The summary counts each port once, with the first pass's hosts.
///
/// # Errors
///
/// Those of either pass.
pub(crate) fn detect_open_after(
    cfg: &ScanConfig,
    sink: &dyn Sink,
    first: impl FnOnce(&dyn Sink) -> Result<Summary, ScanError>,
    detect: impl FnOnce(&dyn ProbeSource, &ScanConfig, &dyn Sink) -> Result<Summary, ScanError>,
) -> Result<Summary, ScanError> {
    let hold = HoldOpen {
        sink,
        open: Mutex::new(Vec::new()),
    };
    let mut summary = first(&hold)?;
    let open = hold.open.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.open -= open.len() as u64;
    summary.reported -= open.len() as u64;
    if summary.stopped || open.is_empty() {
        return Ok(summary);
    }
    let detect_cfg = ScanConfig {
        discover_hosts: false,
        ..cfg.clone()
    };
    let detected = detect(&Opened(open), &detect_cfg, sink)?;
    let hosts = summary.hosts;
    summary.absorb(detected);
    summary.hosts = hosts;
    Ok(summary)
}
