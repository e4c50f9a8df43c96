//! `Content-Encoding` undone as a stream (`--compressed`): gzip, deflate,
//! br and zstd, each by a well-kept decoder crate (flate2 on zlib-rs,
//! brotli-decompressor, zstd), chained in the reverse order of the field.
//!
//! Bytes only: the decoder is pushed the body as it arrives and writes
//! what it decodes to the `Write` it was handed, holding only each
//! decoder's window, so a body of any size needs bounded memory. It never
//! touches a socket; the raw view of the exchange is not affected.
//!
//! A failure is either the body's (corrupt data: curl's exit 61) or the
//! output's (the `Write` failed: curl's exit 23); [`DecodeError`] says
//! which, by recording the output's own failures rather than by reading
//! error text.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write};
use std::rc::Rc;

/// The `Accept-Encoding` value `--compressed` sends (curl's, with every
/// decoder built in).
pub const ACCEPT_ENCODING: &str = "deflate, gzip, br, zstd";

/// Most encodings stacked in one `Content-Encoding` (curl allows 5).
const MAX_STACK: usize = 5;

/// Why a body could not be decoded.
#[non_exhaustive]
#[derive(Debug)]
pub enum DecodeError {
    /// `Content-Encoding` names an encoding we cannot undo.
    Unsupported(String),
    /// The body is not valid data of its encoding.
    Corrupt(io::Error),
    /// Writing the decoded bytes failed.
    Output(io::Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Unsupported(name) => {
                write!(f, "unrecognized content encoding type '{name}'")
            }
            DecodeError::Corrupt(e) => write!(f, "error while processing content unencoding: {e}"),
            DecodeError::Output(e) => write!(f, "failed writing the output: {e}"),
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Unsupported(_) => None,
            DecodeError::Corrupt(e) | DecodeError::Output(e) => Some(e),
        }
    }
}

/// The output at the end of the chain: remembers its own failure so that
/// it is told apart from a decoder's.
struct Sink<'a> {
    out: Box<dyn Write + 'a>,
    failed: Rc<RefCell<Option<io::ErrorKind>>>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf).inspect_err(|e| {
            *self.failed.borrow_mut() = Some(e.kind());
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().inspect_err(|e| {
            *self.failed.borrow_mut() = Some(e.kind());
        })
    }
}

/// One decoding stage: a `Write` that can be told the input is over.
trait Stage: Write {
    /// The input is complete: decode what is held, then end the stage
    /// below.
    fn end(&mut self) -> io::Result<()>;
}

impl Stage for Sink<'_> {
    fn end(&mut self) -> io::Result<()> {
        self.flush()
    }
}

type Below<'a> = Box<dyn Stage + 'a>;

struct Gzip<'a>(flate2::write::GzDecoder<Below<'a>>);
struct Brotli<'a>(brotli_decompressor::DecompressorWriter<Below<'a>>);
struct Zstd<'a>(zstd::stream::write::Decoder<'static, Below<'a>>);

/// `deflate` is the zlib format (RFC 9110 8.4.1.2), but some servers send
/// raw deflate: as curl does, the first two bytes decide.
enum Deflate<'a> {
    Undecided(Vec<u8>, Option<Below<'a>>),
    Zlib(flate2::write::ZlibDecoder<Below<'a>>),
    Raw(flate2::write::DeflateDecoder<Below<'a>>),
}

macro_rules! forward_write {
    ($t:ident) => {
        impl Write for $t<'_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.write(buf)
            }
            fn flush(&mut self) -> io::Result<()> {
                self.0.flush()
            }
        }
    };
}
forward_write!(Gzip);
forward_write!(Brotli);
forward_write!(Zstd);

impl Stage for Gzip<'_> {
    fn end(&mut self) -> io::Result<()> {
        self.0.try_finish()?;
        self.0.get_mut().end()
    }
}

impl Stage for Brotli<'_> {
    fn end(&mut self) -> io::Result<()> {
        self.0.close()?;
        self.0.get_mut().end()
    }
}

impl Stage for Zstd<'_> {
    fn end(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.0.get_mut().end()
    }
}

impl Deflate<'_> {
    /// Picks zlib or raw deflate from the bytes held so far, and passes
    /// them on.
    fn decide(&mut self) -> io::Result<()> {
        let Deflate::Undecided(first, below) = self else {
            return Ok(());
        };
        let Some(below) = below.take() else {
            return Err(io::Error::other("the deflate stream failed earlier"));
        };
        let zlib = first.len() >= 2
            && first[0] & 0x0f == 8
            && (u16::from(first[0]) << 8 | u16::from(first[1])) % 31 == 0;
        let first = std::mem::take(first);
        *self = if zlib {
            Deflate::Zlib(flate2::write::ZlibDecoder::new(below))
        } else {
            Deflate::Raw(flate2::write::DeflateDecoder::new(below))
        };
        self.write_all(&first)
    }
}

impl Write for Deflate<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Deflate::Undecided(first, _) => {
                first.extend_from_slice(buf);
                if first.len() >= 2 {
                    self.decide()?;
                }
                Ok(buf.len())
            }
            Deflate::Zlib(d) => d.write(buf),
            Deflate::Raw(d) => d.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Deflate::Undecided(..) => Ok(()),
            Deflate::Zlib(d) => d.flush(),
            Deflate::Raw(d) => d.flush(),
        }
    }
}

impl Stage for Deflate<'_> {
    fn end(&mut self) -> io::Result<()> {
        if matches!(self, Deflate::Undecided(first, _) if !first.is_empty()) {
            self.decide()?;
        }
        match self {
            Deflate::Undecided(_, Some(below)) => below.end(),
            Deflate::Undecided(_, None) => Err(io::Error::other("the deflate stream failed")),
            Deflate::Zlib(d) => {
                d.try_finish()?;
                d.get_mut().end()
            }
            Deflate::Raw(d) => {
                d.try_finish()?;
                d.get_mut().end()
            }
        }
    }
}

/// A body decoder for one response: push the body with
/// [`ContentDecoder::write`], then call [`ContentDecoder::finish`].
///
/// ```
/// use std::io::Write;
/// use rawnet::http::decode::ContentDecoder;
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"hello").unwrap();
/// let body = gz.finish().unwrap();
/// let mut out = Vec::new();
/// let mut d = ContentDecoder::new("gzip", Box::new(&mut out)).unwrap();
/// for byte in &body {
///     d.write(std::slice::from_ref(byte)).unwrap();
/// }
/// d.finish().unwrap();
/// assert_eq!(out, b"hello");
/// ```
pub struct ContentDecoder<'a> {
    top: Below<'a>,
    output_failed: Rc<RefCell<Option<io::ErrorKind>>>,
}

impl<'a> ContentDecoder<'a> {
    /// A decoder for a `Content-Encoding` value (comma-separated, applied
    /// in order by the server, so undone last to first). `identity` and
    /// empty entries are skipped.
    pub fn new(encodings: &str, out: Box<dyn Write + 'a>) -> Result<Self, DecodeError> {
        let failed = Rc::new(RefCell::new(None));
        let mut top: Below<'a> = Box::new(Sink {
            out,
            failed: Rc::clone(&failed),
        });
        let names: Vec<String> = encodings
            .split(',')
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty() && s != "identity")
            .collect();
        if names.len() > MAX_STACK {
            return Err(DecodeError::Unsupported(encodings.trim().to_owned()));
        }
        // The first name was applied first, so it is undone last: it
        // sits next to the output.
        for name in &names {
            top = match name.as_str() {
                "gzip" | "x-gzip" => Box::new(Gzip(flate2::write::GzDecoder::new(top))),
                "deflate" => Box::new(Deflate::Undecided(Vec::new(), Some(top))),
                "br" => Box::new(Brotli(brotli_decompressor::DecompressorWriter::new(
                    top,
                    32 * 1024,
                ))),
                "zstd" => Box::new(Zstd(
                    zstd::stream::write::Decoder::new(top).map_err(DecodeError::Corrupt)?,
                )),
                other => return Err(DecodeError::Unsupported(other.to_owned())),
            };
        }
        Ok(ContentDecoder {
            top,
            output_failed: failed,
        })
    }

    /// Decodes `data` (any piece of the body) and writes what it yields.
    pub fn write(&mut self, data: &[u8]) -> Result<(), DecodeError> {
        let result = self.top.write_all(data);
        result.map_err(|e| self.classify(e))
    }

    /// The body is complete: writes the rest and flushes the output.
    pub fn finish(mut self) -> Result<(), DecodeError> {
        let result = self.top.end();
        result.map_err(|e| self.classify(e))
    }

    fn classify(&self, e: io::Error) -> DecodeError {
        match *self.output_failed.borrow() {
            Some(_) => DecodeError::Output(e),
            None => DecodeError::Corrupt(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode_split(enc: &str, body: &[u8], at: usize) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        let mut d = ContentDecoder::new(enc, Box::new(&mut out))?;
        d.write(&body[..at])?;
        d.write(&body[at..])?;
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn every_encoding_at_every_split() {
        let text = b"hello hello hello, compressed world".repeat(20);
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let raw = {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
            e.write_all(&text).unwrap();
            e.finish().unwrap()
        };
        let zstd = zstd::stream::encode_all(&text[..], 3).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("gzip", gzip(&text)),
            ("deflate", zlib),
            ("deflate", raw),
            ("zstd", zstd),
            ("identity", text.clone()),
            ("gzip, gzip", gzip(&gzip(&text))),
        ];
        for (enc, body) in cases {
            for at in 0..=body.len() {
                assert_eq!(decode_split(enc, &body, at).unwrap(), text, "{enc} at {at}");
            }
        }
    }

    #[test]
    fn brotli_decodes() {
        // "hello" as one uncompressed meta-block (WBITS 16, MLEN 5), then
        // the empty last meta-block (RFC 7932 section 9.2).
        let body = [0x40, 0x00, 0x10, b'h', b'e', b'l', b'l', b'o', 0x03];
        for at in 0..=body.len() {
            assert_eq!(decode_split("br", &body, at).unwrap(), b"hello");
        }
    }

    #[test]
    fn corrupt_unknown_and_output_failures_are_told_apart() {
        assert!(matches!(
            decode_split("gzip", b"not gzip at all", 3),
            Err(DecodeError::Corrupt(_))
        ));
        assert!(matches!(
            ContentDecoder::new("compress", Box::new(Vec::new())),
            Err(DecodeError::Unsupported(n)) if n == "compress"
        ));
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let body = gzip(&[b'x'; 100_000]);
        let mut d = ContentDecoder::new("gzip", Box::new(Full)).unwrap();
        let r = d.write(&body).and_then(|()| d.finish());
        assert!(matches!(r, Err(DecodeError::Output(_))), "{r:?}");
    }
}
