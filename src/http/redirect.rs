//! Redirects as a layer over the exchange: `-L` follows 301, 302, 303,
//! 307 and 308 the way curl does, each hop one [`client::exchange`].
//!
//! The rules, in one place:
//! - 303 becomes `GET` without a body (a `HEAD` stays `HEAD`); 301 and 302
//!   turn a `POST` into a `GET` without a body; 307 and 308 keep method
//!   and body (a `-d @FILE` body is re-opened and streamed again).
//! - `Location` is resolved against the current URL; a missing or unusable
//!   one ends the chain with the 3xx as the final response.
//! - When scheme, host or port change, the user's `Authorization` and
//!   `Cookie` headers and the URL's credentials are not sent on (curl
//!   CVE-2018-1000007, CVE-2022-27776), unless `--location-trusted`.
//!   The cookie jar's cookies (`-b`/`-c`) are not this layer's: each hop's
//!   exchange sends and records them by their own rules
//!   ([`super::cookies`]).
//! - A `Host` given with `-H` is sent to the first host only (curl's
//!   rule): another host gets its own name.
//! - One absolute deadline (in [`FetchOptions`]) bounds the whole chain;
//!   more than `max_redirs` redirects is [`FetchError::TooManyRedirects`].

use std::borrow::Cow;

use super::client::{self, Exchange, FetchError, FetchOptions, Handler, Step};
use super::request::RequestSpec;
use super::target::Target;

/// Whether and how far to follow redirects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Follow at all (`-L`).
    pub follow: bool,
    /// Most redirects followed (`--max-redirs`; `None`: no limit).
    pub max_redirs: Option<u32>,
    /// Send credentials to other hosts too (`--location-trusted`).
    pub trusted: bool,
}

impl Default for RedirectPolicy {
    /// Not following; curl's limit of 50 once following.
    fn default() -> Self {
        RedirectPolicy {
            follow: false,
            max_redirs: Some(50),
            trusted: false,
        }
    }
}

/// One response of the chain and where it came from.
#[derive(Debug)]
pub struct Hop {
    /// The URL requested.
    pub target: Target,
    /// The exchange.
    pub exchange: Exchange,
}

/// Every response of a request, in order.
#[derive(Debug)]
pub struct Chain {
    /// The redirects followed, in order (empty without `-L`).
    pub redirects: Vec<Hop>,
    /// The final response (or the hop that failed).
    pub last: Hop,
}

/// What the next hop is, for a redirect response.
fn next_hop(target: &Target, exchange: &Exchange) -> Option<(u16, Target)> {
    let head = exchange.head.as_ref()?;
    if !matches!(head.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let index = head
        .headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case("location"))?;
    let exact = head.value_bytes.iter().find(|(i, _)| *i == index);
    let location = match exact {
        Some((_, bytes)) => percent_encode_non_ascii(bytes),
        None => head.headers[index].1.clone(),
    };
    // An empty `Location:` points nowhere (curl does not follow it);
    // resolved as a relative reference it would be this same URL again.
    if location.trim_matches([' ', '\t']).is_empty() {
        return None;
    }
    Some((head.status, target.join(&location).ok()?))
}

/// A `Location` that is not UTF-8 (Latin-1 from an old server) keeps its
/// bytes: each one above ASCII becomes `%XX`, as curl sends it, instead
/// of the replacement character of a lossy decoding.
fn percent_encode_non_ascii(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request for the next hop, by the status that sent us there.
fn next_request<'a>(status: u16, request: &Cow<'a, RequestSpec>) -> Cow<'a, RequestSpec> {
    let to_get = match status {
        303 => !request.is_head(),
        301 | 302 => request.method.eq_ignore_ascii_case("POST"),
        _ => false,
    };
    if to_get {
        Cow::Owned(request.as_get("GET"))
    } else {
        request.clone()
    }
}

/// Runs `request` to `target`, following redirects as `policy` says;
/// every hop reports to `handler` (its raw bytes, its steps).
pub fn follow(
    target: &Target,
    request: &RequestSpec,
    opts: &FetchOptions,
    policy: &RedirectPolicy,
    handler: &mut dyn Handler,
) -> Chain {
    let first_host = target.host.clone();
    let mut target = target.clone();
    let mut request = Cow::Borrowed(request);
    let mut credentials = true;
    let mut redirects = Vec::new();
    loop {
        let hop_request = if target.host != first_host && request.has_user_header("host") {
            Cow::Owned(request.without_user_header("host"))
        } else {
            Cow::Borrowed(&*request)
        };
        let mut exchange = client::exchange(&target, &hop_request, credentials, opts, handler);
        let next = match (policy.follow, &exchange.error) {
            (true, None) => next_hop(&target, &exchange),
            _ => None,
        };
        let Some((status, mut next)) = next else {
            return Chain {
                redirects,
                last: Hop { target, exchange },
            };
        };
        if policy
            .max_redirs
            .is_some_and(|max| redirects.len() as u64 >= u64::from(max))
        {
            exchange.error = Some(FetchError::TooManyRedirects {
                max: policy.max_redirs.unwrap_or_default(),
            });
            return Chain {
                redirects,
                last: Hop { target, exchange },
            };
        }
        credentials = credentials && (policy.trusted || target.same_origin(&next));
        if credentials && next.credentials.is_none() {
            next.credentials.clone_from(&target.credentials);
        }
        request = next_request(status, &request);
        handler.trace(
            exchange.timing.total,
            &Step::Redirect {
                status,
                location: next.url.as_str(),
                method: &request.method,
                credentials,
            },
        );
        handler.next_hop();
        redirects.push(Hop { target, exchange });
        target = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::body::Body;

    #[test]
    fn a_latin1_location_keeps_its_bytes() {
        assert_eq!(
            percent_encode_non_ascii(b"/caf\xe9?q=\xff"),
            "/caf%E9?q=%FF"
        );
        assert_eq!(percent_encode_non_ascii(b"/plain"), "/plain");
    }

    #[test]
    fn method_rules_follow_curl() {
        let post = RequestSpec::new("POST", &[], Some(Body::bytes(&b"x"[..]))).unwrap();
        let req = Cow::Borrowed(&post);
        for (status, method, body) in [
            (301, "GET", false),
            (302, "GET", false),
            (303, "GET", false),
            (307, "POST", true),
            (308, "POST", true),
        ] {
            let next = next_request(status, &req);
            assert_eq!((next.method.as_str(), next.body.is_some()), (method, body));
        }
        let put = RequestSpec::new("PUT", &[], Some(Body::bytes(&b"x"[..]))).unwrap();
        let req = Cow::Borrowed(&put);
        assert_eq!(next_request(302, &req).method, "PUT");
        assert_eq!(next_request(303, &req).method, "GET");
        let head = RequestSpec::new("HEAD", &[], None).unwrap();
        assert_eq!(next_request(303, &Cow::Borrowed(&head)).method, "HEAD");
    }
}
