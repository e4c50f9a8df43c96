//! Fuzzes the reader of `portscan --pairs` lists (`pairs::parse`):
//! `ADDRESS:PORT`, `[IPv6]:PORT`, CSV, `ADDRESS PORT`, masscan `-oL` and
//! `-oJ`, portscan and naabu JSON Lines, told apart line by line. Nothing
//! may panic; an error names the list and a line of it; the pairs are
//! distinct, and written back as masscan `-oL` lines they read the same.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use rawnet::pairs::parse;

fuzz_target!(|data: &[u8]| {
    // The binary reads the list as UTF-8 text (or refuses it).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text, "list") {
        Ok(pairs) => {
            let distinct: HashSet<_> = pairs.iter().collect();
            assert_eq!(distinct.len(), pairs.len());
            let lines: String = pairs
                .iter()
                .map(|p| format!("open {} {} {} 1700000000\n", p.proto.as_str(), p.port, p.ip))
                .collect();
            assert_eq!(parse(&lines, "again").unwrap(), pairs);
        }
        Err(e) => {
            let e = e.to_string();
            assert!(e.starts_with("list line "), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
});
