//! HTTP/1.1 on top of a byte stream: the request we send and the response
//! we read.
//!
//! - [`target`]: what the user typed (`host`, `host:port`, a URL) turned
//!   into host, port and request target.
//! - [`request`]: the request bytes, built by hand; [`body`]: the request
//!   body, streamed from its source; [`multipart`]: `-F` forms as such a
//!   body.
//! - [`response`]: a push parser that reads the response head with
//!   `httparse` and decides the body framing itself (RFC 9112 section 6.3);
//!   its [`response::Error`] lives in `error`, shared with the chunked
//!   decoder.
//! - [`client`]: one exchange on a connection from [`crate::conn`] (new,
//!   or kept alive from an earlier exchange): send, read until the message
//!   is complete, with time limits and a timing breakdown.
//!
//! - [`splitter`]: where each request of a `--send` file ends and how
//!   its response is framed (bytes only, nothing changed).
//! - [`pipeline`]: several requests on one connection, pipelined or one
//!   after another, each answer read with the framing its request implies.
//! - [`timeline`]: every connect attempt and phase as data, and
//!   statistics over repeated runs; [`server_timing`]: the server's own
//!   `Server-Timing` account.
//! - [`compare`]: where the answers of several servers to the same bytes
//!   differ (pure data).
//! - [`decode`]: `Content-Encoding` undone as a stream (`--compressed`).
//! - [`route`]: `--resolve` and `--connect-to`, where a URL really goes.
//! - [`redirect`]: `-L`, a loop of exchanges over one deadline.
//! - [`cookies`]: curl's cookie engine and its Netscape file format
//!   (pure: the binary reads and writes the files).
//! - [`transport`]: the byte stream under the exchange: plain TCP, or
//!   [`tls`] (rustls) on top of it.
//!
//! Only [`client`], [`pipeline`], [`transport`] and [`tls`] (with
//! [`crate::conn`] below them) touch a connection; the parsers are pure, so
//! they can be tested byte by byte and fuzzed.

pub mod body;
mod chunked;
pub mod client;
pub mod compare;
pub mod cookies;
pub mod decode;
mod error;
pub mod lint;
pub mod multipart;
pub mod pipeline;
pub mod redirect;
pub mod request;
pub mod response;
pub mod route;
mod section;
pub mod server_timing;
pub mod splitter;
pub mod target;
pub mod timeline;
pub mod tls;
mod tls_curl;
pub mod transport;
