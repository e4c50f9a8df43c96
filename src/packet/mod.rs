//! The packets of a SYN scan as bytes, apart from the sockets that send
//! and receive them ([`crate::rawsock`]): building our TCP SYN
//! ([`syn`]) and the ICMP echo request of privileged host discovery
//! ([`echo`]), the stateless proof they carry ([`cookie`]), reading
//! what comes back ([`reply`]), and the socket filter that sheds what
//! cannot be an answer before it is read ([`filter`]).
//!
//! Nothing here opens a socket, reads a clock or keeps state between
//! packets: every function maps bytes to bytes or to a typed value, so
//! each is tested on packets built in the test, including forged,
//! truncated and garbage ones.

pub mod cookie;
pub mod echo;
pub mod filter;
pub mod reply;
pub mod syn;

pub use cookie::{Cookie, CookieKey};
pub use echo::{echo_request, ECHO_LEN};
pub use reply::{Answer, AnswerKind, Validator};
pub use syn::{ipv4_syn_packet, syn_segment, IPV4_SYN_LEN, SYN_LEN};
