//! curl's cookie engine (`-b`, `-c`, `-j`): which cookies a response may
//! set, which of them go with a request, and the Netscape cookie-file
//! format that curl reads with `-b FILE` and writes with `-c FILE`.
//!
//! The RFC 6265 storage model is cookie_store's: domain and path matching,
//! host-only against domain cookies, the default path, Max-Age over
//! Expires, replacing a cookie and expiring it. On top of it this module
//! applies the rules curl adds and cookie_store leaves out:
//! - A secure context is `https://`, or the host `localhost`, `127.0.0.1`
//!   or `::1` (curl's list; cookie_store would count every loopback
//!   address). A `Secure` cookie is set only from a secure context and
//!   sent only to one; a cookie that is not `Secure`, set from a context
//!   that is not secure, never replaces a `Secure` one of the same name
//!   (RFC 6265bis "strict secure").
//! - A `Domain` attribute that is a public suffix (psl's compiled list,
//!   with the implicit `*` rule for a top-level domain it does not know,
//!   as libpsl) is refused unless it is the host itself, which makes the
//!   cookie host-only.
//! - The `__Secure-` and `__Host-` name prefixes.
//! - A name or value with a control character (a tab would break the
//!   file format) or longer than 4096 bytes together is refused.
//! - The `Cookie` line is ordered as curl orders it: longer path first,
//!   then longer domain, then longer name, then the older cookie first.
//!
//! Cookies typed as `-b 'NAME=VALUE; ...'` are not stored: they are sent
//! as typed after the stored ones, with the same credential rule as a
//! `-H Cookie:` header (not to another host on a redirect, unless
//! `--location-trusted`), and not at all when the user gave `-H Cookie:`
//! (curl's rule).
//!
//! It never touches a file: the binary reads `-b FILE` and writes the jar.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use cookie::time::OffsetDateTime;
use cookie_store::{Cookie, CookieDomain, CookieExpiration, CookieStore, RawCookie, StoreAction};
use url::Url;

use super::response::Head;
use super::target::{Scheme, Target};

/// Longest name and value together that a cookie may have (curl's).
const MAX_NAME_VALUE: usize = 4096;

/// The first line of every Netscape cookie file: the format's name, which
/// tools look for.
pub const NETSCAPE_MAGIC: &str = "# Netscape HTTP Cookie File";

/// Why `-b 'NAME=VALUE'` cannot be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieError {
    /// A CR, LF or NUL would end the header line (header injection).
    BadTyped(String),
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::BadTyped(s) => {
                write!(f, "invalid cookie {s:?}: CR, LF and NUL cannot be sent")
            }
        }
    }
}

impl std::error::Error for CookieError {}

/// What became of one `Set-Cookie` of a response (for `-v`); the value
/// is left out, being a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CookieNote {
    /// Stored (or, with an expiry in the past, removed).
    Stored {
        /// The cookie's name.
        name: String,
        /// Its domain: the host for a host-only cookie, `.domain` for one
        /// that reaches the subdomains.
        domain: String,
        /// Its path.
        path: String,
        /// Until when (Unix time; `None`: the session's end).
        expires: Option<i64>,
    },
    /// Not stored, and why.
    Refused {
        /// The cookie's name (empty when it did not parse).
        name: String,
        /// The rule it broke.
        reason: &'static str,
    },
}

/// The cookies of a run, shared by every URL and redirect hop.
pub struct CookieJar {
    /// `-b 'NAME=VALUE; ...'` arguments, joined with `;` as curl joins them.
    typed: Option<String>,
    /// The engine: `None` when cookies received are not recorded (only
    /// `-b NAME=VALUE` given, as in curl).
    store: Option<Mutex<Store>>,
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values are credentials: not printed.
        f.debug_struct("CookieJar")
            .field("typed", &self.typed.is_some())
            .field("engine", &self.store.is_some())
            .finish()
    }
}

/// The stored cookies and when each was created (curl orders by it).
#[derive(Default)]
struct Store {
    cookies: CookieStore,
    created: HashMap<Key, u64>,
    next: u64,
}

/// A stored cookie's identity: domain, path, name.
type Key = (String, String, String);

fn key(c: &Cookie<'_>) -> Key {
    (
        String::from(&c.domain),
        String::from(&c.path),
        c.name().to_owned(),
    )
}

impl Store {
    fn insert(&mut self, cookie: Cookie<'static>, url: &Url) {
        let k = key(&cookie);
        if let Ok(StoreAction::Inserted | StoreAction::UpdatedExisting) =
            self.cookies.insert(cookie, url)
        {
            // A replaced cookie counts as new, as curl's does.
            self.next += 1;
            self.created.insert(k, self.next);
        }
    }

    fn created(&self, c: &Cookie<'_>) -> u64 {
        self.created.get(&key(c)).copied().unwrap_or(0)
    }
}

impl CookieJar {
    /// A jar with the cookies typed with `-b NAME=VALUE` (each argument as
    /// typed), recording the cookies received when `engine` is on.
    pub fn new(typed: &[String], engine: bool) -> Result<CookieJar, CookieError> {
        if let Some(bad) = typed.iter().find(|t| t.contains(['\r', '\n', '\0'])) {
            return Err(CookieError::BadTyped(bad.clone()));
        }
        let typed = (!typed.is_empty()).then(|| typed.join(";"));
        Ok(CookieJar {
            typed,
            store: engine.then(|| Mutex::new(Store::default())),
        })
    }

    /// True when cookies received are recorded.
    pub fn engine(&self) -> bool {
        self.store.is_some()
    }

    fn store(&self) -> Option<std::sync::MutexGuard<'_, Store>> {
        self.store
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Loads a cookie file as curl reads one: Netscape lines
    /// (`#HttpOnly_` prefix included), or `Set-Cookie:` header lines
    /// (one without a `Domain` names no host and is left out, as curl
    /// leaves it out); comments and lines that do not parse are skipped.
    /// `junk_session` (`-j`) drops the cookies without an expiry. Expired
    /// cookies are not loaded. Returns how many cookies were loaded.
    pub fn load(&self, text: &str, junk_session: bool) -> usize {
        let Some(mut store) = self.store() else {
            return 0;
        };
        let now = OffsetDateTime::now_utc();
        let mut loaded = 0;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            let parsed = match strip_prefix_ignore_case(line, "set-cookie:") {
                Some(header) => from_header_line(header.trim()),
                None => from_netscape_line(line),
            };
            let Some((cookie, url)) = parsed else {
                continue;
            };
            if junk_session && !cookie.is_persistent() {
                continue;
            }
            if cookie.expires_by(&now) {
                continue;
            }
            store.insert(cookie, &url);
            loaded += 1;
        }
        loaded
    }

    /// Records the cookies that `head`, the answer from `target`, sets,
    /// and says what became of each.
    pub fn receive(&self, target: &Target, head: &Head) -> Vec<CookieNote> {
        let Some(mut store) = self.store() else {
            return Vec::new();
        };
        let secure = secure_context(target);
        let mut notes = Vec::new();
        for (name, value) in &head.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let refused = |name: &str, reason| CookieNote::Refused {
                name: name.to_owned(),
                reason,
            };
            let Ok(raw) = RawCookie::parse(value.trim().to_owned()) else {
                notes.push(refused("", "it does not parse"));
                continue;
            };
            let raw = match acceptable(raw, target, secure, &store) {
                Ok(raw) => raw,
                Err((name, reason)) => {
                    notes.push(refused(&name, reason));
                    continue;
                }
            };
            match Cookie::try_from_raw_cookie(&raw, &target.url) {
                Ok(cookie) => {
                    let line = netscape_line(&cookie);
                    let f: Vec<&str> = line.trim_start_matches("#HttpOnly_").split('\t').collect();
                    notes.push(CookieNote::Stored {
                        name: cookie.name().to_owned(),
                        domain: f[0].to_owned(),
                        path: f[2].to_owned(),
                        expires: f[4].parse().ok().filter(|e| *e != 0),
                    });
                    store.insert(cookie.into_owned(), &target.url);
                }
                Err(_) => notes.push(refused(raw.name(), "its Domain does not match the host")),
            }
        }
        notes
    }

    /// The value of the `Cookie` line for a request to `target`: the
    /// stored cookies that match it, then (with `typed`) the cookies typed
    /// with `-b`. `None` when there is nothing to send.
    pub fn header(&self, target: &Target, typed: bool) -> Option<String> {
        let mut pairs: Vec<String> = Vec::new();
        if let Some(store) = self.store() {
            let secure = secure_context(target);
            let mut matched: Vec<&Cookie<'static>> = store
                .cookies
                .matches(&target.url)
                .into_iter()
                .filter(|c| secure || c.secure() != Some(true))
                .collect();
            matched.sort_by(|a, b| {
                let len = |c: &Cookie<'_>| {
                    (
                        c.path.as_ref().len(),
                        String::from(&c.domain).len(),
                        c.name().len(),
                    )
                };
                len(b)
                    .cmp(&len(a))
                    .then(store.created(a).cmp(&store.created(b)))
            });
            pairs.extend(
                matched
                    .iter()
                    .map(|c| format!("{}={}", c.name(), c.value())),
            );
        }
        if let (true, Some(t)) = (typed, &self.typed) {
            pairs.push(t.clone());
        }
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Every cookie that has not expired, session cookies included, in
    /// the Netscape format, oldest first (so a file read back keeps the
    /// order the `Cookie` line uses); the comment lines say what the file
    /// is.
    pub fn netscape(&self) -> String {
        let mut out = format!(
            "{NETSCAPE_MAGIC}\n# Cookies saved by rawget -c: domain, include subdomains, path, \
             secure only, expiry (Unix time; 0: when the session ends), name, value.\n\n"
        );
        let Some(store) = self.store() else {
            return out;
        };
        let mut all: Vec<&Cookie<'static>> = store.cookies.iter_unexpired().collect();
        all.sort_by_key(|c| store.created(c));
        for c in all {
            out.push_str(&netscape_line(c));
            out.push('\n');
        }
        out
    }
}

/// One cookie as a Netscape line.
fn netscape_line(c: &Cookie<'_>) -> String {
    let (domain, subdomains) = match &c.domain {
        CookieDomain::Suffix(d) => (format!(".{d}"), true),
        other => (String::from(other), false),
    };
    let domain = domain.replace(['[', ']'], "");
    let expires = match c.expires {
        CookieExpiration::AtUtc(t) => t.unix_timestamp().max(1),
        CookieExpiration::SessionEnd => 0,
    };
    let flag = |b: bool| if b { "TRUE" } else { "FALSE" };
    format!(
        "{}{domain}\t{}\t{}\t{}\t{expires}\t{}\t{}",
        if c.http_only() == Some(true) {
            "#HttpOnly_"
        } else {
            ""
        },
        flag(subdomains),
        c.path.as_ref(),
        flag(c.secure() == Some(true)),
        c.name(),
        c.value()
    )
}

/// A Netscape line as a cookie and the URL it counts as set from.
fn from_netscape_line(line: &str) -> Option<(Cookie<'static>, Url)> {
    let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
        Some(rest) => (rest, true),
        None => (line, false),
    };
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let fields: Vec<&str> = line.split('\t').collect();
    let (domain, subdomains, path, secure, expires, name, value) = match fields[..] {
        [d, s, p, sec, e, n, v] => (d, s, p, sec, e, n, v),
        // A cookie with an empty value may have lost its last tab.
        [d, s, p, sec, e, n] => (d, s, p, sec, e, n, ""),
        _ => return None,
    };
    let host = domain.trim_start_matches('.').to_ascii_lowercase();
    if host.is_empty() || !path.starts_with('/') || !valid_pair(name, value) {
        return None;
    }
    // curl writes a default path with its trailing slash ("/p/" for a
    // cookie set by /p/x) and matches it without one.
    let path = match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let expires: i64 = expires.parse().ok()?;
    let mut raw = RawCookie::new(name.to_owned(), value.to_owned());
    if subdomains.eq_ignore_ascii_case("TRUE") {
        raw.set_domain(host.clone());
    }
    raw.set_path(path.to_owned());
    if secure.eq_ignore_ascii_case("TRUE") {
        raw.set_secure(true);
    }
    if http_only {
        raw.set_http_only(true);
    }
    if expires > 0 {
        raw.set_expires(OffsetDateTime::from_unix_timestamp(expires).ok()?);
    }
    let url = file_url(&host, path)?;
    let cookie = Cookie::try_from_raw_cookie(&raw, &url).ok()?;
    Some((cookie.into_owned(), url))
}

/// A `Set-Cookie:` line of a cookie file: it must name its domain.
fn from_header_line(header: &str) -> Option<(Cookie<'static>, Url)> {
    let raw = RawCookie::parse(header.to_owned()).ok()?;
    if !valid_pair(raw.name(), raw.value()) {
        return None;
    }
    let host = raw.domain()?.trim_start_matches('.').to_ascii_lowercase();
    let url = file_url(&host, raw.path().unwrap_or("/"))?;
    let cookie = Cookie::try_from_raw_cookie(&raw, &url).ok()?;
    Some((cookie.into_owned(), url))
}

/// The URL a cookie of a file counts as set from: `https://` (a file may
/// hold `Secure` cookies), the cookie's host and path.
fn file_url(host: &str, path: &str) -> Option<Url> {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Url::parse(&format!("https://{host}{path}")).ok()
}

/// curl's rules for a `Set-Cookie` from `target` (see the module doc):
/// the cookie to store, or its name and the rule it broke.
fn acceptable(
    mut raw: RawCookie<'static>,
    target: &Target,
    secure: bool,
    store: &Store,
) -> Result<RawCookie<'static>, (String, &'static str)> {
    let name = raw.name().to_owned();
    let refuse = |reason| Err((name.clone(), reason));
    if !valid_pair(raw.name(), raw.value()) {
        return refuse("a control character, or longer than 4096 bytes");
    }
    let marked_secure = raw.secure() == Some(true);
    if marked_secure && !secure {
        return refuse("Secure, set over plain http");
    }
    if name.starts_with("__Secure-") && !marked_secure {
        return refuse("a __Secure- name without Secure");
    }
    if name.starts_with("__Host-")
        && (!marked_secure || raw.domain().is_some() || raw.path() != Some("/"))
    {
        return refuse("a __Host- name without Secure, Path=/ and no Domain");
    }
    let host = target.host.to_ascii_lowercase();
    if let Some(domain) = raw
        .domain()
        .map(|d| d.trim_start_matches('.').to_ascii_lowercase())
    {
        if is_public_suffix(&domain) && !is_ip(&host) {
            if domain != host {
                return refuse("its Domain is a public suffix");
            }
            raw.unset_domain();
        }
    }
    if !marked_secure && !secure && shadows_secure(store, &name, &host) {
        return refuse("it would replace a Secure cookie, over plain http");
    }
    Ok(raw)
}

/// True when a stored `Secure` cookie named `name` belongs to `host`'s
/// domain: one set from a context that is not secure must not replace it.
fn shadows_secure(store: &Store, name: &str, host: &str) -> bool {
    store.cookies.iter_unexpired().any(|c| {
        let domain = String::from(&c.domain);
        c.secure() == Some(true)
            && c.name() == name
            && (host == domain
                || host.ends_with(&format!(".{domain}"))
                || domain.ends_with(&format!(".{host}")))
    })
}

/// A public suffix by psl's list; a name it does not know falls under the
/// implicit `*` rule (its last label), as libpsl's check that curl uses.
fn is_public_suffix(domain: &str) -> bool {
    psl::suffix(domain.as_bytes()).is_some_and(|s| s.as_bytes() == domain.as_bytes())
}

fn is_ip(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// curl's secure context: https, or the host localhost, 127.0.0.1 or ::1.
fn secure_context(target: &Target) -> bool {
    target.scheme == Scheme::Https
        || target.host.eq_ignore_ascii_case("localhost")
        || target.host == "127.0.0.1"
        || target.host == "::1"
}

/// A name and value that can be stored and written back: a name, no
/// control character, not longer than curl takes.
fn valid_pair(name: &str, value: &str) -> bool {
    let clean = |s: &str| !s.bytes().any(|b| b < 0x20 || b == 0x7f);
    !name.is_empty()
        && name.len() + value.len() <= MAX_NAME_VALUE
        && clean(name)
        && clean(value)
        && !name.contains(['=', ';'])
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        url.parse().unwrap()
    }

    fn head(set_cookies: &[&str]) -> Head {
        Head {
            version: 1,
            status: 200,
            reason: "OK".into(),
            headers: set_cookies
                .iter()
                .map(|v| ("Set-Cookie".to_string(), v.to_string()))
                .collect(),
            reason_bytes: None,
            value_bytes: Vec::new(),
        }
    }

    fn jar() -> CookieJar {
        CookieJar::new(&[], true).unwrap()
    }

    #[test]
    fn domain_path_and_host_only_rules() {
        let j = jar();
        j.receive(
            &target("http://a.test/p/q"),
            &head(&["host=1", "dom=2; Domain=a.test; Path=/p", "root=3; Path=/"]),
        );
        assert_eq!(
            j.header(&target("http://a.test/p/x"), true).as_deref(),
            Some("host=1; dom=2; root=3")
        );
        assert_eq!(
            j.header(&target("http://x.a.test/p/"), true).as_deref(),
            Some("dom=2")
        );
        assert_eq!(j.header(&target("http://b.test/p/"), true), None);
        assert_eq!(
            j.header(&target("http://a.test/"), true).as_deref(),
            Some("root=3")
        );
    }

    #[test]
    fn secure_cookies_need_a_secure_context_both_ways() {
        let j = jar();
        j.receive(&target("http://a.test/"), &head(&["s=1; Secure"]));
        assert_eq!(j.header(&target("https://a.test/"), true), None);
        j.receive(&target("https://a.test/"), &head(&["s=2; Secure"]));
        assert_eq!(
            j.header(&target("https://a.test/"), true).as_deref(),
            Some("s=2")
        );
        assert_eq!(j.header(&target("http://a.test/"), true), None);
        // Not over plain http, even to a loopback address curl does not
        // count as secure.
        j.receive(&target("http://127.0.0.1/"), &head(&["l=1; Secure"]));
        assert_eq!(
            j.header(&target("http://127.0.0.1/"), true).as_deref(),
            Some("l=1")
        );
        let t = target("http://127.0.0.2/");
        j.load("127.0.0.2\tFALSE\t/\tTRUE\t0\tm\t1\n", false);
        assert_eq!(j.header(&t, true), None);
        assert_eq!(
            j.header(&target("https://127.0.0.2/"), true).as_deref(),
            Some("m=1")
        );
        // A plain cookie from http does not replace the secure one.
        j.receive(&target("http://a.test/"), &head(&["s=evil"]));
        assert_eq!(
            j.header(&target("https://a.test/"), true).as_deref(),
            Some("s=2")
        );
    }

    #[test]
    fn public_suffixes_and_prefixes() {
        let j = jar();
        let t = target("http://www.example.co.uk/");
        j.receive(
            &t,
            &head(&["a=1; Domain=co.uk", "b=2; Domain=example.co.uk"]),
        );
        assert_eq!(
            j.header(&target("http://other.co.uk/"), true),
            None,
            "co.uk is a public suffix"
        );
        assert_eq!(
            j.header(&target("http://x.example.co.uk/"), true)
                .as_deref(),
            Some("b=2")
        );
        // An unknown top-level domain is a suffix too (libpsl's `*`).
        let t = target("http://a.test/");
        j.receive(&t, &head(&["c=1; Domain=test"]));
        assert_eq!(j.header(&target("http://b.test/"), true), None);
        let s = target("https://a.test/");
        j.receive(
            &s,
            &head(&[
                "__Secure-x=1",
                "__Host-y=1; Secure; Path=/; Domain=a.test",
                "__Host-z=1; Secure; Path=/",
            ]),
        );
        assert_eq!(j.header(&s, true).as_deref(), Some("__Host-z=1"));
    }

    #[test]
    fn expiry_removes_and_order_is_curls() {
        let j = jar();
        let t = target("http://a.test/");
        j.receive(&t, &head(&["bb=1", "aa=2", "c=3", "long=4"]));
        assert_eq!(
            j.header(&t, true).as_deref(),
            Some("long=4; bb=1; aa=2; c=3")
        );
        j.receive(
            &t,
            &head(&[
                "bb=x; Max-Age=0",
                "c=5; Expires=Thu, 01 Jan 1970 00:00:01 GMT",
            ]),
        );
        assert_eq!(j.header(&t, true).as_deref(), Some("long=4; aa=2"));
    }

    #[test]
    fn each_set_cookie_gets_a_note_without_its_value() {
        let j = jar();
        let notes = j.receive(
            &target("http://a.test/p/q"),
            &head(&[
                "a=secret; Domain=a.test",
                "b=1; Secure",
                "c=1; Domain=b.test",
            ]),
        );
        assert_eq!(
            notes[0],
            CookieNote::Stored {
                name: "a".into(),
                domain: ".a.test".into(),
                path: "/p".into(),
                expires: None
            }
        );
        assert!(matches!(&notes[1], CookieNote::Refused { name, .. } if name == "b"));
        assert!(matches!(&notes[2], CookieNote::Refused { name, .. } if name == "c"));
        assert!(!format!("{notes:?}").contains("secret"));
    }

    #[test]
    fn typed_cookies_follow_the_stored_ones() {
        let j = CookieJar::new(&["a=1".into(), "b=2".into()], false).unwrap();
        let t = target("http://a.test/");
        j.receive(&t, &head(&["s=1"]));
        assert_eq!(j.header(&t, true).as_deref(), Some("a=1;b=2"), "no engine");
        assert_eq!(j.header(&t, false), None);
        let j = CookieJar::new(&["a=1".into()], true).unwrap();
        j.receive(&t, &head(&["s=1"]));
        assert_eq!(j.header(&t, true).as_deref(), Some("s=1; a=1"));
        assert!(CookieJar::new(&["a=1\r\nX: y".into()], false).is_err());
    }

    #[test]
    fn netscape_round_trip_and_curls_lines() {
        let j = jar();
        j.receive(
            &target("https://a.test/p/q"),
            &head(&[
                "h=1; HttpOnly; Max-Age=1000",
                "d=2; Domain=a.test; Path=/p",
                "s=3; Secure",
            ]),
        );
        let text = j.netscape();
        assert!(text.starts_with(NETSCAPE_MAGIC), "{text}");
        assert!(
            text.contains("\n.a.test\tTRUE\t/p\tFALSE\t0\td\t2\n"),
            "{text}"
        );
        assert!(
            text.contains("\na.test\tFALSE\t/p\tTRUE\t0\ts\t3\n"),
            "{text}"
        );
        assert!(
            text.contains("\n#HttpOnly_a.test\tFALSE\t/p\tFALSE\t"),
            "{text}"
        );
        let back = jar();
        assert_eq!(back.load(&text, false), 3);
        let sorted = |t: &str| {
            let mut lines: Vec<String> = t.lines().map(String::from).collect();
            lines.sort();
            lines
        };
        assert_eq!(sorted(&back.netscape()), sorted(&text));
        let t = target("https://a.test/p/");
        assert_eq!(j.header(&t, true), back.header(&t, true));
        let junk = jar();
        assert_eq!(junk.load(&text, true), 1, "-j keeps only h");
    }

    #[test]
    fn cookie_files_of_set_cookie_lines() {
        let j = jar();
        let n = j.load(
            "Set-Cookie: nohost=1\nset-cookie: d=2; Domain=a.test\n# c\n\nbad line\n\
             a.test\tFALSE\t/\tFALSE\t1\told\t1\n",
            false,
        );
        assert_eq!(n, 1, "no domain, comment, garbage and expired are skipped");
        assert_eq!(
            j.header(&target("http://x.a.test/"), true).as_deref(),
            Some("d=2")
        );
    }
}
