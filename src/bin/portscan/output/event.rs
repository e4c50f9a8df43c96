//! What printers are given and `--merge` and `--resume` read back: each
//! result as an [`Event`], ports known only by their count as an [`Extra`],
//! and the word that marks the comment naming a document's scan and shard
//! ([`SHARD_COMMENT`]).
//!
//! Apart from the printers because the readers of untrusted files
//! (`merge/read.rs`, `resume/read.rs`) build these and nothing else of the
//! output: the fuzz targets include them with this file alone.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use rawnet::scan::{PortResult, Proto, Reason, State};

/// One result as the writer forwards it.
#[derive(Clone, Debug)]
pub struct Event {
    /// The result.
    pub result: PortResult,
    /// When it reached the sink (the engine decides states in bursts, so
    /// this is within a few milliseconds of the decision).
    pub at: SystemTime,
}

/// Ports of one host known only by their count: what an nmap XML input
/// says in `<extraports>` (for `--merge`).
#[derive(Clone, Debug)]
pub struct Extra {
    /// The target that named the host.
    pub target: Arc<str>,
    /// The host.
    pub ip: IpAddr,
    /// Their protocol.
    pub proto: Proto,
    /// Their state.
    pub state: State,
    /// Why they are in it.
    pub reason: Reason,
    /// How many ports.
    pub count: u64,
}

/// The first word of the XML comment that says which scan and shard a
/// document holds: the XML printers write it, `--merge` reads it back.
pub const SHARD_COMMENT: &str = "portscan-shard";
