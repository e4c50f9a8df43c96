//! Fuzzes the reader of `portscan --resume` journals (`resume/read.rs`,
//! read from the binary's own module with the record reader of
//! `merge/read.rs` and `output/event.rs`): a header line, then one JSON
//! Lines record per line, up to the last whole line. Nothing may panic;
//! what is kept ends at a line end (the journal is cut there and appended
//! to), reads back the same, and does not depend on the size of the reads.
//!
//! Input layout: byte 0: bits 0-3 pick the read buffer's size (1 to 16
//! bytes), bit 4 expects another scan than the header's (so the refusal
//! is reached too); the rest is the journal. The scan expected is the
//! one the first line names, when it is a header.
#![no_main]

use std::io::{BufReader, Cursor};

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/bin/portscan/output/event.rs"]
mod output;

#[allow(dead_code)]
#[path = "../../src/bin/portscan/merge/read.rs"]
mod merge_read;

/// What `resume/read.rs` takes from `crate::merge`.
mod merge {
    pub use crate::merge_read::parse_record;
}

#[allow(dead_code)]
#[path = "../../src/bin/portscan/resume/read.rs"]
mod journal;

fuzz_target!(|data: &[u8]| {
    let Some((&control, file)) = data.split_first() else {
        return;
    };
    let first = file.split(|&b| b == b'\n').next().unwrap_or_default();
    let (mut id, shard) = match serde_json::from_slice::<journal::Header>(first) {
        Ok(h) => (h.scan_id, h.shard),
        Err(_) => ("0123456789abcdef".to_string(), "0/1".to_string()),
    };
    if control & 0x10 != 0 {
        id.push('x');
    }
    let whole = journal::read(Cursor::new(file), &id, &shard);
    let small = journal::read(
        BufReader::with_capacity(usize::from(control & 0x0f) + 1, file),
        &id,
        &shard,
    );
    assert_eq!(format!("{whole:?}"), format!("{small:?}"));
    if let Ok(read) = &whole {
        let kept = usize::try_from(read.whole).unwrap();
        assert!(kept <= file.len());
        match &read.header {
            None => {
                assert_eq!(kept, 0);
                assert!(read.done.is_empty());
            }
            Some(h) => {
                assert!(kept > 0 && file[kept - 1] == b'\n');
                assert_eq!((&h.scan_id, &h.shard), (&id, &shard));
            }
        }
        // The journal is cut to `kept` bytes: read again, it holds the same.
        let again = journal::read(Cursor::new(&file[..kept]), &id, &shard).unwrap();
        assert_eq!(format!("{again:?}"), format!("{read:?}"));
    }
});
