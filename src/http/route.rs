//! Where a request really goes: curl's `--resolve` and `--connect-to`.
//!
//! The URL keeps deciding what is *asked* (the `Host` header, SNI, the
//! certificate name); these overrides decide where the TCP connection
//! goes. `--connect-to HOST1:PORT1:HOST2:PORT2` swaps the host and port
//! connected to (an empty field matches anything, or keeps the value);
//! `--resolve HOST:PORT:ADDR[,ADDR...]` gives the addresses for a host and
//! port instead of asking the resolver (`*` for any host). As in curl,
//! `--connect-to` applies first and `--resolve` to its result. Both apply
//! to every hop of a redirect chain.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A `--resolve` or `--connect-to` argument that does not parse (a usage
/// error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    /// What was typed.
    pub input: String,
    /// The expected form.
    pub expected: &'static str,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid '{}': expected {}", self.input, self.expected)
    }
}

impl std::error::Error for RouteError {}

/// One `--resolve` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolve {
    /// The host name (lower-case); `None` for `*`.
    pub host: Option<String>,
    /// The port.
    pub port: u16,
    /// The addresses; empty for a `-HOST:PORT` removal.
    pub addrs: Vec<IpAddr>,
}

const RESOLVE_FORM: &str = "[+]HOST:PORT:ADDR[,ADDR...] or -HOST:PORT";
const CONNECT_TO_FORM: &str = "HOST1:PORT1:HOST2:PORT2 (fields may be empty)";

impl FromStr for Resolve {
    type Err = RouteError;

    /// ```
    /// use rawnet::http::route::Resolve;
    /// let r: Resolve = "example.test:443:127.0.0.1,[::1]".parse().unwrap();
    /// assert_eq!((r.host.as_deref(), r.port, r.addrs.len()), (Some("example.test"), 443, 2));
    /// assert!("example.test:443".parse::<Resolve>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RouteError {
            input: s.to_owned(),
            expected: RESOLVE_FORM,
        };
        let (remove, rest) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (host, rest) = field(rest).ok_or_else(bad)?;
        let (port, addrs) = match rest.split_once(':') {
            Some((p, a)) if !remove => (p, a),
            None if remove => (rest, ""),
            _ => return Err(bad()),
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        let addrs = if remove {
            Vec::new()
        } else {
            addrs
                .split(',')
                .map(|a| unbracket(a.trim()).parse::<IpAddr>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| bad())?
        };
        Ok(Resolve {
            host: (host != "*").then(|| host.to_ascii_lowercase()),
            port,
            addrs,
        })
    }
}

/// One `--connect-to` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectTo {
    /// Applies to this host (`None`: any).
    pub from_host: Option<String>,
    /// Applies to this port (`None`: any).
    pub from_port: Option<u16>,
    /// Connect to this host instead (`None`: the same).
    pub to_host: Option<String>,
    /// Connect to this port instead (`None`: the same).
    pub to_port: Option<u16>,
}

impl FromStr for ConnectTo {
    type Err = RouteError;

    /// ```
    /// use rawnet::http::route::ConnectTo;
    /// let c: ConnectTo = "example.test:443:[::1]:8443".parse().unwrap();
    /// assert_eq!(c.to_host.as_deref(), Some("::1"));
    /// let any: ConnectTo = "::127.0.0.1:".parse().unwrap();
    /// assert_eq!((any.from_host, any.from_port, any.to_port), (None, None, None));
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RouteError {
            input: s.to_owned(),
            expected: CONNECT_TO_FORM,
        };
        let (h1, rest) = field(s).ok_or_else(bad)?;
        let (p1, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (h2, p2) = field(rest).ok_or_else(bad)?;
        let port = |p: &str| -> Result<Option<u16>, RouteError> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse().map(Some).map_err(|_| bad())
            }
        };
        let host = |h: &str| (!h.is_empty()).then(|| unbracket(h).to_ascii_lowercase());
        Ok(ConnectTo {
            from_host: host(h1),
            from_port: port(p1)?,
            to_host: host(h2),
            to_port: port(p2)?,
        })
    }
}

/// A host field up to the next `:` (an IPv6 literal in brackets may hold
/// colons); returns it and what follows the colon.
fn field(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('[') {
        let end = s.find(']')?;
        let rest = s[end + 1..].strip_prefix(':')?;
        Some((&s[..=end], rest))
    } else {
        s.split_once(':')
    }
}

fn unbracket(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(s)
}

/// Where to connect for a host and port of a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The host to resolve (or connect to, if a literal).
    pub host: String,
    /// The port to connect to.
    pub port: u16,
    /// Addresses given by `--resolve`, used instead of the resolver.
    pub addrs: Option<Vec<IpAddr>>,
}

/// All `--connect-to` and `--resolve` entries of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    /// `--connect-to`, in the order given: the first match applies.
    pub connect_to: Vec<ConnectTo>,
    /// `--resolve`, in the order given: the last entry for a host and
    /// port applies (a removal cancels earlier ones).
    pub resolve: Vec<Resolve>,
}

impl Routes {
    /// Where a URL's `host` and `port` really go.
    ///
    /// ```
    /// use rawnet::http::route::Routes;
    /// let routes = Routes {
    ///     connect_to: vec!["a.test:80:b.test:8080".parse().unwrap()],
    ///     resolve: vec!["b.test:8080:127.0.0.1".parse().unwrap()],
    /// };
    /// let r = routes.route("A.test", 80);
    /// assert_eq!((r.host.as_str(), r.port), ("b.test", 8080));
    /// assert_eq!(r.addrs, Some(vec!["127.0.0.1".parse().unwrap()]));
    /// ```
    pub fn route(&self, host: &str, port: u16) -> Route {
        let host = host.to_ascii_lowercase();
        let (host, port) = self
            .connect_to
            .iter()
            .find(|c| {
                c.from_host.as_ref().is_none_or(|h| *h == host)
                    && c.from_port.is_none_or(|p| p == port)
                    // As in curl, an entry that changes nothing does not
                    // stop the search.
                    && (c.to_host.is_some() || c.to_port.is_some())
            })
            .map_or((host.clone(), port), |c| {
                (
                    c.to_host.clone().unwrap_or_else(|| host.clone()),
                    c.to_port.unwrap_or(port),
                )
            });
        // As in curl, an entry for the host itself wins over a `*` one
        // whatever their order, and a removal cancels only its own host.
        let last = |host: Option<&str>| {
            self.resolve
                .iter()
                .rev()
                .find(|r| r.port == port && r.host.as_deref() == host)
        };
        let addrs = last(Some(&host))
            .filter(|r| !r.addrs.is_empty())
            .or_else(|| last(None))
            .filter(|r| !r.addrs.is_empty())
            .map(|r| r.addrs.clone());
        Route { host, port, addrs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_forms() {
        let r: Resolve = "+*:80:[fd00::1],10.0.0.1".parse().unwrap();
        assert_eq!(r.host, None);
        assert_eq!(r.addrs.len(), 2);
        let r: Resolve = "-h.test:443".parse().unwrap();
        assert!(r.addrs.is_empty());
        for bad in [
            "h",
            "h:x:1.2.3.4",
            "h:80:",
            "h:80:nope",
            ":80:1.2.3.4",
            "h:99999:1.2.3.4",
        ] {
            assert!(bad.parse::<Resolve>().is_err(), "{bad}");
        }
    }

    #[test]
    fn connect_to_forms() {
        let c: ConnectTo = "[::1]:443::8443".parse().unwrap();
        assert_eq!(c.from_host.as_deref(), Some("::1"));
        assert_eq!((c.to_host, c.to_port), (None, Some(8443)));
        for bad in ["a:1:b", "a", "a:x:b:1", "[::1:1:b:2"] {
            assert!(bad.parse::<ConnectTo>().is_err(), "{bad}");
        }
    }

    #[test]
    fn last_resolve_wins_and_removal_cancels() {
        let routes = Routes {
            connect_to: Vec::new(),
            resolve: vec![
                "h:80:10.0.0.1".parse().unwrap(),
                "h:80:10.0.0.2".parse().unwrap(),
                "g:80:10.0.0.3".parse().unwrap(),
                "-g:80".parse().unwrap(),
            ],
        };
        assert_eq!(
            routes.route("h", 80).addrs,
            Some(vec!["10.0.0.2".parse().unwrap()])
        );
        assert_eq!(routes.route("h", 81).addrs, None);
        assert_eq!(routes.route("g", 80).addrs, None);
    }

    #[test]
    fn a_host_entry_beats_a_wildcard_in_any_order() {
        let ip = |s: &str| Some(vec![s.parse().unwrap()]);
        for resolve in [
            vec!["h:80:10.0.0.1", "*:80:10.0.0.9"],
            vec!["*:80:10.0.0.9", "h:80:10.0.0.1"],
        ] {
            let routes = Routes {
                connect_to: Vec::new(),
                resolve: resolve.iter().map(|r| r.parse().unwrap()).collect(),
            };
            assert_eq!(routes.route("h", 80).addrs, ip("10.0.0.1"), "{resolve:?}");
            assert_eq!(routes.route("g", 80).addrs, ip("10.0.0.9"), "{resolve:?}");
        }
        // Removing the host's entry leaves the wildcard in force.
        let routes = Routes {
            connect_to: Vec::new(),
            resolve: ["*:80:10.0.0.9", "h:80:10.0.0.1", "-h:80"]
                .iter()
                .map(|r| r.parse().unwrap())
                .collect(),
        };
        assert_eq!(routes.route("h", 80).addrs, ip("10.0.0.9"));
    }

    #[test]
    fn a_connect_to_that_changes_nothing_does_not_stop_the_search() {
        let routes = Routes {
            connect_to: vec!["h:80::".parse().unwrap(), "::g:81".parse().unwrap()],
            resolve: Vec::new(),
        };
        let r = routes.route("h", 80);
        assert_eq!((r.host.as_str(), r.port), ("g", 81));
    }
}
