//! The classic tutorial server, rebuilt on `rawnet::sock`: `socket`,
//! `bind`, `listen`, then for each client in turn `accept`, read lines,
//! write each line back reversed, `close`.
//!
//! One client at a time, as in the tutorial; see `poll_server` for many.
//!
//! ```text
//! cargo run --example reverse_server -- 127.0.0.1:7000
//! printf 'hello\n' | nc 127.0.0.1 7000     # prints "olleh"
//! ```
//!
//! It prints `listening on ADDR` first, so a test can start it on port 0
//! and read the real port.

use std::io;

use common::reverse_line;
use rawnet::sock::{Conn, Listener};

/// Longest line kept; a client sending more without a newline is cut off.
mod common;

const MAX_LINE: usize = 64 * 1024;

fn main() {
    if let Err(e) = run() {
        eprintln!("reverse_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let addr = common::addr_arg()?;
    let listener = Listener::bind(addr, 16)?;
    common::announce(listener.local_addr()?)?;
    loop {
        let (conn, _peer) = listener.accept()?;
        // A client that misbehaves only ends its own session.
        let _ = serve(&conn);
        conn.close();
    }
}

fn serve(conn: &Conn) -> io::Result<()> {
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.recv(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            conn.send_all(&reverse_line(&line))?;
        }
        if pending.len() > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}
