//! `rawnet`: the library under `rawget` and `portscan`.
//!
//! Every module owns one job and none of them prints: the binaries in
//! `src/bin/` turn the typed values returned here into text.
//!
//! - [`sock`]: thin wrappers over the socket syscalls (socket2 underneath).
//! - [`resolve`]: name resolution through `getaddrinfo` (dns-lookup).
//! - [`conn`]: the connection layer under `rawget`: socket and happy
//!   eyeballs, proxies (HTTP CONNECT, SOCKS5), TLS over any transport, and
//!   a pool of kept-alive connections.
//! - [`http`]: HTTP/1.1 request building and a streaming response reader
//!   that decides message framing (RFC 9112 section 6.3).
//! - [`packet`]: the packets of a SYN scan as bytes (built, checked, read).
//! - [`rawsock`]: thin wrappers over the raw-socket syscalls of a SYN scan.
//! - [`sanitize`]: escaping of untrusted bytes before they reach a terminal.
//! - [`ports`], [`targets`], [`shard`], [`scan`], [`fdlimit`]: the port
//!   scanner: what to probe, in which order (the probe plan,
//!   [`shard::Plan`]), and the engine with its techniques.
//! - Protocol knowledge as bytes only (no sockets): [`port_names`], the
//!   service usually found on a port number (nmap-services);
//!   [`service_probes`], the probes for an open TCP port and the signatures
//!   that name the service from a reply (TLS hello included);
//!   [`udp_payloads`], the request each well-known UDP port is sent, so
//!   that an open port answers, and the decoders of the replies.
//! - [`jobshard`]: the shard a job runner's environment assigns;
//!   [`scanid`]: the fingerprint that tells shards of one scan from
//!   another's; [`pairs`]: explicit `(address, port)` lists from a first
//!   sweep.
#![deny(missing_docs)]

pub mod conn;
pub mod fdlimit;
pub mod http;
pub mod jobshard;
pub mod packet;
pub mod pairs;
pub mod port_names;
pub mod ports;
pub mod rawsock;
pub mod resolve;
pub mod sanitize;
pub mod scan;
pub mod scanid;
pub mod service_probes;
pub mod shard;
pub mod sock;
pub mod targets;
#[cfg(test)]
mod test_support;
mod top_ports;
pub mod udp_payloads;
pub mod utc;
