//! `--resume FILE`: a scan that can be interrupted (a signal, `kill -9`, a
//! lost machine) and continued by running the same command again.
//!
//! FILE is a journal: a header line that says which scan it belongs to
//! (`scan_id`, `shard`, the command), then one JSON Lines record per
//! finished probe, every state, in the order the results were written
//! (the same record as `-o`'s JSON Lines with `--all`). The journal is a
//! printer ([`Journal`]) placed before every other printer: a result is
//! journaled before any output sees it, each batch is written whole and
//! `fdatasync`ed (at least every quarter second while results arrive), so
//! whatever an output holds, the journal holds too.
//!
//! On start, when FILE exists and holds a header: the header must be this
//! scan's (same `scan_id` and shard), else the run is refused in one line;
//! the journal is cut back to its last whole line (a `kill -9` can leave
//! half of one) and read; its results are replayed into the outputs,
//! which are written afresh (so each output ends as the uninterrupted
//! scan's would, an XML document valid at the end); and the engine probes
//! only what the journal does not hold ([`Remaining`]). Nothing is
//! reported twice and nothing missed. A finished scan's journal stays: the
//! same command again rewrites the outputs from it without probing.
//! Without a file (or an empty one, or one cut inside its header) the
//! scan starts from the beginning.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use rawnet::sanitize::TerminalSafeJson;
use rawnet::scan::{Probe, ProbeSource, Proto, Technique};

use crate::error::Error;
use crate::output::json::{Record, Tag};
use crate::output::{Event, Printer, ScanEnd, ScanInfo};

mod read;

use read::{Header, ReadError};

/// An opened journal: the file (at its end) and what it held.
pub struct Opened {
    /// The journal, positioned to append.
    pub file: File,
    /// The results it held, in order.
    pub done: Vec<Event>,
}

/// Opens (or starts) the journal at `path` for the scan `info`.
pub fn open(path: &Path, info: &ScanInfo) -> Result<Opened, Error> {
    let fail = |what: String| Error::Runtime(format!("--resume {}: {what}", path.display()));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| fail(format!("cannot open: {e}")))?;
    let (id, shard) = (info.scan_id.to_string(), info.shard.to_string());
    let read = match read::read(BufReader::new(&file), &id, &shard) {
        Ok(read) => read,
        Err(ReadError::OtherScan(theirs, their_shard)) => {
            return Err(Error::Usage(format!(
                "--resume {}: it holds scan {} shard {}, not this one (scan {id} shard \
                 {shard}): the targets, ports, exclusions, technique, seed or shard \
                 changed; rerun the original command, or use another file",
                path.display(),
                theirs,
                their_shard
            )))
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    file.set_len(read.whole)
        .and_then(|()| file.seek(SeekFrom::Start(read.whole)))
        .map_err(|e| fail(format!("cannot cut back to the last whole record: {e}")))?;
    if read.header.is_none() {
        let h = Header {
            portscan_resume: 1,
            scan_id: id,
            shard,
            command: info.command.clone(),
        };
        let mut text = serde_json::to_vec(&h).map_err(|e| fail(e.to_string()))?;
        text.push(b'\n');
        file.write_all(&text)
            .and_then(|()| file.sync_data())
            .map_err(|e| fail(format!("cannot write: {e}")))?;
    }
    Ok(Opened {
        file,
        done: read.done,
    })
}

/// The journal as a printer: every result, before the other printers.
/// The first `skip` results (the ones replayed from it) are not written
/// again.
pub struct Journal {
    file: File,
    pending: Vec<u8>,
    tag: Tag,
    skip: u64,
}

impl Journal {
    /// Appends to `file`, after `skip` replayed results.
    pub fn new(file: File, skip: u64) -> Journal {
        Journal {
            file,
            pending: Vec::new(),
            tag: Tag::default(),
            skip,
        }
    }
}

impl Printer for Journal {
    fn begin(&mut self, info: &ScanInfo) -> io::Result<()> {
        self.tag = Tag::of(info);
        Ok(())
    }

    fn result(&mut self, event: &Event) -> io::Result<()> {
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        let mut ser = serde_json::Serializer::with_formatter(&mut self.pending, TerminalSafeJson);
        Record::new(&event.result, event.at, &self.tag).serialize(&mut ser)?;
        self.pending.push(b'\n');
        Ok(())
    }

    /// One write of whole records, then `fdatasync`: the journal is on
    /// disk before the other printers flush theirs.
    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.pending.clear();
        self.file.sync_data()
    }

    fn end(&mut self, _end: &ScanEnd) -> io::Result<()> {
        self.flush()
    }

    fn needs_every_result(&self) -> bool {
        true
    }
}

/// A probe source without the probes a journal already holds: the
/// indices left, listed once when the scan resumes (8 bytes per probe
/// left).
pub struct Remaining {
    inner: Box<dyn ProbeSource>,
    left: Vec<u64>,
}

impl Remaining {
    /// `inner` less the pairs in `done`.
    pub fn new(inner: Box<dyn ProbeSource>, done: &HashSet<(IpAddr, u16, Proto)>) -> Remaining {
        let left = (0..inner.len())
            .filter(|&i| {
                let p = inner.probe(i);
                !done.contains(&(p.ip, p.port, p.proto))
            })
            .collect();
        Remaining { inner, left }
    }
}

impl ProbeSource for Remaining {
    fn len(&self) -> u64 {
        self.left.len() as u64
    }

    fn probe(&self, index: u64) -> Probe {
        self.inner.probe(self.left[index as usize])
    }

    fn proto(&self) -> Proto {
        self.inner.proto()
    }

    fn technique(&self) -> Technique {
        self.inner.technique()
    }
}
