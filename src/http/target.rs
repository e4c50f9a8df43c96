//! What the user typed (`host`, `host:port`, `http://host[:port]/path?q`,
//! `http://[::1]:8080/`) turned into the parts a request needs.
//!
//! Parsing is the `url` crate's (WHATWG URL rules: IDNA host names, IPv6
//! literals, percent-encoding, dot segments), so we do not hand-roll a URL
//! grammar. This module only adds the curl habits on top: a missing scheme
//! means `http://`, and a scheme we do not speak is its own error
//! ([`TargetError::UnsupportedScheme`], curl's exit 1) distinct from a
//! malformed URL ([`TargetError::Malformed`], curl's exit 3).

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

/// A parsed request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name (lower-cased, IDNA-encoded) or address literal, without
    /// brackets.
    pub host: String,
    /// True when [`Target::host`] is an IPv6 literal (needs brackets in
    /// `Host:`).
    pub host_is_ipv6: bool,
    /// TCP port (80 unless given).
    pub port: u16,
    /// The request target: path and query, at least `/`.
    pub path_and_query: String,
    /// `user[:password]` from the URL, percent-decoded, for Basic auth.
    pub credentials: Option<(String, String)>,
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
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

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Malformed { input, reason } => {
                write!(f, "malformed URL '{input}': {reason}")
            }
            TargetError::UnsupportedScheme { scheme } => write!(
                f,
                "unsupported protocol '{scheme}': rawget speaks plain http:// only"
            ),
        }
    }
}

impl std::error::Error for TargetError {}

impl Target {
    /// The `Host` header value: the host, with brackets for IPv6, and with
    /// the port unless it is 80.
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
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    /// ```
    /// use rawnet::http::target::Target;
    /// let t: Target = "localhost:8080/a?b=c".parse().unwrap();
    /// assert_eq!((t.host.as_str(), t.port, t.path_and_query.as_str()), ("localhost", 8080, "/a?b=c"));
    /// assert!("https://example.com/".parse::<Target>().is_err());
    /// ```
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let malformed = |reason: &str| TargetError::Malformed {
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
            Some(scheme) if scheme.eq_ignore_ascii_case("http") => input.to_owned(),
            Some(scheme) => {
                return Err(TargetError::UnsupportedScheme {
                    scheme: scheme.to_ascii_lowercase(),
                })
            }
            None => format!("http://{input}"),
        };
        let url = Url::parse(&with_scheme).map_err(|e| malformed(&e.to_string()))?;
        from_url(&url).map_err(malformed)
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn from_url(url: &Url) -> Result<Target, &'static str> {
    let (host, host_is_ipv6) = match url.host() {
        Some(Host::Domain(d)) if !d.is_empty() => (d.to_owned(), false),
        Some(Host::Ipv4(ip)) => (ip.to_string(), false),
        Some(Host::Ipv6(ip)) => (ip.to_string(), true),
        _ => return Err("no host"),
    };
    let port = url.port_or_known_default().unwrap_or(80);
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
        for s in ["https://example.com/", "ftp://h/", "FILE:///etc/passwd"] {
            assert!(
                matches!(
                    s.parse::<Target>(),
                    Err(TargetError::UnsupportedScheme { .. })
                ),
                "{s}"
            );
        }
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
                matches!(s.parse::<Target>(), Err(TargetError::Malformed { .. })),
                "{s:?} should be malformed"
            );
        }
    }
}
