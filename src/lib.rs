//! `rawnet`: the library under `rawget` and `portscan`.
//!
//! Every module owns one job and none of them prints: the binaries in
//! `src/bin/` turn the typed values returned here into text.
//!
//! - [`sock`]: thin wrappers over the socket syscalls (socket2 underneath).
//! - [`resolve`]: name resolution through `getaddrinfo` (dns-lookup).
//! - [`http`]: HTTP/1.1 request building and a streaming response reader
//!   that decides message framing (RFC 9112 section 6.3).
//! - [`packet`]: the packets of a SYN scan as bytes (built, checked, read).
//! - [`rawsock`]: thin wrappers over the raw-socket syscalls of a SYN scan.
//! - [`sanitize`]: escaping of untrusted bytes before they reach a terminal.
//! - [`ports`], [`targets`], [`services`], [`shard`], [`scan`], [`fdlimit`]:
//!   the port scanner: what to probe, in which order, and the engine.
//! - [`detect`]: service detection: the probes for an open TCP port and
//!   the signature table that names the service from a reply.
//! - [`udp_payloads`]: the request each well-known UDP port is sent, so
//!   that an open port answers.
#![deny(missing_docs)]

pub mod detect;
pub mod fdlimit;
pub mod http;
pub mod packet;
pub mod ports;
pub mod rawsock;
pub mod resolve;
pub mod sanitize;
pub mod scan;
pub mod services;
pub mod shard;
pub mod sock;
pub mod targets;
mod top_ports;
pub mod udp_payloads;
