//! Reading a `--resume` journal back: its header, then its records, up to
//! the last whole line (a `kill -9` can leave half of one, which is not
//! read and is cut off by the caller).
//!
//! The journal is a file on disk that anything may have written over, so
//! it is read as untrusted bytes: lines are bounded by [`MAX_LINE`], and
//! every problem is one [`ReadError`]. Bytes only (no file, no scan):
//! fuzzed as it is (`fuzz/fuzz_targets/resume_journal.rs`).

use std::fmt;
use std::io::{self, BufRead, Read};

use serde::{Deserialize, Serialize};

use crate::merge::parse_record;
use crate::output::Event;

/// The first line of a journal.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// The journal format's version (1).
    pub portscan_resume: u32,
    /// The scan it belongs to.
    pub scan_id: String,
    /// Its shard (`I/N`).
    pub shard: String,
    /// The command that started it.
    pub command: String,
}

/// Largest journal line read back (a record with a long banner).
pub const MAX_LINE: u64 = 1024 * 1024;

/// What a journal held.
#[derive(Debug)]
pub struct Contents {
    /// Its header (`None`: empty, or cut inside its header).
    pub header: Option<Header>,
    /// The results it held, in order.
    pub done: Vec<Event>,
    /// Bytes up to the end of its last whole line (0 without a header).
    pub whole: u64,
}

/// Why a journal could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// Reading failed.
    Io(io::Error),
    /// The first line is no resume header.
    NotJournal,
    /// The header is another scan's (`scan_id`, `shard`).
    OtherScan(String, String),
    /// This line is longer than [`MAX_LINE`].
    LineTooLong(u64),
    /// This line is not UTF-8.
    NotUtf8(u64),
    /// This line is not a record.
    Record(u64, String),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
            ReadError::NotJournal => {
                f.write_str("not a portscan resume file (its first line is no resume header)")
            }
            ReadError::OtherScan(id, shard) => write!(f, "it holds scan {id} shard {shard}"),
            ReadError::LineTooLong(n) => write!(f, "line {n} is longer than 1 MiB"),
            ReadError::NotUtf8(n) => write!(f, "line {n} is not UTF-8"),
            ReadError::Record(n, why) => write!(f, "line {n}: {why}"),
        }
    }
}

/// Reads a journal of the scan `scan_id`, shard `shard` from `reader`: a
/// header of another scan is refused as soon as it is read.
pub fn read(mut reader: impl BufRead, scan_id: &str, shard: &str) -> Result<Contents, ReadError> {
    let mut whole = 0u64;
    let mut line = Vec::new();
    let mut header: Option<Header> = None;
    let mut done = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut line)
            .map_err(ReadError::Io)?;
        if n == 0 || line.last() != Some(&b'\n') {
            // The end, or half a line a kill left behind: cut there.
            if n as u64 > MAX_LINE {
                return Err(ReadError::LineTooLong(number + 1));
            }
            break;
        }
        number += 1;
        match &header {
            None => {
                let h: Header = serde_json::from_slice(&line).map_err(|_| ReadError::NotJournal)?;
                if h.scan_id != scan_id || h.shard != shard {
                    return Err(ReadError::OtherScan(h.scan_id, h.shard));
                }
                header = Some(h);
            }
            Some(_) => {
                let text = std::str::from_utf8(&line).map_err(|_| ReadError::NotUtf8(number))?;
                done.push(parse_record(text).map_err(|e| ReadError::Record(number, e))?);
            }
        }
        whole += n as u64;
    }
    if header.is_none() {
        whole = 0;
    }
    Ok(Contents {
        header,
        done,
        whole,
    })
}
