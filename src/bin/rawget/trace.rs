//! `-v`: the request bytes and every socket step, with its time, on
//! stderr, curl style (`*` for steps, `>` for what we sent).

use std::io::{self, Write};
use std::time::Duration;

use rawnet::conn::{ProxyKind, ProxyStep, SocksStep};
use rawnet::http::client::{self, Step};
use rawnet::http::cookies::CookieNote;
use rawnet::http::lint::Warning;
use rawnet::http::tls::TlsStep;
use rawnet::sanitize::{escape_bytes, escape_str};

/// Writes trace lines for one URL to stderr, tagged with the URL's
/// position when several URLs run at once.
pub struct Tracer {
    tag: String,
}

impl Tracer {
    pub fn new(index: Option<usize>) -> Tracer {
        Tracer {
            tag: index.map(|i| format!("[{}] ", i + 1)).unwrap_or_default(),
        }
    }

    pub fn step(&self, at: Duration, step: &Step<'_>) {
        let mut text = String::new();
        let ms = at.as_secs_f64() * 1000.0;
        let line = describe(step);
        // A step of several lines (a certificate chain): every line gets
        // the URL's tag.
        let line = line.replace('\n', &format!("\n{}", self.tag));
        text.push_str(&format!("{}* [{ms:9.3} ms] {line}\n", self.tag));
        if let Step::Sent { request, .. } = step {
            for l in head_lines(request) {
                text.push_str(&format!("{}> {}\n", self.tag, escape_bytes(l)));
            }
        }
        // One write per step keeps lines of parallel URLs from interleaving
        // mid-line; a failing stderr is nothing we can report anywhere.
        let _ = io::stderr().lock().write_all(text.as_bytes());
    }
}

impl Tracer {
    /// One linter warning, `! code: message`.
    pub fn warning(&self, warning: Warning) {
        let line = format!("{}! {}: {}\n", self.tag, warning.code(), warning.message());
        let _ = io::stderr().lock().write_all(line.as_bytes());
    }
}

fn describe(step: &Step<'_>) -> String {
    match step {
        Step::Resolving { host } => format!("resolving {host}"),
        Step::Resolved { addrs } => {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            format!("resolved to {}", list.join(", "))
        }
        Step::Connecting { addr, racing: 0 } => format!("socket() + connect({addr})"),
        Step::Connecting { addr, racing } => format!(
            "socket() + connect({addr}): happy eyeballs, {racing} earlier attempt(s) unanswered after {} ms",
            client::STAGGER.as_millis()
        ),
        Step::ConnectAbandoned { addr } => {
            format!("connect({addr}) abandoned: another address answered first; close()")
        }
        Step::ConnectFailed { addr, error } => format!("connect({addr}) failed: {error}"),
        Step::Connected { local, peer } => match local {
            Some(local) => format!("connected {local} -> {peer}"),
            None => format!("connected to {peer}"),
        },
        Step::Tls(tls) => describe_tls(tls),
        Step::Redirect {
            status,
            location,
            method,
            credentials,
        } => format!(
            "{status}: following the redirect to {} with {method}{}",
            escape_str(location),
            if *credentials {
                ""
            } else {
                " (credentials not sent: another host)"
            }
        ),
        Step::Sent { sent, total, .. } if sent < total => {
            format!("send() {sent} of {total} bytes: the server answered first, reading its answer")
        }
        Step::Sent { sent, .. } => format!("send() {sent} bytes:"),
        Step::Received { bytes } => format!("recv() {bytes} bytes"),
        Step::PeerClosed => "recv() 0: the server closed the connection".to_owned(),
        Step::StoppedAtHead => {
            "--fail: status 400 or above, the body is not read; close()".to_owned()
        }
        Step::Complete { body_bytes } => format!("response complete ({body_bytes} body bytes)"),
        Step::UnixConnected { path } => {
            format!("connected to the Unix socket {}", escape_str(&path.to_string_lossy()))
        }
        Step::Proxy(p) => describe_proxy(p),
        Step::Reused { id, served, .. } => format!(
            "reusing connection #{id} (kept alive, {served} earlier request(s)): no connect, no handshake"
        ),
        Step::Retrying { id } => format!(
            "connection #{id} was closed by the server while kept idle; sending again on a new connection"
        ),
        Step::Kept { id } => format!("connection #{id} kept alive for the next request"),
        Step::Closed { id } => format!("connection #{id}: close()"),
        Step::Cookie(note) => describe_cookie(note),
        other => format!("{other:?}"),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A cookie the server set, as curl's -v says it (the value left out).
fn describe_cookie(note: &CookieNote) -> String {
    match note {
        CookieNote::Stored {
            name,
            domain,
            path,
            expires,
        } if expires.is_some_and(|t| t <= now_unix()) => {
            format!("cookie {} expired: removed", escape_str(name))
        }
        CookieNote::Stored {
            name,
            domain,
            path,
            expires,
        } => format!(
            "cookie {} stored for {}, path {}, {}",
            escape_str(name),
            escape_str(domain),
            escape_str(path),
            match expires {
                Some(t) => format!("expires {t} (Unix time)"),
                None => "until the session ends".to_owned(),
            }
        ),
        CookieNote::Refused { name, reason } => {
            format!("cookie {} refused: {reason}", escape_str(name))
        }
        other => format!("{other:?}"),
    }
}

fn describe_proxy(step: &ProxyStep<'_>) -> String {
    match step {
        ProxyStep::Via { proxy, tunnel } => format!(
            "proxy {}: {}",
            escape_str(&proxy.to_string()),
            match (tunnel, proxy.kind) {
                (false, _) => "requests in absolute form, forwarded by the proxy",
                (true, ProxyKind::Socks5 { .. }) => "SOCKS5 tunnel to the origin",
                (true, _) => "CONNECT tunnel to the origin",
            }
        ),
        // The proxy's certificate check is skipped by --proxy-insecure.
        ProxyStep::Tls(t) => {
            format!("proxy {}", describe_tls(t)).replace("(-k/--insecure)", "(--proxy-insecure)")
        }
        ProxyStep::ConnectSent { request } => {
            let mut text = "proxy: CONNECT request sent:".to_owned();
            for l in head_lines(request) {
                text.push_str(&format!("\n> {}", escape_bytes(l)));
            }
            text
        }
        ProxyStep::ConnectReply { status, reason } => {
            format!("proxy answered CONNECT: {status} {}", escape_str(reason))
        }
        ProxyStep::Socks(s) => {
            match s {
                SocksStep::Greeting { methods } => {
                    format!("SOCKS5 greeting sent, methods offered: {methods:?} (0 none, 2 user/password)")
                }
                SocksStep::Method { method } => format!("SOCKS5 proxy chose method {method}"),
                SocksStep::Authenticated => "SOCKS5 user/password accepted".to_owned(),
                SocksStep::Request { target } => {
                    format!("SOCKS5 CONNECT {} sent", escape_str(&target.to_string()))
                }
                SocksStep::Granted { bound } => match bound {
                    Some(b) => format!("SOCKS5 proxy connected (bound {b})"),
                    None => "SOCKS5 proxy connected".to_owned(),
                },
                other => format!("{other:?}"),
            }
        }
        ProxyStep::TunnelReady { host, port } => {
            format!("tunnel to {}:{port} open", escape_str(host))
        }
        other => format!("{other:?}"),
    }
}

fn describe_tls(step: &TlsStep<'_>) -> String {
    match step {
        TlsStep::Hello { sni, alpn } => format!(
            "TLS ClientHello sent (SNI {}, ALPN offered: {alpn})",
            sni.unwrap_or("none: address literal")
        ),
        TlsStep::Certificates {
            certs,
            error,
            insecure,
        } => {
            let mut text = format!("TLS server certificate chain ({}):", certs.len());
            for (i, c) in certs.iter().enumerate() {
                text.push_str(&format!(
                    "\n*   {i}: subject: {}\n*      issuer: {}\n*      SANs: {}\n*      not after: {}",
                    escape_str(&c.subject),
                    escape_str(&c.issuer),
                    escape_str(&c.sans.join(", ")),
                    c.not_after
                ));
            }
            text.push_str(&match (error, insecure) {
                (None, false) => "\n* TLS certificate verified".to_owned(),
                (None, true) => {
                    "\n* TLS certificate verified (-k/--insecure: not required)".to_owned()
                }
                (Some(e), false) => format!("\n* TLS certificate NOT verified: {}", escape_str(e)),
                (Some(e), true) => format!(
                    "\n* TLS certificate NOT verified: {}; continuing anyway (-k/--insecure)",
                    escape_str(e)
                ),
            });
            text
        }
        TlsStep::Done { info } => format!(
            "TLS handshake complete: {}, cipher {}, ALPN {}",
            info.version,
            info.cipher,
            info.alpn
                .as_deref()
                .unwrap_or("none (server chose no protocol)")
        ),
        other => format!("{other:?}"),
    }
}

/// The request head split into lines (CRLF removed); the body is not
/// echoed, only counted in the step line.
fn head_lines(request: &[u8]) -> impl Iterator<Item = &[u8]> {
    let head_end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |p| p + 2);
    request[..head_end]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_lines_stop_at_the_body() {
        let lines: Vec<&[u8]> =
            head_lines(b"GET / HTTP/1.1\r\nHost: h\r\n\r\nbody\r\nmore").collect();
        assert_eq!(lines, vec![&b"GET / HTTP/1.1"[..], b"Host: h"]);
    }
}
