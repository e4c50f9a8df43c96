//! HTTP/1.1 on top of a byte stream: the request we send and the response
//! we read.
//!
//! - [`target`]: what the user typed (`host`, `host:port`, a URL) turned
//!   into scheme, host, port and request target.
//! - [`request`]: the request bytes, built by hand.
//! - [`response`]: a push parser that reads the response head with
//!   `httparse` and decides the body framing itself (RFC 9112 section 6.3).
//!
//! Nothing here touches a socket: the caller owns I/O, timing and output.

mod chunked;
pub mod request;
pub mod response;
mod section;
pub mod target;
