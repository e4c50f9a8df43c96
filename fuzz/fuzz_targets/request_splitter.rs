//! The request splitter: any input, split anywhere, gives the same
//! requests, and they tile the input without gaps or overlaps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::http::splitter::{split, Splitter};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let whole = split(input);
    let at = usize::from(cut).min(input.len());
    let mut s = Splitter::new();
    let mut pieces = Vec::new();
    s.feed(&input[..at], &mut pieces);
    s.feed(&input[at..], &mut pieces);
    pieces.extend(s.finish());
    assert_eq!(whole, pieces);
    let mut end = 0;
    for r in &whole {
        assert_eq!(r.start, end);
        assert!(r.end >= r.start);
        end = r.end;
    }
    assert_eq!(end, input.len() as u64);
});
