//! A streaming HTTP/1.1 response reader: a push parser over borrowed bytes.
//!
//! The caller reads from its socket and hands every chunk of bytes to
//! [`ResponseReader::feed`]; the reader reports the response through a
//! [`Sink`] as soon as each part is known: interim (1xx) heads, the final
//! head with its [`Framing`], decoded (de-chunked) body bytes, and trailers.
//! When the peer closes, the caller calls [`ResponseReader::eof`].
//!
//! It owns framing (RFC 9112 section 6.3), which `httparse` leaves to us:
//! - a response to HEAD, and every 1xx, 204 and 304 response, has no body;
//! - `Transfer-Encoding` whose final coding is `chunked` wins over
//!   `Content-Length`; any other `Transfer-Encoding` means the body runs
//!   until the connection closes;
//! - several `Content-Length` values must all agree, and each must be a
//!   plain decimal number: otherwise the response is malformed;
//! - with neither header, the body runs until the connection closes;
//! - interim 1xx responses (except 101) are reported and skipped, the next
//!   head is read as if it were the first;
//! - chunk extensions are ignored, trailers are parsed and reported;
//! - bare LF line endings are accepted wherever CRLF is.
//!
//! It is also a linter: every leniency above and every oddity it notices
//! (see [`Warning`]) goes to [`Sink::warning`], each kind at most once per
//! response, at the byte that shows it, so warnings too are the same
//! however the input is split. A warning never changes what is read.
//!
//! It stops as soon as the message is complete: [`ResponseReader::feed`]
//! returns how many bytes belonged to the message, and
//! [`ResponseReader::is_complete`] says the caller must not wait for more,
//! so a server that keeps the connection open never makes us hang.
//!
//! Memory is bounded: the header section (and the trailer section) is
//! limited in bytes and in field count by [`Limits`], and body bytes are
//! never buffered here, only passed through to the sink.
//!
//! Splitting does not matter: the same bytes fed whole, in any pieces, or
//! one at a time give the same sink calls, the same byte counts and the
//! same error. A head that lies whole in one piece of input is parsed
//! where it stands; any other (cut short by the piece, or one `httparse`
//! refuses) is collected up to its empty line (found by a linear scan)
//! and only then parsed, and every other check looks at one byte at a
//! time, so the first offending byte decides the error.
//!
//! # Choices where the RFC leaves room
//!
//! - A reply must start with `HTTP/1.`, after any number of empty lines
//!   (CRLF or LF; bounded by [`Limits::max_head_bytes`]), which are
//!   skipped with a warning; any other byte there is [`Error::NotHttp`] at
//!   once. After an interim response the peer has shown it speaks HTTP, so
//!   a head that is not `HTTP/1.x` is [`Error::BadHead`] instead. Status
//!   codes below 100 are [`Error::BadHead`]; 100 to 999 are accepted (600
//!   and above with a warning).
//! - Obsolete line folding is unfolded (each fold becomes one space) with a
//!   warning, in the head and in trailers; whitespace before a field's colon is [`Error::BadHead`] (the
//!   `httparse` default).
//! - The field count limit counts fields as they arrive (a folded
//!   continuation line is part of its field), so a peer that sends too
//!   many fields and then stalls is refused at once.
//! - More than [`Limits::max_interim`] interim responses is
//!   [`Error::HeadTooLarge`]; the one over the limit is not reported.
//! - `Content-Length` is only read when it frames the body: on a response
//!   without body (HEAD, 1xx, 204, 304) or with `Transfer-Encoding` it is
//!   ignored, even when malformed. Where it is read, whitespace around each
//!   comma-separated element and leading zeros are accepted, values are
//!   compared as numbers, and a malformed element wins over a conflict.
//! - `Transfer-Encoding` is honoured in HTTP/1.0 responses too (RFC 9112
//!   calls that framing faulty; since this client reads one response per
//!   connection, reading it is the useful choice). An empty value has no
//!   final `chunked`, so the body is close-delimited.
//! - A chunk-size line, extensions and line end included, may be at most
//!   [`Limits::max_head_bytes`] long, else [`Error::BadChunk`].
//! - Trailers are reported only when there is at least one field; a
//!   malformed trailer field is [`Error::BadHead`], too many or too large a
//!   trailer section [`Error::HeadTooLarge`].
//! - [`Limits::max_body`]: with a `Content-Length` over the limit, the head
//!   is reported and the reader fails before any body byte (like curl's
//!   `--max-filesize`). Otherwise the bytes up to the limit are passed on,
//!   then it fails with [`Error::BodyTooLarge`]; a body of exactly the limit
//!   is fine.
//! - [`Sink::body`] is never called with an empty slice.
//! - After a 101 response the reader is complete: the bytes that follow
//!   belong to the new protocol and are not consumed.

use std::mem::MaybeUninit;

use super::chunked::ChunkDecoder;
pub use super::error::Error;
use super::lint::Warning;
use super::section::{count_lf, Fill, Filled, LineEnds, Section, TooLarge};

/// What the reader accepts before it gives up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest header section (status line included) in bytes; also the
    /// bound for a trailer section and for one chunk-size line.
    pub max_head_bytes: usize,
    /// Most header fields in one head (and in the trailer section).
    pub max_headers: usize,
    /// Most interim (1xx) responses before the final one.
    pub max_interim: usize,
    /// Largest body, in decoded bytes; `None` is no limit.
    pub max_body: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 100 * 1024,
            max_headers: 256,
            max_interim: 64,
            max_body: None,
        }
    }
}

/// A parsed status line and header section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The minor HTTP version: `1` for `HTTP/1.1`, `0` for `HTTP/1.0`.
    pub version: u8,
    /// The status code, for example `200`.
    pub status: u16,
    /// The reason phrase as sent (lossy UTF-8), possibly empty.
    pub reason: String,
    /// Header fields in received order, duplicates kept; values lossy UTF-8.
    pub headers: Vec<(String, String)>,
    /// The exact bytes of the reason phrase when they are not UTF-8
    /// (`reason` then holds a lossy copy); `None` when `reason` is exact.
    pub reason_bytes: Option<Vec<u8>>,
    /// The exact bytes of each header value that is not UTF-8, as
    /// `(index into headers, bytes)` (after unfolding an obs-fold); empty
    /// when every value in `headers` is exact.
    pub value_bytes: Vec<(usize, Vec<u8>)>,
}

/// How the body of the final response is delimited (RFC 9112 section 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (HEAD, 1xx, 204, 304).
    NoBody,
    /// Exactly this many bytes.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    CloseDelimited,
}

/// Receives the parts of a response as the reader recognises them.
pub trait Sink {
    /// An interim (1xx, not 101) head that was read and skipped.
    fn interim(&mut self, _head: &Head) {}
    /// The final head, and how its body is delimited.
    fn head(&mut self, head: &Head, framing: Framing);
    /// False when the sink needs only the final status and framing: then
    /// [`Sink::status`] is called instead of [`Sink::head`], and the
    /// reader does not turn the head's fields into strings (a long
    /// pipeline shown raw needs no more). Interim heads, trailers and
    /// warnings come as always.
    fn wants_head(&self) -> bool {
        true
    }
    /// The final status and framing, instead of [`Sink::head`] when
    /// [`Sink::wants_head`] is false.
    fn status(&mut self, _status: u16, _framing: Framing) {}
    /// Decoded body bytes (chunk framing removed), in order.
    fn body(&mut self, data: &[u8]);
    /// Trailer fields that followed a chunked body, in received order;
    /// values lossy UTF-8, as in [`Head::headers`].
    fn trailers(&mut self, _trailers: &[(String, String)]) {}
    /// Right after [`Sink::trailers`], when some trailer values are not
    /// UTF-8: their exact bytes, as `(index into the trailers, bytes)`
    /// (after unfolding), as in [`Head::value_bytes`]. A separate call so
    /// that a sink that needs only text stays as it is.
    fn trailer_value_bytes(&mut self, _value_bytes: &[(usize, Vec<u8>)]) {}
    /// A protocol oddity the reader noticed or tolerated; each kind is
    /// reported at most once per response.
    fn warning(&mut self, _warning: Warning) {}
}

/// The first bytes of every head.
const HTTP_PREFIX: &[u8] = b"HTTP/1.";

/// What the reader is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Collecting a (first, or post-interim) head.
    Head,
    /// Reading a body of exactly `length` bytes.
    Fixed { length: u64 },
    /// Decoding a chunked body.
    Chunked,
    /// Collecting the trailer section of a chunked body.
    Trailers,
    /// Passing everything on until the connection closes.
    UntilClose,
    /// The message is over.
    Complete,
    /// The message is malformed; every call repeats the error.
    Failed(Error),
}

/// The push parser. See the module docs.
///
/// # Example
///
/// ```
/// use rawnet::http::response::{Framing, Head, Limits, ResponseReader, Sink};
///
/// #[derive(Default)]
/// struct Collect {
///     status: u16,
///     body: Vec<u8>,
/// }
///
/// impl Sink for Collect {
///     fn head(&mut self, head: &Head, _framing: Framing) {
///         self.status = head.status;
///     }
///     fn body(&mut self, data: &[u8]) {
///         self.body.extend_from_slice(data);
///     }
/// }
///
/// let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
/// let mut reader = ResponseReader::new(false, Limits::default());
/// let mut sink = Collect::default();
/// for piece in reply.chunks(7) {
///     reader.feed(piece, &mut sink)?;
/// }
/// assert!(reader.is_complete());
/// assert_eq!((sink.status, &sink.body[..]), (200, &b"hi"[..]));
/// # Ok::<(), rawnet::http::response::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ResponseReader {
    head_request: bool,
    limits: Limits,
    phase: Phase,
    /// The head or trailer section being collected.
    section: Section,
    chunks: ChunkDecoder,
    /// Interim (1xx) responses skipped so far.
    interim: usize,
    started: bool,
    body_bytes: u64,
    /// Bytes of the heads read so far (interim heads included).
    header_bytes: u64,
    /// Warnings reported so far, one bit each ([`Warning::bit`]).
    warned: u32,
    /// Bytes of empty lines skipped before the current head.
    leading: usize,
    /// The last of those bytes was a CR: an LF must follow.
    leading_cr: bool,
    /// Status of the final head, once read.
    final_status: Option<u16>,
}

impl ResponseReader {
    /// A reader for the response to a request; `head_request` is true
    /// when the request method was HEAD (the response then has no body).
    pub fn new(head_request: bool, limits: Limits) -> Self {
        ResponseReader {
            head_request,
            limits,
            phase: Phase::Head,
            section: Section::head(),
            chunks: ChunkDecoder::new(),
            interim: 0,
            started: false,
            body_bytes: 0,
            header_bytes: 0,
            warned: 0,
            leading: 0,
            leading_cr: false,
            final_status: None,
        }
    }

    /// Feeds the next bytes from the connection.
    ///
    /// Returns how many bytes of `input` belong to the response: all of
    /// them, unless the message completed inside `input` (the rest is not
    /// part of it). After an error or completion, further calls return
    /// `Ok(0)` or the same error.
    pub fn feed<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        if let Phase::Failed(e) = self.phase {
            return Err(e);
        }
        self.started |= !input.is_empty();
        let used = self.feed_phases(input, sink).map_err(|e| self.fail(e))?;
        if used < input.len() && self.phase == Phase::Complete {
            self.warn_extra_bytes(sink);
        }
        Ok(used)
    }

    /// Reports `warning` unless it was reported already.
    fn warn<S: Sink>(&mut self, warning: Warning, sink: &mut S) {
        if self.warned & warning.bit() == 0 {
            self.warned |= warning.bit();
            sink.warning(warning);
        }
    }

    /// Bytes follow the complete message on the connection (after a 101
    /// they belong to the new protocol).
    fn warn_extra_bytes<S: Sink>(&mut self, sink: &mut S) {
        match self.final_status {
            Some(101) => {}
            Some(204 | 304) => self.warn(Warning::BodyOnNoContentResponse, sink),
            _ => self.warn(Warning::ExtraBytesAfterMessage, sink),
        }
    }

    /// Tells the reader that the peer closed the connection. A
    /// close-delimited body ends here; anything else incomplete is an error.
    pub fn eof<S: Sink>(&mut self, _sink: &mut S) -> Result<(), Error> {
        let received = self.body_bytes;
        let error = match self.phase {
            Phase::Complete => return Ok(()),
            Phase::UntilClose => {
                self.phase = Phase::Complete;
                return Ok(());
            }
            Phase::Failed(e) => e,
            Phase::Head if !self.started => Error::EmptyReply,
            Phase::Head => Error::TruncatedHead,
            Phase::Fixed { length } => Error::TruncatedBody {
                received,
                expected: Some(length),
            },
            Phase::Chunked | Phase::Trailers => Error::TruncatedBody {
                received,
                expected: None,
            },
        };
        Err(self.fail(error))
    }

    /// True once the whole message has been read.
    pub fn is_complete(&self) -> bool {
        self.phase == Phase::Complete
    }

    /// True once any byte has been received (an empty reply is an error of
    /// its own).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Decoded body bytes so far.
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// Bytes of the complete heads read so far, interim heads included,
    /// as received (curl's `size_header`).
    pub fn header_bytes(&self) -> u64 {
        self.header_bytes
    }

    /// Remembers `error` so that every later call reports it too.
    fn fail(&mut self, error: Error) -> Error {
        self.phase = Phase::Failed(error);
        error
    }

    /// Runs `input` through the phases until it or the message runs out.
    fn feed_phases<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        let mut used = 0;
        while used < input.len() {
            let rest = &input[used..];
            used += match self.phase {
                Phase::Head => self.read_head(rest, sink)?,
                Phase::Fixed { length } => self.read_fixed(rest, length, sink),
                Phase::Chunked => self.read_chunks(rest, sink)?,
                Phase::Trailers => self.read_trailers(rest, sink)?,
                Phase::UntilClose => self.deliver(rest, sink).map(|()| rest.len())?,
                Phase::Complete => break,
                Phase::Failed(e) => return Err(e),
            };
        }
        Ok(used)
    }

    /// Collects head bytes; once the head is whole, parses and acts on it.
    fn read_head<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        let skipped = self.skip_empty_lines(input, sink)?;
        let input = &input[skipped..];
        if input.is_empty() {
            return Ok(skipped);
        }
        self.check_prefix(input)?;
        let max = self.limits.max_head_bytes;
        let first = self.interim == 0;
        let max_headers = self.limits.max_headers;
        let window = &input[..input.len().min(max)];
        if self.section.bytes().is_empty() {
            // A head that lies whole in this input is parsed where it
            // stands, not scanned for its end first.
            let mut notes = Vec::new();
            let full = sink.wants_head();
            if let Some((n, parsed)) = parse_whole_head(window, max_headers, full, &mut notes) {
                self.on_parsed(n, parsed?, notes, sink)?;
                return Ok(skipped + n);
            }
        }
        match self.section.fill_borrowed(input, max, max_headers) {
            Err(TooLarge) => Err(Error::HeadTooLarge),
            Ok(Filled::Partial) => Ok(skipped + input.len()),
            Ok(Filled::Ended(n, bytes, ends)) => {
                let mut notes = Vec::new();
                let full = sink.wants_head();
                let parsed = parse_head(bytes, ends, max_headers, first, full, &mut notes)?;
                let len = bytes.len();
                self.on_parsed(len, parsed, notes, sink)?;
                Ok(skipped + n)
            }
        }
    }

    /// A head of `len` bytes was parsed, with `notes`.
    fn on_parsed<S: Sink>(
        &mut self,
        len: usize,
        parsed: Parsed,
        notes: Vec<Warning>,
        sink: &mut S,
    ) -> Result<(), Error> {
        self.header_bytes += len as u64;
        self.leading = 0;
        for warning in notes {
            self.warn(warning, sink);
        }
        self.on_head(parsed, sink)
    }

    /// Skips empty lines (CRLF or LF) before a status line, with a
    /// warning; a CR there must be followed by LF. They count against
    /// the head size limit on their own.
    fn skip_empty_lines<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        let mut used = 0;
        while used < input.len() && self.section.bytes().is_empty() {
            match (self.leading_cr, input[used]) {
                (_, b'\n') => {
                    self.leading_cr = false;
                    self.warn(Warning::EmptyLineBeforeStatus, sink);
                }
                (false, b'\r') => self.leading_cr = true,
                (true, _) => return Err(self.not_http()),
                (false, _) => break,
            }
            used += 1;
            self.leading += 1;
            if self.leading > self.limits.max_head_bytes {
                return Err(Error::HeadTooLarge);
            }
        }
        Ok(used)
    }

    /// Fails as soon as the head cannot start with `HTTP/1.`. Only bytes
    /// within the head size limit are looked at: a byte past it is a
    /// [`Error::HeadTooLarge`] whatever its value, so the first bad byte
    /// decides the error however the input is split.
    fn check_prefix(&self, input: &[u8]) -> Result<(), Error> {
        let have = self.section.bytes().len();
        let Some(expected) = HTTP_PREFIX.get(have..) else {
            return Ok(());
        };
        let room = self.limits.max_head_bytes.saturating_sub(have);
        let n = expected.len().min(input.len()).min(room);
        if input[..n] == expected[..n] {
            Ok(())
        } else {
            Err(self.not_http())
        }
    }

    /// A head that is not HTTP/1.x: the reply is not HTTP at all, or, after
    /// an interim response, a malformed head.
    fn not_http(&self) -> Error {
        if self.interim == 0 {
            Error::NotHttp
        } else {
            Error::BadHead
        }
    }

    /// Skips an interim head or starts the body of the final one.
    fn on_head<S: Sink>(&mut self, parsed: Parsed, sink: &mut S) -> Result<(), Error> {
        let status = parsed.status;
        let fields = &parsed.fields;
        let no_body_status = (100..200).contains(&status) || status == 204;
        if no_body_status && fields.has_length {
            self.warn(Warning::ContentLengthOnNoBodyStatus, sink);
        }
        if is_interim(status) {
            self.interim += 1;
            if self.interim > self.limits.max_interim {
                return Err(Error::HeadTooLarge);
            }
            // An interim head is always kept whole (see `parse_head`).
            if let Some(head) = &parsed.head {
                sink.interim(head);
            }
            self.section.restart_head();
            return Ok(());
        }
        let framing = framing(status, fields, self.head_request)?;
        for &warning in &fields.warnings {
            self.warn(warning, sink);
        }
        self.final_status = Some(status);
        match &parsed.head {
            Some(head) if sink.wants_head() => sink.head(head, framing),
            _ => sink.status(status, framing),
        }
        self.start_body(framing)
    }

    /// Enters the phase that reads a body framed by `framing`.
    fn start_body(&mut self, framing: Framing) -> Result<(), Error> {
        self.phase = match framing {
            Framing::NoBody | Framing::ContentLength(0) => Phase::Complete,
            Framing::ContentLength(length) => match self.limits.max_body {
                Some(limit) if length > limit => return Err(Error::BodyTooLarge { limit }),
                _ => Phase::Fixed { length },
            },
            Framing::Chunked => Phase::Chunked,
            Framing::CloseDelimited => Phase::UntilClose,
        };
        Ok(())
    }

    /// Passes on what is left of a `Content-Length` body.
    fn read_fixed<S: Sink>(&mut self, input: &[u8], length: u64, sink: &mut S) -> usize {
        let remaining = length - self.body_bytes;
        let n = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
        sink.body(&input[..n]);
        self.body_bytes += n as u64;
        if self.body_bytes == length {
            self.phase = Phase::Complete;
        }
        n
    }

    /// Decodes chunks; after the last one, the trailer section follows.
    fn read_chunks<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        let max_line = self.limits.max_head_bytes;
        let (max_body, body_bytes) = (self.limits.max_body, &mut self.body_bytes);
        let used = self.chunks.push(input, max_line, |data| {
            deliver(data, max_body, body_bytes, sink)
        })?;
        if let Some(warning) = self.chunks.take_warning() {
            self.warn(warning, sink);
        }
        if self.chunks.is_done() {
            self.section.restart_trailers();
            self.phase = Phase::Trailers;
        }
        Ok(used)
    }

    /// Collects the trailer section; the message ends with it.
    fn read_trailers<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        let max_fields = self.limits.max_headers;
        match self
            .section
            .fill(input, self.limits.max_head_bytes, max_fields)
        {
            Err(TooLarge) => Err(Error::HeadTooLarge),
            Ok(Fill::Partial) => Ok(input.len()),
            Ok(Fill::Ended(n)) => {
                let mut notes = Vec::new();
                let bytes = self.section.bytes();
                let (fields, exact) = parse_trailers(bytes, self.limits.max_headers, &mut notes)?;
                if self.section.line_ends().bare {
                    notes.push(Warning::BareLf);
                }
                for warning in notes {
                    self.warn(warning, sink);
                }
                if fields.iter().any(|(_, v)| !v.is_ascii()) {
                    self.warn(Warning::NonAsciiHeaderValue, sink);
                }
                if !fields.is_empty() {
                    self.warn(Warning::Trailers, sink);
                    sink.trailers(&fields);
                    if !exact.is_empty() {
                        sink.trailer_value_bytes(&exact);
                    }
                }
                self.phase = Phase::Complete;
                Ok(n)
            }
        }
    }

    /// Passes body bytes on within [`Limits::max_body`].
    fn deliver<S: Sink>(&mut self, data: &[u8], sink: &mut S) -> Result<(), Error> {
        deliver(data, self.limits.max_body, &mut self.body_bytes, sink)
    }
}

/// Passes `data` to the sink and counts it, unless the body would then
/// exceed `max_body`: then only what fits is passed on, and it is an error.
fn deliver<S: Sink>(
    data: &[u8],
    max_body: Option<u64>,
    body_bytes: &mut u64,
    sink: &mut S,
) -> Result<(), Error> {
    let room = max_body.map_or(u64::MAX, |limit| limit.saturating_sub(*body_bytes));
    let fits = usize::try_from(room).map_or(data.len(), |r| r.min(data.len()));
    if fits > 0 {
        sink.body(&data[..fits]);
        *body_bytes += fits as u64;
    }
    match max_body {
        Some(limit) if fits < data.len() => Err(Error::BodyTooLarge { limit }),
        _ => Ok(()),
    }
}

/// 1xx responses other than 101 are followed by another head.
fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

/// Decides the body framing of a final response (RFC 9112 section 6.3).
fn framing(status: u16, fields: &FramingFields, head_request: bool) -> Result<Framing, Error> {
    if head_request || matches!(status, 100..=199 | 204 | 304) {
        return Ok(Framing::NoBody);
    }
    if let Some(chunked) = fields.chunked {
        return Ok(if chunked {
            Framing::Chunked
        } else {
            Framing::CloseDelimited
        });
    }
    Ok(match fields.length? {
        Some(length) => Framing::ContentLength(length),
        None => Framing::CloseDelimited,
    })
}

/// A head as parsed: the whole [`Head`] where it is kept, and always
/// what its framing fields say.
struct Parsed {
    status: u16,
    /// The whole head: always for an interim head, for a final one only
    /// when the sink wants it ([`Sink::wants_head`]).
    head: Option<Head>,
    fields: FramingFields,
}

/// What the fields that frame a body (`Content-Length`,
/// `Transfer-Encoding`) say, read once per head straight from the parsed
/// fields, so that a head nobody keeps is never turned into strings.
struct FramingFields {
    /// A `Content-Length` field is present (well-formed or not).
    has_length: bool,
    /// The body length `Content-Length` announces (`None` without one),
    /// or why it cannot be used; only an error where it frames the body.
    length: Result<Option<u64>, Error>,
    /// `None` without `Transfer-Encoding`; else whether its final coding
    /// (across all its fields) is `chunked`.
    chunked: Option<bool>,
    /// The warnings about these fields in a final head, in order.
    warnings: Vec<Warning>,
}

impl FramingFields {
    /// Reads the framing fields of a head of HTTP/1.`version`. Values are
    /// read as [`Head::headers`] holds them (unfolded, lossy UTF-8), but
    /// as bytes: the elements of a list are split at commas and trimmed
    /// of spaces and tabs, and those ASCII bytes are the same in the lossy
    /// text (an invalid sequence never takes one in). Nothing is copied
    /// unless a value is folded.
    fn read(version: u8, fields: &[httparse::Header<'_>]) -> Self {
        let mut lengths = Lengths::default();
        let mut codings = Codings::default();
        for h in fields {
            if h.name.eq_ignore_ascii_case("content-length") {
                lengths.field(&unfold(h.value));
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                codings.field(&unfold(h.value));
            }
        }
        FramingFields {
            has_length: lengths.fields > 0,
            length: lengths.length(),
            chunked: codings.present.then_some(codings.last_chunked),
            warnings: final_head_warnings(version, &lengths, &codings),
        }
    }
}

/// The elements of a head's `Content-Length` values, read as they come.
#[derive(Default)]
struct Lengths {
    /// How many fields.
    fields: usize,
    /// How many elements.
    count: usize,
    /// An element is not a decimal number.
    bad: bool,
    /// Two elements are different numbers.
    differ: bool,
    /// The first element's number.
    first: Option<u64>,
}

impl Lengths {
    fn field(&mut self, value: &[u8]) {
        self.fields += 1;
        for element in list_elements(value) {
            self.count += 1;
            match (parse_decimal(element), self.first) {
                (None, _) => self.bad = true,
                (Some(n), None) => self.first = Some(n),
                (Some(n), Some(f)) => self.differ |= n != f,
            }
        }
    }

    /// All elements are the same decimal number.
    fn same(&self) -> bool {
        !self.bad && !self.differ
    }

    /// The body length they announce, if any. Every element must be a
    /// decimal number (a malformed one wins over a conflict), and all
    /// must agree.
    fn length(&self) -> Result<Option<u64>, Error> {
        if self.bad {
            Err(Error::BadContentLength)
        } else if self.differ {
            Err(Error::ConflictingContentLength)
        } else {
            Ok(self.first)
        }
    }
}

/// The elements of a head's `Transfer-Encoding` values, read as they
/// come.
#[derive(Default)]
struct Codings {
    /// A `Transfer-Encoding` field is present.
    present: bool,
    /// A non-empty element was seen.
    named: bool,
    /// A non-empty element names no registered coding.
    unknown: bool,
    /// The last non-empty element (so far) is `chunked`.
    last_chunked: bool,
}

impl Codings {
    fn field(&mut self, value: &[u8]) {
        self.present = true;
        for element in list_elements(value).filter(|e| !e.is_empty()) {
            self.named = true;
            let name = element.split(|&b| b == b';').next().unwrap_or_default();
            self.last_chunked = trim_end(name).eq_ignore_ascii_case(b"chunked");
            self.unknown |= !is_known_coding(name);
        }
    }
}

/// Warnings about the final head's framing fields: its `Content-Length`
/// elements and `Transfer-Encoding` values, for HTTP/1.`version`.
fn final_head_warnings(version: u8, lengths: &Lengths, codings: &Codings) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let has_te = codings.present;
    let count = lengths.count;
    if has_te && count > 0 {
        warnings.push(Warning::ContentLengthWithTransferEncoding);
    }
    // Repeated with one value; values that disagree (only accepted where
    // Content-Length does not frame the body) are not "repeated".
    if count > 1 && lengths.same() {
        warnings.push(Warning::RepeatedContentLength);
    }
    if has_te && version == 0 {
        warnings.push(Warning::TransferEncodingInHttp10);
    }
    // An empty Transfer-Encoding names no coding at all: the body is read
    // until the connection closes, as for an unknown one.
    if codings.unknown || (has_te && !codings.named) {
        warnings.push(Warning::UnknownTransferCoding);
    }
    warnings
}

/// Registered transfer codings (RFC 9110 section 18.7, RFC 9112 section 7),
/// `name` trimmed of whitespace as text (lossy UTF-8: `str::trim` also
/// takes non-ASCII white space, so a name that is not ASCII is trimmed
/// as text).
fn is_known_coding(name: &[u8]) -> bool {
    const KNOWN: [&str; 6] = [
        "chunked",
        "compress",
        "deflate",
        "gzip",
        "x-compress",
        "x-gzip",
    ];
    let known = |n: &[u8]| KNOWN.iter().any(|k| n.eq_ignore_ascii_case(k.as_bytes()));
    if name.is_ascii() {
        // Unfolded values hold no CR, LF, VT or FF: ASCII white space
        // there is spaces and tabs.
        known(trim(name))
    } else {
        known(String::from_utf8_lossy(name).trim().as_bytes())
    }
}

/// The elements of a comma-separated field value, trimmed of spaces and
/// tabs.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(trim)
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    trim_end(&bytes[start..])
}

/// `bytes` without trailing spaces and tabs.
fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |e| e + 1);
    &bytes[..end]
}

/// A non-empty run of ASCII digits that fits in a `u64`.
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Header slots kept on the stack for a head (more are allocated).
const STACK_SLOTS: usize = 128;

/// Header slots for `httparse`: `max_headers`, but never more than a
/// section of `len` bytes can hold (a field takes at least 3 bytes), so a
/// huge limit does not mean a huge allocation.
fn header_slots(max_headers: usize, len: usize) -> Vec<httparse::Header<'static>> {
    vec![httparse::EMPTY_HEADER; max_headers.min(len / 3 + 1)]
}

/// Maps an `httparse` error; `first` when this is the reply's first head.
fn head_error(e: httparse::Error, first: bool) -> Error {
    match e {
        httparse::Error::TooManyHeaders => Error::HeadTooLarge,
        httparse::Error::Version if first => Error::NotHttp,
        _ => Error::BadHead,
    }
}

/// Parses a whole head (ending with its empty line, or cut short by the
/// scanner at a stray CR). `httparse` wanting more from a section that
/// has ended means the section is malformed. Oddities that do not stop
/// the parse go to `notes`. Without `full`, a final head keeps only its
/// framing fields and no reason phrase (see [`Sink::wants_head`]).
fn parse_head(
    bytes: &[u8],
    ends: LineEnds,
    max_headers: usize,
    first: bool,
    full: bool,
    notes: &mut Vec<Warning>,
) -> Result<Parsed, Error> {
    // The slots of a usual head are on the stack, uninitialised: no
    // allocation and no clearing per response.
    let wanted = max_headers.min(bytes.len() / 3 + 1);
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_SLOTS];
    let mut heap;
    let slots = if wanted <= STACK_SLOTS {
        &mut stack[..wanted]
    } else {
        heap = vec![MaybeUninit::uninit(); wanted];
        &mut heap[..]
    };
    let mut response = httparse::Response::new(&mut []);
    let parsed = head_parser().parse_response_with_uninit_headers(&mut response, bytes, slots);
    let len = match parsed.map_err(|e| head_error(e, first))? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Err(Error::BadHead),
    };
    if len != bytes.len() {
        return Err(Error::BadHead);
    }
    read_parsed(&response, bytes, ends, full, notes)
}

/// `httparse` as the reader uses it for heads (and trailers).
fn head_parser() -> httparse::ParserConfig {
    let mut config = httparse::ParserConfig::default();
    config.allow_obsolete_multiline_headers_in_responses(true);
    config
}

/// Parses a head that begins at the start of `input`, when `httparse`
/// finds it whole there with at most `max_headers` fields (and at most
/// [`STACK_SLOTS`]): how many bytes it takes, and what
/// [`parse_head`] makes of them. `None` otherwise (cut short, malformed,
/// too many fields): the caller then collects the head with the section
/// scanner, which finds the first offending byte.
///
/// The same head as the scanner would give: `httparse` accepts a CR only
/// right before an LF and ends a head at its first empty line, which is
/// where the scanner ends it; every field line is a field for both (a
/// folded line continues its field); and the line ends are those of a
/// parsed head, found without a scan (see [`parsed_line_ends`]).
fn parse_whole_head(
    input: &[u8],
    max_headers: usize,
    full: bool,
    notes: &mut Vec<Warning>,
) -> Option<(usize, Result<Parsed, Error>)> {
    let wanted = max_headers.min(STACK_SLOTS).min(input.len() / 3 + 1);
    let mut stack = [MaybeUninit::<httparse::Header<'_>>::uninit(); STACK_SLOTS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = head_parser().parse_response_with_uninit_headers(
        &mut response,
        input,
        &mut stack[..wanted],
    );
    let Ok(httparse::Status::Complete(len)) = parsed else {
        return None;
    };
    let bytes = &input[..len];
    let ends = parsed_line_ends(bytes, response.headers);
    Some((len, read_parsed(&response, bytes, ends, full, notes)))
}

/// The line ends (LF) of a head `httparse` parsed whole. There every CR
/// is right before an LF, and a status line or field name holds no LF:
/// there is one before each field name, one that ends the line before
/// the empty line, and the empty line's own. When those are all the LFs
/// of the head (no obs-fold, which may also hide in the whitespace
/// around a value) they are looked at alone; otherwise every byte is.
fn parsed_line_ends(bytes: &[u8], fields: &[httparse::Header<'_>]) -> LineEnds {
    let bare_at = |lf: usize| lf == 0 || bytes[lf - 1] != b'\r';
    let len = bytes.len();
    let count = count_lf(bytes);
    if len < 3 || count != fields.len() + 2 {
        let bare = bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && bare_at(i));
        return LineEnds { count, bare };
    }
    let start = bytes.as_ptr() as usize;
    let before_names = fields
        .iter()
        .map(|h| (h.name.as_ptr() as usize - start).saturating_sub(1));
    // The empty line is CRLF or LF; the line before it ends just before.
    let last_line = if bytes[len - 2] == b'\r' {
        len - 3
    } else {
        len - 2
    };
    let mut bare = bare_at(len - 1) || bare_at(last_line);
    for lf in before_names {
        bare |= bare_at(lf);
    }
    LineEnds { count, bare }
}

/// What a head `httparse` parsed whole (`bytes`, with line ends `ends`)
/// says; see [`parse_head`].
fn read_parsed(
    response: &httparse::Response<'_, '_>,
    bytes: &[u8],
    ends: LineEnds,
    full: bool,
    notes: &mut Vec<Warning>,
) -> Result<Parsed, Error> {
    let (Some(version), Some(status)) = (response.version, response.code) else {
        return Err(Error::BadHead);
    };
    if status < 100 {
        return Err(Error::BadHead);
    }
    // `httparse` has checked the status line: `HTTP/1.x`, a space, three
    // digits, then a space and the reason, or the line end.
    let no_reason = bytes.get(12) != Some(&b' ') || matches!(bytes.get(13), Some(b'\r' | b'\n'));
    if no_reason {
        notes.push(Warning::MissingReasonPhrase);
    }
    if status > 599 {
        notes.push(Warning::StatusOutOfRange);
    }
    let fields: &[httparse::Header<'_>] = response.headers;
    if ends.bare {
        notes.push(Warning::BareLf);
    }
    // Each field's values are looked at only when the whole head says
    // they may hold what is looked for (as they do in few heads): a
    // value holds an LF (obs-fold) only when the head has more line ends
    // than its status line, field lines and empty line; a non-ASCII value
    // only in a head that is not all ASCII.
    if ends.count > fields.len() + 2 && fields.iter().any(|h| h.value.contains(&b'\n')) {
        notes.push(Warning::ObsFold);
    }
    if !bytes.is_ascii() && fields.iter().any(|h| !h.value.is_ascii()) {
        notes.push(Warning::NonAsciiHeaderValue);
    }
    let framing_fields = FramingFields::read(version, fields);
    if !full && !is_interim(status) {
        // The sink wants no fields: the framing fields (all that the
        // reader itself reads) were read above, nothing becomes a string.
        return Ok(Parsed {
            status,
            head: None,
            fields: framing_fields,
        });
    }
    let reason_raw = reason_phrase(bytes);
    let (reason, reason_bytes) = match std::str::from_utf8(reason_raw) {
        Ok(text) => (text.to_owned(), None),
        Err(_) => (
            String::from_utf8_lossy(reason_raw).into_owned(),
            Some(reason_raw.to_vec()),
        ),
    };
    let (headers, value_bytes) = owned_fields_exact(fields);
    Ok(Parsed {
        status,
        head: Some(Head {
            version,
            status,
            reason,
            headers,
            reason_bytes,
            value_bytes,
        }),
        fields: framing_fields,
    })
}

/// The reason phrase, taken from the raw status line so that non-ASCII
/// bytes survive where `httparse` would give an empty string.
/// `httparse` has checked the line: `HTTP/1.x SP 3DIGIT [SP reason]`.
fn reason_phrase(head: &[u8]) -> &[u8] {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = &head[..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.get(13..).unwrap_or_default()
}

/// Header fields as (lossy) strings, and the exact bytes of the values
/// that are not UTF-8 (see [`Head::value_bytes`]).
#[allow(clippy::type_complexity)]
fn owned_fields_exact(
    headers: &[httparse::Header<'_>],
) -> (Vec<(String, String)>, Vec<(usize, Vec<u8>)>) {
    let mut exact = Vec::new();
    let fields = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let value = unfold(h.value);
            let text = match std::str::from_utf8(&value) {
                Ok(text) => text.to_owned(),
                Err(_) => {
                    let text = String::from_utf8_lossy(&value).into_owned();
                    exact.push((i, value.into_owned()));
                    text
                }
            };
            (h.name.to_owned(), text)
        })
        .collect();
    (fields, exact)
}

/// A field value with each obs-fold (a line break and the whitespace
/// after it) replaced by one space, as RFC 9112 section 5.2 allows.
fn unfold(value: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !value.contains(&b'\n') {
        return std::borrow::Cow::Borrowed(value);
    }
    let mut out = Vec::with_capacity(value.len());
    for (i, line) in value.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if i == 0 {
            out.extend_from_slice(line);
        } else {
            out.push(b' ');
            let start = line.iter().position(|&b| b != b' ' && b != b'\t');
            out.extend_from_slice(start.map_or(&[][..], |s| &line[s..]));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Stands in front of a trailer section so that `httparse` parses it as
/// a response head, the only place where it accepts obs-fold.
const TRAILER_STAND_IN: &[u8] = b"HTTP/1.1 200 T\r\n";

/// Parses a whole trailer section (ending with its empty line), with the
/// head's leniency: obs-fold is unfolded, with a note in `notes`. The
/// exact bytes of values that are not UTF-8 come beside the fields, as in
/// [`Head::value_bytes`].
#[allow(clippy::type_complexity)]
fn parse_trailers(
    bytes: &[u8],
    max_headers: usize,
    notes: &mut Vec<Warning>,
) -> Result<(Vec<(String, String)>, Vec<(usize, Vec<u8>)>), Error> {
    let section = [TRAILER_STAND_IN, bytes].concat();
    let mut slots = header_slots(max_headers, bytes.len());
    let mut response = httparse::Response::new(&mut slots);
    let parsed = head_parser()
        .parse_response(&mut response, &section)
        .map_err(|e| head_error(e, false))?;
    match parsed {
        httparse::Status::Complete(len) if len == section.len() => {}
        httparse::Status::Complete(_) | httparse::Status::Partial => return Err(Error::BadHead),
    }
    if response.headers.iter().any(|h| h.value.contains(&b'\n')) {
        notes.push(Warning::ObsFold);
    }
    Ok(owned_fields_exact(response.headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One thing the reader reported; body bytes are merged.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Event {
        Interim(Head),
        Head(Head, Framing),
        Body(Vec<u8>),
        Trailers(Vec<(String, String)>),
        TrailerBytes(Vec<(usize, Vec<u8>)>),
        Warning(Warning),
    }

    /// Records every sink call, merging adjacent body pieces.
    #[derive(Debug, Default)]
    struct Recorder {
        events: Vec<Event>,
        empty_body_calls: usize,
    }

    impl Sink for Recorder {
        fn interim(&mut self, head: &Head) {
            self.events.push(Event::Interim(head.clone()));
        }
        fn head(&mut self, head: &Head, framing: Framing) {
            self.events.push(Event::Head(head.clone(), framing));
        }
        fn body(&mut self, data: &[u8]) {
            self.empty_body_calls += usize::from(data.is_empty());
            match self.events.last_mut() {
                Some(Event::Body(body)) => body.extend_from_slice(data),
                _ => self.events.push(Event::Body(data.to_vec())),
            }
        }
        fn trailers(&mut self, trailers: &[(String, String)]) {
            self.events.push(Event::Trailers(trailers.to_vec()));
        }
        fn trailer_value_bytes(&mut self, value_bytes: &[(usize, Vec<u8>)]) {
            self.events.push(Event::TrailerBytes(value_bytes.to_vec()));
        }
        fn warning(&mut self, warning: Warning) {
            self.events.push(Event::Warning(warning));
        }
    }

    /// Everything observable about one run of the reader.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        events: Vec<Event>,
        /// Bytes consumed in total, or the first error from `feed`.
        fed: Result<usize, Error>,
        /// Whether the message was complete before `eof`.
        complete: bool,
        eof: Result<(), Error>,
        body_bytes: u64,
    }

    impl Outcome {
        fn body(&self) -> Vec<u8> {
            let mut body = Vec::new();
            for event in &self.events {
                if let Event::Body(b) = event {
                    body.extend_from_slice(b);
                }
            }
            body
        }

        /// The last event that is not a warning.
        fn last_part(&self) -> Option<&Event> {
            self.events
                .iter()
                .rev()
                .find(|e| !matches!(e, Event::Warning(_)))
        }

        fn final_head(&self) -> Option<(&Head, Framing)> {
            self.events.iter().find_map(|e| match e {
                Event::Head(h, f) => Some((h, *f)),
                _ => None,
            })
        }

        /// The first error, from `feed` or else from `eof`.
        fn error(&self) -> Option<Error> {
            self.fed.err().or(self.eof.err())
        }
    }

    /// Feeds `pieces` in order (all of them, even after completion or an
    /// error, checking the reader's promises about later calls), then eof.
    fn run_pieces(pieces: &[&[u8]], head_request: bool, limits: Limits) -> Outcome {
        let mut reader = ResponseReader::new(head_request, limits);
        let mut sink = Recorder::default();
        let mut fed = Ok(0);
        let mut any_bytes = false;
        for piece in pieces {
            let was_complete = reader.is_complete();
            let result = reader.feed(piece, &mut sink);
            match (fed, result) {
                (Err(first), again) => assert_eq!(again, Err(first), "error must stick"),
                (Ok(_), Err(e)) => fed = Err(e),
                (Ok(total), Ok(n)) => {
                    assert!(n <= piece.len());
                    assert!(n == piece.len() || reader.is_complete(), "stopped early");
                    assert!(!was_complete || n == 0, "consumed after completion");
                    fed = Ok(total + n);
                }
            }
            any_bytes |= !piece.is_empty();
            assert_eq!(reader.started(), any_bytes);
        }
        let complete = reader.is_complete();
        let eof = reader.eof(&mut sink);
        if let Err(e) = eof {
            assert_eq!(reader.eof(&mut sink), Err(e), "eof error must stick");
            assert_eq!(reader.feed(b"x", &mut sink), Err(e), "eof error must stick");
        }
        assert_eq!(sink.empty_body_calls, 0, "empty body slice");
        Outcome {
            events: sink.events,
            fed,
            complete,
            eof,
            body_bytes: reader.body_bytes(),
        }
    }

    fn run_with(input: &[u8], head_request: bool, limits: Limits) -> Outcome {
        run_pieces(&[input], head_request, limits)
    }

    fn run(input: &[u8]) -> Outcome {
        run_with(input, false, Limits::default())
    }

    /// A sink that asks for the status and framing only.
    #[derive(Default)]
    struct StatusOnly {
        status: Option<(u16, Framing)>,
        interim: usize,
        body: Vec<u8>,
        warnings: Vec<Warning>,
    }

    impl Sink for StatusOnly {
        fn interim(&mut self, head: &Head) {
            assert_eq!(head.reason, "Continue", "an interim head is whole");
            self.interim += 1;
        }
        fn head(&mut self, _head: &Head, _framing: Framing) {
            panic!("head() called on a sink that wants no head");
        }
        fn wants_head(&self) -> bool {
            false
        }
        fn status(&mut self, status: u16, framing: Framing) {
            self.status = Some((status, framing));
        }
        fn body(&mut self, data: &[u8]) {
            self.body.extend_from_slice(data);
        }
        fn warning(&mut self, warning: Warning) {
            self.warnings.push(warning);
        }
    }

    #[test]
    fn a_sink_without_heads_sees_the_same_framing_warnings_and_body() {
        for input in [
            &b"HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 3\r\n\r\nabc"[..],
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n",
            b"HTTP/1.0 200\nContent-Length: 2, 2\nX: \xff\n\nok",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\nuntil close",
        ] {
            let full = run(input);
            for cut in 0..=input.len() {
                let mut reader = ResponseReader::new(false, Limits::default());
                let mut sink = StatusOnly::default();
                let fed = reader
                    .feed(&input[..cut], &mut sink)
                    .and_then(|a| Ok(a + reader.feed(&input[a..], &mut sink)?));
                let eof = reader.eof(&mut sink);
                let text = String::from_utf8_lossy(input);
                assert_eq!(
                    sink.status,
                    full.final_head().map(|(h, f)| (h.status, f)),
                    "{text}"
                );
                let warnings: Vec<Warning> = full
                    .events
                    .iter()
                    .filter_map(|e| match e {
                        Event::Warning(w) => Some(*w),
                        _ => None,
                    })
                    .collect();
                assert_eq!(sink.warnings, warnings, "{text} cut at {cut}");
                assert_eq!(sink.body, full.body(), "{text}");
                assert_eq!((fed, eof), (full.fed, full.eof), "{text} cut at {cut}");
            }
        }
    }

    fn limits_with(f: impl FnOnce(&mut Limits)) -> Limits {
        let mut limits = Limits::default();
        f(&mut limits);
        limits
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn head(status: u16, reason: &str, pairs: &[(&str, &str)]) -> Head {
        Head {
            version: 1,
            status,
            reason: reason.to_string(),
            headers: fields(pairs),
            reason_bytes: None,
            value_bytes: Vec::new(),
        }
    }

    // ---- framing rules -------------------------------------------------

    #[test]
    fn content_length_body_ends_after_that_many_bytes() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        let out = run(input);
        assert_eq!(
            out.events,
            vec![
                Event::Head(
                    head(200, "OK", &[("Content-Length", "5")]),
                    Framing::ContentLength(5)
                ),
                Event::Body(b"hello".to_vec()),
                Event::Warning(Warning::ExtraBytesAfterMessage),
            ]
        );
        assert_eq!(out.fed, Ok(input.len() - 5));
        assert!(out.complete);
        assert_eq!((out.eof, out.body_bytes), (Ok(()), 5));
    }

    #[test]
    fn content_length_zero_is_complete_at_the_head() {
        let out = run(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nX");
        assert!(out.complete);
        assert_eq!(out.body(), b"");
        assert_eq!(out.fed, Ok(38));
    }

    #[test]
    fn head_request_response_has_no_body() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nNEXT";
        let out = run_with(input, true, limits_with(|l| l.max_body = Some(10)));
        assert_eq!(out.final_head().unwrap().1, Framing::NoBody);
        assert!(out.complete);
        assert_eq!(out.fed, Ok(input.len() - 4));
        assert_eq!(out.eof, Ok(()));
        // The same bytes to a GET are a body of 1000 bytes, over the limit.
        let get = run_with(input, false, limits_with(|l| l.max_body = Some(10)));
        assert_eq!(get.fed, Err(Error::BodyTooLarge { limit: 10 }));
    }

    #[test]
    fn no_content_response_has_no_body() {
        let out = run(b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nNEXT");
        assert_eq!(out.final_head().unwrap().1, Framing::NoBody);
        assert!(out.complete);
        assert_eq!(out.fed, Ok(46));
    }

    #[test]
    fn not_modified_response_has_no_body() {
        let out = run(b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n");
        assert_eq!(out.final_head().unwrap().1, Framing::NoBody);
        assert!(out.complete);
        assert_eq!(out.body(), b"");
    }

    #[test]
    fn interim_responses_are_reported_and_skipped() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let out = run(input);
        assert_eq!(
            out.events,
            vec![
                Event::Interim(head(100, "Continue", &[])),
                Event::Interim(head(103, "Early Hints", &[("Link", "</s.css>")])),
                Event::Head(
                    head(200, "OK", &[("Content-Length", "2")]),
                    Framing::ContentLength(2)
                ),
                Event::Body(b"ok".to_vec()),
            ]
        );
        assert_eq!(out.fed, Ok(input.len()));
        assert!(out.complete);
    }

    #[test]
    fn interim_response_count_is_limited() {
        let two =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n";
        let ok = run_with(two, false, limits_with(|l| l.max_interim = 2));
        assert!(ok.complete);
        let out = run_with(two, false, limits_with(|l| l.max_interim = 1));
        assert_eq!(out.fed, Err(Error::HeadTooLarge));
        assert_eq!(out.events, vec![Event::Interim(head(100, "Continue", &[]))]);
    }

    #[test]
    fn switching_protocols_is_final_without_body() {
        let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
        let out = run(input);
        assert_eq!(out.final_head().unwrap().0.status, 101);
        assert_eq!(out.final_head().unwrap().1, Framing::NoBody);
        assert!(out.complete);
        assert_eq!(out.fed, Ok(input.len() - 7));
    }

    #[test]
    fn chunked_wins_over_content_length() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\nabc\r\n0\r\n\r\n";
        let out = run(input);
        assert_eq!(out.final_head().unwrap().1, Framing::Chunked);
        assert_eq!(out.body(), b"abc");
        assert!(out.complete);
    }

    #[test]
    fn final_coding_chunked_is_found_in_lists_and_repeated_fields() {
        for te in [
            "Transfer-Encoding: chunked\r\n",
            "transfer-encoding: CHUNKED\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: gzip,\tChunked , \r\n",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\n{te}\r\n2\r\nhi\r\n0\r\n\r\n");
            let out = run(input.as_bytes());
            assert_eq!(out.final_head().unwrap().1, Framing::Chunked, "{te:?}");
            assert_eq!(out.body(), b"hi", "{te:?}");
            assert!(out.complete, "{te:?}");
        }
    }

    #[test]
    fn transfer_encoding_without_final_chunked_is_close_delimited() {
        for te in [
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
            "Transfer-Encoding: gzip\r\nContent-Length: 4\r\n",
            "Transfer-Encoding: chunkedx\r\n",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\n{te}\r\n4\r\nabc");
            let out = run(input.as_bytes());
            assert_eq!(
                out.final_head().unwrap().1,
                Framing::CloseDelimited,
                "{te:?}"
            );
            assert!(!out.complete);
            assert_eq!(
                (out.body(), out.eof),
                (b"4\r\nabc".to_vec(), Ok(())),
                "{te:?}"
            );
        }
    }

    #[test]
    fn identical_content_lengths_are_accepted() {
        for cl in [
            "Content-Length: 3, 3\r\n",
            "Content-Length: 3\r\nContent-Length: 3\r\n",
            "Content-Length: 3,003\r\n",
            "content-length:\t3\t\r\n",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\n{cl}\r\nabcdef");
            let out = run(input.as_bytes());
            assert_eq!(
                out.final_head().unwrap().1,
                Framing::ContentLength(3),
                "{cl:?}"
            );
            assert_eq!(out.body(), b"abc");
        }
    }

    #[test]
    fn largest_content_length_is_accepted() {
        let out = run(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nab");
        assert_eq!(
            out.final_head().unwrap().1,
            Framing::ContentLength(u64::MAX)
        );
        assert_eq!(
            out.eof,
            Err(Error::TruncatedBody {
                received: 2,
                expected: Some(u64::MAX)
            })
        );
    }

    #[test]
    fn content_length_is_ignored_when_chunked() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\nContent-Length: 1, 2\r\n\
            Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let out = run(input);
        assert_eq!(out.final_head().unwrap().1, Framing::Chunked);
        assert!(out.complete);
    }

    #[test]
    fn content_length_is_ignored_without_body() {
        let input = b"HTTP/1.1 304 Not Modified\r\nContent-Length: nope\r\n\r\n";
        assert!(run(input).complete);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n";
        assert!(run_with(input, true, Limits::default()).complete);
    }

    #[test]
    fn without_length_or_coding_the_body_runs_to_close() {
        let out = run(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of this\r\n\r\n");
        let (h, framing) = out.final_head().unwrap();
        assert_eq!((h.version, framing), (0, Framing::CloseDelimited));
        assert!(!out.complete);
        assert_eq!(out.body(), b"all of this\r\n\r\n");
        assert_eq!(out.eof, Ok(()));
    }

    #[test]
    fn bare_lf_is_accepted_in_head_chunks_and_trailers() {
        let input = b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n4\nwiki\n0\nT: 1\n\nX";
        let out = run(input);
        assert_eq!(out.body(), b"wiki");
        assert_eq!(
            out.last_part(),
            Some(&Event::Trailers(fields(&[("T", "1")])))
        );
        assert_eq!(out.fed, Ok(input.len() - 1));
    }

    #[test]
    fn chunk_extensions_are_ignored() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            4;name=value;q=\"a;b\"\r\nwiki\r\n5 ; x\r\npedia\r\n0;last\r\n\r\n";
        let out = run(input);
        assert_eq!(out.body(), b"wikipedia");
        assert!(out.complete);
    }

    #[test]
    fn trailers_are_reported_when_present() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            1\r\na\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";
        let out = run(input);
        assert_eq!(
            out.last_part(),
            Some(&Event::Trailers(fields(&[
                ("Expires", "never"),
                ("X-Sum", "1")
            ])))
        );
        assert_eq!(out.fed, Ok(input.len() - 4));
        assert!(out.complete);
    }

    #[test]
    fn empty_trailer_section_is_not_reported() {
        let out = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n");
        assert!(!out.events.iter().any(|e| matches!(e, Event::Trailers(_))));
        assert!(out.complete);
    }

    #[test]
    fn head_fields_and_reason_are_kept_as_sent() {
        let out = run(b"HTTP/1.1 404 Not \xe9t\xe9 Found\r\nA: 1\r\na: 2 \r\nB:\r\n\r\n");
        let (h, _) = out.final_head().unwrap();
        assert_eq!(h.reason, "Not \u{fffd}t\u{fffd} Found");
        assert_eq!(h.headers, fields(&[("A", "1"), ("a", "2"), ("B", "")]));
        let out = run(b"HTTP/1.1 200\r\n\r\n");
        assert_eq!(out.final_head().unwrap().0.reason, "");
    }

    // ---- errors --------------------------------------------------------

    #[test]
    fn nothing_received_is_an_empty_reply() {
        let out = run(b"");
        assert_eq!((out.fed, out.eof), (Ok(0), Err(Error::EmptyReply)));
        assert!(!ResponseReader::new(false, Limits::default()).started());
    }

    #[test]
    fn non_http_is_rejected_at_the_first_wrong_byte() {
        for input in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"X",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1\r\n\r\n",
            b"http/1.1 200 OK\r\n\r\n",
            b"\r\rHTTP/1.1 200 OK\r\n\r\n",
            b"\n\rX",
            b"HTTP/1.2 200 OK\r\n\r\n",
            b"HTTP/1.10 200 OK\r\n\r\n",
        ] {
            assert_eq!(run(input).fed, Err(Error::NotHttp), "{input:?}");
        }
        let mut reader = ResponseReader::new(false, limits_with(|l| l.max_head_bytes = 1 << 20));
        let mut sink = Recorder::default();
        assert_eq!(reader.feed(b"HTTP", &mut sink), Ok(4));
        assert_eq!(reader.feed(b"S", &mut sink), Err(Error::NotHttp));
        assert!(reader.started());
    }

    /// Fuzz finding: with a head limit under 7 bytes, the whole input was
    /// `NotHttp` but byte-at-a-time feeding was `HeadTooLarge`.
    #[test]
    fn the_first_bad_byte_decides_between_not_http_and_head_too_large() {
        for (input, max_head_bytes, error) in [
            (&b" HTTP/1.1 200 OK\r\n\r\n"[..], 0, Error::HeadTooLarge),
            (b"HT\x07\xff", 0, Error::HeadTooLarge),
            (b"HTX", 2, Error::HeadTooLarge),
            (b"HXT", 2, Error::NotHttp),
            (b" HTTP/1.1 200 OK\r\n\r\n", 1, Error::NotHttp),
        ] {
            let limits = limits_with(|l| l.max_head_bytes = max_head_bytes);
            let whole = run_with(input, false, limits);
            assert_eq!(whole.fed, Err(error), "{input:?} within {max_head_bytes}");
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run_pieces(&bytes, false, limits), whole, "{input:?}");
        }
    }

    #[test]
    fn stray_cr_before_the_empty_line_is_rejected_at_once() {
        // Not left waiting for an empty line that may never come.
        let out = run(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\r\n");
        assert_eq!(out.fed, Err(Error::BadHead));
        let out = run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\r\n");
        assert_eq!(out.fed, Err(Error::BadHead));
    }

    #[test]
    fn non_http_after_an_interim_head_is_a_bad_head() {
        let out = run(b"HTTP/1.1 100 Continue\r\n\r\n<html>");
        assert_eq!(out.fed, Err(Error::BadHead));
        let out = run(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/2 200\r\n\r\n");
        assert_eq!(out.fed, Err(Error::BadHead));
    }

    #[test]
    fn malformed_heads_are_rejected() {
        for input in [
            &b"HTTP/1.1 2x0 OK\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
            b"HTTP/1.1 200 OK\rX\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1  200 OK\r\n\r\n",
        ] {
            assert_eq!(run(input).fed, Err(Error::BadHead), "{input:?}");
        }
    }

    #[test]
    fn head_size_is_limited() {
        let input = b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
        let fits = run_with(
            input,
            false,
            limits_with(|l| l.max_head_bytes = input.len()),
        );
        assert!(fits.final_head().is_some());
        let limits = limits_with(|l| l.max_head_bytes = input.len() - 1);
        assert_eq!(run_with(input, false, limits).fed, Err(Error::HeadTooLarge));
        // Endless garbage that starts like HTTP fails without waiting for an end.
        let mut reader = ResponseReader::new(false, limits_with(|l| l.max_head_bytes = 64));
        let mut sink = Recorder::default();
        assert_eq!(reader.feed(&[b'H'; 1], &mut sink), Ok(1));
        let garbage = [b'x'; 100];
        let result = reader
            .feed(b"TTP/1.1 200 ", &mut sink)
            .and_then(|_| reader.feed(&garbage, &mut sink));
        assert_eq!(result, Err(Error::HeadTooLarge));
    }

    #[test]
    fn header_count_is_limited() {
        let input = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n";
        let two = run_with(input, false, limits_with(|l| l.max_headers = 2));
        assert_eq!(two.final_head().unwrap().0.headers.len(), 2);
        let one = run_with(input, false, limits_with(|l| l.max_headers = 1));
        assert_eq!(one.fed, Err(Error::HeadTooLarge));
    }

    #[test]
    fn trailer_section_is_limited_and_checked() {
        let input =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\n\r\n";
        let limits = limits_with(|l| l.max_headers = 1);
        assert_eq!(run_with(input, false, limits).fed, Err(Error::HeadTooLarge));
        let long = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: {}\r\n\r\n",
            "x".repeat(60)
        );
        let limits = limits_with(|l| l.max_head_bytes = 64);
        assert_eq!(
            run_with(long.as_bytes(), false, limits).fed,
            Err(Error::HeadTooLarge)
        );
        let limits = limits_with(|l| l.max_head_bytes = 67);
        assert_eq!(run_with(long.as_bytes(), false, limits).fed, Ok(long.len()));
        let input =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nNot a field\r\n\r\n";
        assert_eq!(run(input).fed, Err(Error::BadHead));
    }

    #[test]
    fn malformed_content_length_is_rejected() {
        for value in [
            "",
            "+5",
            "-5",
            "5 5",
            "0x5",
            "5a",
            "5.0",
            "1,,1",
            ",5",
            "5,",
            "\u{664}",
            "18446744073709551616",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\nContent-Length: {value}\r\n\r\n");
            assert_eq!(
                run(input.as_bytes()).fed,
                Err(Error::BadContentLength),
                "{value:?}"
            );
        }
        // A malformed value wins over a conflict, whatever the order.
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2, x\r\n\r\n";
        assert_eq!(run(input).fed, Err(Error::BadContentLength));
    }

    #[test]
    fn conflicting_content_lengths_are_rejected() {
        for cl in [
            "Content-Length: 1, 2\r\n",
            "Content-Length: 5\r\nContent-Length: 6\r\n",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\n{cl}\r\nhello!");
            let out = run(input.as_bytes());
            assert_eq!(out.fed, Err(Error::ConflictingContentLength), "{cl:?}");
            assert_eq!(out.events, vec![], "head must not be reported");
        }
    }

    #[test]
    fn malformed_chunks_are_rejected() {
        for body in [
            "\r\n",
            "zz\r\n",
            "-1\r\n",
            "10000000000000000\r\nx",
            "3\r\nabcX",
            "3\r\nabc\rX",
            "3\rX",
            " 3\r\nabc\r\n",
        ] {
            let input = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
            assert_eq!(run(input.as_bytes()).fed, Err(Error::BadChunk), "{body:?}");
        }
        let long_line = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n",
            "e".repeat(200)
        );
        let limits = limits_with(|l| l.max_head_bytes = 200);
        assert_eq!(
            run_with(long_line.as_bytes(), false, limits).fed,
            Err(Error::BadChunk)
        );
        let limits = limits_with(|l| l.max_head_bytes = 204);
        assert_eq!(
            run_with(long_line.as_bytes(), false, limits).fed,
            Ok(long_line.len())
        );
    }

    #[test]
    fn close_inside_the_head_is_a_truncated_head() {
        let out = run(b"HTTP/1.1 200 OK\r\nContent-");
        assert_eq!((out.fed, out.eof), (Ok(25), Err(Error::TruncatedHead)));
        let out = run(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(out.eof, Err(Error::TruncatedHead));
    }

    #[test]
    fn close_inside_a_sized_body_is_a_truncated_body() {
        let out = run(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        let expected = Error::TruncatedBody {
            received: 3,
            expected: Some(10),
        };
        assert_eq!((out.body(), out.eof), (b"abc".to_vec(), Err(expected)));
    }

    #[test]
    fn close_inside_a_chunked_body_is_a_truncated_body() {
        let base = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (rest, received) in [
            ("", 0),
            ("5\r\nab", 2),
            ("2\r\nab\r\n", 2),
            ("2\r\nab\r\n0\r\nT: 1\r\n", 2),
        ] {
            let out = run(format!("{base}{rest}").as_bytes());
            let expected = Error::TruncatedBody {
                received,
                expected: None,
            };
            assert_eq!(out.eof, Err(expected), "{rest:?}");
        }
    }

    #[test]
    fn sized_body_over_the_limit_fails_after_the_head() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
        let out = run_with(input, false, limits_with(|l| l.max_body = Some(10)));
        assert_eq!(out.fed, Err(Error::BodyTooLarge { limit: 10 }));
        assert_eq!(out.events.len(), 1, "only the head: {:?}", out.events);
        assert!(out.final_head().is_some());
        let at_limit = run_with(input, false, limits_with(|l| l.max_body = Some(11)));
        assert_eq!(at_limit.body(), b"hello world");
        assert!(at_limit.complete);
    }

    #[test]
    fn chunked_body_over_the_limit_fails_at_the_limit() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n";
        let out = run_with(input, false, limits_with(|l| l.max_body = Some(6)));
        assert_eq!(out.fed, Err(Error::BodyTooLarge { limit: 6 }));
        assert_eq!((out.body(), out.body_bytes), (b"abcdef".to_vec(), 6));
        let at_limit = run_with(input, false, limits_with(|l| l.max_body = Some(8)));
        assert!(at_limit.complete);
    }

    #[test]
    fn close_delimited_body_over_the_limit_fails_at_the_limit() {
        let input = b"HTTP/1.1 200 OK\r\n\r\n0123456789";
        let out = run_with(input, false, limits_with(|l| l.max_body = Some(4)));
        assert_eq!(out.fed, Err(Error::BodyTooLarge { limit: 4 }));
        assert_eq!(out.body(), b"0123");
        let at_limit = run_with(input, false, limits_with(|l| l.max_body = Some(10)));
        assert_eq!((at_limit.eof, at_limit.body_bytes), (Ok(()), 10));
    }

    #[test]
    fn after_completion_feed_takes_nothing() {
        let mut reader = ResponseReader::new(false, Limits::default());
        let mut sink = Recorder::default();
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab";
        assert_eq!(reader.feed(input, &mut sink), Ok(input.len() - 1));
        assert!(reader.is_complete());
        assert_eq!(reader.feed(b"more", &mut sink), Ok(0));
        assert_eq!(reader.eof(&mut sink), Ok(()));
        assert_eq!(reader.body_bytes(), 1);
    }

    #[test]
    fn errors_stick() {
        let mut reader = ResponseReader::new(false, Limits::default());
        let mut sink = Recorder::default();
        assert_eq!(reader.feed(b"nope", &mut sink), Err(Error::NotHttp));
        assert_eq!(
            reader.feed(b"HTTP/1.1 200 OK\r\n\r\n", &mut sink),
            Err(Error::NotHttp)
        );
        assert_eq!(reader.feed(b"", &mut sink), Err(Error::NotHttp));
        assert_eq!(reader.eof(&mut sink), Err(Error::NotHttp));
        assert!(sink.events.is_empty());
    }

    #[test]
    fn empty_feeds_change_nothing() {
        let mut reader = ResponseReader::new(false, Limits::default());
        let mut sink = Recorder::default();
        assert_eq!(reader.feed(b"", &mut sink), Ok(0));
        assert!(!reader.started());
        assert_eq!(reader.eof(&mut sink), Err(Error::EmptyReply));
    }

    #[test]
    fn error_messages_are_one_lowercase_line() {
        let cases = [
            (Error::EmptyReply, "empty reply from server"),
            (Error::NotHttp, "the reply is not an HTTP/1.x response"),
            (Error::BadHead, "malformed status line or header field"),
            (
                Error::HeadTooLarge,
                "response head exceeds the limit on its size, field count or interim responses",
            ),
            (Error::BadContentLength, "invalid Content-Length value"),
            (
                Error::ConflictingContentLength,
                "conflicting Content-Length values",
            ),
            (Error::BadChunk, "malformed chunked encoding"),
            (
                Error::TruncatedHead,
                "connection closed inside the response head",
            ),
            (
                Error::TruncatedBody {
                    received: 3,
                    expected: Some(10),
                },
                "connection closed after 3 of 10 body bytes",
            ),
            (
                Error::TruncatedBody {
                    received: 3,
                    expected: None,
                },
                "connection closed before the end of the body (3 bytes received)",
            ),
            (
                Error::BodyTooLarge { limit: 1024 },
                "body exceeds the size limit of 1024 bytes",
            ),
        ];
        for (error, message) in cases {
            let text = error.to_string();
            assert_eq!(text, message);
            assert!(text.starts_with(|c: char| c.is_ascii_lowercase()));
            assert!(!text.contains('\n') && !text.ends_with('.'));
        }
    }

    // ---- the linter --------------------------------------------------

    fn warnings(out: &Outcome) -> Vec<Warning> {
        out.events
            .iter()
            .filter_map(|e| match e {
                Event::Warning(w) => Some(*w),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_oddity_gives_its_warning_once() {
        use Warning::*;
        let table: &[(&[u8], &[Warning])] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &[]),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                &[ContentLengthWithTransferEncoding],
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
                &[RepeatedContentLength],
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", &[RepeatedContentLength]),
            (
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                &[TransferEncodingInHttp10],
            ),
            (b"HTTP/1.1 200 OK\r\nX: a\r\n  b\r\nContent-Length: 0\r\n\r\n", &[ObsFold]),
            (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", &[BareLf]),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\n0\n\n", &[BareLf]),
            (b"\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", &[EmptyLineBeforeStatus]),
            (
                b"HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                &[EmptyLineBeforeStatus],
            ),
            (b"HTTP/1.1 204\r\n\r\n", &[MissingReasonPhrase]),
            (b"HTTP/1.1 204 \r\n\r\n", &[MissingReasonPhrase]),
            (b"HTTP/1.1 204 No Content\r\nX: caf\xe9\r\n\r\n", &[NonAsciiHeaderValue]),
            (b"HTTP/1.1 204 No Content\r\n\r\nbody", &[BodyOnNoContentResponse]),
            (b"HTTP/1.1 304 Not Modified\r\n\r\nbody", &[BodyOnNoContentResponse]),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", &[ExtraBytesAfterMessage]),
            (b"HTTP/1.1 101 Switching\r\n\r\nnew protocol", &[]),
            (b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", &[ContentLengthOnNoBodyStatus]),
            (
                b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
                &[ContentLengthOnNoBodyStatus],
            ),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", &[]),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b\r\nx\r\n1;c\r\ny\r\n0\r\n\r\n",
                &[ChunkExtension],
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n\r\n",
                &[Trailers],
            ),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: br\r\n\r\nzz", &[UnknownTransferCoding]),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", &[]),
            (b"HTTP/1.1 700 Odd\r\nContent-Length: 0\r\n\r\n", &[StatusOutOfRange]),
        ];
        for (input, expected) in table {
            let out = run(input);
            assert_eq!(out.error(), None, "{}", String::from_utf8_lossy(input));
            assert_eq!(
                warnings(&out),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run_pieces(&bytes, false, Limits::default()), out);
        }
    }

    #[test]
    fn line_ends_of_a_parsed_head_are_those_the_scanner_counts() {
        let heads: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\r\n\r\n",
            b"HTTP/1.1 200 OK\nA: b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\n\n",
            b"HTTP/1.1 200 OK\r\n\n",
            b"HTTP/1.1 204\r\n\r\n",
            b"HTTP/1.1 204\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b  \r\nC:\r\nE:\t\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\n c\r\nD: e\r\n\r\n",
            b"HTTP/1.1 200 caf\xe9\r\nA: \xff\r\n\r\n",
            // Folds that httparse leaves out of the value.
            b"HTTP/1.1 200 OK\r\nA:\n b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n \r\nC: d\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\n \nC: d\r\n\r\n",
        ];
        for head in heads {
            let text = String::from_utf8_lossy(head);
            let mut section = Section::head();
            let Ok(Filled::Ended(n, _, scanned)) = section.fill_borrowed(head, 1 << 20, 100) else {
                panic!("{text}");
            };
            assert_eq!(n, head.len(), "{text}");
            let mut slots = [httparse::EMPTY_HEADER; 16];
            let mut r = httparse::Response::new(&mut slots);
            let parsed = head_parser().parse_response(&mut r, head);
            assert_eq!(parsed, Ok(httparse::Status::Complete(head.len())), "{text}");
            assert_eq!(parsed_line_ends(head, r.headers), scanned, "{text}");
        }
    }

    #[test]
    fn warnings_say_only_what_happened() {
        use Warning::*;
        let table: &[(&[u8], &[Warning])] = &[
            // Values that disagree (ignored on a response without body)
            // are not "repeated with one value".
            (
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                &[],
            ),
            (
                b"HTTP/1.1 204 No Content\r\nContent-Length: 2, 3\r\n\r\n",
                &[ContentLengthOnNoBodyStatus],
            ),
            (
                b"HTTP/1.1 304 Not Modified\r\nContent-Length: 02, 2\r\n\r\n",
                &[RepeatedContentLength],
            ),
            // A trailer value is a field value too.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: caf\xe9\r\n\r\n",
                &[NonAsciiHeaderValue, Trailers],
            ),
            // Trailers get the head's leniency for obs-fold.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n",
                &[ObsFold, Trailers],
            ),
            // An empty Transfer-Encoding names no coding: read until close.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\nzz",
                &[UnknownTransferCoding],
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\nzz",
                &[UnknownTransferCoding],
            ),
            // A coding name is trimmed as text: a no-break space (not
            // ASCII) after a known name still names it; other bytes that
            // are not ASCII make it unknown.
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\xc2\xa0\r\n\r\nzz",
                &[NonAsciiHeaderValue],
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\xe9\r\n\r\nzz",
                &[NonAsciiHeaderValue, UnknownTransferCoding],
            ),
            // A folded Content-Length is read unfolded.
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2,\r\n 2\r\n\r\nzz",
                &[ObsFold, RepeatedContentLength],
            ),
        ];
        for (input, expected) in table {
            let out = run(input);
            let text = String::from_utf8_lossy(input);
            assert_eq!(out.error(), None, "{text}");
            assert_eq!(warnings(&out), *expected, "{text}");
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run_pieces(&bytes, false, Limits::default()), out);
        }
    }

    #[test]
    fn non_utf8_reason_and_values_keep_their_exact_bytes() {
        let out = run(b"HTTP/1.1 200 \xc9t\xe9\r\nA: ok\r\nB: caf\xe9\r\n\r\n");
        let head = out.final_head().unwrap().0;
        assert_eq!(head.reason, "\u{fffd}t\u{fffd}");
        assert_eq!(head.reason_bytes.as_deref(), Some(&b"\xc9t\xe9"[..]));
        assert_eq!(head.headers[1].1, "caf\u{fffd}");
        assert_eq!(head.value_bytes, vec![(1, b"caf\xe9".to_vec())]);
        // UTF-8 is exact already: nothing extra is kept.
        let out = run(b"HTTP/1.1 200 \xc3\x89t\xc3\xa9\r\nB: caf\xc3\xa9\r\n\r\n");
        let head = out.final_head().unwrap().0;
        assert_eq!(
            (head.reason.as_str(), head.reason_bytes.as_ref()),
            ("\u{c9}t\u{e9}", None)
        );
        assert!(head.value_bytes.is_empty());
    }

    #[test]
    fn non_utf8_trailer_values_keep_their_exact_bytes() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            0\r\nA: ok\r\nB: caf\xe9\r\n \xff\r\n\r\n";
        let out = run(input);
        let exact = Event::TrailerBytes(vec![(1, b"caf\xe9 \xff".to_vec())]);
        assert_eq!(out.events.last(), Some(&exact), "{:?}", out.events);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run_pieces(&bytes, false, Limits::default()), out);
        // UTF-8 values are exact already: no second call.
        let out =
            run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nB: \xc3\xa9\r\n\r\n");
        assert!(!out
            .events
            .iter()
            .any(|e| matches!(e, Event::TrailerBytes(_))));
    }

    #[test]
    fn folded_lines_do_not_count_as_fields_against_the_limit() {
        let limits = limits_with(|l| l.max_headers = 2);
        let input = b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n c\r\nContent-Length: 2\r\n\r\nok";
        let out = run_with(input, false, limits);
        assert_eq!(out.error(), None);
        assert_eq!(out.body(), b"ok");
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run_pieces(&bytes, false, limits), out);
        // A third field is one too many.
        let input = b"HTTP/1.1 200 OK\r\nX: a\r\nY: b\r\nZ";
        assert_eq!(run_with(input, false, limits).fed, Err(Error::HeadTooLarge));
    }

    #[test]
    fn obs_fold_is_unfolded_with_one_space() {
        let out = run(b"HTTP/1.1 204 No\r\nX: a\r\n \t b\r\nY: c\n\td\r\n\r\n");
        let head = out.final_head().unwrap().0;
        assert_eq!(head.headers, fields(&[("X", "a b"), ("Y", "c d")]));
        // In trailers too (they used to be refused as malformed).
        let out =
            run(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n\tb\r\n\r\n");
        assert_eq!(out.error(), None);
        assert!(out
            .events
            .contains(&Event::Trailers(fields(&[("T", "a b")]))));
    }

    #[test]
    fn stray_crlf_before_the_status_line_is_skipped() {
        // aiohttp after 100 Continue; and a bare LF.
        let input =
            b"HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let out = run(input);
        assert_eq!(out.body(), b"ok");
        assert!(out.complete);
        assert_eq!(
            run(b"\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").error(),
            None
        );
        // Only empty lines, then close: the head was cut short.
        assert_eq!(run(b"\r\n\r\n").error(), Some(Error::TruncatedHead));
        // An endless run of them is bounded by the head size limit.
        let limits = limits_with(|l| l.max_head_bytes = 8);
        assert_eq!(
            run_with(&[b'\n'; 9], false, limits).fed,
            Err(Error::HeadTooLarge)
        );
    }

    #[test]
    fn field_count_limit_applies_before_the_section_ends() {
        let mut reader = ResponseReader::new(false, limits_with(|l| l.max_headers = 3));
        let mut sink = Recorder::default();
        let mut result = reader.feed(b"HTTP/1.1 200 OK\r\n", &mut sink);
        for _ in 0..3 {
            result = result.and_then(|_| reader.feed(b"A: 1\r\n", &mut sink));
        }
        assert!(result.is_ok());
        // The fourth field, no empty line yet: refused now, not later.
        assert_eq!(
            reader.feed(b"A: 1\r\n", &mut sink),
            Err(Error::HeadTooLarge)
        );
    }

    // ---- every split gives the same result -----------------------------

    /// A response, how to read it, and what must come out of it.
    struct Case {
        name: &'static str,
        input: &'static [u8],
        head_request: bool,
        limits: Limits,
        body: &'static [u8],
        error: Option<Error>,
    }

    fn case(
        name: &'static str,
        input: &'static [u8],
        body: &'static [u8],
        error: Option<Error>,
    ) -> Case {
        Case {
            name,
            input,
            head_request: false,
            limits: Limits::default(),
            body,
            error,
        }
    }

    fn cases() -> Vec<Case> {
        let small = Limits {
            max_head_bytes: 50,
            max_headers: 2,
            max_interim: 1,
            max_body: Some(5),
        };
        vec![
            case("content-length", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", b"hello", None),
            case(
                "chunked, extensions, trailers",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                  5;a=b\r\nhello\r\n1 ; c=\"d;e\"\r\n!\r\n0\r\nX-T: 1\r\nY: 2\r\n\r\nNEXT",
                b"hello!",
                None,
            ),
            case(
                "bare lf",
                b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\nA\n0123456789\n0\n\nNEXT",
                b"0123456789",
                None,
            ),
            case(
                "100-continue then 200",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                b"ok",
                None,
            ),
            Case {
                head_request: true,
                ..case("head", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nNEXT", b"", None)
            },
            case("204", b"HTTP/1.1 204 No Content\r\n\r\nNEXT", b"", None),
            case("304", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nNEXT", b"", None),
            case("101", b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\nproto", b"", None),
            case("close-delimited", b"HTTP/1.0 200 OK\r\n\r\nuntil\r\n\r\nclose", b"until\r\n\r\nclose", None),
            case(
                "te not chunked",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, br\r\nContent-Length: 1\r\n\r\nxyz",
                b"xyz",
                None,
            ),
            case("repeated cl", b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabcd", b"abc", None),
            case(
                "conflicting cl",
                b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
                b"",
                Some(Error::ConflictingContentLength),
            ),
            case(
                "bad cl",
                b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\nabc",
                b"",
                Some(Error::BadContentLength),
            ),
            case("not http", b"SSH-2.0-OpenSSH\r\n", b"", Some(Error::NotHttp)),
            case("bad head", b"HTTP/1.1 200 OK\r\nA B: c\r\n\r\n", b"", Some(Error::BadHead)),
            case(
                "bad chunk after data",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n",
                b"abc",
                Some(Error::BadChunk),
            ),
            case("empty", b"", b"", Some(Error::EmptyReply)),
            case("truncated head", b"HTTP/1.1 200 OK\r\n", b"", Some(Error::TruncatedHead)),
            case(
                "truncated sized body",
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
                b"abc",
                Some(Error::TruncatedBody {
                    received: 3,
                    expected: Some(9),
                }),
            ),
            case(
                "truncated chunked body",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc",
                b"abc",
                Some(Error::TruncatedBody {
                    received: 3,
                    expected: None,
                }),
            ),
            Case {
                limits: small,
                ..case(
                    "head too large",
                    b"HTTP/1.1 200 OK\r\nServer: a rather long name, really\r\n\r\n",
                    b"",
                    Some(Error::HeadTooLarge),
                )
            },
            Case {
                limits: small,
                ..case(
                    "too many interim",
                    b"HTTP/1.1 100 A\r\n\r\nHTTP/1.1 100 B\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
                    b"",
                    Some(Error::HeadTooLarge),
                )
            },
            Case {
                limits: small,
                ..case(
                    "chunked over the limit",
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n",
                    b"abcde",
                    Some(Error::BodyTooLarge { limit: 5 }),
                )
            },
            Case {
                limits: small,
                ..case(
                    "close-delimited over the limit",
                    b"HTTP/1.1 200 OK\r\n\r\n0123456789",
                    b"01234",
                    Some(Error::BodyTooLarge { limit: 5 }),
                )
            },
            Case {
                limits: small,
                ..case(
                    "content-length over the limit",
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n012345",
                    b"",
                    Some(Error::BodyTooLarge { limit: 5 }),
                )
            },
        ]
    }

    #[test]
    fn representative_responses_read_as_expected() {
        for c in cases() {
            let out = run_with(c.input, c.head_request, c.limits);
            assert_eq!(out.body(), c.body, "{}", c.name);
            assert_eq!(out.error(), c.error, "{}: {out:?}", c.name);
            assert_eq!(out.body_bytes, c.body.len() as u64, "{}", c.name);
        }
    }

    #[test]
    fn every_two_piece_split_reads_like_the_whole() {
        for c in cases() {
            let whole = run_with(c.input, c.head_request, c.limits);
            for at in 0..=c.input.len() {
                let (a, b) = c.input.split_at(at);
                let split = run_pieces(&[a, b], c.head_request, c.limits);
                assert_eq!(split, whole, "{} split at {at}", c.name);
            }
        }
    }

    #[test]
    fn byte_at_a_time_reads_like_the_whole() {
        for c in cases() {
            let whole = run_with(c.input, c.head_request, c.limits);
            let bytes: Vec<&[u8]> = c.input.chunks(1).collect();
            let split = run_pieces(&bytes, c.head_request, c.limits);
            assert_eq!(split, whole, "{} byte at a time", c.name);
        }
    }
}
