//! The default output: the response bytes exactly as received, streamed.
//!
//! To a file or a pipe they are written untouched. To a terminal they go
//! through [`TerminalEscaper`], because the server chose those bytes and an
//! escape sequence must not reach the user's terminal.

use std::fmt;
use std::io::{self, Write};
use std::time::Duration;

use rawnet::http::client::{Handler, Step};
use rawnet::http::response::Head;
use rawnet::sanitize::escape_bytes;

use crate::trace::Tracer;
use crate::writeout::Observed;

/// Where the raw output goes, and what it may show there.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawMode {
    /// Escape for a terminal.
    pub terminal: bool,
    /// Refuse a binary body (a terminal, and no `-o -`).
    pub refuse_binary: bool,
    /// `-f`: show nothing of a response with status 400 or above.
    pub hide_errors: bool,
}

/// Streams the response to `out`, escaping when `out` is a terminal.
pub struct RawHandler<'a> {
    out: &'a mut dyn Write,
    escaper: Option<TerminalEscaper>,
    tracer: Option<Tracer>,
    pub observed: Observed,
    /// With `-f`: the bytes received before the final head, held until
    /// its status says whether they may be shown.
    held: Option<Vec<u8>>,
    /// The final head has been read.
    head_seen: bool,
    /// `-f` and an error status: nothing more is shown.
    hidden: bool,
    /// Watches the body for binary content (`None`: not refused).
    binary: Option<BinaryWatch>,
    /// Where, in memory, the first binary body byte is: it lies inside the
    /// buffer that [`Handler::raw`] is handed next.
    binary_at: Option<usize>,
}

impl<'a> RawHandler<'a> {
    pub fn new(out: &'a mut dyn Write, mode: RawMode, tracer: Option<Tracer>) -> Self {
        RawHandler {
            out,
            escaper: mode.terminal.then(TerminalEscaper::default),
            tracer,
            observed: Observed::default(),
            held: mode.hide_errors.then(Vec::new),
            head_seen: false,
            hidden: false,
            binary: mode.refuse_binary.then(BinaryWatch::default),
            binary_at: None,
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.escaper {
            None => self.out.write_all(bytes),
            Some(esc) => {
                let text = esc.push(bytes);
                self.out.write_all(text.as_bytes())
            }
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
        self.observed.see(step);
        if let Some(t) = &self.tracer {
            t.step(at, step);
        }
    }

    fn head(&mut self, head: &Head) {
        self.head_seen = true;
        self.hidden = self.held.is_some() && head.status >= 400;
    }

    fn body(&mut self, data: &[u8]) {
        if self.binary_at.is_none() && self.binary.as_mut().is_some_and(|w| w.is_binary(data)) {
            self.binary_at = Some(data.as_ptr() as usize);
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.hidden {
            return Ok(());
        }
        if let Some(held) = &mut self.held {
            if !self.head_seen {
                held.extend_from_slice(bytes);
                return Ok(());
            }
            let held = std::mem::take(held);
            self.held = None;
            self.emit(&held)?;
        }
        let Some(at) = self.binary_at else {
            return self.emit(bytes);
        };
        // What came before the binary body (the head) is still shown.
        let start = bytes.as_ptr() as usize;
        let shown = at.checked_sub(start).filter(|&n| n <= bytes.len());
        self.emit(&bytes[..shown.unwrap_or(0)])?;
        self.finish()?;
        Err(io::Error::other(BinaryRefused))
    }
}

/// The error that stops a binary body on its way to a terminal.
#[derive(Debug)]
pub struct BinaryRefused;

impl fmt::Display for BinaryRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the body is binary and stdout is a terminal: not shown; \
             use -o FILE to save it, or -o - or a pipe to see it anyway",
        )
    }
}

impl std::error::Error for BinaryRefused {}

/// Tells text from binary as a body streams by: a NUL byte, or bytes that
/// are not UTF-8 (a sequence cut by a chunk boundary is held back).
#[derive(Default)]
struct BinaryWatch {
    carry: Vec<u8>,
}

impl BinaryWatch {
    fn is_binary(&mut self, data: &[u8]) -> bool {
        let joined;
        let bytes = if self.carry.is_empty() {
            data
        } else {
            joined = [&self.carry[..], data].concat();
            &joined[..]
        };
        if bytes.contains(&0) {
            return true;
        }
        let tail = match std::str::from_utf8(bytes) {
            Ok(_) => Vec::new(),
            Err(e) if e.error_len().is_none() => bytes[e.valid_up_to()..].to_vec(),
            Err(_) => return true,
        };
        self.carry = tail;
        false
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

/// A writer that escapes everything for a terminal (`-o -` on one: the
/// body is shown, but its control bytes cannot drive the terminal).
pub struct EscapingWriter<W: Write> {
    inner: W,
    escaper: TerminalEscaper,
}

impl<W: Write> EscapingWriter<W> {
    pub fn new(inner: W) -> Self {
        EscapingWriter {
            inner,
            escaper: TerminalEscaper::default(),
        }
    }
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = self.escaper.push(buf);
        self.inner.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Drop for EscapingWriter<W> {
    fn drop(&mut self) {
        let rest = self.escaper.finish();
        let _ = self.inner.write_all(rest.as_bytes());
        let _ = self.inner.flush();
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
    fn binary_is_nul_or_not_utf8_across_pieces() {
        let mut w = BinaryWatch::default();
        assert!(!w.is_binary(b"caf\xc3"));
        assert!(!w.is_binary(b"\xa9 ok"));
        assert!(w.is_binary(b"\xff"));
        assert!(BinaryWatch::default().is_binary(b"a\0b"));
    }

    #[test]
    fn lone_trailing_cr_is_escaped_at_the_end() {
        assert_eq!(escape_split(b"a\r", 2), "a\\r");
    }
}
