//! `--limit-rate`: a handler that wraps any other (the raw view, the
//! body saver, `--json`) and sleeps so that the bytes received never run
//! ahead of the rate. The socket is not read meanwhile, so the sender
//! slows down too, as with curl, whatever the output mode.

use std::io;
use std::time::{Duration, Instant};

use rawnet::http::client::{Handler, Step};
use rawnet::http::response::Head;

/// Paces `inner` to `rate` bytes a second of response bytes as received.
pub struct Paced<'a> {
    inner: &'a mut dyn Handler,
    rate: u64,
    start: Instant,
    bytes: u64,
}

impl<'a> Paced<'a> {
    pub fn new(inner: &'a mut dyn Handler, rate: u64) -> Self {
        Paced {
            inner,
            rate: rate.max(1),
            start: Instant::now(),
            bytes: 0,
        }
    }

    fn wait(&mut self, n: usize) {
        self.bytes += n as u64;
        let due = Duration::from_secs_f64(self.bytes as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

impl Handler for Paced<'_> {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        self.inner.trace(at, step);
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wait(bytes.len());
        self.inner.raw(bytes)
    }

    fn body(&mut self, data: &[u8]) {
        self.inner.body(data);
    }

    fn head(&mut self, head: &Head) {
        self.inner.head(head);
    }

    fn next_hop(&mut self) {
        self.inner.next_hop();
    }
}
