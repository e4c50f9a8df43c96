//! What printers are given and `--merge` and `--resume` read back: each
//! result as an [`Event`], ports known only by their count as an [`Extra`],
//! the word that marks the comment naming a document's scan and shard
//! ([`SHARD_COMMENT`]), and the words the nmap formats use for an open
//! port's evidence ([`TCPWRAPPED`], [`ACCEPTS_ALL_NOTE`], [`AFTER_NOTE`]),
//! which `--merge` reads back.
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

/// nmap's name for an open port that is not shown to be a service.
pub const TCPWRAPPED: &str = "tcpwrapped";

/// What the nmap formats say of a port whose host accepts every port.
pub const ACCEPTS_ALL_NOTE: &str = "host accepts every port";

/// How the nmap formats introduce what a port did after the handshake.
pub const AFTER_NOTE: &str = "after handshake: ";
