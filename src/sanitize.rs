//! Escaping of untrusted bytes before they reach a terminal.
//!
//! Servers control status lines, headers, bodies and banners. Written raw to
//! a terminal, an ESC sequence can retitle the window, move the cursor,
//! hide text or worse. Human-readable output passes everything a peer sent
//! through [`escape_bytes`] (or [`escape_str`]); byte-exact output to a file
//! or pipe is an explicit choice of the caller and bypasses this module.
//!
//! The escaping keeps printable text as it is, keeps `\n` (and `\t`), and
//! writes every other control character, DEL, and every byte that is not
//! part of valid UTF-8 as a visible `\xNN` escape, the way `fd` and `ls`
//! neutralise file names. Characters that reorder or split what is shown
//! without being control characters (bidirectional overrides such as
//! U+202E, the line and paragraph separators U+2028/U+2029) become
//! `\u{...}` escapes too, so a banner cannot disguise itself.

use std::borrow::Cow;
use std::io::{self, Write};

/// Escapes control characters and invalid UTF-8 in `bytes`.
///
/// ```
/// use rawnet::sanitize::escape_bytes;
/// assert_eq!(escape_bytes(b"ok\x1b]0;pwned\x07\n"), "ok\\x1b]0;pwned\\x07\n");
/// assert_eq!(escape_bytes(b"caf\xc3\xa9 \xff"), "caf\u{e9} \\xff");
/// ```
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        push_escaped(&mut out, chunk.valid());
        for b in chunk.invalid() {
            push_hex(&mut out, *b);
        }
    }
    out
}

/// Escapes control characters in `s`; borrows when nothing needs escaping.
///
/// ```
/// use rawnet::sanitize::escape_str;
/// assert_eq!(escape_str("plain text"), "plain text");
/// assert_eq!(escape_str("bell\u{7}"), "bell\\x07");
/// ```
pub fn escape_str(s: &str) -> Cow<'_, str> {
    if s.chars().all(|c| !needs_escape(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    push_escaped(&mut out, s);
    Cow::Owned(out)
}

/// Like [`escape_str`], but also escapes `\n` and `\t`, for text that must
/// stay on one line (a table cell, a banner), and doubles backslashes, so
/// text that spells an escape (`\x1b`) cannot pass for one.
///
/// ```
/// use rawnet::sanitize::escape_line;
/// assert_eq!(escape_line("SSH-2.0\r\n"), "SSH-2.0\\r\\n");
/// assert_eq!(escape_line(r"fake \x1b"), r"fake \\x1b");
/// ```
pub fn escape_line(s: &str) -> Cow<'_, str> {
    if s.chars()
        .all(|c| !needs_escape(c) && !matches!(c, '\n' | '\t' | '\\'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\\' => out.push_str("\\\\"),
            c => push_escaped_char(&mut out, c),
        }
    }
    Cow::Owned(out)
}

/// serde_json's compact format, except that DEL, the C1 controls
/// (U+007F..U+009F) and the layout characters that [`escape_str`] escapes
/// (bidirectional overrides, U+2028/U+2029) are written as `\uXXXX`
/// escapes too.
/// serde_json escapes only C0; some terminals still act on C1 (U+009B is a
/// one-character CSI). The JSON value is unchanged, only its text is safe
/// to print on a terminal.
///
/// ```
/// use rawnet::sanitize::TerminalSafeJson;
/// let mut out = Vec::new();
/// let mut ser = serde_json::Serializer::with_formatter(&mut out, TerminalSafeJson);
/// serde::Serialize::serialize("a\u{9b}2J\u{1b}", &mut ser).unwrap();
/// assert_eq!(out, br#""a\u009b2J\u001b""#);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TerminalSafeJson;

impl serde_json::ser::Formatter for TerminalSafeJson {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if ('\u{7f}'..='\u{9f}').contains(&c) || is_invisible_layout(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_invisible_layout(c)
}

/// Not control characters, yet they change how the rest of a line is
/// shown: bidirectional marks, embeddings, overrides and isolates, and the
/// Unicode line and paragraph separators.
fn is_invisible_layout(c: char) -> bool {
    matches!(
        c,
        '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
    )
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        push_escaped_char(out, c);
    }
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '\r' => out.push_str("\\r"),
        c if needs_escape(c) => {
            if (c as u32) < 0x100 {
                push_hex(out, c as u32 as u8);
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        }
        c => out.push(c),
    }
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('\\');
    out.push('x');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_printable_and_newlines() {
        assert_eq!(escape_bytes(b"HTTP/1.1 200 OK\n"), "HTTP/1.1 200 OK\n");
        assert_eq!(escape_str("a\tb"), "a\tb");
    }

    #[test]
    fn escapes_c0_c1_del_and_cr() {
        assert_eq!(escape_bytes(b"\x00\x7f\r"), "\\x00\\x7f\\r");
        assert_eq!(escape_str("\u{9b}31m"), "\\x9b31m");
    }

    #[test]
    fn escapes_invalid_utf8_bytes() {
        assert_eq!(escape_bytes(b"\xc3"), "\\xc3");
        assert_eq!(escape_bytes(b"a\xe2\x82b"), "a\\xe2\\x82b");
    }

    #[test]
    fn layout_characters_are_escaped() {
        assert_eq!(escape_str("a\u{202e}b\u{2028}"), "a\\u{202e}b\\u{2028}");
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut out, TerminalSafeJson);
        serde::Serialize::serialize("x\u{202e}y", &mut ser).unwrap();
        assert_eq!(out, br#""x\u202ey""#);
    }

    #[test]
    fn escape_line_keeps_one_line() {
        assert_eq!(escape_line("a\nb\tc\x1b"), "a\\nb\\tc\\x1b");
    }
}
