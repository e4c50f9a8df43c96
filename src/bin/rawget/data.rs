//! The request body from `-d`, `--data-binary`, `--data-raw` and
//! `--data-urlencode`, joined with `&` in the order typed, as curl does.
//!
//! curl's file rules: `-d @FILE` (and `-d @-`) drops every CR and LF of
//! the file; `--data-binary @FILE` sends it byte for byte, streamed from
//! a regular file while it is sent (opened here once, so a missing file
//! stops the run before anything is sent); `--data-raw` never reads a
//! file; `--data-urlencode` encodes the content (`NAME=` kept as typed).
//! Stdin is read once and shared by every URL.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use rawnet::http::body::{Body, BodyPart};

use crate::curl_args::{split_urlencode, urlencode, DataArg, DataKind, UrlEncodeArg};

/// A data argument that could not be read: the message for the user
/// (curl exit 26).
pub type ReadFailure = String;

/// The body, or `None` without data arguments. `stream_files`: a
/// `--data-binary @FILE` may be streamed (false for `-G`, which needs
/// the bytes for the URL).
pub fn body(args: &[DataArg], stream_files: bool) -> Result<Option<Body>, ReadFailure> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut body = Body::new();
    let mut text = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            text.push(b'&');
        }
        let read_error = |e: io::Error| format!("cannot read data from '{}': {e}", arg.value);
        let file = arg.value.strip_prefix('@');
        match (arg.kind, file) {
            (DataKind::Data, Some(path)) => {
                let bytes = read_all(path).map_err(read_error)?;
                text.extend(bytes.into_iter().filter(|b| !matches!(b, b'\r' | b'\n')));
            }
            (DataKind::Binary, Some(path))
                if stream_files && path != "-" && is_regular_file(path).map_err(read_error)? =>
            {
                if !text.is_empty() {
                    body.push(BodyPart::Bytes(Arc::from(std::mem::take(&mut text))));
                }
                body.push(BodyPart::File(path.into()));
            }
            (DataKind::Binary, Some(path)) => {
                text.extend(read_all(path).map_err(read_error)?);
            }
            (DataKind::UrlEncode, _) => match split_urlencode(&arg.value) {
                UrlEncodeArg::Content { name, content } => {
                    push_named(&mut text, name, &urlencode(content.as_bytes()));
                }
                UrlEncodeArg::File { name, path } => {
                    let bytes = read_all(path).map_err(read_error)?;
                    push_named(&mut text, name, &urlencode(&bytes));
                }
            },
            _ => text.extend_from_slice(arg.value.as_bytes()),
        }
    }
    if !text.is_empty() {
        body.push(BodyPart::Bytes(Arc::from(text)));
    }
    body.open().map_err(|e| e.to_string())?;
    Ok(Some(body))
}

/// `-T FILE`: the file as the body, streamed when it is a regular file
/// (`-`: stdin, read once).
pub fn upload(file: &std::path::Path) -> Result<Body, ReadFailure> {
    let read_error = |e: io::Error| format!("cannot read '{}': {e}", file.display());
    let path = file.to_string_lossy();
    let body = if path != "-" && is_regular_file(&path).map_err(read_error)? {
        let mut body = Body::new();
        body.push(BodyPart::File(file.to_owned()));
        body
    } else {
        Body::bytes(read_all(&path).map_err(read_error)?)
    };
    body.open().map_err(|e| e.to_string())?;
    Ok(body)
}

/// The whole body as bytes (for `-G`).
pub fn bytes(args: &[DataArg]) -> Result<Vec<u8>, ReadFailure> {
    let Some(body) = body(args, false)? else {
        return Ok(Vec::new());
    };
    let mut reader = body.open().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.fill(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn push_named(text: &mut Vec<u8>, name: Option<&str>, encoded: &str) {
    if let Some(name) = name {
        text.extend_from_slice(name.as_bytes());
        text.push(b'=');
    }
    text.extend_from_slice(encoded.as_bytes());
}

/// A file's bytes, or stdin's for `-`.
fn read_all(path: &str) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path == "-" {
        io::stdin().read_to_end(&mut bytes)?;
    } else {
        File::open(path)?.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// True for a regular file with a size (streamed, the size announced up
/// front); false for a FIFO, a device or a `/proc` file (which says it
/// is empty), read once instead.
fn is_regular_file(path: &str) -> io::Result<bool> {
    std::fs::metadata(path).map(|m| m.is_file() && m.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(kind: DataKind, value: &str) -> DataArg {
        DataArg {
            kind,
            value: value.into(),
        }
    }

    #[test]
    fn files_follow_curl_and_everything_joins_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "a\r\nb\nc").unwrap();
        let at = format!("@{}", f.display());
        let args = [
            arg(DataKind::Data, &at),
            arg(DataKind::Raw, "@x"),
            arg(DataKind::Binary, &at),
            arg(DataKind::UrlEncode, &format!("n{at}")),
            arg(DataKind::UrlEncode, "q=a b"),
        ];
        assert_eq!(
            bytes(&args).unwrap(),
            b"abc&@x&a\r\nb\nc&n=a%0D%0Ab%0Ac&q=a+b"
        );
        assert!(bytes(&[arg(DataKind::Data, "@/nonexistent/x")]).is_err());
    }
}
