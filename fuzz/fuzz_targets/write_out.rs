//! Fuzzes rawget's `-w/--write-out` format parser (curl's syntax), read
//! from the binary's own module: nothing may panic on any format, and
//! plain text after a format that parses (no `%`, backslash, `{` or `}`, so it
//! can neither start nor close a sequence) keeps it parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/bin/rawget/writeout.rs"]
mod writeout;

fuzz_target!(|data: &[u8]| {
    let Ok(format) = std::str::from_utf8(data) else {
        return;
    };
    if format.parse::<writeout::WriteOut>().is_ok() {
        let longer = format!("{format} plain tail");
        assert!(longer.parse::<writeout::WriteOut>().is_ok(), "{format:?}");
    }
});
