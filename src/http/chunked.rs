//! The chunked transfer coding (RFC 9112 section 7.1), decoded byte by byte.
//!
//! The decoder is a state machine that never buffers: chunk data is handed
//! out as slices of the input, and a chunk-size line is consumed as it
//! arrives, so a line split across any number of reads costs nothing extra.
//! It stops right after the last-chunk line (`0` CRLF); the trailer section
//! that follows is a header section, which the response reader collects and
//! parses like a head.
//!
//! Lenient where the grammar allows it, strict where framing is at stake:
//! bare LF is accepted in place of CRLF, whitespace and chunk extensions
//! after the size are skipped unread; an empty, non-hex or overflowing
//! size, anything but a line end after chunk data, and a size line longer
//! than the limit are all [`Error::BadChunk`].

use super::error::Error;
use super::lint::Warning;

/// Where the decoder stands in the chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` once one was seen.
    Size { value: u64, digits: bool },
    /// Whitespace after the size, before `;` or the line end.
    AfterSize { value: u64 },
    /// Inside chunk extensions, which are ignored up to the line end.
    Extension { value: u64 },
    /// A CR ended the size line; an LF must follow.
    SizeLf { value: u64 },
    /// Inside chunk data with this many bytes left.
    Data { remaining: u64 },
    /// Chunk data is over; CRLF or LF must follow.
    DataEnd,
    /// A CR followed chunk data; an LF must follow.
    DataLf,
    /// The last-chunk line has been read: trailers follow.
    Last,
}

/// Decodes a chunked body, handing chunk data to a callback.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkDecoder {
    state: State,
    /// Bytes of the current chunk-size line so far.
    line_len: usize,
    /// A chunk extension was seen (for the linter).
    saw_extension: bool,
    /// A line of the chunk framing ended with a bare LF (for the linter).
    saw_bare_lf: bool,
    /// A warning not yet taken by the reader: [`ChunkDecoder::push`]
    /// stops right after the byte that raised it, so the warning comes
    /// before any later data however the input is split.
    pending: Option<Warning>,
}

impl ChunkDecoder {
    /// A decoder at the start of the first chunk-size line.
    pub(crate) fn new() -> Self {
        ChunkDecoder {
            state: State::Size {
                value: 0,
                digits: false,
            },
            line_len: 0,
            saw_extension: false,
            saw_bare_lf: false,
            pending: None,
        }
    }

    /// The warning raised by the last byte [`ChunkDecoder::push`] took.
    pub(crate) fn take_warning(&mut self) -> Option<Warning> {
        self.pending.take()
    }

    /// Raises `warning` when `first` (the first time it applies).
    fn note(&mut self, first: bool, warning: Warning) {
        if first {
            self.pending = Some(warning);
        }
    }

    /// True once the last-chunk line has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Last
    }

    /// Decodes from `input`, passing chunk data to `data` (never empty),
    /// until the input or the chunks run out. Returns the bytes consumed;
    /// fewer than `input.len()` only when the last-chunk line ended.
    /// A chunk-size line longer than `max_line` bytes is an error.
    pub(crate) fn push<F>(
        &mut self,
        input: &[u8],
        max_line: usize,
        mut data: F,
    ) -> Result<usize, Error>
    where
        F: FnMut(&[u8]) -> Result<(), Error>,
    {
        let mut used = 0;
        while used < input.len() && !self.is_done() && self.pending.is_none() {
            used += match self.state {
                State::Data { remaining } => {
                    self.take_data(&input[used..], remaining, &mut data)?
                }
                _ => self.step(input[used], max_line).map(|()| 1)?,
            };
        }
        Ok(used)
    }

    /// Passes up to `remaining` bytes of chunk data on.
    fn take_data<F>(&mut self, input: &[u8], remaining: u64, data: &mut F) -> Result<usize, Error>
    where
        F: FnMut(&[u8]) -> Result<(), Error>,
    {
        let n = usize::try_from(remaining).map_or(input.len(), |r| r.min(input.len()));
        data(&input[..n])?;
        let left = remaining - n as u64;
        self.state = if left == 0 {
            State::DataEnd
        } else {
            State::Data { remaining: left }
        };
        Ok(n)
    }

    /// Consumes one framing byte (anything outside chunk data).
    fn step(&mut self, b: u8, max_line: usize) -> Result<(), Error> {
        if self.in_size_line() {
            self.line_len += 1;
            if self.line_len > max_line {
                return Err(Error::BadChunk);
            }
        }
        self.state = match self.state {
            State::Size { value, digits } => self.size_byte(value, digits, b)?,
            State::AfterSize { value } => self.after_size_byte(value, b)?,
            State::Extension { value } => self.extension_byte(value, b),
            State::SizeLf { value } => {
                expect_lf(b)?;
                self.line_end(value)
            }
            State::DataEnd => self.data_end_byte(b)?,
            State::DataLf => {
                expect_lf(b)?;
                Self::next_size()
            }
            // Not reached: `push` handles data and stops at the last chunk.
            state @ (State::Data { .. } | State::Last) => state,
        };
        Ok(())
    }

    fn in_size_line(&self) -> bool {
        matches!(
            self.state,
            State::Size { .. }
                | State::AfterSize { .. }
                | State::Extension { .. }
                | State::SizeLf { .. }
        )
    }

    fn next_size() -> State {
        State::Size {
            value: 0,
            digits: false,
        }
    }

    fn size_byte(&mut self, value: u64, digits: bool, b: u8) -> Result<State, Error> {
        if let Some(d) = hex_value(b) {
            let value = value
                .checked_mul(16)
                .and_then(|v| v.checked_add(d))
                .ok_or(Error::BadChunk)?;
            return Ok(State::Size {
                value,
                digits: true,
            });
        }
        if !digits {
            return Err(Error::BadChunk);
        }
        self.after_size_byte(value, b)
    }

    fn after_size_byte(&mut self, value: u64, b: u8) -> Result<State, Error> {
        match b {
            b' ' | b'\t' => Ok(State::AfterSize { value }),
            b';' => {
                self.note(!self.saw_extension, Warning::ChunkExtension);
                self.saw_extension = true;
                Ok(State::Extension { value })
            }
            b'\r' => Ok(State::SizeLf { value }),
            b'\n' => {
                self.note(!self.saw_bare_lf, Warning::BareLf);
                self.saw_bare_lf = true;
                Ok(self.line_end(value))
            }
            _ => Err(Error::BadChunk),
        }
    }

    fn extension_byte(&mut self, value: u64, b: u8) -> State {
        match b {
            b'\r' => State::SizeLf { value },
            b'\n' => {
                self.note(!self.saw_bare_lf, Warning::BareLf);
                self.saw_bare_lf = true;
                self.line_end(value)
            }
            _ => State::Extension { value },
        }
    }

    fn data_end_byte(&mut self, b: u8) -> Result<State, Error> {
        match b {
            b'\r' => Ok(State::DataLf),
            b'\n' => {
                self.note(!self.saw_bare_lf, Warning::BareLf);
                self.saw_bare_lf = true;
                Ok(Self::next_size())
            }
            _ => Err(Error::BadChunk),
        }
    }

    /// The chunk-size line is over: data follows, or trailers after `0`.
    fn line_end(&mut self, size: u64) -> State {
        self.line_len = 0;
        if size == 0 {
            State::Last
        } else {
            State::Data { remaining: size }
        }
    }
}

fn expect_lf(b: u8) -> Result<(), Error> {
    if b == b'\n' {
        Ok(())
    } else {
        Err(Error::BadChunk)
    }
}

fn hex_value(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` (one push, and one more after each warning); the
    /// data and the bytes consumed.
    fn decode(input: &[u8], max_line: usize) -> Result<(Vec<u8>, usize, bool), Error> {
        let mut dec = ChunkDecoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        loop {
            used += dec.push(&input[used..], max_line, |d| {
                assert!(!d.is_empty());
                out.extend_from_slice(d);
                Ok(())
            })?;
            // A warning pauses the decoder; go on after it.
            if dec.take_warning().is_none() || dec.is_done() || used == input.len() {
                return Ok((out, used, dec.is_done()));
            }
        }
    }

    #[test]
    fn decodes_chunks_and_stops_after_the_last_chunk_line() {
        let input = b"5\r\nhello\r\nA;x=y\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\n";
        let (data, used, done) = decode(input, 100).unwrap();
        assert_eq!(data, b"hello0123456789");
        assert_eq!(&input[used..], b"Trailer: t\r\n\r\n");
        assert!(done);
    }

    #[test]
    fn accepts_bare_lf_whitespace_extensions_and_leading_zeros() {
        let input = b"0005 \t;ext\nhello\nc ; a=\"q;\\\"\"\r\n hello world\n000\n";
        let (data, used, done) = decode(input, 100).unwrap();
        assert_eq!(data, b"hello hello world");
        assert_eq!(used, input.len());
        assert!(done);
    }

    #[test]
    fn rejects_malformed_size_lines() {
        for bad in [
            &b"\r\n"[..],
            b";ext\r\n",
            b" 5\r\n",
            b"g\r\n",
            b"-1\r\n",
            b"5x\r\n",
            b"5 x\r\n",
            b"5\rX",
            b"10000000000000000\r\n",
        ] {
            assert_eq!(decode(bad, 100), Err(Error::BadChunk), "{bad:?}");
        }
    }

    #[test]
    fn largest_size_is_accepted() {
        let (data, used, done) = decode(b"ffffffffffffffff\r\nab", 100).unwrap();
        assert_eq!((data.as_slice(), used, done), (&b"ab"[..], 20, false));
    }

    #[test]
    fn data_must_be_followed_by_a_line_end() {
        assert_eq!(decode(b"2\r\nabc\r\n", 100), Err(Error::BadChunk));
        assert_eq!(decode(b"2\r\nab\rc", 100), Err(Error::BadChunk));
    }

    #[test]
    fn size_line_length_is_bounded() {
        assert!(decode(b"5;abc\r\n", 7).is_ok());
        assert_eq!(decode(b"5;abcd\r\n", 7), Err(Error::BadChunk));
    }

    #[test]
    fn the_first_extension_and_bare_lf_pause_with_a_warning() {
        let mut dec = ChunkDecoder::new();
        // Stops right after the `;`, then after the bare LF.
        assert_eq!(dec.push(b"1;x\r\na\r\n", 100, |_| Ok(())), Ok(2));
        assert_eq!(dec.take_warning(), Some(Warning::ChunkExtension));
        assert_eq!(dec.push(b"x\r\na\r\n1;y\na\r\n", 100, |_| Ok(())), Ok(10));
        assert_eq!(dec.take_warning(), Some(Warning::BareLf));
        assert_eq!(dec.take_warning(), None);
    }

    #[test]
    fn callback_errors_stop_decoding() {
        let mut dec = ChunkDecoder::new();
        let r = dec.push(b"3\r\nabc\r\n", 100, |_| {
            Err(Error::BodyTooLarge { limit: 1 })
        });
        assert_eq!(r, Err(Error::BodyTooLarge { limit: 1 }));
    }
}
