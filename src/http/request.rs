//! The request, built by hand: `METHOD /path HTTP/1.1` (or `HTTP/1.0`
//! with `--http1.0`), our default headers, the user's headers, the body.
//!
//! It is split in two: [`RequestSpec`] is what the user asked for (method,
//! `-H` arguments, body source), [`RequestHead`] the head for one target
//! (`Host`, URL credentials, `Content-Length`), so a redirect hop can be
//! re-targeted without the command line.
//!
//! Defaults follow curl so a server sees what it would see from curl:
//! `Host` (with the port unless 80), `User-Agent: rawget/VERSION`,
//! `Accept: */*`, and no `Connection` header: the connection stays open
//! for the next exchange unless either side says `Connection: close`.
//! A user header with the same name replaces a default in place; `Name:`
//! with nothing after the colon removes it (curl's `-H "Accept:"`); `Name;`
//! sends the header with an empty value (curl's `-H "X-Empty;"`).
//!
//! Everything is validated before a byte is sent: a method or header name
//! that is not an RFC 9110 token, or a value with CR or LF in it (request
//! smuggling through a header), is a [`RequestError`].

use std::fmt;

use base64::Engine as _;

use super::body::Body;
use super::target::Target;

/// What the user asked for, independent of where it is sent: method, `-H`
/// arguments, body. A redirect hop re-targets it with
/// [`RequestSpec::head_for`] without going back to the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// The method, for example `GET`.
    pub method: String,
    /// The user's header arguments, validated, in the order given.
    user_headers: Vec<HeaderArg>,
    /// The body, if any (sent with `Content-Length`).
    pub body: Option<Body>,
    /// The version the request line names (`--http1.0`); the body is
    /// always sent with `Content-Length`, so a 1.0 request needs no chunks.
    pub version: Version,
}

/// The HTTP version of a request line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: the connection is kept only when the response says
    /// `Connection: keep-alive`.
    Http10,
    /// `HTTP/1.1`.
    #[default]
    Http11,
}

impl Version {
    /// As the request line writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// The head of one request to one target: request line and header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method.
    pub method: String,
    /// The request target (`/path?query`).
    pub path_and_query: String,
    /// Header fields in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// The version the request line names.
    pub version: Version,
}

/// Why a request cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The method is not a token.
    BadMethod(String),
    /// A `-H` argument is not `Name: value`, `Name:` or `Name;`, or
    /// contains CR/LF.
    BadHeader(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::BadMethod(m) => write!(f, "invalid method {m:?}: must be a token"),
            RequestError::BadHeader(h) => write!(
                f,
                "invalid header {h:?}: expected 'Name: value' with no CR or LF"
            ),
        }
    }
}

impl std::error::Error for RequestError {}

/// What a user header argument asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum HeaderArg {
    Set(String, String),
    Remove(String),
}

impl HeaderArg {
    fn name(&self) -> &str {
        match self {
            HeaderArg::Set(n, _) | HeaderArg::Remove(n) => n,
        }
    }
}

/// The `User-Agent` we send by default.
pub const USER_AGENT: &str = concat!("rawget/", env!("CARGO_PKG_VERSION"));

/// Header fields that carry credentials: not sent on to another host on a
/// redirect (curl CVE-2018-1000007, CVE-2022-27776; a user's
/// `Proxy-Authorization` neither).
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

impl RequestSpec {
    /// Validates what the user asked for.
    ///
    /// `user_headers` are `-H` arguments as typed. With a body and no
    /// user `Content-Type`, curl's `application/x-www-form-urlencoded` is
    /// added, as `curl -d` does.
    ///
    /// ```
    /// use rawnet::http::request::RequestSpec;
    /// let t = "localhost:8080/x".parse().unwrap();
    /// let req = RequestSpec::new("GET", &["Accept: text/plain".to_string()], None).unwrap();
    /// let text = String::from_utf8(req.head_for(&t, None, true).to_bytes()).unwrap();
    /// assert!(text.starts_with("GET /x HTTP/1.1\r\nHost: localhost:8080\r\n"));
    /// assert!(text.ends_with("\r\nAccept: text/plain\r\n\r\n"));
    /// assert!(!text.contains("Connection"));
    /// ```
    pub fn new(
        method: &str,
        user_headers: &[String],
        body: Option<Body>,
    ) -> Result<RequestSpec, RequestError> {
        if !is_token(method) {
            return Err(RequestError::BadMethod(method.to_owned()));
        }
        let user_headers = user_headers
            .iter()
            .map(|h| parse_header_arg(h))
            .collect::<Result<_, _>>()?;
        Ok(RequestSpec {
            method: method.to_owned(),
            user_headers,
            body,
            version: Version::Http11,
        })
    }

    /// The same request as another method, without a body (a 303, or a
    /// 301/302 after a POST).
    pub fn as_get(&self, method: &str) -> RequestSpec {
        RequestSpec {
            method: method.to_owned(),
            user_headers: self.user_headers.clone(),
            body: None,
            version: self.version,
        }
    }

    /// The same request without the user's `-H` arguments for header
    /// `name`: a custom `Host` is not sent to another host on a redirect
    /// (as in curl, which keeps it for the first host only).
    pub fn without_user_header(&self, name: &str) -> RequestSpec {
        RequestSpec {
            method: self.method.clone(),
            user_headers: self
                .user_headers
                .iter()
                .filter(|h| !h.name().eq_ignore_ascii_case(name))
                .cloned()
                .collect(),
            body: self.body.clone(),
            version: self.version,
        }
    }

    /// True when the user gave header `name` with `-H` (to set or remove it).
    pub fn has_user_header(&self, name: &str) -> bool {
        self.user_headers
            .iter()
            .any(|h| h.name().eq_ignore_ascii_case(name))
    }

    /// The head for `target`: `Host`, our defaults, Basic credentials from
    /// the target's URL, `Content-Length: body_len` when there is a body,
    /// then the user's headers. Without `credentials`, the user's
    /// `Authorization` and `Cookie` are left out (a redirect to another
    /// host).
    pub fn head_for(
        &self,
        target: &Target,
        body_len: Option<u64>,
        credentials: bool,
    ) -> RequestHead {
        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), target.host_header()),
            ("User-Agent".into(), USER_AGENT.into()),
            ("Accept".into(), "*/*".into()),
        ];
        if let Some((user, pass)) = &target.credentials {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            headers.push(("Authorization".into(), format!("Basic {token}")));
        }
        if let Some(len) = body_len {
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
            headers.push(("Content-Length".into(), len.to_string()));
        }
        for arg in &self.user_headers {
            let sensitive = CREDENTIAL_HEADERS
                .iter()
                .any(|h| arg.name().eq_ignore_ascii_case(h));
            if credentials || !sensitive {
                apply(&mut headers, arg.clone());
            }
        }
        RequestHead {
            method: self.method.clone(),
            path_and_query: target.path_and_query.clone(),
            headers,
            version: self.version,
        }
    }

    /// True when the user's headers ask the server to close the
    /// connection after this exchange (`-H "Connection: close"`).
    pub fn asks_to_close(&self) -> bool {
        self.user_headers.iter().any(|h| match h {
            HeaderArg::Set(n, v) => {
                n.eq_ignore_ascii_case("connection")
                    && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
            }
            HeaderArg::Remove(_) => false,
        })
    }

    /// True for `HEAD`, whose response never has a body.
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }
}

impl RequestHead {
    /// The head exactly as it goes on the wire (the body follows it).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path_and_query.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.version.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

fn parse_header_arg(arg: &str) -> Result<HeaderArg, RequestError> {
    let bad = || RequestError::BadHeader(arg.to_owned());
    if arg.contains(['\r', '\n', '\0']) {
        return Err(bad());
    }
    if let Some(name) = arg.strip_suffix(';') {
        if is_token(name) {
            return Ok(HeaderArg::Set(name.to_owned(), String::new()));
        }
    }
    let (name, value) = arg.split_once(':').ok_or_else(bad)?;
    if !is_token(name) {
        return Err(bad());
    }
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        Ok(HeaderArg::Remove(name.to_owned()))
    } else {
        Ok(HeaderArg::Set(name.to_owned(), value.to_owned()))
    }
}

fn apply(headers: &mut Vec<(String, String)>, arg: HeaderArg) {
    match arg {
        HeaderArg::Remove(name) => headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name)),
        HeaderArg::Set(name, value) => {
            match headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                Some(slot) => *slot = (name, value),
                None => headers.push((name, value)),
            }
        }
    }
}

/// RFC 9110 `token`: one or more tchar.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        s.parse().unwrap()
    }

    fn text(req: &RequestSpec, t: &str, body_len: Option<u64>) -> String {
        String::from_utf8(req.head_for(&target(t), body_len, true).to_bytes()).unwrap()
    }

    #[test]
    fn default_get_is_exact() {
        let req = RequestSpec::new("GET", &[], None).unwrap();
        assert_eq!(
            text(&req, "example.com/p?q=1", None),
            format!(
                "GET /p?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: {USER_AGENT}\r\n\
                 Accept: */*\r\n\r\n"
            )
        );
    }

    #[test]
    fn http_1_0_names_its_version() {
        let mut req = RequestSpec::new("GET", &[], None).unwrap();
        req.version = Version::Http10;
        assert!(text(&req, "h/x", None).starts_with("GET /x HTTP/1.0\r\nHost: h\r\n"));
        assert_eq!(req.as_get("GET").version, Version::Http10);
    }

    #[test]
    fn user_headers_replace_remove_and_add() {
        let hs = ["accept: text/html", "User-Agent:", "X-Empty;", "X-A: 1"].map(String::from);
        let req = RequestSpec::new("GET", &hs, None).unwrap();
        assert_eq!(
            req.head_for(&target("h:81"), None, true).headers,
            vec![
                ("Host".to_string(), "h:81".to_string()),
                ("accept".to_string(), "text/html".to_string()),
                ("X-Empty".to_string(), String::new()),
                ("X-A".to_string(), "1".to_string()),
            ]
        );
    }

    #[test]
    fn body_gets_length_and_type() {
        let req = RequestSpec::new("POST", &[], Some(Body::bytes(&b"a=1"[..]))).unwrap();
        let t = text(&req, "h", Some(3));
        assert!(t.contains("Content-Length: 3\r\n"), "{t}");
        assert!(t.contains("Content-Type: application/x-www-form-urlencoded\r\n"));
        assert!(t.ends_with("\r\n\r\n"));
    }

    #[test]
    fn basic_auth_from_url() {
        let req = RequestSpec::new("GET", &[], None).unwrap();
        assert!(req
            .head_for(&target("http://user:pw@h/"), None, true)
            .headers
            .contains(&("Authorization".into(), "Basic dXNlcjpwdw==".into())));
    }

    #[test]
    fn credentials_can_be_left_out() {
        let hs = ["Cookie: a=1", "authorization: x", "X-Keep: 1"].map(String::from);
        let req = RequestSpec::new("GET", &hs, None).unwrap();
        let names: Vec<String> = req
            .head_for(&target("h"), None, false)
            .headers
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(names.contains(&"X-Keep".to_string()), "{names:?}");
        assert!(!names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("cookie") || n.eq_ignore_ascii_case("authorization")));
    }

    #[test]
    fn rejects_injection_and_bad_tokens() {
        for h in [
            "X: a\r\nEvil: 1",
            "no colon",
            ": v",
            "Bad Name: v",
            "X: a\nb",
        ] {
            assert!(
                RequestSpec::new("GET", &[h.to_string()], None).is_err(),
                "{h:?}"
            );
        }
        assert!(RequestSpec::new("GE T", &[], None).is_err());
        assert!(RequestSpec::new("", &[], None).is_err());
    }
}
