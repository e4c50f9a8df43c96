//! The default output: the response bytes exactly as received, streamed.
//!
//! To a file or a pipe they are written untouched. To a terminal they go
//! through [`TerminalEscaper`], because the server chose those bytes and an
//! escape sequence must not reach the user's terminal.

use std::io::{self, Write};
use std::time::Duration;

use rawnet::http::client::{Handler, Step};
use rawnet::sanitize::escape_bytes;

use crate::trace::Tracer;

/// Streams the response to `out`, escaping when `out` is a terminal.
pub struct RawHandler<'a> {
    out: &'a mut dyn Write,
    escaper: Option<TerminalEscaper>,
    tracer: Option<Tracer>,
}

impl<'a> RawHandler<'a> {
    pub fn new(out: &'a mut dyn Write, terminal: bool, tracer: Option<Tracer>) -> Self {
        RawHandler {
            out,
            escaper: terminal.then(TerminalEscaper::default),
            tracer,
        }
    }

    /// Writes what the escaper still holds (an unfinished UTF-8 sequence
    /// or a lone CR at the very end).
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(esc) = &mut self.escaper {
            let rest = esc.finish();
            self.out.write_all(rest.as_bytes())?;
        }
        self.out.flush()
    }
}

impl Handler for RawHandler<'_> {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        if let Some(t) = &self.tracer {
            t.step(at, step);
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.escaper {
            None => self.out.write_all(bytes),
            Some(esc) => {
                let text = esc.push(bytes);
                self.out.write_all(text.as_bytes())
            }
        }
    }
}

/// Escapes a byte stream for a terminal chunk by chunk, with the same
/// result however the stream is split: a UTF-8 sequence or a CR LF pair cut
/// in two by a chunk boundary is held back until the next chunk.
///
/// CR LF is kept (HTTP lines end that way and it is harmless); every other
/// control character and invalid byte becomes a visible escape.
#[derive(Default)]
pub struct TerminalEscaper {
    held: Vec<u8>,
}

impl TerminalEscaper {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.held.extend_from_slice(bytes);
        let keep = unfinished_tail(&self.held);
        let ready: Vec<u8> = self.held.drain(..self.held.len() - keep).collect();
        escape_keeping_crlf(&ready)
    }

    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.held);
        escape_keeping_crlf(&rest)
    }
}

/// Bytes at the end of `buf` that may change meaning with the next chunk.
fn unfinished_tail(buf: &[u8]) -> usize {
    if buf.last() == Some(&b'\r') {
        return 1;
    }
    // A UTF-8 lead byte in the last three bytes whose sequence runs past
    // the end.
    for back in 1..=buf.len().min(3) {
        let b = buf[buf.len() - back];
        let need = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            0x80..=0xBF => continue,
            _ => return 0,
        };
        return if need > back { back } else { 0 };
    }
    0
}

fn escape_keeping_crlf(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut parts = bytes.split(|&b| b == b'\n').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        match part.strip_suffix(b"\r") {
            Some(line) if !last => {
                out.push_str(&escape_bytes(line));
                out.push_str("\r\n");
            }
            _ => {
                out.push_str(&escape_bytes(part));
                if !last {
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escape_split(input: &[u8], at: usize) -> String {
        let mut e = TerminalEscaper::default();
        let mut s = e.push(&input[..at]);
        s += &e.push(&input[at..]);
        s + &e.finish()
    }

    #[test]
    fn keeps_crlf_escapes_the_rest() {
        let input = b"HTTP/1.1 200 OK\r\nX: \x1b[31mred\r\n\r\nbody\rcr \xff caf\xc3\xa9";
        let want = "HTTP/1.1 200 OK\r\nX: \\x1b[31mred\r\n\r\nbody\\rcr \\xff caf\u{e9}";
        for at in 0..=input.len() {
            assert_eq!(escape_split(input, at), want, "split at {at}");
        }
    }

    #[test]
    fn lone_trailing_cr_is_escaped_at_the_end() {
        assert_eq!(escape_split(b"a\r", 2), "a\\r");
    }
}
