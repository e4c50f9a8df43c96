//! What the example servers share: their address argument and the line
//! transformation they serve.

use std::io::{self, Write};
use std::net::SocketAddr;

/// The address from the first argument (default `127.0.0.1:0`).
pub fn addr_arg() -> io::Result<SocketAddr> {
    std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Prints `listening on ADDR` and flushes, so a test that started the
/// server on port 0 can read the real port.
pub fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Reverses a line by characters (by bytes if it is not UTF-8), keeping
/// its line ending at the end.
pub fn reverse_line(line: &[u8]) -> Vec<u8> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let ending = &line[body.len()..];
    let mut out: Vec<u8> = match std::str::from_utf8(body) {
        Ok(text) => text.chars().rev().collect::<String>().into_bytes(),
        Err(_) => body.iter().rev().copied().collect(),
    };
    out.extend_from_slice(ending);
    out
}
