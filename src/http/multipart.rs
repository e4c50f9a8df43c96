//! `multipart/form-data` request bodies (RFC 7578), laid out byte for
//! byte as curl's `-F` lays them out, so a server sees the same parts.
//!
//! Bytes only: a [`Form`] is a list of typed parts and a boundary; it
//! becomes a streamed [`Body`] whose file parts are read while they are
//! sent (a large upload costs no memory), with its length known up front
//! for `Content-Length`. Parsing curl's `-F` syntax is the binary's job.
//!
//! The layout (curl 7.88): every part starts with `--BOUNDARY` CRLF, a
//! `Content-Disposition: form-data; name="N"` line (with `; filename="F"`
//! when the part has a file name), a `Content-Type` line when there is a
//! type, an empty line, the content, and CRLF; the body ends with
//! `--BOUNDARY--` CRLF. Names and file names are quoted with `"`, CR and LF
//! written as `%22`, `%0D`, `%0A`, as curl does. The type of a part with
//! no explicit type is guessed from its file name with curl's own short
//! table ([`guess_type`]), so the bytes match curl's.

use std::path::PathBuf;
use std::sync::Arc;

use super::body::{Body, BodyPart};

/// What a part carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Bytes given on the command line, or read once (stdin, a FIFO).
    Bytes(Arc<[u8]>),
    /// A regular file, read while the body is sent.
    File(PathBuf),
}

/// One part of a form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The field name (`name="..."`).
    pub name: String,
    /// The content.
    pub content: Content,
    /// The file name the server is told (`filename="..."`), if any.
    pub filename: Option<String>,
    /// The part's `Content-Type`, if any.
    pub content_type: Option<String>,
}

/// A form: its parts in order, and the boundary between them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Form {
    boundary: String,
    parts: Vec<Part>,
}

impl Form {
    /// A form with this boundary (see [`random_boundary`]). The boundary
    /// must not occur in any content: a random one of 64 bits makes that
    /// as unlikely as curl's does.
    pub fn new(boundary: String, parts: Vec<Part>) -> Form {
        Form { boundary, parts }
    }

    /// The request's `Content-Type` value.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The parts.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The body: each part's head, its content (files streamed) and the
    /// closing delimiter.
    ///
    /// ```
    /// use std::io::Read;
    /// use rawnet::http::multipart::{Content, Form, Part};
    /// let part = Part {
    ///     name: "a".into(),
    ///     content: Content::Bytes(b"1".as_slice().into()),
    ///     filename: None,
    ///     content_type: None,
    /// };
    /// let form = Form::new("XyZ".into(), vec![part]);
    /// let mut text = String::new();
    /// form.body().open().unwrap().read_to_string(&mut text).unwrap();
    /// assert_eq!(
    ///     text,
    ///     "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--XyZ--\r\n"
    /// );
    /// ```
    pub fn body(&self) -> Body {
        let mut body = Body::new();
        let mut text = Vec::new();
        for part in &self.parts {
            text.extend_from_slice(self.part_head(part).as_bytes());
            match &part.content {
                Content::Bytes(b) => text.extend_from_slice(b),
                Content::File(path) => {
                    body.push(BodyPart::Bytes(Arc::from(std::mem::take(&mut text))));
                    body.push(BodyPart::File(path.clone()));
                }
            }
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        body.push(BodyPart::Bytes(Arc::from(text)));
        body
    }

    fn part_head(&self, part: &Part) -> String {
        let mut head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"",
            self.boundary,
            escape(&part.name)
        );
        if let Some(filename) = &part.filename {
            head.push_str(&format!("; filename=\"{}\"", escape(filename)));
        }
        head.push_str("\r\n");
        if let Some(t) = &part.content_type {
            head.push_str(&format!("Content-Type: {t}\r\n"));
        }
        head.push_str("\r\n");
        head
    }
}

/// A boundary as curl makes them: 24 dashes and 16 random hex digits
/// (from the kernel's random source).
pub fn random_boundary() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{}{hex}", "-".repeat(24)))
}

/// The `Content-Type` curl gives a file of this name: its short table of
/// extensions (case ignored), nothing for any other name.
///
/// ```
/// use rawnet::http::multipart::guess_type;
/// assert_eq!(guess_type("a.TXT"), Some("text/plain"));
/// assert_eq!(guess_type("a.json"), None);
/// ```
pub fn guess_type(filename: &str) -> Option<&'static str> {
    const TABLE: [(&str, &str); 10] = [
        (".gif", "image/gif"),
        (".jpg", "image/jpeg"),
        (".jpeg", "image/jpeg"),
        (".png", "image/png"),
        (".svg", "image/svg+xml"),
        (".txt", "text/plain"),
        (".htm", "text/html"),
        (".html", "text/html"),
        (".pdf", "application/pdf"),
        (".xml", "application/xml"),
    ];
    let lower = filename.to_ascii_lowercase();
    TABLE
        .iter()
        .find(|(ext, _)| lower.ends_with(ext))
        .map(|(_, t)| *t)
}

/// A name or file name inside `"..."`: `"`, CR and LF percent-encoded.
fn escape(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn bytes(s: &str) -> Content {
        Content::Bytes(s.as_bytes().into())
    }

    #[test]
    fn parts_are_laid_out_as_curl_lays_them_out() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"hello\nworld\n").unwrap();
        let parts = vec![
            Part {
                name: "n".into(),
                content: bytes("v"),
                filename: None,
                content_type: None,
            },
            Part {
                name: "f".into(),
                content: Content::File(f.path().to_owned()),
                filename: Some("a\"b.txt".into()),
                content_type: Some("text/plain".into()),
            },
        ];
        let form = Form::new("B".into(), parts);
        assert_eq!(form.content_type(), "multipart/form-data; boundary=B");
        let body = form.body();
        let mut r = body.open().unwrap();
        let mut text = String::new();
        let len = r.len();
        r.read_to_string(&mut text).unwrap();
        assert_eq!(
            text,
            "--B\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nv\r\n\
             --B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a%22b.txt\"\r\n\
             Content-Type: text/plain\r\n\r\nhello\nworld\n\r\n--B--\r\n"
        );
        assert_eq!(len, text.len() as u64);
    }

    #[test]
    fn boundaries_are_random_and_shaped_as_curls() {
        let (a, b) = (random_boundary().unwrap(), random_boundary().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 40);
        assert!(a.starts_with(&"-".repeat(24)));
        assert!(a[24..].bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn types_come_from_curls_table_only() {
        assert_eq!(guess_type("x.jpeg"), Some("image/jpeg"));
        assert_eq!(guess_type("pic.PNG"), Some("image/png"));
        assert_eq!(guess_type(".txt"), Some("text/plain"));
        assert_eq!(guess_type("noext"), None);
    }
}
