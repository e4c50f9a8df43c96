//! curl's output model, beside rawget's raw view: `-o FILE`, `-O` and
//! `-o -` save the response BODY (chunk framing removed, and with
//! `--compressed` its `Content-Encoding` undone), `-i` puts the heads in
//! front of it, `-D FILE` writes the heads alone.
//!
//! [`SaveHandler`] is the body's handler; [`DumpHeads`] wraps any handler
//! (this one, the raw view's, the JSON one) to copy every head to `-D`.
//! Heads are cut from the bytes exactly as received by [`HeadSplitter`],
//! so `-i` and `-D` show what the server sent, interim `1xx` heads and the
//! heads of every redirect hop included, as curl does. The body of a hop
//! that `-L` follows is not saved (curl drops it too).

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::time::Duration;

use rawnet::http::client::{Handler, Step};
use rawnet::http::decode::{ContentDecoder, DecodeError};
use rawnet::http::response::Head;

use crate::trace::Tracer;
use crate::writeout::Observed;

/// Most bytes held while looking for the end of a head; the response
/// reader refuses larger heads long before this.
const MAX_HEAD: usize = 1024 * 1024;

/// What the body handler does.
#[derive(Clone, Copy, Debug, Default)]
pub struct SaveOptions {
    /// `-i`: the heads go before the body.
    pub include: bool,
    /// `--compressed`: undo `Content-Encoding`.
    pub compressed: bool,
    /// `-L`: a redirect's body is not saved.
    pub follow: bool,
    /// `-f`: the body of a status of 400 or above is not saved.
    pub fail: bool,
    /// `-C`: a range was asked for, so a whole body (200) must not be
    /// appended to the part already saved.
    pub resuming: bool,
}

/// Why saving stopped.
#[derive(Debug)]
pub enum SaveFailure {
    /// The body could not be decoded (curl exit 61).
    Decode(DecodeError),
    /// The output could not be written (curl exit 23).
    Output(io::Error),
    /// `-C`: the server sent the whole body, not the range (curl exit 33).
    RangeIgnored,
}

impl std::fmt::Display for SaveFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SaveFailure::Decode(e) => e.fmt(f),
            SaveFailure::Output(e) => write!(f, "failed writing the body: {e}"),
            SaveFailure::RangeIgnored => f.write_str(
                "the server does not seem to support byte ranges (it sent the whole body): \
                 cannot resume",
            ),
        }
    }
}

/// Cuts heads out of a hop's raw bytes: each ends at its empty line; the
/// first that is not an interim `1xx` is the last one of the hop.
#[derive(Default)]
pub struct HeadSplitter {
    held: Vec<u8>,
    /// Where to look for the end of a head next time.
    searched: usize,
    /// The hop's final head has been cut: the rest is body.
    done: bool,
}

impl HeadSplitter {
    /// Feeds raw bytes; calls `each` with every complete head (its empty
    /// line included).
    pub fn feed(&mut self, bytes: &[u8], mut each: impl FnMut(&[u8])) {
        if self.done {
            return;
        }
        let room = MAX_HEAD.saturating_sub(self.held.len());
        self.held.extend_from_slice(&bytes[..bytes.len().min(room)]);
        let mut from = self.searched;
        while let Some(end) = head_end(&self.held, from) {
            let head: Vec<u8> = self.held.drain(..end).collect();
            each(&head);
            from = 0;
            if !is_interim(&head) {
                // What follows is the body, which is not ours.
                self.done = true;
                self.held = Vec::new();
                return;
            }
        }
        self.searched = self.held.len().saturating_sub(2);
        if self.held.len() >= MAX_HEAD {
            self.done = true;
            self.held = Vec::new();
        }
    }

    /// True once the hop's final head has been cut.
    pub fn done(&self) -> bool {
        self.done
    }

    /// A new hop starts.
    pub fn reset(&mut self) {
        self.held.clear();
        self.searched = 0;
        self.done = false;
    }
}

/// Where the head in `buf` ends (after its empty line), searching from
/// `from`: CRLF CRLF, or bare LFs as lenient servers send.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match (buf.get(i + 1), buf.get(i + 2)) {
                (Some(b'\n'), _) => return Some(i + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// An interim head: `1xx` other than `101` (a switch ends the exchange).
fn is_interim(head: &[u8]) -> bool {
    let code = head.split(|&b| b == b' ').nth(1).unwrap_or_default();
    code.len() == 3 && code[0] == b'1' && code != b"101"
}

/// The output, shared by the handler and the decoder that writes to it.
#[derive(Clone)]
struct Shared<'a>(Rc<RefCell<&'a mut dyn Write>>);

impl Write for Shared<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// What is done with the current hop's body.
enum Body<'a> {
    /// Not saved (a followed redirect, `-f` on an error status).
    Dropped,
    /// Written as it comes.
    Plain,
    /// To be decoded, once the first byte comes (an empty body has
    /// nothing to decode).
    Encoded(String),
    Decoding(ContentDecoder<'a>),
}

/// Saves the body of the final response (and with `-i` every head).
pub struct SaveHandler<'a> {
    out: Shared<'a>,
    opts: SaveOptions,
    heads: HeadSplitter,
    body: Body<'a>,
    /// Body bytes that arrived in the same read as the end of the head:
    /// written after the head, which `raw` sees later.
    pending: Vec<u8>,
    tracer: Option<Tracer>,
    pub observed: Observed,
    /// What stopped the saving, if anything.
    pub failure: Option<SaveFailure>,
}

impl<'a> SaveHandler<'a> {
    pub fn new(out: &'a mut dyn Write, opts: SaveOptions, tracer: Option<Tracer>) -> Self {
        SaveHandler {
            out: Shared(Rc::new(RefCell::new(out))),
            opts,
            heads: HeadSplitter::default(),
            body: Body::Dropped,
            pending: Vec::new(),
            tracer,
            observed: Observed::default(),
            failure: None,
        }
    }

    fn save(&mut self, data: &[u8]) -> Result<(), SaveFailure> {
        if let Body::Encoded(names) = &self.body {
            let decoder = ContentDecoder::new(names, Box::new(self.out.clone()))
                .map_err(SaveFailure::Decode)?;
            self.body = Body::Decoding(decoder);
        }
        match &mut self.body {
            Body::Dropped | Body::Encoded(_) => Ok(()),
            Body::Plain => self.out.write_all(data).map_err(SaveFailure::Output),
            Body::Decoding(d) => d.write(data).map_err(|e| match e {
                DecodeError::Output(e) => SaveFailure::Output(e),
                e => SaveFailure::Decode(e),
            }),
        }
    }

    /// The exchange is over: decodes what is held and flushes. A failure
    /// is kept in [`SaveHandler::failure`].
    pub fn finish(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if self.failure.is_none() && !pending.is_empty() {
            if let Err(e) = self.save(&pending) {
                self.failure = Some(e);
            }
        }
        let body = std::mem::replace(&mut self.body, Body::Dropped);
        if self.failure.is_none() {
            if let Body::Decoding(d) = body {
                if let Err(e) = d.finish() {
                    self.failure = Some(match e {
                        DecodeError::Output(e) => SaveFailure::Output(e),
                        e => SaveFailure::Decode(e),
                    });
                }
            }
        }
        if let Err(e) = self.out.flush() {
            self.failure.get_or_insert(SaveFailure::Output(e));
        }
    }
}

/// An error for the exchange to stop on; the handler keeps the cause.
fn stop() -> io::Error {
    io::Error::other("saving the body failed")
}

impl Handler for SaveHandler<'_> {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        self.observed.see(step);
        if let Some(t) = &self.tracer {
            t.step(at, step);
        }
    }

    fn head(&mut self, head: &Head) {
        let redirect = matches!(head.status, 301 | 302 | 303 | 307 | 308)
            && head.headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("location") && !v.trim_matches([' ', '\t']).is_empty()
            });
        let encoding = head
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let whole = self.opts.resuming && (200..300).contains(&head.status) && head.status != 206;
        if whole && !(self.opts.follow && redirect) {
            self.failure = Some(SaveFailure::RangeIgnored);
        }
        self.body =
            if whole || (self.opts.follow && redirect) || (self.opts.fail && head.status >= 400) {
                Body::Dropped
            } else if self.opts.compressed && !encoding.trim().is_empty() {
                Body::Encoded(encoding)
            } else {
                Body::Plain
            };
    }

    fn body(&mut self, data: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        if self.opts.include && !self.heads.done() {
            // The head these bytes follow is written by `raw`, next.
            self.pending.extend_from_slice(data);
            return;
        }
        if let Err(e) = self.save(data) {
            self.failure = Some(e);
        }
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.opts.include {
            let out = &mut self.out;
            let mut written = Ok(());
            self.heads.feed(bytes, |head| {
                if written.is_ok() {
                    written = out.write_all(head);
                }
            });
            if let Err(e) = written {
                self.failure.get_or_insert(SaveFailure::Output(e));
            }
            if self.heads.done() && !self.pending.is_empty() && self.failure.is_none() {
                let pending = std::mem::take(&mut self.pending);
                if let Err(e) = self.save(&pending) {
                    self.failure = Some(e);
                }
            }
        }
        match self.failure {
            Some(_) => Err(stop()),
            None => Ok(()),
        }
    }

    fn next_hop(&mut self) {
        self.heads.reset();
        self.pending.clear();
        self.body = Body::Dropped;
    }
}

/// Wraps a handler to copy every head, as received, to `-D FILE`.
///
/// With `-D -` the heads share stdout with the body: body bytes that
/// arrive in the same read as the end of a head are passed on only after
/// that head is written (the exchange reports the body before the raw
/// bytes it came in).
pub struct DumpHeads<'a> {
    inner: &'a mut dyn Handler,
    out: &'a mut dyn Write,
    heads: HeadSplitter,
    /// Hold body bytes until the head before them is written.
    in_order: bool,
    held: Vec<u8>,
    /// The first failure to write the heads (curl exit 23).
    pub failure: Option<io::Error>,
}

impl<'a> DumpHeads<'a> {
    /// `in_order`: the heads go where the body goes (`-D -`).
    pub fn new(inner: &'a mut dyn Handler, out: &'a mut dyn Write, in_order: bool) -> Self {
        DumpHeads {
            inner,
            out,
            heads: HeadSplitter::default(),
            in_order,
            held: Vec::new(),
            failure: None,
        }
    }
}

impl Handler for DumpHeads<'_> {
    fn trace(&mut self, at: Duration, step: &Step<'_>) {
        self.inner.trace(at, step);
    }

    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let out = &mut self.out;
        let failure = &mut self.failure;
        self.heads.feed(bytes, |head| {
            if failure.is_none() {
                if let Err(e) = out.write_all(head).and_then(|()| out.flush()) {
                    *failure = Some(e);
                }
            }
        });
        if self.failure.is_some() {
            return Err(stop());
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.inner.body(&held);
        }
        self.inner.raw(bytes)
    }

    fn body(&mut self, data: &[u8]) {
        if self.in_order && !self.heads.done() {
            self.held.extend_from_slice(data);
        } else {
            self.inner.body(data);
        }
    }

    fn head(&mut self, head: &Head) {
        self.inner.head(head);
    }

    fn next_hop(&mut self) {
        self.heads.reset();
        self.held.clear();
        self.inner.next_hop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(input: &[u8], at: usize) -> Vec<Vec<u8>> {
        let mut s = HeadSplitter::default();
        let mut heads = Vec::new();
        s.feed(&input[..at], |h| heads.push(h.to_vec()));
        s.feed(&input[at..], |h| heads.push(h.to_vec()));
        heads
    }

    #[test]
    fn heads_are_cut_at_every_split() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\r\n\r\nmore";
        for at in 0..=input.len() {
            assert_eq!(
                split_all(input, at),
                vec![
                    b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                    b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n".to_vec()
                ],
                "split at {at}"
            );
        }
        assert_eq!(
            split_all(b"HTTP/1.0 200 OK\nA: b\n\nx", 3),
            vec![b"HTTP/1.0 200 OK\nA: b\n\n".to_vec()]
        );
    }

    #[test]
    fn include_writes_the_head_before_the_body_of_the_same_read() {
        let mut out = Vec::new();
        {
            let opts = SaveOptions {
                include: true,
                ..SaveOptions::default()
            };
            let mut h = SaveHandler::new(&mut out, opts, None);
            let head = Head {
                version: 1,
                status: 200,
                reason: "OK".into(),
                headers: vec![],
                reason_bytes: None,
                value_bytes: vec![],
            };
            h.head(&head);
            h.body(b"hi");
            h.raw(b"HTTP/1.1 200 OK\r\n\r\nhi").unwrap();
            h.finish();
            assert!(h.failure.is_none());
        }
        assert_eq!(out, b"HTTP/1.1 200 OK\r\n\r\nhi");
    }
}
