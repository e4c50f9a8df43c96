//! Where each request of a request file ends, and what its response looks
//! like: a push parser over bytes, for `rawget --send`.
//!
//! `--send` puts the user's bytes on the wire exactly as written, so this
//! module never changes, re-cases or reorders anything: it only *reads* the
//! bytes to learn how many requests there are (so that as many responses
//! are read), where each one ends (so that `--sequential` can wait for an
//! answer before the next), and how each response must be framed (the
//! answer to `HEAD` has no body, a `2xx` to `CONNECT` opens a tunnel).
//!
//! Request framing follows RFC 9112 section 6.3 as a server applies it:
//! - `Transfer-Encoding` whose final coding is `chunked` wins over any
//!   `Content-Length`; the chunked body (and its trailer section) ends the
//!   request;
//! - `Transfer-Encoding` without a final `chunked` cannot be framed: a
//!   server answers 400 and closes, so the rest of the input belongs to
//!   that request ([`BodyFraming::Unframed`]);
//! - otherwise every `Content-Length` value must be a decimal number and
//!   all must agree, giving the body length; a bad or conflicting value is
//!   [`BodyFraming::Unframed`] too;
//! - with neither, there is no body.
//!
//! Oddities that servers may read differently (the raw material of
//! request smuggling) are named as [`Note`]s, never fixed: both framing
//! headers, a space before the colon, obs-fold, bare LF, and so on. A
//! field whose name is not exactly a token (`Transfer-Encoding :`) does
//! not frame here, as RFC 9112 section 5.1 has a server reject it.
//!
//! Empty lines before a request line belong to that request (RFC 9112
//! section 2.2 lets a server skip them). Bytes that end inside a request
//! form a last request with `complete: false`: they are sent, but no
//! response is expected for them.
//!
//! Splitting does not matter: the input fed whole, in any pieces or one
//! byte at a time gives the same requests (tested at every offset). Memory
//! is bounded by [`MAX_HEAD`]: body bytes are counted, never kept.

use std::borrow::Cow;
use std::ops::Range;

use super::chunked::ChunkDecoder;
use super::section::{find_lf, Fill, Filled, Section};

/// Largest request head (request line and fields) that is read as one;
/// a longer one makes the rest of the input one [`BodyFraming::Unframed`]
/// request. Also the bound on a chunk-size line and a trailer section.
pub const MAX_HEAD: usize = 256 * 1024;

/// Most header fields in one head or trailer section.
const MAX_FIELDS: usize = 10_000;

/// How the body of a request is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    None,
    /// `Content-Length`: this many bytes.
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// Cannot be framed (bad `Content-Length`, `Transfer-Encoding` without
    /// final `chunked`, a head too large or malformed chunks): the rest of
    /// the input belongs to this request.
    Unframed,
}

impl BodyFraming {
    /// A stable name for JSON and the terminal.
    pub fn name(self) -> &'static str {
        match self {
            BodyFraming::None => "none",
            BodyFraming::Length(_) => "length",
            BodyFraming::Chunked => "chunked",
            BodyFraming::Unframed => "unframed",
        }
    }
}

/// Something in a request that servers may read differently.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Note {
    /// Both `Content-Length` and `Transfer-Encoding`.
    ContentLengthWithTransferEncoding,
    /// `Content-Length` given more than once.
    RepeatedContentLength,
    /// `Content-Length` values that disagree.
    ConflictingContentLength,
    /// A `Content-Length` that is not a plain decimal number.
    BadContentLength,
    /// `Transfer-Encoding` whose final coding is not `chunked`.
    TransferEncodingNotChunked,
    /// `Transfer-Encoding` in an HTTP/1.0 request.
    TransferEncodingInHttp10,
    /// Whitespace between a field name and its colon.
    SpaceBeforeColon,
    /// A field line folded onto the next (obs-fold).
    ObsFold,
    /// A line ended by LF alone.
    BareLf,
    /// Empty lines before the request line.
    EmptyLineBeforeRequest,
    /// A chunk-size line with an extension.
    ChunkExtension,
    /// Trailer fields after a chunked body.
    Trailers,
    /// A head larger than [`MAX_HEAD`].
    HeadTooLarge,
    /// Malformed chunked framing.
    BadChunk,
    /// The input ended inside this request.
    Incomplete,
}

impl Note {
    /// The stable code (a contract, as the response linter's).
    pub fn code(self) -> &'static str {
        match self {
            Note::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            Note::RepeatedContentLength => "repeated_content_length",
            Note::ConflictingContentLength => "conflicting_content_length",
            Note::BadContentLength => "bad_content_length",
            Note::TransferEncodingNotChunked => "transfer_encoding_not_chunked",
            Note::TransferEncodingInHttp10 => "transfer_encoding_in_http10",
            Note::SpaceBeforeColon => "space_before_colon",
            Note::ObsFold => "obs_fold",
            Note::BareLf => "bare_lf",
            Note::EmptyLineBeforeRequest => "empty_line_before_request",
            Note::ChunkExtension => "chunk_extension",
            Note::Trailers => "trailers",
            Note::HeadTooLarge => "head_too_large",
            Note::BadChunk => "bad_chunk",
            Note::Incomplete => "incomplete",
        }
    }
}

impl Note {
    /// Every note, in the order of their numbers in [`Notes`] (1 to 15).
    const ALL: [Note; 15] = [
        Note::ContentLengthWithTransferEncoding,
        Note::RepeatedContentLength,
        Note::ConflictingContentLength,
        Note::BadContentLength,
        Note::TransferEncodingNotChunked,
        Note::TransferEncodingInHttp10,
        Note::SpaceBeforeColon,
        Note::ObsFold,
        Note::BareLf,
        Note::EmptyLineBeforeRequest,
        Note::ChunkExtension,
        Note::Trailers,
        Note::HeadTooLarge,
        Note::BadChunk,
        Note::Incomplete,
    ];

    /// Its number in [`Notes`] (never 0).
    fn number(self) -> u64 {
        match self {
            Note::ContentLengthWithTransferEncoding => 1,
            Note::RepeatedContentLength => 2,
            Note::ConflictingContentLength => 3,
            Note::BadContentLength => 4,
            Note::TransferEncodingNotChunked => 5,
            Note::TransferEncodingInHttp10 => 6,
            Note::SpaceBeforeColon => 7,
            Note::ObsFold => 8,
            Note::BareLf => 9,
            Note::EmptyLineBeforeRequest => 10,
            Note::ChunkExtension => 11,
            Note::Trailers => 12,
            Note::HeadTooLarge => 13,
            Note::BadChunk => 14,
            Note::Incomplete => 15,
        }
    }
}

/// The notes of one request, each once, in the order found: packed four
/// bits a note in one `u64` (there are 15 kinds), so that a request of a
/// long pipeline holds no list of its own.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Notes(u64);

impl Notes {
    /// Adds `n` at the end unless it is there already.
    pub fn push_once(&mut self, n: Note) {
        if !self.contains(n) {
            let len = self.len();
            self.0 |= n.number() << (4 * len);
        }
    }

    /// Whether `n` is there.
    pub fn contains(&self, n: Note) -> bool {
        self.iter().any(|m| m == n)
    }

    /// How many.
    pub fn len(&self) -> usize {
        (64 - self.0.leading_zeros() as usize).div_ceil(4)
    }

    /// True without notes.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The notes in the order found.
    pub fn iter(&self) -> impl Iterator<Item = Note> + '_ {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let number = rest & 0xf;
            rest >>= 4;
            let i = usize::try_from(number).ok()?.checked_sub(1)?;
            Note::ALL.get(i).copied()
        })
    }
}

impl std::fmt::Debug for Notes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<const N: usize> PartialEq<[Note; N]> for Notes {
    fn eq(&self, other: &[Note; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

/// One request found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Offset of its first byte in the input (leading empty lines
    /// included).
    pub start: u64,
    /// Offset just past its last byte.
    pub end: u64,
    /// The method as written (lossy UTF-8), empty if the line has none
    /// (a well-known method is borrowed: no allocation per request of a
    /// long pipeline).
    pub method: Cow<'static, str>,
    /// Where the request target lies in the input (empty if the line
    /// has none): a range, not a copy, so that a long pipeline costs no
    /// allocation per request. [`Request::target_text`] reads it.
    pub target: Range<u64>,
    /// How its body is delimited.
    pub framing: BodyFraming,
    /// What a server may read differently, each once, in order found.
    pub notes: Notes,
    /// False when the input ended inside it: it is sent, but no response
    /// is expected for it.
    pub complete: bool,
}

impl Request {
    /// The request target as written (lossy UTF-8), from the `input`
    /// that was split.
    pub fn target_text<'a>(&self, input: &'a [u8]) -> Cow<'a, str> {
        let at = |o: u64| usize::try_from(o).unwrap_or(usize::MAX).min(input.len());
        let (start, end) = (at(self.target.start), at(self.target.end));
        String::from_utf8_lossy(&input[start.min(end)..end])
    }

    /// True when the response has no body whatever its head says (HEAD).
    pub fn head_request(&self) -> bool {
        self.method == "HEAD"
    }

    /// True for CONNECT: a 2xx answer ends HTTP on the connection.
    pub fn connect(&self) -> bool {
        self.method == "CONNECT"
    }

    /// True when a response is expected for it.
    pub fn expects_response(&self) -> bool {
        self.complete || self.framing == BodyFraming::Unframed
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Skipping empty lines before a request line; a CR was just seen
    /// when `cr`.
    Lead { cr: bool },
    /// Collecting the head.
    Head,
    /// `remaining` body bytes to go.
    Body { remaining: u64 },
    /// Decoding chunked framing.
    Chunked,
    /// Collecting the trailer section.
    Trailers,
    /// Everything that is left belongs to the current request.
    Rest,
}

/// The push parser. Feed it the input in any pieces, then call
/// [`Splitter::finish`].
///
/// ```
/// use rawnet::http::splitter::{split, BodyFraming};
///
/// let input = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n\
///               POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
/// let requests = split(input);
/// assert_eq!(requests.len(), 2);
/// assert!(requests[0].head_request());
/// assert_eq!(requests[1].framing, BodyFraming::Length(2));
/// assert_eq!(requests[1].end, input.len() as u64);
/// ```
#[derive(Debug)]
pub struct Splitter {
    phase: Phase,
    section: Section,
    chunks: ChunkDecoder,
    /// Bytes taken so far.
    offset: u64,
    /// The request being read: its start, and what its head said.
    current: Option<Request>,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter::new()
    }
}

impl Splitter {
    /// A splitter at the start of the input.
    pub fn new() -> Splitter {
        Splitter {
            phase: Phase::Lead { cr: false },
            section: Section::head(),
            chunks: ChunkDecoder::new(),
            offset: 0,
            current: None,
        }
    }

    /// Takes the next bytes of the input; every request that ends inside
    /// them is pushed to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<Request>) {
        while !input.is_empty() {
            let used = self.step(input, out);
            self.offset += used as u64;
            input = &input[used..];
        }
    }

    /// The input is over: a request still being read is returned,
    /// incomplete unless it was [`BodyFraming::Unframed`] (which runs to
    /// the end of the input by definition).
    pub fn finish(self) -> Option<Request> {
        let mut request = self.current?;
        request.end = self.offset;
        if self.phase != Phase::Rest {
            request.complete = false;
            note(&mut request.notes, Note::Incomplete);
        }
        Some(request)
    }

    /// Consumes a prefix of `input` (at least one byte).
    fn step(&mut self, input: &[u8], out: &mut Vec<Request>) -> usize {
        match self.phase {
            Phase::Lead { cr } => self.lead(input, cr),
            Phase::Head => self.head(input, out),
            Phase::Body { remaining } => {
                let n = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
                let left = remaining - n as u64;
                self.phase = Phase::Body { remaining: left };
                if left == 0 {
                    self.done(n, out);
                }
                n
            }
            Phase::Chunked => self.chunked(input),
            Phase::Trailers => self.trailers(input, out),
            Phase::Rest => input.len(),
        }
    }

    /// The request being read (started at the current offset if none).
    fn current(&mut self) -> &mut Request {
        let start = self.offset;
        self.current.get_or_insert_with(|| Request {
            start,
            end: start,
            method: Cow::Borrowed(""),
            target: 0..0,
            framing: BodyFraming::None,
            notes: Notes::default(),
            complete: true,
        })
    }

    fn lead(&mut self, input: &[u8], cr: bool) -> usize {
        let b = input[0];
        match (cr, b) {
            (_, b'\n') => {
                let notes = &mut self.current().notes;
                note(notes, Note::EmptyLineBeforeRequest);
                if !cr {
                    note(notes, Note::BareLf);
                }
                self.phase = Phase::Lead { cr: false };
                1
            }
            (false, b'\r') => {
                self.current();
                self.phase = Phase::Lead { cr: true };
                1
            }
            // A CR alone, or the request line: the head starts here (the
            // CR, if any, is part of it and makes it malformed).
            _ => {
                self.current();
                self.section.restart_head();
                if cr {
                    // The CR was taken already; a head that starts with it
                    // cannot be parsed: let the rest be one request.
                    self.phase = Phase::Rest;
                    self.current().framing = BodyFraming::Unframed;
                    return 0;
                }
                self.phase = Phase::Head;
                0
            }
        }
    }

    fn head(&mut self, input: &[u8], out: &mut Vec<Request>) -> usize {
        let filled = match self.section.fill_borrowed(input, MAX_HEAD, MAX_FIELDS) {
            Ok(Filled::Partial) => Ok(None),
            Ok(Filled::Ended(n, bytes, ends)) => Ok(Some((n, read_head(bytes, ends.bare)))),
            Err(e) => Err(e),
        };
        match filled {
            Ok(None) => input.len(),
            Err(_) => {
                let request = self.current();
                note(&mut request.notes, Note::HeadTooLarge);
                request.framing = BodyFraming::Unframed;
                self.phase = Phase::Rest;
                0
            }
            Ok(Some((n, head))) => {
                // The head ends `n` bytes past the offset (it may have
                // begun in an earlier piece of input).
                let head_start = self.offset + n as u64 - head.len;
                let request = self.current();
                request.method = head.method;
                request.target = head_start + head.target.start..head_start + head.target.end;
                for n in head.notes.iter() {
                    note(&mut request.notes, n);
                }
                request.framing = head.framing;
                match head.framing {
                    BodyFraming::None | BodyFraming::Length(0) => self.done(n, out),
                    BodyFraming::Length(len) => self.phase = Phase::Body { remaining: len },
                    BodyFraming::Chunked => {
                        self.chunks = ChunkDecoder::new();
                        self.phase = Phase::Chunked;
                    }
                    BodyFraming::Unframed => self.phase = Phase::Rest,
                }
                n
            }
        }
    }

    fn chunked(&mut self, input: &[u8]) -> usize {
        match self.chunks.push(input, MAX_HEAD, |_| Ok(())) {
            Ok(used) => {
                if let Some(w) = self.chunks.take_warning() {
                    let n = match w {
                        super::lint::Warning::ChunkExtension => Note::ChunkExtension,
                        _ => Note::BareLf,
                    };
                    note(&mut self.current().notes, n);
                }
                if self.chunks.is_done() {
                    self.section.restart_trailers();
                    self.phase = Phase::Trailers;
                }
                used
            }
            Err(_) => {
                let request = self.current();
                note(&mut request.notes, Note::BadChunk);
                request.framing = BodyFraming::Unframed;
                self.phase = Phase::Rest;
                0
            }
        }
    }

    fn trailers(&mut self, input: &[u8], out: &mut Vec<Request>) -> usize {
        match self.section.fill(input, MAX_HEAD, MAX_FIELDS) {
            Ok(Fill::Partial) => input.len(),
            Err(_) => {
                let request = self.current();
                note(&mut request.notes, Note::HeadTooLarge);
                request.framing = BodyFraming::Unframed;
                self.phase = Phase::Rest;
                0
            }
            Ok(Fill::Ended(n)) => {
                let bytes = self.section.bytes();
                let fields = bytes.len() > 2;
                let bare = self.section.line_ends().bare;
                let notes = &mut self.current().notes;
                if fields {
                    note(notes, Note::Trailers);
                }
                if bare {
                    note(notes, Note::BareLf);
                }
                self.done(n, out);
                n
            }
        }
    }

    /// The current request ends `n` bytes past the offset.
    fn done(&mut self, n: usize, out: &mut Vec<Request>) {
        let end = self.offset + n as u64;
        if let Some(mut request) = self.current.take() {
            request.end = end;
            out.push(request);
        }
        self.phase = Phase::Lead { cr: false };
    }
}

/// Splits a whole input: its complete requests, then the incomplete or
/// unframed rest, if any.
pub fn split(input: &[u8]) -> Vec<Request> {
    let mut splitter = Splitter::new();
    let mut out = Vec::new();
    splitter.feed(input, &mut out);
    out.extend(splitter.finish());
    out
}

/// Adds `n` unless it is there already.
fn note(notes: &mut Notes, n: Note) {
    notes.push_once(n);
}

/// What a request head says about its framing.
struct HeadInfo {
    /// The head's length.
    len: u64,
    method: Cow<'static, str>,
    /// Where the target lies in the head.
    target: Range<u64>,
    framing: BodyFraming,
    notes: Notes,
}

/// The method as written: one of RFC 9110's (and PATCH) borrowed, any
/// other copied (lossy UTF-8).
fn method_text(bytes: &[u8]) -> Cow<'static, str> {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    match KNOWN.iter().find(|m| m.as_bytes() == bytes) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(text(bytes)),
    }
}

/// Bytes as text, lossy UTF-8.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `bytes` split at each LF, as `bytes.split(|&b| b == b'\n')` is, with
/// the LFs found eight bytes at a time.
fn lf_split(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match find_lf(r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// Reads a complete head (up to and including its empty line).
/// `bare_lf`: a line of it ends with LF alone (the section scanner saw).
fn read_head(bytes: &[u8], bare_lf: bool) -> HeadInfo {
    let mut notes = Notes::default();
    if bare_lf {
        notes.push_once(Note::BareLf);
    }
    let mut lines = lf_split(bytes).map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let method = method_text(parts.next().unwrap_or_default());
    let target = parts.next().map_or(0..0, |t| {
        // A piece of the head: its offset there.
        let at = (t.as_ptr() as usize - bytes.as_ptr() as usize) as u64;
        at..at + t.len() as u64
    });
    let http10 = parts.next() == Some(b"HTTP/1.0");
    // The framing fields (only they are kept), folded continuations
    // joined by a space.
    let mut te: Vec<Vec<u8>> = Vec::new();
    let mut cl: Vec<Vec<u8>> = Vec::new();
    // Which list the last field went to, for its continuation lines.
    let mut last: Option<bool> = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            note(&mut notes, Note::ObsFold);
            let value = match last {
                Some(true) => te.last_mut(),
                Some(false) => cl.last_mut(),
                None => None,
            };
            if let Some(value) = value {
                value.push(b' ');
                value.extend_from_slice(trim(line));
            }
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            last = None;
            continue;
        };
        let name = &line[..colon];
        if name.last().is_some_and(|b| matches!(b, b' ' | b'\t')) {
            note(&mut notes, Note::SpaceBeforeColon);
        }
        let value = || trim(&line[colon + 1..]).to_vec();
        last = if name.eq_ignore_ascii_case(b"transfer-encoding") {
            te.push(value());
            Some(true)
        } else if name.eq_ignore_ascii_case(b"content-length") {
            cl.push(value());
            Some(false)
        } else {
            None
        };
    }
    let te: Vec<&[u8]> = te.iter().map(Vec::as_slice).collect();
    let cl: Vec<&[u8]> = cl.iter().map(Vec::as_slice).collect();
    let framing = if !te.is_empty() {
        if !cl.is_empty() {
            notes.push_once(Note::ContentLengthWithTransferEncoding);
        }
        if http10 {
            notes.push_once(Note::TransferEncodingInHttp10);
        }
        let last = te
            .iter()
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim)
            .rfind(|c| !c.is_empty());
        if last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")) {
            BodyFraming::Chunked
        } else {
            notes.push_once(Note::TransferEncodingNotChunked);
            BodyFraming::Unframed
        }
    } else if cl.is_empty() {
        BodyFraming::None
    } else {
        content_length(&cl, &mut notes)
    };
    HeadInfo {
        len: bytes.len() as u64,
        method,
        target,
        framing,
        notes,
    }
}

/// The body length the `Content-Length` values agree on.
fn content_length(values: &[&[u8]], notes: &mut Notes) -> BodyFraming {
    let elements: Vec<&[u8]> = values
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim)
        .collect();
    if elements.len() > 1 {
        notes.push_once(Note::RepeatedContentLength);
    }
    let mut length = None;
    for e in elements {
        let parsed = (!e.is_empty() && e.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(e).ok()?.parse::<u64>().ok())
            .flatten();
        match (parsed, length) {
            (None, _) => {
                notes.push_once(Note::BadContentLength);
                return BodyFraming::Unframed;
            }
            (Some(n), Some(l)) if n != l => {
                notes.push_once(Note::ConflictingContentLength);
                return BodyFraming::Unframed;
            }
            (Some(n), _) => length = Some(n),
        }
    }
    BodyFraming::Length(length.unwrap_or(0))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `input` whole, in every two pieces, and byte by byte; all
    /// must agree, and the requests must tile the input.
    fn split_all_ways(input: &[u8]) -> Vec<Request> {
        let whole = split(input);
        for at in 0..=input.len() {
            let mut s = Splitter::new();
            let mut out = Vec::new();
            s.feed(&input[..at], &mut out);
            s.feed(&input[at..], &mut out);
            out.extend(s.finish());
            assert_eq!(out, whole, "split at {at}");
        }
        let mut s = Splitter::new();
        let mut out = Vec::new();
        for b in input {
            s.feed(std::slice::from_ref(b), &mut out);
        }
        out.extend(s.finish());
        assert_eq!(out, whole, "byte by byte");
        let mut at = 0;
        for r in &whole {
            assert_eq!(r.start, at, "requests tile the input");
            at = r.end;
        }
        assert_eq!(at, input.len() as u64);
        whole
    }

    #[test]
    fn notes_keep_each_note_once_in_the_order_found() {
        let mut notes = Notes::default();
        assert!(notes.is_empty());
        for (i, n) in Note::ALL.iter().rev().enumerate() {
            assert_eq!(
                Note::ALL[Note::ALL.len() - 1 - i].number() as usize,
                Note::ALL.len() - i
            );
            notes.push_once(*n);
            notes.push_once(Note::Incomplete);
            assert_eq!(notes.len(), i + 1);
        }
        let all: Vec<Note> = notes.iter().collect();
        let expected: Vec<Note> = Note::ALL.iter().rev().copied().collect();
        assert_eq!(all, expected);
        assert!(notes.contains(Note::BareLf));
        let mut two = Notes::default();
        two.push_once(Note::ObsFold);
        two.push_once(Note::BareLf);
        two.push_once(Note::ObsFold);
        assert_eq!(two, [Note::ObsFold, Note::BareLf]);
        assert_eq!(format!("{two:?}"), "[ObsFold, BareLf]");
    }

    #[test]
    fn lf_split_splits_as_slice_split_does() {
        for input in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"\na\n\nbb\r\nccccccccccccccccc\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            let expected: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
            assert_eq!(lf_split(input).collect::<Vec<_>>(), expected);
        }
    }

    fn ends(rs: &[Request]) -> Vec<u64> {
        rs.iter().map(|r| r.end).collect()
    }

    #[test]
    fn pipelined_requests_end_where_their_framing_says() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n\
POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc\
PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n";
        let rs = split_all_ways(input);
        assert_eq!(rs.len(), 4);
        assert_eq!(ends(&rs), [27, 56, 98, input.len() as u64]);
        assert!(rs[1].head_request());
        assert_eq!(rs[2].framing, BodyFraming::Length(3));
        assert_eq!(rs[3].framing, BodyFraming::Chunked);
        assert!(rs.iter().all(|r| r.complete && r.notes.is_empty()));
        assert_eq!((&*rs[2].method, &*rs[2].target_text(input)), ("POST", "/p"));
        assert_eq!(rs[0].target, 4..5);
    }

    #[test]
    fn chunked_wins_over_content_length_and_the_rest_is_incomplete() {
        // CL.TE: a back end that reads Content-Length takes the G too.
        let input = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\
Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG";
        let rs = split_all_ways(input);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].framing, BodyFraming::Chunked);
        assert_eq!(rs[0].notes, [Note::ContentLengthWithTransferEncoding]);
        assert_eq!(rs[0].end, input.len() as u64 - 1);
        assert!(!rs[1].complete);
        assert!(!rs[1].expects_response());
        assert_eq!(rs[1].notes, [Note::Incomplete]);
    }

    #[test]
    fn te_cl_shape_splits_by_the_chunks() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
5c\r\nGPOST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
Content-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n";
        let rs = split_all_ways(input);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].framing, BodyFraming::Chunked);
    }

    #[test]
    fn leading_empty_lines_bare_lf_and_obs_fold_are_noted() {
        let input = b"\r\n\nGET / HTTP/1.1\nHost: a\r\nX-Long: a\r\n b\r\n\r\n";
        let rs = split_all_ways(input);
        assert_eq!(rs.len(), 1);
        assert!(rs[0].complete);
        assert_eq!(
            rs[0].notes,
            [Note::EmptyLineBeforeRequest, Note::BareLf, Note::ObsFold]
        );
        assert_eq!(rs[0].method, "GET");
        assert_eq!(rs[0].target, 7..8);
    }

    #[test]
    fn a_folded_transfer_encoding_is_unfolded_to_read_it() {
        let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n";
        let rs = split_all_ways(input);
        assert_eq!(rs[0].framing, BodyFraming::Chunked);
    }

    #[test]
    fn a_space_before_the_colon_does_not_frame() {
        let input =
            b"POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\nhi";
        let rs = split_all_ways(input);
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].framing, BodyFraming::Length(2));
        assert_eq!(rs[0].notes, [Note::SpaceBeforeColon]);
    }

    #[test]
    fn unframeable_requests_take_the_rest_of_the_input() {
        for input in [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\n\r\n",
        ] {
            let rs = split_all_ways(input);
            assert_eq!(rs.len(), 1, "{}", String::from_utf8_lossy(input));
            assert_eq!(rs[0].framing, BodyFraming::Unframed);
            assert!(rs[0].expects_response());
        }
    }

    #[test]
    fn duplicate_equal_lengths_and_trailers_are_noted_but_frame() {
        let input = b"POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx\
POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\ny\r\n0\r\nT: 1\r\n\r\n";
        let rs = split_all_ways(input);
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].notes, [Note::RepeatedContentLength]);
        assert_eq!(rs[1].notes, [Note::ChunkExtension, Note::Trailers]);
    }

    #[test]
    fn empty_input_has_no_request_and_a_cut_head_is_incomplete() {
        assert!(split(b"").is_empty());
        let rs = split_all_ways(b"GET / HTTP/1.1\r\nHost");
        assert_eq!(rs.len(), 1);
        assert!(!rs[0].complete);
        let rs = split_all_ways(b"GET / HTTP/1.1\r\n\r\n\r\n");
        assert_eq!(rs.len(), 2);
        assert!(!rs[1].complete);
    }

    #[test]
    fn a_huge_content_length_is_counted_not_buffered() {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        s.feed(
            b"PUT / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n",
            &mut out,
        );
        s.feed(&[0u8; 4096], &mut out);
        assert!(out.is_empty());
        let last = s.finish().unwrap();
        assert_eq!(last.framing, BodyFraming::Length(u64::MAX));
        assert!(!last.complete);
    }
}
