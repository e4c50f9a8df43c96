//! Where the output of URLs that are not yet next in line waits: memory
//! up to one budget shared by all of them, then one temporary file.
//!
//! Why shared: a budget per URL multiplies by the number of URLs (1000
//! finished URLs behind a stalled first one held about 1 MiB each). Why one
//! file: a file per waiting URL would need an open descriptor per URL.
//! Every write that does not fit in the budget is appended to the one
//! unlinked temporary file (in `TMPDIR`) as a segment of its URL; when the
//! URL's turn comes, its memory part and then its segments are copied out
//! in order. The file is emptied again whenever no segment is left in it.
//!
//! Whole or nothing: if the file cannot be created or written (TMPDIR
//! missing, full, read-only), the URL's spool is dropped, every later write
//! to it fails, and nothing of it is ever copied out, so a reader never
//! gets half a JSON record. That stays true once the URL's turn comes:
//! its writer asks [`Spools::refuse_dropped`] before writing straight
//! through (a `BufWriter` being dropped flushes what it still holds).
//! Other URLs are not affected.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Memory all waiting URLs may hold together before spilling.
pub const MEMORY_BUDGET: usize = 16 * 1024 * 1024;

/// Size of the pieces copied back from the spill file.
const COPY_CHUNK: usize = 64 * 1024;

/// The waiting output of every URL not yet next in line.
pub struct Spools {
    budget: usize,
    /// Capacity of all in-memory parts together.
    in_memory: usize,
    by_url: BTreeMap<usize, Spool>,
    /// URLs whose spill failed: nothing more of them is taken, ever.
    dropped: BTreeSet<usize>,
    file: Option<File>,
    /// End of the data in `file`.
    file_len: u64,
}

#[derive(Default)]
struct Spool {
    memory: Vec<u8>,
    /// `(offset, length)` in the spill file, after `memory`.
    segments: Vec<(u64, u64)>,
}

/// Spilling to the temporary directory failed; names it.
#[derive(Debug)]
pub struct SpillFailed {
    dir: String,
    source: io::Error,
}

impl fmt::Display for SpillFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot spill waiting output to a temporary file in TMPDIR ({}): {}; \
             this URL's output is dropped",
            self.dir, self.source
        )
    }
}

impl std::error::Error for SpillFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// True for the error a failed spill gives to the URL's writer.
pub fn is_spill_failure(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<SpillFailed>())
}

fn spill_error(source: io::Error) -> io::Error {
    let dir = std::env::temp_dir().display().to_string();
    io::Error::other(SpillFailed { dir, source })
}

impl Spools {
    /// No waiting output yet; `budget` bytes of memory for all of it.
    pub fn new(budget: usize) -> Spools {
        Spools {
            budget,
            in_memory: 0,
            by_url: BTreeMap::new(),
            dropped: BTreeSet::new(),
            file: None,
            file_len: 0,
        }
    }

    /// Appends `buf` to URL `index`'s waiting output.
    pub fn write(&mut self, index: usize, buf: &[u8]) -> io::Result<()> {
        self.refuse_dropped(index)?;
        let spool = self.by_url.entry(index).or_default();
        // A Vec may double: count what it could grow to.
        let growth = buf.len().max(spool.memory.capacity());
        if spool.segments.is_empty() && self.in_memory + growth <= self.budget {
            let before = spool.memory.capacity();
            spool.memory.extend_from_slice(buf);
            self.in_memory += spool.memory.capacity() - before;
            return Ok(());
        }
        match append(&mut self.file, &mut self.file_len, buf) {
            Ok(segment) => {
                push_segment(&mut spool.segments, segment);
                Ok(())
            }
            Err(e) => {
                self.in_memory -= spool.memory.capacity();
                self.by_url.remove(&index);
                self.dropped.insert(index);
                Err(spill_error(e))
            }
        }
    }

    /// Fails when URL `index`'s spool was dropped: its writer must not
    /// write straight through either once its turn has come.
    pub fn refuse_dropped(&self, index: usize) -> io::Result<()> {
        if self.dropped.contains(&index) {
            return Err(spill_error(io::Error::other("an earlier write failed")));
        }
        Ok(())
    }

    /// Copies URL `index`'s waiting output to `out` and forgets it. A
    /// spool whose spill failed is dropped without a byte.
    pub fn copy_out(&mut self, index: usize, out: &mut dyn Write) -> io::Result<()> {
        // A dropped URL has no spool left: nothing of it is written.
        let Some(spool) = self.by_url.remove(&index) else {
            return Ok(());
        };
        self.in_memory -= spool.memory.capacity();
        out.write_all(&spool.memory)?;
        drop(spool.memory);
        let mut buf = Vec::new();
        for (mut offset, len) in spool.segments {
            let end = offset + len;
            while offset < end {
                let n = usize::try_from(end - offset).map_or(COPY_CHUNK, |l| l.min(COPY_CHUNK));
                buf.resize(n, 0);
                let file = self
                    .file
                    .as_ref()
                    .ok_or_else(|| io::Error::other("no spill file"))?;
                file.read_exact_at(&mut buf, offset)?;
                out.write_all(&buf)?;
                offset += n as u64;
            }
        }
        self.empty_file_when_unused();
        Ok(())
    }

    /// Frees the spill file's space once no waiting URL has data in it.
    fn empty_file_when_unused(&mut self) {
        if self.by_url.values().all(|s| s.segments.is_empty()) {
            if let Some(file) = &self.file {
                if file.set_len(0).is_ok() {
                    self.file_len = 0;
                }
            }
        }
    }

    /// Bytes held in memory now (capacity), for tests.
    #[cfg(test)]
    fn in_memory(&self) -> usize {
        self.in_memory
    }

    /// Spools whose spill always fails (a file open for reading only),
    /// for tests.
    #[cfg(test)]
    pub fn unwritable(budget: usize) -> Spools {
        let mut spools = Spools::new(budget);
        spools.file = Some(File::open("/dev/null").expect("open /dev/null"));
        spools
    }
}

/// Appends `buf` to the spill file (created on first use); its segment.
fn append(file: &mut Option<File>, len: &mut u64, buf: &[u8]) -> io::Result<(u64, u64)> {
    if file.is_none() {
        *file = Some(tempfile::tempfile()?);
    }
    let f = file
        .as_ref()
        .ok_or_else(|| io::Error::other("no spill file"))?;
    let offset = *len;
    f.write_all_at(buf, offset)?;
    *len += buf.len() as u64;
    Ok((offset, buf.len() as u64))
}

/// Adds a segment, merging it with the last one when they touch.
fn push_segment(segments: &mut Vec<(u64, u64)>, (offset, len): (u64, u64)) {
    match segments.last_mut() {
        Some((o, l)) if *o + *l == offset => *l += len,
        _ => segments.push((offset, len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_shared_then_spilled_and_order_is_kept() {
        let mut spools = Spools::new(64);
        spools.write(1, &[b'a'; 40]).unwrap();
        spools.write(2, &[b'b'; 40]).unwrap(); // over the budget: spilled
        spools.write(1, &[b'A'; 10]).unwrap(); // 1 still in memory? budget says no
        spools.write(2, b"end").unwrap();
        assert!(spools.in_memory() <= 64, "{}", spools.in_memory());
        let mut out = Vec::new();
        spools.copy_out(2, &mut out).unwrap();
        spools.copy_out(1, &mut out).unwrap();
        let want = [&[b'b'; 40][..], b"end", &[b'a'; 40], &[b'A'; 10]].concat();
        assert_eq!(out, want);
        assert_eq!(spools.in_memory(), 0);
        assert_eq!(spools.file_len, 0, "the file is emptied once unused");
    }

    #[test]
    fn a_failed_spill_drops_the_whole_spool() {
        let mut spools = Spools::unwritable(8);
        spools.write(1, b"1234").unwrap();
        let e = spools.write(1, b"56789abc").unwrap_err();
        assert!(is_spill_failure(&e), "{e}");
        assert!(e.to_string().contains("TMPDIR"), "{e}");
        assert!(is_spill_failure(&spools.write(1, b"x").unwrap_err()));
        let mut out = Vec::new();
        spools.copy_out(1, &mut out).unwrap();
        assert!(out.is_empty(), "nothing of a failed spool is written");
    }
}
