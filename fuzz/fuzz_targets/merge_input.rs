//! Fuzzes the reader of `portscan --merge` inputs (`merge/read.rs`, read
//! from the binary's own module with its `output/event.rs`): portscan's
//! JSON Lines and nmap XML, told apart by the first byte that is not
//! white space, as `read_from` gets them from a file. Nothing may panic
//! or allocate without bound, and the size of the reads does not change
//! the result.
//!
//! Input layout: byte 0 picks the read buffer's size (1 to 16 bytes, so
//! the sniffing of the first byte and the line reads cross buffer ends),
//! the rest is the file. Each line is also read as a `--resume` journal
//! record (`parse_record`).
#![no_main]

use std::io::{BufReader, Cursor};
use std::path::Path;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/bin/portscan/output/event.rs"]
mod output;

#[allow(dead_code)]
#[path = "../../src/bin/portscan/merge/read.rs"]
mod read;

fuzz_target!(|data: &[u8]| {
    let Some((&size, file)) = data.split_first() else {
        return;
    };
    let path = Path::new("shard.out");
    let whole = read::read_from(Cursor::new(file), path);
    let small = read::read_from(
        BufReader::with_capacity(usize::from(size % 16) + 1, file),
        path,
    );
    match (&whole, &small) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a.0, b.0),
        _ => panic!("the buffer size changed the result: {whole:?} / {small:?}"),
    }
    match &whole {
        // One event per record line, no more.
        Ok(input) if input.kind == read::Kind::Json => {
            assert!(input.events.len() <= file.split(|&b| b == b'\n').count());
        }
        Ok(_) => {}
        Err(e) => assert!(e.0.starts_with("shard.out: "), "{}", e.0),
    }
    if let Ok(text) = std::str::from_utf8(file) {
        for line in text.lines().take(64) {
            let _ = read::parse_record(line);
        }
    }
});
