//! Fuzzes the target specifications: a command-line list
//! (`targets::parse_list`) and an `-iL` file (`targets::parse_file`), then
//! their expansion into addresses with small caps and a resolver that
//! answers every name with one address (no DNS). Nothing may panic or
//! allocate without bound; the expansion's length and `get` agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::resolve::Family;
use rawnet::targets::{expand_excluding, parse_file, parse_list, TargetOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // First line: the exclusions (a list); the rest: a target file.
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let excludes = parse_list(first).unwrap_or_default();
    let Ok(specs) = parse_file(rest, "fuzz.txt") else {
        return;
    };
    let opts = TargetOptions {
        max_addresses: 4096,
        max_pieces: 4096,
        ..TargetOptions::default()
    };
    let resolver = |_: &str, _: Family| Ok(vec!["127.0.0.1".parse().unwrap()]);
    if let Ok(out) = expand_excluding(&specs, &excludes, &opts, &resolver) {
        let t = &out.targets;
        assert!(t.len() <= opts.max_addresses);
        assert_eq!(t.iter().count() as u64, t.len());
        assert!(t.get(t.len()).is_none());
        if let Some(last) = t.len().checked_sub(1) {
            assert!(t.get(last).is_some());
        }
    }
});
