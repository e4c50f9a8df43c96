//! Collects a header or trailer section, byte-split-proof and bounded.
//!
//! `httparse` wants the whole section in one slice, but the reader is fed
//! arbitrary pieces of the stream. So the section is copied into a buffer
//! until its terminating empty line (CRLF or bare LF) arrives, and only then
//! handed to `httparse`. Finding that line with a three-state scanner keeps
//! the work linear however the input is split (re-parsing the buffer after
//! every byte would be quadratic), and the buffer never grows beyond the
//! limit it is given. Inside a line only its end matters, so the scanner
//! jumps from line end to line end (eight bytes at a time) and looks at single bytes
//! only where a line starts. When a whole section lies in one piece of
//! input, [`Section::fill_borrowed`] hands it out from there, uncopied.
//! The scanner counts the line ends it passes and notes an LF alone
//! ([`LineEnds`]), so that the parsers need not search for them again.

/// Where the scanner stands relative to the start of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// Inside a line that already holds a byte other than CR.
    Text,
    /// At the start of a line (just after an LF).
    Start,
    /// After a CR at the start of a line: only LF may follow.
    StartCr,
}

impl Line {
    /// Moves past `b`; true when `b` ends an empty line.
    fn ends_section(&mut self, b: u8) -> bool {
        let (next, end) = match (*self, b) {
            (Line::Start | Line::StartCr, b'\n') => (Line::Start, true),
            // `\r` then anything but `\n` can start no valid line: end the
            // section here, so the parser rejects it now instead of the
            // reader waiting for an empty line that may never come.
            (Line::StartCr, _) => (Line::Text, true),
            (_, b'\n') => (Line::Start, false),
            (Line::Start, b'\r') => (Line::StartCr, false),
            _ => (Line::Text, false),
        };
        *self = next;
        end
    }
}

/// What [`Section::fill`] did with its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fill {
    /// All the input was taken and the section is not over yet.
    Partial,
    /// The section (in [`Section::bytes`]) ends after this many input bytes.
    Ended(usize),
}

/// What [`Section::fill_borrowed`] did with its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Filled<'a> {
    /// All the input was taken and the section is not over yet.
    Partial,
    /// The section ends after this many input bytes; these are its
    /// bytes, and its line ends.
    Ended(usize, &'a [u8], LineEnds),
}

/// The line ends (LF) of a section, counted by the scanner as it finds
/// them, so that the parser need not look for them again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineEnds {
    /// How many.
    pub(crate) count: usize,
    /// One of them is an LF alone (not after a CR).
    pub(crate) bare: bool,
}

/// The section would grow beyond its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooLarge;

/// A bounded buffer for one header or trailer section.
#[derive(Clone, Debug)]
pub(crate) struct Section {
    buf: Vec<u8>,
    line: Line,
    /// Field lines begun so far (not the status line, not a folded
    /// continuation line, which belongs to the field before it).
    fields: usize,
    /// Line ends scanned so far.
    ends: LineEnds,
    /// The last byte scanned was a CR (for an LF that starts the next
    /// piece of input).
    after_cr: bool,
}

impl Section {
    /// An empty section whose first line is a status line (never empty).
    pub(crate) fn head() -> Self {
        Section {
            buf: Vec::new(),
            line: Line::Text,
            fields: 0,
            ends: LineEnds::default(),
            after_cr: false,
        }
    }

    /// Starts over for the next head, keeping the allocation.
    pub(crate) fn restart_head(&mut self) {
        self.buf.clear();
        self.line = Line::Text;
        self.fields = 0;
        self.ends = LineEnds::default();
        self.after_cr = false;
    }

    /// Starts over for a trailer section, which may be empty.
    pub(crate) fn restart_trailers(&mut self) {
        self.buf.clear();
        self.line = Line::Start;
        self.fields = 0;
        self.ends = LineEnds::default();
        self.after_cr = false;
    }

    /// The line ends of the bytes scanned so far (of the whole section,
    /// once it has ended).
    pub(crate) fn line_ends(&self) -> LineEnds {
        self.ends
    }

    /// The bytes collected so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Takes bytes from `input` up to and including the empty line that
    /// ends the section, keeping the whole section within `max` bytes and
    /// `max_fields` field lines. Both limits are checked as the bytes
    /// arrive: a peer that sends too many fields and then stalls is refused
    /// at the first byte of the field too many, not when the section ends.
    /// A folded (obs-fold) continuation line is part of its field, as the
    /// parser counts it.
    pub(crate) fn fill(
        &mut self,
        input: &[u8],
        max: usize,
        max_fields: usize,
    ) -> Result<Fill, TooLarge> {
        let room = max.saturating_sub(self.buf.len());
        let window = &input[..input.len().min(room)];
        if let Some(end) = self.find_end(window, max_fields)? {
            self.buf.extend_from_slice(&window[..end]);
            return Ok(Fill::Ended(end));
        }
        if window.len() < input.len() {
            return Err(TooLarge);
        }
        self.buf.extend_from_slice(window);
        Ok(Fill::Partial)
    }

    /// As [`Section::fill`], but a section that begins and ends inside
    /// `input` is not copied: it is returned as the slice of `input` it
    /// occupies. A section begun by an earlier call is completed in the
    /// buffer and returned from there.
    pub(crate) fn fill_borrowed<'a>(
        &'a mut self,
        input: &'a [u8],
        max: usize,
        max_fields: usize,
    ) -> Result<Filled<'a>, TooLarge> {
        if !self.buf.is_empty() {
            return Ok(match self.fill(input, max, max_fields)? {
                Fill::Partial => Filled::Partial,
                Fill::Ended(n) => Filled::Ended(n, &self.buf, self.ends),
            });
        }
        let window = &input[..input.len().min(max)];
        match self.find_end(window, max_fields)? {
            Some(end) => Ok(Filled::Ended(end, &window[..end], self.ends)),
            None if window.len() < input.len() => Err(TooLarge),
            None => {
                self.buf.extend_from_slice(window);
                Ok(Filled::Partial)
            }
        }
    }

    /// Scans `bytes`; the offset just past the section's empty line, or
    /// [`TooLarge`] at the first byte of a field over `max_fields`.
    fn find_end(&mut self, bytes: &[u8], max_fields: usize) -> Result<Option<usize>, TooLarge> {
        let mut i = 0;
        while i < bytes.len() {
            if self.line == Line::Text {
                // Inside a line nothing but its end matters.
                match find_lf(&bytes[i..]) {
                    Some(at) => {
                        let lf = i + at;
                        let cr = match lf {
                            0 => self.after_cr,
                            _ => bytes[lf - 1] == b'\r',
                        };
                        self.line_end(cr);
                        i = lf + 1;
                        self.line = Line::Start;
                        continue;
                    }
                    None => break,
                }
            }
            let b = bytes[i];
            let line_start = self.line == Line::Start;
            if b == b'\n' {
                // At a line start (else the search above took it): after
                // a CR only in the CR-at-line-start state.
                self.line_end(!line_start);
            }
            if self.line.ends_section(b) {
                return Ok(Some(i + 1));
            }
            // A line that starts with whitespace continues a folded field;
            // a CR at a line start begins the empty line (or an error).
            if line_start && !matches!(b, b' ' | b'\t' | b'\r') {
                self.fields += 1;
                if self.fields > max_fields {
                    return Err(TooLarge);
                }
            }
            i += 1;
        }
        if let Some(&last) = bytes.last() {
            self.after_cr = last == b'\r';
        }
        Ok(None)
    }

    /// Counts a line end; `cr` when a CR came just before it.
    fn line_end(&mut self, cr: bool) {
        self.ends.count += 1;
        self.ends.bare |= !cr;
    }
}

/// The offset of the first LF in `bytes`, looked for eight bytes at a
/// time in a plain `u64`. The lines of a head are a few dozen bytes:
/// `memchr`'s vector search costs more to set up (dispatch, alignment,
/// tail) than it saves on them, and is called once per line.
pub(crate) fn find_lf(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let lfs = lf_bits(word);
        if lfs != 0 {
            return Some(at + (lfs.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| at + p)
}

/// Bit 7 of each byte of the eight-byte `word` that is an LF.
fn lf_bits(word: &[u8]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const LFS: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let x = u64::from_le_bytes(word.try_into().unwrap_or_default()) ^ LFS;
    // Bit 7 of a byte of `t` is clear only where that byte of `x` is
    // zero (an LF): the low seven bits plus 0x7f carry into bit 7 unless
    // all are zero, and never into the next byte.
    let t = ((x & LOW7).wrapping_add(LOW7)) | x;
    !t & !LOW7
}

/// How many LFs `bytes` holds, counted eight bytes at a time.
pub(crate) fn count_lf(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut count = 0;
    for word in words.by_ref() {
        // One bit a byte: their sum gathers in the top byte.
        let ones = lf_bits(word) >> 7;
        count += (ones.wrapping_mul(0x0101_0101_0101_0101) >> 56) as usize;
    }
    count + words.remainder().iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lfs_are_found_and_counted_at_every_place() {
        for len in 0..40 {
            for at in 0..=len {
                // Bytes that differ from LF in one bit, and the LF.
                let mut bytes: Vec<u8> =
                    (0..len).map(|i| [0x0b, 0x8a, 0x0e, 0x2a][i % 4]).collect();
                if at < len {
                    bytes[at] = b'\n';
                    if at + 3 < len {
                        bytes[at + 3] = b'\n';
                    }
                }
                let expected = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(find_lf(&bytes), expected, "{len} {at}");
                let count = bytes.iter().filter(|&&b| b == b'\n').count();
                assert_eq!(count_lf(&bytes), count, "{len} {at}");
                let all = vec![b'\n'; len];
                assert_eq!(count_lf(&all), len);
            }
        }
    }

    #[test]
    fn head_ends_at_crlf_crlf_or_bare_lf() {
        for (input, end) in [
            (&b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody"[..], 25),
            (b"HTTP/1.1 200 OK\nA: b\n\nbody", 22),
            (b"HTTP/1.1 200 OK\r\n\nbody", 18),
            (b"HTTP/1.1 200 OK\n\r\nbody", 18),
        ] {
            let mut s = Section::head();
            assert_eq!(s.fill(input, 100, 100), Ok(Fill::Ended(end)));
            assert_eq!(s.bytes(), &input[..end]);
        }
    }

    #[test]
    fn cr_not_followed_by_lf_at_a_line_start_ends_the_section_for_the_parser() {
        let mut s = Section::head();
        // Cut right after the offending byte: httparse then rejects it.
        assert_eq!(
            s.fill(b"HTTP/1.1 200 OK\r\n\rX\r\n", 100, 100),
            Ok(Fill::Ended(19))
        );
        // A CR inside a line is the parser's business, not the scanner's.
        let mut s = Section::head();
        assert_eq!(
            s.fill(b"HTTP/1.1 200 OK\rX\r\n", 100, 100),
            Ok(Fill::Partial)
        );
    }

    #[test]
    fn a_whole_section_is_borrowed_and_a_split_one_collected() {
        let input = b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\nbody";
        let end = input.len() - 4;
        let mut s = Section::head();
        match s.fill_borrowed(input, 100, 100) {
            Ok(Filled::Ended(n, bytes, _)) => {
                assert_eq!((n, bytes), (end, &input[..end]));
                assert!(std::ptr::eq(bytes.as_ptr(), input.as_ptr()), "not copied");
            }
            other => panic!("{other:?}"),
        }
        // Split at every offset: the same section, the same end.
        for cut in 1..end {
            let mut s = Section::head();
            assert_eq!(
                s.fill_borrowed(&input[..cut], 100, 100),
                Ok(Filled::Partial)
            );
            assert_eq!(
                s.fill_borrowed(&input[cut..], 100, 100),
                Ok(Filled::Ended(
                    end - cut,
                    &input[..end],
                    LineEnds {
                        count: 4,
                        bare: false
                    }
                )),
                "cut at {cut}"
            );
        }
        // The limits hold as in fill().
        let mut s = Section::head();
        assert_eq!(s.fill_borrowed(input, 10, 100), Err(TooLarge));
        let mut s = Section::head();
        assert_eq!(s.fill_borrowed(input, 100, 0), Err(TooLarge));
    }

    #[test]
    fn trailers_may_be_empty() {
        let mut s = Section::head();
        s.restart_trailers();
        assert_eq!(s.fill(b"\r\nrest", 100, 100), Ok(Fill::Ended(2)));
        s.restart_trailers();
        assert_eq!(s.fill(b"\nrest", 100, 100), Ok(Fill::Ended(1)));
    }

    #[test]
    fn field_limit_is_enforced_as_fields_arrive() {
        let mut s = Section::head();
        assert_eq!(
            s.fill(b"HTTP/1.1 200 OK\r\nA: 1\r\n", 1000, 1),
            Ok(Fill::Partial)
        );
        // The second field begins: refused before its line, or any empty
        // line, is complete.
        assert_eq!(s.fill(b"B", 1000, 1), Err(TooLarge));
        let mut s = Section::head();
        assert_eq!(
            s.fill(b"HTTP/1.1 200\nA: 1\n\n", 1000, 1),
            Ok(Fill::Ended(19))
        );
        // Trailers: every line is a field, none is a status line.
        let mut s = Section::head();
        s.restart_trailers();
        assert_eq!(s.fill(b"T: 1\r\nU", 1000, 1), Err(TooLarge));
    }

    #[test]
    fn folded_continuation_lines_belong_to_their_field() {
        // What the parser counts as one field is one field here too.
        let head = b"HTTP/1.1 200 OK\r\nA: 1\r\n  more\r\n\tmore\r\nB: 2\r\n\r\n";
        let mut s = Section::head();
        assert_eq!(s.fill(head, 1000, 2), Ok(Fill::Ended(head.len())));
        let mut s = Section::head();
        assert_eq!(s.fill(head, 1000, 1), Err(TooLarge));
    }

    #[test]
    fn limit_counts_the_whole_section_across_pieces() {
        let mut s = Section::head();
        assert_eq!(s.fill(b"HTTP/1.1 ", 12, 100), Ok(Fill::Partial));
        assert_eq!(s.fill(b"200", 12, 100), Ok(Fill::Partial));
        assert_eq!(s.fill(b"\n", 12, 100), Err(TooLarge));
        let mut s = Section::head();
        assert_eq!(s.fill(b"HTTP/1.1 200\n\n", 14, 100), Ok(Fill::Ended(14)));
    }

    /// Line ends as a plain count would give them.
    fn naive_line_ends(section: &[u8]) -> LineEnds {
        let lf: Vec<usize> = (0..section.len())
            .filter(|&i| section[i] == b'\n')
            .collect();
        LineEnds {
            count: lf.len(),
            bare: lf.iter().any(|&i| i == 0 || section[i - 1] != b'\r'),
        }
    }

    #[test]
    fn line_ends_are_counted_however_the_section_is_split() {
        let heads: [&[u8]; 5] = [
            b"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\nA: b\n\n",
            b"HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\r\n\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
        ];
        for head in heads {
            let want = naive_line_ends(head);
            let mut s = Section::head();
            assert_eq!(s.fill(head, 100, 100), Ok(Fill::Ended(head.len())));
            assert_eq!(s.line_ends(), want, "{head:?} whole");
            for cut in 1..head.len() {
                let mut s = Section::head();
                assert_eq!(s.fill_borrowed(&head[..cut], 100, 100), Ok(Filled::Partial));
                match s.fill_borrowed(&head[cut..], 100, 100) {
                    Ok(Filled::Ended(_, bytes, ends)) => {
                        assert_eq!((bytes, ends), (head, want), "{head:?} cut at {cut}")
                    }
                    other => panic!("{head:?} cut at {cut}: {other:?}"),
                }
            }
        }
        // A trailer section: an empty one, and one of a bare LF.
        for (section, want) in [(&b"\r\n"[..], (1, false)), (b"\n", (1, true))] {
            let mut s = Section::head();
            s.restart_trailers();
            assert_eq!(s.fill(section, 100, 100), Ok(Fill::Ended(section.len())));
            let LineEnds { count, bare } = s.line_ends();
            assert_eq!((count, bare), want);
        }
    }
}
