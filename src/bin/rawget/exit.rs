//! The one exit-code table, curl's numbers, and the matching `error.kind`
//! names of the JSON output. Both are a documented contract
//! (docs/rawget-flags.md, docs/rawget-output.md, CHANGELOG): change them
//! only with a CHANGELOG entry.

use std::io;

use rawnet::conn::proxy::ProxySpecError;
use rawnet::conn::{ProxyError, TunnelError};
use rawnet::http::client::FetchError;
use rawnet::http::response::Error as ResponseError;
use rawnet::http::target::UrlError;
use rawnet::http::tls::TlsError;

/// Exit statuses, numbered as curl numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    Ok = 0,
    UnsupportedProtocol = 1,
    Usage = 2,
    MalformedUrl = 3,
    /// The proxy's name gave no address.
    CannotResolveProxy = 5,
    CannotResolve = 6,
    CannotConnect = 7,
    MalformedResponse = 8,
    PartialBody = 18,
    /// `-f`: the server answered with status 400 or above.
    HttpError = 22,
    WriteError = 23,
    ReadError = 26,
    Timeout = 28,
    TlsHandshake = 35,
    /// `--interface` / `--local-port` could not be applied.
    InterfaceFailed = 45,
    TooManyRedirects = 47,
    EmptyReply = 52,
    SendError = 55,
    RecvError = 56,
    PeerCertificate = 60,
    TooLarge = 63,
    CaFile = 77,
    /// The SOCKS5 handshake failed (curl's CURLE_PROXY).
    ProxyHandshake = 97,
}

/// Any failure of one URL: its kind name for JSON, and its exit status.
pub trait Classify {
    /// `error.kind` in the JSON output.
    fn kind(&self) -> &'static str;
    /// The process exit status it leads to.
    fn exit(&self) -> Exit;
}

impl Classify for UrlError {
    fn kind(&self) -> &'static str {
        match self {
            UrlError::Malformed { .. } => "malformed_url",
            UrlError::UnsupportedScheme { .. } => "unsupported_protocol",
        }
    }

    fn exit(&self) -> Exit {
        match self {
            UrlError::Malformed { .. } => Exit::MalformedUrl,
            UrlError::UnsupportedScheme { .. } => Exit::UnsupportedProtocol,
        }
    }
}

impl Classify for FetchError {
    fn kind(&self) -> &'static str {
        match self {
            FetchError::Resolve(_) => "resolve",
            FetchError::Connect { .. } => "connect",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Send(_) => "send",
            FetchError::Body(_) => "read",
            FetchError::Tls(TlsError::CaFile { .. }) => "ca_file",
            FetchError::Tls(TlsError::Certificate(_)) => "certificate",
            FetchError::Tls(_) => "tls",
            FetchError::TooManyRedirects { .. } => "too_many_redirects",
            FetchError::Recv(_) => "recv",
            FetchError::Response(e) => response_kind(e),
            FetchError::Output(_) => "write",
            FetchError::Proxy(e) => proxy_kind(e),
            FetchError::Bind(_) => "interface",
            FetchError::Unix { .. } => "connect",
            _ => "other",
        }
    }

    fn exit(&self) -> Exit {
        match self {
            FetchError::Resolve(_) => Exit::CannotResolve,
            FetchError::Connect { .. } => Exit::CannotConnect,
            FetchError::Timeout { .. } => Exit::Timeout,
            FetchError::Send(_) => Exit::SendError,
            FetchError::Body(_) => Exit::ReadError,
            FetchError::Tls(TlsError::CaFile { .. }) => Exit::CaFile,
            FetchError::Tls(TlsError::Certificate(_)) => Exit::PeerCertificate,
            FetchError::Tls(_) => Exit::TlsHandshake,
            FetchError::TooManyRedirects { .. } => Exit::TooManyRedirects,
            FetchError::Recv(_) => Exit::RecvError,
            FetchError::Response(e) => response_exit(e),
            FetchError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => Exit::Ok,
            FetchError::Output(_) => Exit::WriteError,
            FetchError::Proxy(e) => proxy_exit(e),
            FetchError::Bind(_) => Exit::InterfaceFailed,
            FetchError::Unix { .. } => Exit::CannotConnect,
            _ => Exit::RecvError,
        }
    }
}

fn proxy_kind(e: &ProxyError) -> &'static str {
    match e {
        ProxyError::Spec(ProxySpecError::UnsupportedScheme { .. }) => "proxy_scheme",
        ProxyError::Spec(_) | ProxyError::Resolve(_) => "proxy_resolve",
        ProxyError::Connect { .. } => "proxy_connect",
        ProxyError::Tls(TlsError::Certificate(_)) => "proxy_certificate",
        ProxyError::Tls(TlsError::CaFile { .. }) => "proxy_ca_file",
        ProxyError::Tls(_) => "proxy_tls",
        ProxyError::Tunnel(TunnelError::Refused { .. }) => "proxy_refused",
        ProxyError::Tunnel(_) => "proxy_tunnel",
        ProxyError::Socks(_) => "proxy_socks",
        _ => "proxy",
    }
}

/// curl's numbers: 5 cannot resolve the proxy, 7 cannot connect to it
/// (or an unsupported proxy scheme), 35/60/77 for its TLS, 56 a CONNECT
/// refused or broken, 97 a SOCKS failure.
fn proxy_exit(e: &ProxyError) -> Exit {
    match e {
        ProxyError::Spec(ProxySpecError::UnsupportedScheme { .. }) => Exit::CannotConnect,
        ProxyError::Spec(_) | ProxyError::Resolve(_) => Exit::CannotResolveProxy,
        ProxyError::Connect { .. } => Exit::CannotConnect,
        ProxyError::Tls(TlsError::Certificate(_)) => Exit::PeerCertificate,
        ProxyError::Tls(TlsError::CaFile { .. }) => Exit::CaFile,
        ProxyError::Tls(_) => Exit::TlsHandshake,
        ProxyError::Tunnel(_) => Exit::RecvError,
        ProxyError::Socks(_) => Exit::ProxyHandshake,
        _ => Exit::RecvError,
    }
}

fn response_kind(e: &ResponseError) -> &'static str {
    match e {
        ResponseError::EmptyReply => "empty_reply",
        ResponseError::NotHttp => "not_http",
        ResponseError::BadHead => "bad_head",
        ResponseError::HeadTooLarge => "head_too_large",
        ResponseError::BadContentLength => "bad_content_length",
        ResponseError::ConflictingContentLength => "conflicting_content_length",
        ResponseError::BadChunk => "bad_chunk",
        ResponseError::TruncatedHead => "truncated_head",
        ResponseError::TruncatedBody { .. } => "partial_body",
        ResponseError::BodyTooLarge { .. } => "too_large",
        _ => "malformed_response",
    }
}

fn response_exit(e: &ResponseError) -> Exit {
    match e {
        ResponseError::EmptyReply => Exit::EmptyReply,
        ResponseError::BadChunk => Exit::RecvError,
        ResponseError::TruncatedBody { .. } => Exit::PartialBody,
        ResponseError::BodyTooLarge { .. } => Exit::TooLarge,
        _ => Exit::MalformedResponse,
    }
}
