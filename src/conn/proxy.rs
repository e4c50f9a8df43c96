//! Which proxy a URL goes through, decided as curl decides it: pure
//! functions over what was typed and the environment, no socket.
//!
//! - `-x`/`--proxy` wins over the environment; `-x ""` turns proxies off.
//! - Otherwise the environment: `http_proxy` for `http://` (lower case
//!   only: `HTTP_PROXY` can be set by a web server's CGI environment, the
//!   "httpoxy" attack, so curl ignores it), `https_proxy` then
//!   `HTTPS_PROXY` for `https://`, then `all_proxy`, then `ALL_PROXY`.
//!   An empty value counts as unset.
//! - `--noproxy` (or else `no_proxy`, then `NO_PROXY`) lists hosts that go
//!   direct, whichever way the proxy was chosen ([`NoProxy`]).
//! - A proxy string without a scheme is `http://`; without a port it is
//!   1080, or 443 for `https://`. `socks5://` resolves the origin here and
//!   sends its address, `socks5h://` sends the name for the proxy to
//!   resolve. `user:password@` in the proxy string, or `--proxy-user`,
//!   authenticate to the proxy only.

use std::fmt;
use std::net::IpAddr;

use url::Url;

/// What kind of proxy, by its URL scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// `http://`: CONNECT tunnels, or absolute-form requests for plain
    /// HTTP.
    Http,
    /// `https://`: the same, inside TLS to the proxy.
    Https,
    /// `socks5://` (`remote_dns: false`) or `socks5h://` (`true`).
    Socks5 {
        /// The proxy resolves the origin's name.
        remote_dns: bool,
    },
}

impl ProxyKind {
    /// The URL scheme.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        }
    }

    /// True for the HTTP proxies (plain or TLS).
    pub fn is_http(self) -> bool {
        matches!(self, ProxyKind::Http | ProxyKind::Https)
    }
}

/// One proxy, parsed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    /// Its kind.
    pub kind: ProxyKind,
    /// Host name (lower case) or address literal, without brackets.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `user:password` for the proxy (never sent to an origin).
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    /// Never shows the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|c| &c.0))
            .finish()
    }
}

impl fmt::Display for Proxy {
    /// `scheme://host:port`, without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.kind.scheme(), self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.kind.scheme(), self.host, self.port)
        }
    }
}

/// A proxy string that cannot be used (curl: exit 5 for a bad host, 7 for
/// an unsupported scheme).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxySpecError {
    /// The scheme is not one rawget speaks (socks4, or unknown).
    UnsupportedScheme {
        /// The proxy string, credentials removed.
        proxy: String,
    },
    /// Not a URL with a host.
    Malformed {
        /// The proxy string, credentials removed.
        proxy: String,
    },
}

impl fmt::Display for ProxySpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySpecError::UnsupportedScheme { proxy } => write!(
                f,
                "unsupported proxy scheme in '{proxy}' (rawget speaks http://, https://, \
                 socks5:// and socks5h:// proxies)"
            ),
            ProxySpecError::Malformed { proxy } => write!(f, "malformed proxy '{proxy}'"),
        }
    }
}

impl std::error::Error for ProxySpecError {}

/// The proxy string with any `user:password@` cut out, for messages.
fn redacted(s: &str) -> String {
    let (scheme, rest) = match s.find("://") {
        Some(i) => (&s[..i + 3], &s[i + 3..]),
        None => ("", s),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => s.to_owned(),
    }
}

impl std::str::FromStr for Proxy {
    type Err = ProxySpecError;

    /// Parses a proxy string as curl takes it.
    ///
    /// ```
    /// use rawnet::conn::proxy::{Proxy, ProxyKind};
    /// let p: Proxy = "127.0.0.1:3128".parse().unwrap();
    /// assert_eq!((p.kind, p.port), (ProxyKind::Http, 3128));
    /// let p: Proxy = "socks5h://u:p@[::1]".parse().unwrap();
    /// assert_eq!((p.host.as_str(), p.port), ("::1", 1080));
    /// assert_eq!(p.credentials, Some(("u".into(), "p".into())));
    /// assert_eq!("https://proxy.test".parse::<Proxy>().unwrap().port, 443);
    /// assert!("socks4://h".parse::<Proxy>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Proxy, ProxySpecError> {
        let malformed = || ProxySpecError::Malformed { proxy: redacted(s) };
        let with_scheme = if s.contains("://") {
            s.to_owned()
        } else {
            format!("http://{s}")
        };
        let scheme_end = with_scheme.find("://").ok_or_else(malformed)?;
        let kind = match with_scheme[..scheme_end].to_ascii_lowercase().as_str() {
            "http" => ProxyKind::Http,
            "https" => ProxyKind::Https,
            "socks5" => ProxyKind::Socks5 { remote_dns: false },
            "socks5h" => ProxyKind::Socks5 { remote_dns: true },
            _ => return Err(ProxySpecError::UnsupportedScheme { proxy: redacted(s) }),
        };
        // The url crate treats http(s) as special (IDNA, lower case); the
        // socks schemes are parsed as http to get the same host rules.
        let as_http = format!("http{}", &with_scheme[scheme_end..]);
        let url = Url::parse(&as_http).map_err(|_| malformed())?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(malformed)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        // url drops the scheme's default port (80 for the http we gave
        // it), so an explicit :80 is read back from the text.
        let port = match url.port() {
            Some(p) => p,
            None if explicit_port_80(&with_scheme[scheme_end + 3..]) => 80,
            None if kind == ProxyKind::Https => 443,
            None => 1080,
        };
        let credentials = (!url.username().is_empty()).then(|| {
            (
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or("")),
            )
        });
        Ok(Proxy {
            kind,
            host,
            port,
            credentials,
        })
    }
}

/// True when the authority part (before any `/`) ends in `:80`.
fn explicit_port_80(rest: &str) -> bool {
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    host_port.ends_with(":80")
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// curl's `NO_PROXY` list: hosts that are reached directly.
///
/// Entries are separated by commas or white space. `*` alone matches
/// every host. A name entry matches the host itself and every name below
/// it (`example.com` matches `www.example.com`, not `badexample.com`); a
/// leading dot is ignored (`.example.com` matches `example.com` too), as
/// is a trailing one. An address entry matches that address, and with
/// `/bits` every address of that network (`10.0.0.0/8`, `fd00::/8`).
/// Ports play no part; case does not matter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<String>,
}

impl NoProxy {
    /// Parses a list.
    ///
    /// ```
    /// use rawnet::conn::proxy::NoProxy;
    /// let n = NoProxy::new(".example.com, 10.0.0.0/8 ::1");
    /// assert!(n.matches("www.example.com") && n.matches("example.com"));
    /// assert!(!n.matches("badexample.com"));
    /// assert!(n.matches("10.1.2.3") && n.matches("[::1]") && !n.matches("11.0.0.1"));
    /// assert!(NoProxy::new("*").matches("anything"));
    /// ```
    pub fn new(list: &str) -> NoProxy {
        let list = list.trim();
        NoProxy {
            all: list == "*",
            entries: list
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .map(|e| e.trim().trim_start_matches('.').trim_end_matches('.'))
                .filter(|e| !e.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
        }
    }

    /// True when `host` (a name or an address literal, brackets allowed)
    /// goes direct.
    pub fn matches(&self, host: &str) -> bool {
        if self.all {
            return true;
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match host.parse::<IpAddr>() {
            Ok(ip) => self.entries.iter().any(|e| ip_matches(ip, e)),
            Err(_) => self.entries.iter().any(|e| {
                host == *e
                    || (host.len() > e.len()
                        && host.ends_with(e.as_str())
                        && host.as_bytes()[host.len() - e.len() - 1] == b'.')
            }),
        }
    }
}

/// An address against an entry: the same address, or inside `net/bits`.
fn ip_matches(ip: IpAddr, entry: &str) -> bool {
    let entry = entry
        .strip_prefix('[')
        .map(|e| e.replacen(']', "", 1))
        .unwrap_or_else(|| entry.to_owned());
    let (net, bits) = match entry.split_once('/') {
        Some((net, bits)) => match bits.parse::<u32>() {
            Ok(b) => (net, Some(b)),
            Err(_) => return false,
        },
        None => (entry.as_str(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => prefix_eq(
            u128::from(u32::from(a)) << 96,
            u128::from(u32::from(n)) << 96,
            bits.unwrap_or(32).min(32),
        ),
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            prefix_eq(u128::from(a), u128::from(n), bits.unwrap_or(128).min(128))
        }
        _ => false,
    }
}

fn prefix_eq(a: u128, b: u128, bits: u32) -> bool {
    if bits == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - bits);
    a & mask == b & mask
}

/// The proxy variables of the environment, read once (curl's names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `http_proxy` (never `HTTP_PROXY`).
    pub http: Option<String>,
    /// `https_proxy`, else `HTTPS_PROXY`.
    pub https: Option<String>,
    /// `all_proxy`, else `ALL_PROXY`.
    pub all: Option<String>,
    /// `no_proxy`, else `NO_PROXY`.
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    /// Reads the variables through `get` (`std::env::var` in the binary;
    /// a map in tests). Empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| get(n).filter(|v| !v.trim().is_empty()))
        };
        ProxyEnv {
            http: first(&["http_proxy"]),
            https: first(&["https_proxy", "HTTPS_PROXY"]),
            all: first(&["all_proxy", "ALL_PROXY"]),
            no_proxy: first(&["no_proxy", "NO_PROXY"]),
        }
    }

    /// The process environment.
    pub fn from_process() -> ProxyEnv {
        ProxyEnv::from_lookup(|n| std::env::var(n).ok())
    }
}

/// How the run chooses a proxy for each URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// `-x`: `Some("")` turns proxies off (the environment too).
    pub explicit: Option<String>,
    /// The environment's variables.
    pub env: ProxyEnv,
    /// `--noproxy` (replaces the environment's list).
    pub noproxy: Option<String>,
    /// `-p`: tunnel plain `http://` through an HTTP proxy with CONNECT too.
    pub tunnel: bool,
    /// `--proxy-user` (replaces credentials in the proxy string).
    pub credentials: Option<(String, String)>,
}

impl ProxyConfig {
    /// The proxy for a URL with `scheme` (`http` or `https`) to `host`, or
    /// `None` to go direct.
    ///
    /// ```
    /// use rawnet::conn::proxy::{ProxyConfig, ProxyEnv};
    /// let cfg = ProxyConfig {
    ///     env: ProxyEnv {
    ///         http: Some("127.0.0.1:3128".into()),
    ///         no_proxy: Some("localhost".into()),
    ///         ..ProxyEnv::default()
    ///     },
    ///     ..ProxyConfig::default()
    /// };
    /// assert_eq!(cfg.choose("http", "example.test").unwrap().unwrap().port, 3128);
    /// assert!(cfg.choose("http", "localhost").unwrap().is_none());
    /// assert!(cfg.choose("https", "example.test").unwrap().is_none());
    /// ```
    pub fn choose(&self, scheme: &str, host: &str) -> Result<Option<Proxy>, ProxySpecError> {
        let text = match &self.explicit {
            Some(given) => Some(given.as_str()),
            None => match scheme {
                "http" => self.env.http.as_deref(),
                "https" => self.env.https.as_deref(),
                _ => None,
            }
            .or(self.env.all.as_deref()),
        };
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        let list = self.noproxy.as_deref().or(self.env.no_proxy.as_deref());
        if list.is_some_and(|l| NoProxy::new(l).matches(host)) {
            return Ok(None);
        }
        let mut proxy: Proxy = text.parse()?;
        if let Some(c) = &self.credentials {
            proxy.credentials = Some(c.clone());
        }
        Ok(Some(proxy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> ProxyEnv {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProxyEnv::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn uppercase_http_proxy_is_ignored_as_in_curl() {
        let e = env(&[("HTTP_PROXY", "h:1"), ("HTTPS_PROXY", "s:2")]);
        assert_eq!(e.http, None);
        assert_eq!(e.https.as_deref(), Some("s:2"));
        let e = env(&[("https_proxy", "lower:1"), ("HTTPS_PROXY", "upper:2")]);
        assert_eq!(e.https.as_deref(), Some("lower:1"));
        let e = env(&[("ALL_PROXY", "a:1"), ("NO_PROXY", "x"), ("no_proxy", "")]);
        assert_eq!(
            (e.all.as_deref(), e.no_proxy.as_deref()),
            (Some("a:1"), Some("x"))
        );
    }

    #[test]
    fn precedence() {
        let cfg = |explicit: Option<&str>, e: ProxyEnv| ProxyConfig {
            explicit: explicit.map(str::to_owned),
            env: e,
            ..ProxyConfig::default()
        };
        let both = env(&[("http_proxy", "h:1"), ("all_proxy", "socks5://a:2")]);
        let port = |c: &ProxyConfig, scheme| c.choose(scheme, "o.test").unwrap().map(|p| p.port);
        assert_eq!(port(&cfg(None, both.clone()), "http"), Some(1));
        assert_eq!(port(&cfg(None, both.clone()), "https"), Some(2));
        assert_eq!(port(&cfg(Some("x:3"), both.clone()), "http"), Some(3));
        assert_eq!(port(&cfg(Some(""), both.clone()), "http"), None);
        // NO_PROXY applies to -x too, as in curl; --noproxy replaces it.
        let mut c = cfg(Some("x:3"), env(&[("no_proxy", "o.test")]));
        assert_eq!(port(&c, "http"), None);
        c.noproxy = Some("other.test".into());
        assert_eq!(port(&c, "http"), Some(3));
        c.credentials = Some(("u".into(), "p".into()));
        let p = c.choose("http", "o.test").unwrap().unwrap();
        assert_eq!(p.credentials, Some(("u".into(), "p".into())));
    }

    #[test]
    fn noproxy_rules() {
        let n = NoProxy::new("example.com,.dot.test, 192.168.0.0/16,[fd00::1] 10.1.1.1");
        for yes in [
            "example.com",
            "a.b.example.com",
            "EXAMPLE.COM.",
            "dot.test",
            "x.dot.test",
            "192.168.7.7",
            "fd00::1",
            "[fd00::1]",
            "10.1.1.1",
        ] {
            assert!(n.matches(yes), "{yes}");
        }
        for no in [
            "badexample.com",
            "example.com.evil",
            "192.169.0.1",
            "fd00::2",
            "10.1.1.2",
        ] {
            assert!(!n.matches(no), "{no}");
        }
        assert!(!NoProxy::new("*.example.com").matches("a.example.com"));
        assert!(!NoProxy::new("a,*").matches("b"));
        assert!(NoProxy::new(" * ").matches("b"));
        assert!(NoProxy::new("0.0.0.0/0").matches("8.8.8.8"));
    }

    #[test]
    fn proxy_strings() {
        let p: Proxy = "HTTP://User:p%40ss@Proxy.Test:80".parse().unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.test", 80));
        assert_eq!(p.credentials, Some(("User".into(), "p@ss".into())));
        assert_eq!(p.to_string(), "http://proxy.test:80");
        assert!(!format!("{p:?}").contains("p@ss"));
        let p: Proxy = "socks5://10.0.0.1".parse().unwrap();
        assert_eq!(
            (p.kind, p.port),
            (ProxyKind::Socks5 { remote_dns: false }, 1080)
        );
        let e = "ftp://u:secret@h".parse::<Proxy>().unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(matches!(e, ProxySpecError::UnsupportedScheme { .. }));
        assert!("http://".parse::<Proxy>().is_err());
    }
}
