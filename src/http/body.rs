//! The request body as a source that is streamed, not held: `-d @FILE`
//! is read from the file while it is sent, re-opened for every URL and
//! every 307/308 hop, so memory does not grow with the file size or the
//! number of URLs.
//!
//! A [`Body`] is a list of parts (literal bytes, shared; or a file path);
//! [`Body::open`] opens the files, fixes the length announced in
//! `Content-Length`, and gives a [`BodyReader`] that yields exactly that
//! many bytes (a file that shrinks while it is sent is an error, one that
//! grows is cut at the announced length).

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

/// One piece of a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyPart {
    /// Bytes given on the command line or read once (stdin), shared by
    /// every URL.
    Bytes(Arc<[u8]>),
    /// A file, read while sending.
    File(PathBuf),
}

/// A request body: its parts in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    parts: Vec<BodyPart>,
}

impl Body {
    /// An empty body (`Content-Length: 0`).
    pub fn new() -> Body {
        Body::default()
    }

    /// A body of these bytes.
    pub fn bytes(data: impl Into<Arc<[u8]>>) -> Body {
        let mut b = Body::new();
        b.push(BodyPart::Bytes(data.into()));
        b
    }

    /// Appends a part.
    pub fn push(&mut self, part: BodyPart) {
        self.parts.push(part);
    }

    /// Opens every file part and returns a reader of the whole body.
    ///
    /// ```
    /// use std::io::Read;
    /// use rawnet::http::body::{Body, BodyPart};
    /// let mut body = Body::bytes(&b"a=1"[..]);
    /// body.push(BodyPart::Bytes(b"&b=2".as_slice().into()));
    /// let mut r = body.open().unwrap();
    /// assert_eq!(r.len(), 7);
    /// let mut s = String::new();
    /// r.read_to_string(&mut s).unwrap();
    /// assert_eq!(s, "a=1&b=2");
    /// ```
    pub fn open(&self) -> Result<BodyReader, BodyError> {
        let mut open = Vec::with_capacity(self.parts.len());
        let mut len = 0u64;
        for part in &self.parts {
            let (source, n) = match part {
                BodyPart::Bytes(b) => (Source::Bytes(Arc::clone(b), 0), b.len() as u64),
                BodyPart::File(path) => {
                    let fail = |source| BodyError {
                        path: path.clone(),
                        source,
                    };
                    let file = File::open(path).map_err(fail)?;
                    let n = file.metadata().map_err(fail)?.len();
                    (Source::File(file.take(n), path.clone()), n)
                }
            };
            len += n;
            open.push(source);
        }
        open.reverse();
        Ok(BodyReader { open, len })
    }
}

/// A file part that cannot be opened or read (curl's exit 26).
#[derive(Debug)]
pub struct BodyError {
    /// The file.
    pub path: PathBuf,
    /// The OS error, or `UnexpectedEof` for a file that shrank.
    pub source: io::Error,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read data from '{}': {}",
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

enum Source {
    Bytes(Arc<[u8]>, usize),
    File(io::Take<File>, PathBuf),
}

/// The body being sent: exactly [`BodyReader::len`] bytes.
pub struct BodyReader {
    /// Parts not finished yet, the current one last.
    open: Vec<Source>,
    len: u64,
}

impl BodyReader {
    /// The length announced in `Content-Length`.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `buf` as far as the body allows; 0 at the end. A file that
    /// ends before its announced length is a [`BodyError`].
    pub fn fill(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        while let Some(current) = self.open.last_mut() {
            let n = match current {
                Source::Bytes(b, at) => {
                    let n = (b.len() - *at).min(buf.len());
                    buf[..n].copy_from_slice(&b[*at..*at + n]);
                    *at += n;
                    n
                }
                Source::File(f, path) => {
                    let fail = |source| BodyError {
                        path: path.clone(),
                        source,
                    };
                    let n = loop {
                        match f.read(buf) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            r => break r.map_err(fail)?,
                        }
                    };
                    if n == 0 && f.limit() > 0 {
                        return Err(fail(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the file got shorter while it was sent",
                        )));
                    }
                    n
                }
            };
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.open.pop();
        }
        Ok(0)
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill(buf).map_err(|e| e.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn files_are_read_while_sending_and_reopened() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"0123456789").unwrap();
        let mut body = Body::bytes(&b"["[..]);
        body.push(BodyPart::File(f.path().to_owned()));
        body.push(BodyPart::Bytes(b"]".as_slice().into()));
        for _ in 0..2 {
            let mut r = body.open().unwrap();
            assert_eq!(r.len(), 12);
            let mut out = Vec::new();
            let mut buf = [0u8; 3];
            loop {
                let n = r.fill(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            assert_eq!(out, b"[0123456789]");
        }
    }

    #[test]
    fn a_file_that_shrinks_is_an_error_and_a_missing_one_too() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"0123456789").unwrap();
        let body = {
            let mut b = Body::new();
            b.push(BodyPart::File(f.path().to_owned()));
            b
        };
        let mut r = body.open().unwrap();
        f.as_file().set_len(4).unwrap();
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let mut missing = Body::new();
        missing.push(BodyPart::File("/nonexistent/rawget-test".into()));
        assert!(missing.open().is_err());
    }
}
