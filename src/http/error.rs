//! Why a response could not be read: the error of the response reader
//! and of the chunked decoder under it, in a module of its own so that
//! neither imports the other for it.

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
    /// The header (or trailer) section exceeds [`super::response::Limits`].
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
    /// The body is larger than [`super::response::Limits::max_body`].
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Error::EmptyReply => f.write_str("empty reply from server"),
            Error::NotHttp => f.write_str("the reply is not an HTTP/1.x response"),
            Error::BadHead => f.write_str("malformed status line or header field"),
            Error::HeadTooLarge => f.write_str(
                "response head exceeds the limit on its size, field count or interim responses",
            ),
            Error::BadContentLength => f.write_str("invalid Content-Length value"),
            Error::ConflictingContentLength => f.write_str("conflicting Content-Length values"),
            Error::BadChunk => f.write_str("malformed chunked encoding"),
            Error::TruncatedHead => f.write_str("connection closed inside the response head"),
            Error::TruncatedBody {
                received,
                expected: Some(expected),
            } => write!(
                f,
                "connection closed after {received} of {expected} body bytes"
            ),
            Error::TruncatedBody {
                received,
                expected: None,
            } => write!(
                f,
                "connection closed before the end of the body ({received} bytes received)"
            ),
            Error::BodyTooLarge { limit } => {
                write!(f, "body exceeds the size limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for Error {}
