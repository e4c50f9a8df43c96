//! Name resolution: a host name or address literal to the list of IP
//! addresses to try, through the system resolver (`getaddrinfo`, via
//! dns-lookup), so `/etc/hosts`, nsswitch and search domains behave exactly
//! as they do for curl, nmap and every other program on the machine.
//!
//! All addresses are returned, in the resolver's order (which already
//! follows RFC 6724 preferences), without duplicates, filtered by
//! [`Family`]. Literals never reach the resolver.
//!
//! `getaddrinfo` cannot be cancelled, so [`resolve_within`] runs it on a
//! helper thread and stops waiting at the deadline: a hung DNS server never
//! makes a caller overstay its time limit.

use std::fmt;
use std::net::IpAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use dns_lookup::{AddrInfoHints, LookupErrorKind, SockType};

/// Which address families a caller accepts (`-4`, `-6`, or both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// IPv4 and IPv6, in the resolver's order.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// True when `ip` belongs to this family.
    pub fn accepts(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }

    fn ai_family(self) -> i32 {
        match self {
            Family::Any => libc::AF_UNSPEC,
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }
}

/// Why a name gave no address.
#[non_exhaustive]
#[derive(Debug)]
pub enum ResolveError {
    /// The name does not exist, or has no address of the wanted family.
    NotFound {
        /// The name that was looked up.
        host: String,
    },
    /// An address literal of the other family than `-4`/`-6` allows.
    WrongFamily {
        /// The literal.
        host: String,
    },
    /// The resolver failed for another reason (no network, bad config).
    Failed {
        /// The name that was looked up.
        host: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No answer before the deadline.
    TimedOut {
        /// The name that was looked up.
        host: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::NotFound { host } => write!(f, "could not resolve host '{host}'"),
            ResolveError::WrongFamily { host } => {
                write!(f, "address '{host}' is not of the requested IP version")
            }
            ResolveError::Failed { host, source } => {
                write!(f, "could not resolve host '{host}': {source}")
            }
            ResolveError::TimedOut { host } => write!(f, "resolving '{host}' timed out"),
        }
    }
}

impl std::error::Error for ResolveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ResolveError::Failed { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Resolves `host` (a name, or an IPv4/IPv6 literal, brackets allowed) to
/// every address of `family`, in the resolver's order, duplicates removed.
///
/// ```
/// use rawnet::resolve::{resolve, Family};
/// let ips = resolve("127.0.0.1", Family::Any).unwrap();
/// assert_eq!(ips, vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
/// assert!(resolve("::1", Family::V4).is_err());
/// ```
pub fn resolve(host: &str, family: Family) -> Result<Vec<IpAddr>, ResolveError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return if family.accepts(&ip) {
            Ok(vec![ip])
        } else {
            Err(ResolveError::WrongFamily {
                host: host.to_owned(),
            })
        };
    }
    lookup(host, family)
}

/// [`resolve`], but gives up waiting after `timeout` (`None`: wait as long
/// as the resolver takes).
pub fn resolve_within(
    host: &str,
    family: Family,
    timeout: Option<Duration>,
) -> Result<Vec<IpAddr>, ResolveError> {
    let Some(timeout) = timeout else {
        return resolve(host, family);
    };
    let (tx, rx) = mpsc::channel();
    let name = host.to_owned();
    // The thread is detached: if the resolver hangs, it ends with the
    // process instead of holding the caller.
    thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let _ = tx.send(resolve(&name, family));
        })
        .map_err(|source| ResolveError::Failed {
            host: host.to_owned(),
            source,
        })?;
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(ResolveError::TimedOut {
            host: host.to_owned(),
        })
    })
}

fn lookup(host: &str, family: Family) -> Result<Vec<IpAddr>, ResolveError> {
    let hints = AddrInfoHints {
        socktype: SockType::Stream.into(),
        address: family.ai_family(),
        ..AddrInfoHints::default()
    };
    let infos =
        dns_lookup::getaddrinfo(Some(host), None, Some(hints)).map_err(|e| match e.kind() {
            LookupErrorKind::NoName | LookupErrorKind::NoData | LookupErrorKind::Family => {
                ResolveError::NotFound {
                    host: host.to_owned(),
                }
            }
            _ => ResolveError::Failed {
                host: host.to_owned(),
                source: e.into(),
            },
        })?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for info in infos.flatten() {
        let ip = info.sockaddr.ip();
        if family.accepts(&ip) && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.is_empty() {
        return Err(ResolveError::NotFound {
            host: host.to_owned(),
        });
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_skip_the_resolver() {
        assert_eq!(
            resolve("[::1]", Family::V6).unwrap(),
            vec![IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])]
        );
        assert!(matches!(
            resolve("127.0.0.1", Family::V6),
            Err(ResolveError::WrongFamily { .. })
        ));
    }

    #[test]
    fn localhost_resolves_and_filters() {
        let v4 = resolve("localhost", Family::V4).unwrap();
        assert!(v4.iter().all(IpAddr::is_ipv4) && !v4.is_empty());
        let all = resolve_within("localhost", Family::Any, Some(Duration::from_secs(10))).unwrap();
        assert!(all.iter().all(|ip| ip.is_loopback()));
    }

    #[test]
    fn unknown_name_is_not_found() {
        // `.invalid` is reserved (RFC 6761) and never resolves.
        let err = resolve("no-such-host.invalid", Family::Any).unwrap_err();
        assert!(matches!(err, ResolveError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("no-such-host.invalid"));
    }
}
