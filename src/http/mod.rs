//! HTTP/1.1 on top of a byte stream: the request we send and the response
//! we read.
//!
//! - [`target`]: what the user typed (`host`, `host:port`, a URL) turned
//!   into host, port and request target.
//! - [`request`]: the request bytes, built by hand; [`body`]: the request
//!   body, streamed from its source.
//! - [`response`]: a push parser that reads the response head with
//!   `httparse` and decides the body framing itself (RFC 9112 section 6.3);
//!   its [`response::Error`] lives in `error`, shared with the chunked
//!   decoder.
//! - [`client`]: one exchange over a socket of our own (resolve, connect,
//!   send, read until the message is complete) with time limits and a
//!   timing breakdown.
//!
//! - [`route`]: `--resolve` and `--connect-to`, where a URL really goes.
//! - [`redirect`]: `-L`, a loop of exchanges over one deadline.
//! - [`transport`]: the byte stream under the exchange: plain TCP, or
//!   [`tls`] (rustls) on top of it.
//!
//! Only [`client`] and [`transport`] touch a socket; the parsers are pure, so they can be
//! tested byte by byte and fuzzed.

pub mod body;
mod chunked;
pub mod client;
mod error;
pub mod lint;
pub mod redirect;
pub mod request;
pub mod response;
pub mod route;
mod section;
pub mod target;
pub mod tls;
pub mod transport;
