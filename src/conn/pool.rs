//! Connections kept alive between exchanges, as curl's connection cache:
//! several URLs to one origin, and redirect hops back to it, reuse one
//! connection instead of connecting again.
//!
//! The pool only keeps and hands out. Whether a connection may come back
//! is the exchange's call (the message ended by its framing, nobody said
//! `Connection: close`); whether a kept one still works is checked when it
//! is taken ([`Connection::is_alive`]: the peer may have closed it while
//! idle). Idle connections are bounded in number, oldest closed first.
//! One pool is shared by the parallel workers of a run (a mutex held only
//! to push or pop).

use std::sync::{Mutex, PoisonError};

use super::{Connection, Origin, Proxy};

/// Most idle connections kept (curl keeps 5 per host by default in its
/// tool; this bounds the whole pool).
pub const MAX_IDLE: usize = 16;

/// What a connection can serve: its origin (none for a forwarding HTTP
/// proxy, which serves any `http://` origin) and the proxy it goes
/// through.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    origin: Option<Origin>,
    proxy: Option<Proxy>,
}

impl Key {
    /// The key of a connection.
    pub fn new(origin: Option<Origin>, proxy: Option<Proxy>) -> Key {
        Key { origin, proxy }
    }
}

/// Idle connections of a run.
#[derive(Debug, Default)]
pub struct Pool {
    idle: Mutex<Vec<(Key, Connection)>>,
    disabled: bool,
}

impl Pool {
    /// An empty pool.
    pub fn new() -> Pool {
        Pool::default()
    }

    /// A pool that keeps nothing: every exchange connects anew.
    pub fn disabled() -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            disabled: true,
        }
    }

    /// The most recently idle live connection for `key`, if any; dead ones
    /// met on the way are closed.
    pub fn take(&self, key: &Key) -> Option<Connection> {
        loop {
            let found = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let i = idle.iter().rposition(|(k, _)| k == key)?;
                idle.remove(i).1
            };
            let mut conn = found;
            if conn.is_alive() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for later.
    pub fn put(&self, key: Key, conn: Connection) {
        if self.disabled {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push((key, conn));
    }

    /// How many connections are idle.
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
