//! The tutorial's select()-based server for many clients, rebuilt on
//! `rawnet::sock` and a readiness poller (`polling`, epoll underneath):
//! one thread, one poll loop, every client served as its bytes arrive.
//! Like `reverse_server`, it answers each line with the line reversed.
//!
//! ```text
//! cargo run --example poll_server -- 127.0.0.1:7001
//! ```
//!
//! It prints `listening on ADDR` first. Each client's unanswered input and
//! unsent output are bounded; a client that exceeds them is disconnected,
//! so one slow or hostile client cannot grow the server's memory.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use common::reverse_line;
use polling::{Event, Events, Poller};
use rawnet::sock::{Conn, Listener};

mod common;

const LISTENER_KEY: usize = 0;
const MAX_CLIENTS: usize = 1024;
const MAX_BUFFERED: usize = 64 * 1024;

struct Client {
    conn: Conn,
    input: Vec<u8>,
    output: Vec<u8>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("poll_server: {e}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let addr = common::addr_arg()?;
    let listener = Listener::bind(addr, 128)?;
    listener.socket().set_nonblocking(true)?;
    common::announce(listener.local_addr()?)?;

    let poller = Poller::new()?;
    // SAFETY: every registered socket is deleted from the poller before it
    // is closed (see `drop_client`), and the listener outlives the poller.
    unsafe { poller.add(listener.socket(), Event::readable(LISTENER_KEY))? };
    let mut clients: HashMap<usize, Client> = HashMap::new();
    let mut next_key = LISTENER_KEY + 1;
    let mut events = Events::new();
    loop {
        events.clear();
        poller.wait(&mut events, Some(Duration::from_secs(60)))?;
        for ev in events.iter() {
            if ev.key == LISTENER_KEY {
                accept_all(&poller, &listener, &mut clients, &mut next_key)?;
                poller.modify(listener.socket(), Event::readable(LISTENER_KEY))?;
                continue;
            }
            let keep = match clients.get_mut(&ev.key) {
                Some(client) => service(client, ev.readable, ev.writable).unwrap_or(false),
                None => continue,
            };
            if keep {
                let client = &clients[&ev.key];
                poller.modify(client.conn.socket(), interest(ev.key, client))?;
            } else {
                drop_client(&poller, &mut clients, ev.key);
            }
        }
    }
}

fn accept_all(
    poller: &Poller,
    listener: &Listener,
    clients: &mut HashMap<usize, Client>,
    next_key: &mut usize,
) -> io::Result<()> {
    loop {
        let conn = match listener.accept() {
            Ok((conn, _)) => conn,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        };
        if clients.len() >= MAX_CLIENTS {
            conn.close();
            continue;
        }
        conn.socket().set_nonblocking(true)?;
        let key = *next_key;
        *next_key += 1;
        // SAFETY: deleted in `drop_client` before the socket is dropped.
        unsafe { poller.add(conn.socket(), Event::readable(key))? };
        clients.insert(
            key,
            Client {
                conn,
                input: Vec::new(),
                output: Vec::new(),
            },
        );
    }
}

/// Reads what is there, answers complete lines, writes what it can.
/// Returns whether to keep the client.
fn service(client: &mut Client, readable: bool, writable: bool) -> io::Result<bool> {
    let mut open = true;
    if readable {
        let mut buf = [0u8; 4096];
        loop {
            match client.conn.recv(&mut buf) {
                Ok(0) => {
                    open = false;
                    break;
                }
                Ok(n) => client.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            if client.input.len() > MAX_BUFFERED {
                return Ok(false);
            }
        }
        while let Some(pos) = client.input.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = client.input.drain(..=pos).collect();
            client.output.extend(reverse_line(&line));
        }
    }
    if writable || !client.output.is_empty() {
        flush(client)?;
    }
    if client.output.len() > MAX_BUFFERED {
        return Ok(false);
    }
    // A client that closed is kept until its answers are written.
    Ok(open || !client.output.is_empty())
}

fn flush(client: &mut Client) -> io::Result<()> {
    while !client.output.is_empty() {
        match client.conn.socket().send(&client.output) {
            Ok(n) => {
                client.output.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn interest(key: usize, client: &Client) -> Event {
    if client.output.is_empty() {
        Event::readable(key)
    } else {
        Event::all(key)
    }
}

fn drop_client(poller: &Poller, clients: &mut HashMap<usize, Client>, key: usize) {
    if let Some(client) = clients.remove(&key) {
        let _ = poller.delete(client.conn.socket());
        client.conn.close();
    }
}
