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
//! It stops as soon as the message is complete: [`ResponseReader::feed`]
//! returns how many bytes belonged to the message, and
//! [`ResponseReader::is_complete`] says the caller must not wait for more,
//! so a server that keeps the connection open never makes us hang.
//!
//! Memory is bounded: the header section (and the trailer section) is
//! limited in bytes and in field count by [`Limits`], and body bytes are
//! never buffered here, only passed through to the sink.

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
    /// Decoded body bytes (chunk framing removed), in order.
    fn body(&mut self, data: &[u8]);
    /// Trailer fields that followed a chunked body, in received order.
    fn trailers(&mut self, _trailers: &[(String, String)]) {}
}

/// Why a response could not be read. Each maps to one curl exit code in
/// the binary.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The connection closed before a single byte arrived.
    EmptyReply,
    /// The first bytes are not `HTTP/1.x`.
    NotHttp,
    /// The status line or a header field is malformed.
    BadHead,
    /// The header (or trailer) section exceeds [`Limits`].
    HeadTooLarge,
    /// A `Content-Length` value is not a plain decimal number.
    BadContentLength,
    /// Several `Content-Length` values disagree.
    ConflictingContentLength,
    /// A chunk-size line or a chunk terminator is malformed.
    BadChunk,
    /// The connection closed inside the head.
    TruncatedHead,
    /// The connection closed before the announced body was complete.
    TruncatedBody {
        /// Decoded body bytes received.
        received: u64,
        /// Bytes announced by `Content-Length`, when known.
        expected: Option<u64>,
    },
    /// The body is larger than [`Limits::max_body`].
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        todo!()
    }
}

impl std::error::Error for Error {}

/// The push parser. See the module docs.
#[derive(Debug)]
pub struct ResponseReader {
    _todo: (),
}

impl ResponseReader {
    /// A reader for the response to a request; `head_request` is true
    /// when the request method was HEAD (the response then has no body).
    pub fn new(head_request: bool, limits: Limits) -> Self {
        todo!()
    }

    /// Feeds the next bytes from the connection.
    ///
    /// Returns how many bytes of `input` belong to the response: all of
    /// them, unless the message completed inside `input` (the rest is not
    /// part of it). After an error or completion, further calls return
    /// `Ok(0)` or the same error.
    pub fn feed<S: Sink>(&mut self, input: &[u8], sink: &mut S) -> Result<usize, Error> {
        todo!()
    }

    /// Tells the reader that the peer closed the connection. A
    /// close-delimited body ends here; anything else incomplete is an error.
    pub fn eof<S: Sink>(&mut self, sink: &mut S) -> Result<(), Error> {
        todo!()
    }

    /// True once the whole message has been read.
    pub fn is_complete(&self) -> bool {
        todo!()
    }

    /// True once any byte has been received (an empty reply is an error of
    /// its own).
    pub fn started(&self) -> bool {
        todo!()
    }

    /// Decoded body bytes so far.
    pub fn body_bytes(&self) -> u64 {
        todo!()
    }
}
