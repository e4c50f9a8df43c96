//! The `-o FILE` writer: results reach the file as they are found, and
//! the file never ends in half a record.
//!
//! Records are buffered in memory and written when the printer flushes
//! (the writer thread does after every burst of results, and at least
//! every few hundred milliseconds), so a scan stopped by SIGTERM or
//! killed outright has everything up to the last flush on disk. Flushes
//! only ever happen between records, so what the file holds after a
//! successful flush is whole lines. When a write fails part-way (the disk
//! filled up), the file is cut back to the end of the last whole flush:
//! the error is reported, and no partial line is left behind.

use std::fs::File;
use std::io::{self, Write};

/// A file written in whole flushes (see the module docs).
pub struct OutFile {
    file: File,
    pending: Vec<u8>,
    /// Bytes known to be whole records on disk.
    committed: u64,
}

/// Bytes held before a write is forced even without a flush.
const HOLD: usize = 64 * 1024;

impl OutFile {
    /// Wraps a freshly created (empty) file.
    pub fn new(file: File) -> OutFile {
        OutFile {
            file,
            pending: Vec::with_capacity(HOLD),
            committed: 0,
        }
    }

    fn write_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_all(&self.pending) {
            // Cut back what part of this write got through. (Not possible
            // on a device such as /dev/full, where nothing got through.)
            let _ = self.file.set_len(self.committed);
            self.pending.clear();
            return Err(e);
        }
        self.committed += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }
}

impl Write for OutFile {
    /// Holds `buf`; the printer hands over one whole record per call, and
    /// a record is written out only together with those before it.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.len() >= HOLD {
            self.write_pending()?;
        }
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_pending()?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushed_records_are_on_disk_and_unflushed_ones_are_not() {
        let path = std::env::temp_dir().join(format!("outfile-{}", std::process::id()));
        let mut out = OutFile::new(File::create(&path).unwrap());
        out.write_all(b"one\n").unwrap();
        out.flush().unwrap();
        out.write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\n");
        out.flush().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_full_device_fails_at_the_first_flush() {
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let mut out = OutFile::new(full);
        out.write_all(b"record\n").unwrap();
        let e = out.flush().unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }
}
