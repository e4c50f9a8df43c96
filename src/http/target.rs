//! What the user typed (`host`, `host:port`, `http://host[:port]/path?q`,
//! `http://[::1]:8080/`) turned into the parts a request needs.
//!
//! Parsing is the `url` crate's (WHATWG URL rules: IDNA host names, IPv6
//! literals, percent-encoding, dot segments), so we do not hand-roll a URL
//! grammar. This module only adds the curl habits on top: a missing scheme
//! means `http://`, and a scheme we do not speak is its own error
//! ([`UrlError::UnsupportedScheme`], curl's exit 1) distinct from a
//! malformed URL ([`UrlError::Malformed`], curl's exit 3).
//!
//! A [`Target`] keeps the parsed [`Url`] beside the parts: a redirect's
//! relative `Location` is resolved against it ([`Target::join`]).

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

/// The schemes rawget speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain `http://` (default port 80).
    Http,
    /// `https://`: HTTP over TLS (default port 443).
    Https,
}

impl Scheme {
    /// The port used when the URL gives none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// A parsed request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The whole URL as parsed (fragment removed): the base for a relative
    /// redirect.
    pub url: Url,
    /// Host name (lower-cased, IDNA-encoded) or address literal, without
    /// brackets.
    pub host: String,
    /// True when [`Target::host`] is an IPv6 literal (needs brackets in
    /// `Host:`).
    pub host_is_ipv6: bool,
    /// TCP port (the scheme's default unless given).
    pub port: u16,
    /// The request target: path and query, at least `/`.
    pub path_and_query: String,
    /// `user[:password]` from the URL, percent-decoded, for Basic auth.
    pub credentials: Option<(String, String)>,
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL we can parse (curl exit 3).
    Malformed {
        /// What the user typed.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A scheme other than `http` (curl exit 1).
    UnsupportedScheme {
        /// The scheme, for example `https`.
        scheme: String,
    },
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Malformed { input, reason } => {
                write!(f, "malformed URL '{input}': {reason}")
            }
            UrlError::UnsupportedScheme { scheme } => write!(
                f,
                "unsupported protocol '{scheme}': rawget speaks http:// and https:// only"
            ),
        }
    }
}

impl std::error::Error for UrlError {}

impl Target {
    /// The `Host` header value: the host, with brackets for IPv6, and with
    /// the port unless it is the scheme's default.
    ///
    /// ```
    /// use rawnet::http::target::Target;
    /// let t: Target = "http://[::1]:8080/x".parse().unwrap();
    /// assert_eq!(t.host_header(), "[::1]:8080");
    /// let t: Target = "example.com".parse().unwrap();
    /// assert_eq!(t.host_header(), "example.com");
    /// ```
    pub fn host_header(&self) -> String {
        let host = if self.host_is_ipv6 {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl FromStr for Target {
    type Err = UrlError;

    /// ```
    /// use rawnet::http::target::Target;
    /// let t: Target = "localhost:8080/a?b=c".parse().unwrap();
    /// assert_eq!((t.host.as_str(), t.port, t.path_and_query.as_str()), ("localhost", 8080, "/a?b=c"));
    /// let t: Target = "https://example.com/".parse().unwrap();
    /// assert_eq!(t.port, 443);
    /// assert!("ftp://example.com/".parse::<Target>().is_err());
    /// ```
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let malformed = |reason: &str| UrlError::Malformed {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        if input.trim().is_empty() {
            return Err(malformed("empty URL"));
        }
        if input
            .chars()
            .any(|c| c.is_ascii_whitespace() || c.is_control())
        {
            return Err(malformed("URL contains whitespace or control characters"));
        }
        // Text before "://" is a scheme only if it looks like one:
        // `host:8080/r?u=http://x` has no scheme and means http.
        let scheme = input
            .find("://")
            .map(|i| &input[..i])
            .filter(|s| is_scheme(s));
        let with_scheme = match scheme {
            Some(scheme) if Scheme::parse(scheme).is_some() => input.to_owned(),
            Some(scheme) => {
                return Err(UrlError::UnsupportedScheme {
                    scheme: scheme.to_ascii_lowercase(),
                })
            }
            None => format!("http://{input}"),
        };
        let url = Url::parse(&with_scheme).map_err(|e| malformed(&e.to_string()))?;
        from_url(url).map_err(malformed)
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

impl Target {
    /// The target a redirect's `Location` points to, resolved against this
    /// URL (a relative reference keeps scheme, host and port).
    ///
    /// ```
    /// use rawnet::http::target::Target;
    /// let t: Target = "http://h:8080/a/b?q".parse().unwrap();
    /// assert_eq!(t.join("../c").unwrap().url.as_str(), "http://h:8080/c");
    /// assert_eq!(t.join("https://x/").unwrap().port, 443);
    /// ```
    pub fn join(&self, location: &str) -> Result<Target, UrlError> {
        let malformed = |reason: &str| UrlError::Malformed {
            input: location.to_owned(),
            reason: reason.to_owned(),
        };
        let url = self
            .url
            .join(location.trim_matches([' ', '\t']))
            .map_err(|e| malformed(&e.to_string()))?;
        if Scheme::parse(url.scheme()).is_none() {
            return Err(UrlError::UnsupportedScheme {
                scheme: url.scheme().to_owned(),
            });
        }
        from_url(url).map_err(malformed)
    }

    /// True when `other` is the same origin (scheme, host and port): the
    /// test for keeping credentials on a redirect.
    pub fn same_origin(&self, other: &Target) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }
}

fn from_url(mut url: Url) -> Result<Target, &'static str> {
    url.set_fragment(None);
    let scheme = Scheme::parse(url.scheme()).ok_or("unsupported scheme")?;
    let (host, host_is_ipv6) = match url.host() {
        Some(Host::Domain(d)) if !d.is_empty() => (d.to_owned(), false),
        Some(Host::Ipv4(ip)) => (ip.to_string(), false),
        Some(Host::Ipv6(ip)) => (ip.to_string(), true),
        _ => return Err("no host"),
    };
    let port = url.port().unwrap_or(scheme.default_port());
    if port == 0 {
        return Err("port 0 is not a valid destination port");
    }
    let mut path_and_query = url.path().to_owned();
    if let Some(q) = url.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let credentials = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        Some((
            percent_decode(url.username()),
            percent_decode(url.password().unwrap_or("")),
        ))
    };
    Ok(Target {
        scheme,
        url,
        host,
        host_is_ipv6,
        port,
        path_and_query,
        credentials,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Target {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn bare_host_and_host_port() {
        let t = parse("localhost");
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("localhost", 80, "/")
        );
        let t = parse("127.0.0.1:8080");
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 8080));
        assert_eq!(t.host_header(), "127.0.0.1:8080");
    }

    #[test]
    fn full_url_keeps_path_and_query_drops_fragment() {
        let t = parse("HTTP://Example.COM:81/a/b?x=1&y=%20#frag");
        assert_eq!(t.host, "example.com");
        assert_eq!(t.port, 81);
        assert_eq!(t.path_and_query, "/a/b?x=1&y=%20");
    }

    #[test]
    fn scheme_like_text_in_the_path_is_not_a_scheme() {
        let t = parse("localhost:8080/r?u=http://x");
        assert_eq!((t.port, t.path_and_query.as_str()), (8080, "/r?u=http://x"));
        assert_eq!(parse("localhost/a://b").path_and_query, "/a://b");
    }

    #[test]
    fn ipv6_literals() {
        let t = parse("http://[::1]:8080/");
        assert_eq!(
            (t.host.as_str(), t.host_is_ipv6, t.port),
            ("::1", true, 8080)
        );
        let t = parse("[::1]");
        assert_eq!(t.host_header(), "[::1]");
    }

    #[test]
    fn credentials_are_decoded() {
        let t = parse("http://us%40er:p%3Ass@h/");
        assert_eq!(t.credentials, Some(("us@er".into(), "p:ss".into())));
    }

    #[test]
    fn unsupported_scheme_is_not_malformed() {
        for s in ["ftp://h/", "FILE:///etc/passwd", "wss://h/"] {
            assert!(
                matches!(s.parse::<Target>(), Err(UrlError::UnsupportedScheme { .. })),
                "{s}"
            );
        }
    }

    #[test]
    fn https_default_port_and_host_header() {
        let t = parse("HTTPS://Example.com/x#f");
        assert_eq!((t.scheme, t.port), (Scheme::Https, 443));
        assert_eq!(t.host_header(), "example.com");
        assert_eq!(t.url.as_str(), "https://example.com/x");
        assert_eq!(parse("https://h:80/").host_header(), "h:80");
    }

    #[test]
    fn join_and_origin() {
        let base = parse("http://h/a/b");
        let rel = base.join("/c?d").unwrap();
        assert_eq!(
            (rel.host.as_str(), rel.path_and_query.as_str()),
            ("h", "/c?d")
        );
        assert!(base.same_origin(&rel));
        let other = base.join("//other:81/").unwrap();
        assert!(!base.same_origin(&other));
        assert!(!base.same_origin(&base.join("https://h/").unwrap()));
        assert!(matches!(
            base.join("ftp://x/"),
            Err(UrlError::UnsupportedScheme { .. })
        ));
    }

    #[test]
    fn malformed_inputs() {
        for s in [
            "",
            "http://",
            "host:99999",
            "host:abc",
            "http://[::1/",
            "a b",
            "http://h:0/",
            "http://h:8a/",
        ] {
            assert!(
                matches!(s.parse::<Target>(), Err(UrlError::Malformed { .. })),
                "{s:?} should be malformed"
            );
        }
    }
}
