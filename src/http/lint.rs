//! The response linter's vocabulary: every leniency the reader applies
//! and every protocol oddity it notices, as a [`Warning`] with a stable
//! code and a one-line message.
//!
//! Why a separate module: the reader ([`super::response`]) decides *when*
//! a warning applies; this module only names them, so the codes, which are
//! a documented contract (docs/rawget-http.md, CHANGELOG), live in one
//! place and can be listed, tested and documented from it. A warning never changes
//! what is read: the reader accepts the response as it would without
//! warnings; a caller that wants strictness (`rawget --strict`) decides
//! what to do with them.

use std::fmt;

/// One thing a server did that HTTP/1.1 (RFC 9110, RFC 9112) forbids,
/// discourages, or leaves to the client's leniency.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Warning {
    /// Both `Content-Length` and `Transfer-Encoding` in one response.
    ContentLengthWithTransferEncoding,
    /// `Content-Length` given more than once (with the same value).
    RepeatedContentLength,
    /// `Transfer-Encoding` in an HTTP/1.0 response.
    TransferEncodingInHttp10,
    /// A header field folded over several lines (obs-fold).
    ObsFold,
    /// A line ended by LF alone, not CR LF.
    BareLf,
    /// Empty line(s) before a status line.
    EmptyLineBeforeStatus,
    /// A status line without a reason phrase.
    MissingReasonPhrase,
    /// Bytes outside ASCII in a header field value.
    NonAsciiHeaderValue,
    /// Bytes after a 204 or 304 head, which has no body.
    BodyOnNoContentResponse,
    /// Bytes after the end of the message on the connection.
    ExtraBytesAfterMessage,
    /// `Content-Length` on a 1xx or 204 response.
    ContentLengthOnNoBodyStatus,
    /// A chunk extension in a chunked body.
    ChunkExtension,
    /// Trailer fields after a chunked body.
    Trailers,
    /// A transfer coding that is not registered (chunked, compress,
    /// deflate, gzip and their x- forms).
    UnknownTransferCoding,
    /// A status code outside 100-599.
    StatusOutOfRange,
    /// A body delimited by the end of the connection arrived over TLS
    /// without the server's `close_notify`: it may be truncated.
    MissingCloseNotify,
}

impl Warning {
    /// Every warning, in the order of the table in docs/rawget-http.md.
    pub const ALL: [Warning; 16] = [
        Warning::ContentLengthWithTransferEncoding,
        Warning::RepeatedContentLength,
        Warning::TransferEncodingInHttp10,
        Warning::ObsFold,
        Warning::BareLf,
        Warning::EmptyLineBeforeStatus,
        Warning::MissingReasonPhrase,
        Warning::NonAsciiHeaderValue,
        Warning::BodyOnNoContentResponse,
        Warning::ExtraBytesAfterMessage,
        Warning::ContentLengthOnNoBodyStatus,
        Warning::ChunkExtension,
        Warning::Trailers,
        Warning::UnknownTransferCoding,
        Warning::StatusOutOfRange,
        Warning::MissingCloseNotify,
    ];

    /// The stable code (a contract: never renamed or reused).
    pub fn code(self) -> &'static str {
        match self {
            Warning::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            Warning::RepeatedContentLength => "repeated_content_length",
            Warning::TransferEncodingInHttp10 => "transfer_encoding_in_http10",
            Warning::ObsFold => "obs_fold",
            Warning::BareLf => "bare_lf",
            Warning::EmptyLineBeforeStatus => "empty_line_before_status",
            Warning::MissingReasonPhrase => "missing_reason_phrase",
            Warning::NonAsciiHeaderValue => "non_ascii_header_value",
            Warning::BodyOnNoContentResponse => "body_on_no_content_response",
            Warning::ExtraBytesAfterMessage => "extra_bytes_after_message",
            Warning::ContentLengthOnNoBodyStatus => "content_length_on_no_body_status",
            Warning::ChunkExtension => "chunk_extension",
            Warning::Trailers => "trailers",
            Warning::UnknownTransferCoding => "unknown_transfer_coding",
            Warning::StatusOutOfRange => "status_out_of_range",
            Warning::MissingCloseNotify => "missing_close_notify",
        }
    }

    /// What happened and what the reader did, in one line.
    pub fn message(self) -> &'static str {
        match self {
            Warning::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding: Transfer-Encoding wins \
                 (RFC 9112 6.3: a sign of request smuggling or response splitting)"
            }
            Warning::RepeatedContentLength => {
                "Content-Length is repeated (same value): accepted as one"
            }
            Warning::TransferEncodingInHttp10 => {
                "Transfer-Encoding in an HTTP/1.0 response (RFC 9112 6.1 calls the framing \
                 faulty): honoured"
            }
            Warning::ObsFold => {
                "header field folded over lines (obs-fold, RFC 9112 5.2): unfolded with spaces"
            }
            Warning::BareLf => "line ended by a bare LF instead of CRLF: accepted",
            Warning::EmptyLineBeforeStatus => "empty line before the status line: skipped",
            Warning::MissingReasonPhrase => "status line without a reason phrase",
            Warning::NonAsciiHeaderValue => "non-ASCII bytes in a header field value",
            Warning::BodyOnNoContentResponse => {
                "bytes after a 204 or 304 response, which has no body: ignored"
            }
            Warning::ExtraBytesAfterMessage => {
                "bytes after the end of the message on the connection: ignored"
            }
            Warning::ContentLengthOnNoBodyStatus => {
                "Content-Length on a 1xx or 204 response (RFC 9110 8.6 forbids it): ignored"
            }
            Warning::ChunkExtension => "chunk extension in the chunked body: ignored",
            Warning::Trailers => "trailer fields after the chunked body",
            Warning::UnknownTransferCoding => {
                "unknown transfer coding: the body is read until the connection closes"
            }
            Warning::StatusOutOfRange => "status code outside 100-599",
            Warning::MissingCloseNotify => {
                "the connection closed without a TLS close_notify: a close-delimited body \
                 may be truncated"
            }
        }
    }

    /// A bit of its own, for "reported once" sets.
    pub(crate) fn bit(self) -> u32 {
        1 << (Warning::ALL.iter().position(|w| *w == self).unwrap_or(31) as u32)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case_and_messages_one_line() {
        let mut codes: Vec<&str> = Warning::ALL.iter().map(|w| w.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Warning::ALL.len());
        for w in Warning::ALL {
            assert!(w
                .code()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()));
            assert!(!w.message().contains('\n') && !w.message().ends_with('.'));
        }
    }
}
