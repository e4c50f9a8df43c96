//! Fuzzes `ResponseReader`: it must never panic, and the way the input is
//! split into `feed` calls must not change anything it reports.
//!
//! Input layout: 5 control bytes, then the response bytes.
//! - byte 0: piece size for the split run (1..=32 bytes);
//! - byte 1: bit 0 = the request was HEAD, bit 1 = use small limits
//!   taken from bytes 2..=4 (so the limit paths are reached too);
//! - bytes 2..=4: head size limit, header/interim counts, body limit.
//!
//! The same response is fed whole, in pieces of that size, and one byte
//! at a time, then `eof` is called; the three runs must agree, and each
//! must keep the reader's promises (see `check`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rawnet::http::lint::Warning;
use rawnet::http::response::{Error, Framing, Head, Limits, ResponseReader, Sink};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Interim(Head),
    Head(Head, Framing),
    Body(Vec<u8>),
    Trailers(Vec<(String, String)>),
    Warning(Warning),
}

/// Records sink calls, merging adjacent body pieces.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
}

impl Sink for Recorder {
    fn interim(&mut self, head: &Head) {
        self.events.push(Event::Interim(head.clone()));
    }
    fn head(&mut self, head: &Head, framing: Framing) {
        self.events.push(Event::Head(head.clone(), framing));
    }
    fn body(&mut self, data: &[u8]) {
        assert!(!data.is_empty(), "empty body slice");
        match self.events.last_mut() {
            Some(Event::Body(body)) => body.extend_from_slice(data),
            _ => self.events.push(Event::Body(data.to_vec())),
        }
    }
    fn trailers(&mut self, trailers: &[(String, String)]) {
        assert!(!trailers.is_empty(), "empty trailers reported");
        self.events.push(Event::Trailers(trailers.to_vec()));
    }
    fn warning(&mut self, warning: Warning) {
        assert!(
            !self.events.contains(&Event::Warning(warning)),
            "warning reported twice"
        );
        self.events.push(Event::Warning(warning));
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    events: Vec<Event>,
    /// Bytes consumed in total, or the first error from `feed`.
    fed: Result<usize, Error>,
    complete: bool,
    eof: Result<(), Error>,
    body_bytes: u64,
}

fn run<'a>(pieces: impl Iterator<Item = &'a [u8]>, head_request: bool, limits: Limits) -> Outcome {
    let mut reader = ResponseReader::new(head_request, limits);
    let mut sink = Recorder::default();
    let mut fed = Ok(0);
    for piece in pieces {
        let was_complete = reader.is_complete();
        let result = reader.feed(piece, &mut sink);
        match (fed, result) {
            (Err(first), again) => assert_eq!(again, Err(first), "error did not stick"),
            (Ok(_), Err(e)) => fed = Err(e),
            (Ok(total), Ok(n)) => {
                assert!(n <= piece.len());
                assert!(n == piece.len() || reader.is_complete(), "stopped early");
                assert!(!was_complete || n == 0, "consumed after completion");
                fed = Ok(total + n);
            }
        }
    }
    let complete = reader.is_complete();
    let eof = reader.eof(&mut sink);
    match eof {
        Ok(()) => assert!(reader.is_complete(), "eof accepted an incomplete message"),
        Err(e) => assert_eq!(
            reader.feed(b"x", &mut sink),
            Err(e),
            "eof error did not stick"
        ),
    }
    Outcome {
        events: sink.events,
        fed,
        complete,
        eof,
        body_bytes: reader.body_bytes(),
    }
}

/// What must hold for any outcome, whatever the input.
fn check(out: &Outcome, input: &[u8], limits: &Limits) {
    if let Ok(n) = out.fed {
        assert!(n <= input.len());
        assert!(
            out.complete || n == input.len(),
            "incomplete but input left over"
        );
    }
    // Warnings may come anywhere; the rest must keep its order.
    let events: Vec<&Event> = out
        .events
        .iter()
        .filter(|e| !matches!(e, Event::Warning(_)))
        .collect();
    let interim = events
        .iter()
        .take_while(|e| matches!(e, Event::Interim(_)))
        .count();
    assert!(interim <= limits.max_interim);
    let mut rest = events[interim..].iter().copied();
    let framing = match rest.next() {
        Some(Event::Head(head, framing)) => {
            assert!(head.headers.len() <= limits.max_headers);
            Some(*framing)
        }
        None => None,
        Some(other) => panic!("{other:?} before the final head"),
    };
    let mut body = 0u64;
    for (i, event) in rest.clone().enumerate() {
        match event {
            Event::Body(b) => body += b.len() as u64,
            Event::Trailers(_) => {
                assert_eq!(framing, Some(Framing::Chunked));
                assert_eq!(i + 1, rest.len(), "events after trailers");
            }
            other => panic!("{other:?} after the final head"),
        }
    }
    assert_eq!(body, out.body_bytes);
    if let Some(limit) = limits.max_body {
        assert!(body <= limit, "body over the limit");
    }
    match framing {
        Some(Framing::NoBody) => assert_eq!(body, 0),
        Some(Framing::ContentLength(n)) if out.complete => assert_eq!(body, n),
        Some(Framing::ContentLength(n)) => assert!(body < n),
        _ => {}
    }
}

fn limits(flags: u8, head: u8, counts: u8, body: u8) -> Limits {
    if flags & 2 == 0 {
        return Limits::default();
    }
    Limits {
        max_head_bytes: usize::from(head),
        max_headers: usize::from(counts & 0x0f),
        max_interim: usize::from(counts >> 4),
        max_body: Some(u64::from(body)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&[piece, flags, head, counts, body], input)) = data.split_first_chunk::<5>() else {
        return;
    };
    let head_request = flags & 1 == 1;
    let limits = limits(flags, head, counts, body);
    let whole = run(std::iter::once(input), head_request, limits);
    check(&whole, input, &limits);
    let size = 1 + usize::from(piece % 32);
    let split = run(input.chunks(size), head_request, limits);
    assert_eq!(split, whole, "pieces of {size}");
    let bytes = run(input.chunks(1), head_request, limits);
    assert_eq!(bytes, whole, "byte at a time");
});
