//! Several requests on one connection, as bytes the user wrote: the
//! socket side of `rawget --send`.
//!
//! The input goes out exactly as given; [`super::splitter`] says
//! where each request ends and how its response is framed. In
//! pipelined mode every request is written without waiting for an answer
//! (while answers are read as they come, so a server that stops reading
//! until its answers are taken cannot deadlock us); in sequential mode the
//! next request is written only once the previous response is complete.
//! Pipelined, the first write goes out before the input is split, so a
//! long pipeline is split while the server answers it.
//!
//! Each response is read by its own [`ResponseReader`], created for the
//! request it answers (a `HEAD` answer has no body), fed exactly the bytes
//! that belong to it: the reader says where a message ends, and the bytes
//! after it start the next response. Responses are read until all the
//! expected ones are in or the connection closes; then, if the connection
//! is still open, up to [`Options::linger`] longer, so a server that
//! answers more requests than the splitter saw (the other half of a
//! smuggled request) or closes right after its last answer is seen doing
//! so. Answers that no request asked for are kept with `request: None`.
//!
//! A response the reader cannot frame ends the reading: [`Stopped`] says
//! at which byte of the received stream the reader failed, and keeps the
//! bytes from there on (up to [`MAX_REMAINING`]), which are read until
//! the peer closes or lingers no longer.
//!
//! A send that fails with EFAULT ends the exchange at once: the input's
//! memory is gone (the caller's mapped request file was truncated), so
//! no answer can come to what was not sent.
//!
//! It owns no socket of its own: it talks to a [`Transport`] that
//! [`super::client::open`] connected, and reports what it reads to an
//! [`Observer`]; it never prints.

use std::io;
use std::time::{Duration, Instant};

use super::client::{FetchError, Phase};
use super::lint::Warning;
use super::response::{self, Framing, Head, Limits, ResponseReader, Sink};
use super::splitter::Request;
use super::tls::TlsError;
use super::transport::Transport;
use crate::sock;

/// Most bytes kept after the byte a response could not be read at.
pub const MAX_REMAINING: usize = 64 * 1024;

/// Size of one `recv()`: the one buffer every read goes to. Pipelined
/// answers come a few dozen KB per read from a fast local server; a
/// larger buffer would only fault in more pages.
const RECV_BUF: usize = 64 * 1024;

/// How to run the requests.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Write a request only once the previous response is complete.
    pub sequential: bool,
    /// Limits on each response.
    pub limits: Limits,
    /// When everything must be over.
    pub deadline: Option<Instant>,
    /// How long to wait, after the last expected response, for more bytes
    /// or for the server to close.
    pub linger: Duration,
    /// Keep each response's heads ([`Response::head`],
    /// [`Response::interim`]); without, only the status is kept (10000
    /// pipelined answers need not be held to be shown raw).
    pub keep_heads: bool,
    /// Keep a [`Response`] for every answer in [`Outcome::responses`];
    /// without, only the last one read is kept (the only one that can be
    /// incomplete or stopped), and [`Outcome::read`] and
    /// [`Outcome::answered`] count them all. Answers shown raw need no
    /// record each.
    pub keep_records: bool,
}

/// When things happened for one request and its response, since the
/// connection was started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseTiming {
    /// The request's last byte was handed to the socket.
    pub sent: Option<Duration>,
    /// The response's first byte arrived.
    pub first_byte: Option<Duration>,
    /// The response's last byte arrived.
    pub last_byte: Option<Duration>,
}

/// Where the reader gave up on a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Why.
    pub error: response::Error,
    /// The offset in the received stream of the byte it failed at (the
    /// stream's length when the connection closed too early).
    pub at: u64,
    /// The received bytes from `at` on, at most [`MAX_REMAINING`].
    pub remaining: Vec<u8>,
    /// How many bytes were received from `at` on.
    pub remaining_total: u64,
}

/// One response as read.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The index of the request it answers; `None` for an answer no
    /// request asked for (after the expected ones were all read).
    pub request: Option<usize>,
    /// Where it starts in the received stream.
    pub offset: u64,
    /// Its size on the wire (heads, framing and body).
    pub raw_bytes: u64,
    /// The final status, once read (kept even without
    /// [`Options::keep_heads`]).
    pub status: Option<u16>,
    /// Interim (1xx) heads before the final one.
    pub interim: Vec<Head>,
    /// The final head, once read (boxed: 10000 answers without kept
    /// heads stay small).
    pub head: Option<Box<Head>>,
    /// How its body was delimited.
    pub framing: Option<Framing>,
    /// Decoded body bytes.
    pub body_bytes: u64,
    /// Trailer fields.
    pub trailers: Vec<(String, String)>,
    /// What the linter noticed, each once.
    pub warnings: Vec<Warning>,
    /// Set when the response could not be read to its end.
    pub stopped: Option<Box<Stopped>>,
    /// Its times.
    pub timing: ResponseTiming,
    /// True once it was read to its end.
    pub complete: bool,
}

/// What happened on the connection.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The responses in the order they came (only the last one without
    /// [`Options::keep_records`]).
    pub responses: Vec<Response>,
    /// How many responses were read (complete or not), kept or not: the
    /// first of [`Outcome::responses`] is number `read - responses.len()`
    /// (0-based).
    pub read: usize,
    /// How many of them answer a request (`request` is set).
    pub answered: usize,
    /// How many responses the requests expect (see
    /// [`Request::expects_response`]): counted once here, so that a
    /// caller need not walk a long pipeline's requests again.
    pub expected: usize,
    /// When each request's last byte was handed to the socket.
    pub sent: SentTimes,
    /// Bytes of the input that were sent.
    pub sent_bytes: u64,
    /// Bytes received.
    pub received_bytes: u64,
    /// The peer closed the connection (else it was still open when the
    /// reading ended).
    pub peer_closed: bool,
    /// A `2xx` answered a CONNECT: what follows is a tunnel, not read.
    pub tunnel: bool,
    /// What ended the exchange early (a send error after which responses
    /// were still read is kept here too).
    pub error: Option<FetchError>,
}

/// When each request's last byte was handed to the socket. Requests go
/// out in order and one write sends many of a pipeline, so the times are
/// kept as runs (the requests before an index, all at one time), not one
/// per request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SentTimes {
    /// `(end, at)`: the requests from the previous run's `end` to this
    /// `end` (exclusive) were sent at `at`; `end` increases.
    runs: Vec<(usize, Duration)>,
}

impl SentTimes {
    /// When request `i` was sent (`None`: not, or not wholly).
    pub fn get(&self, i: usize) -> Option<Duration> {
        let run = self.runs.partition_point(|&(end, _)| end <= i);
        self.runs.get(run).map(|&(_, at)| at)
    }

    /// The earliest time a request was sent, if any was.
    pub fn min(&self) -> Option<Duration> {
        self.runs.iter().map(|&(_, at)| at).min()
    }

    /// The latest time a request was sent, if any was.
    pub fn max(&self) -> Option<Duration> {
        self.runs.iter().map(|&(_, at)| at).max()
    }

    /// Requests before `end` are sent, those not yet marked at `at`.
    fn mark(&mut self, end: usize, at: Duration) {
        if end <= self.count() {
            return;
        }
        match self.runs.last_mut() {
            Some((last_end, last_at)) if *last_at == at => *last_end = end,
            _ => self.runs.push((end, at)),
        }
    }

    /// How many requests are sent.
    fn count(&self) -> usize {
        self.runs.last().map_or(0, |&(end, _)| end)
    }
}

/// Receives what the pipeline reads, as it happens.
pub trait Observer {
    /// Bytes exactly as received.
    fn raw(&mut self, _bytes: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// Decoded body bytes of response number `response` (its index in
    /// [`Outcome::responses`]).
    fn body(&mut self, _response: usize, _data: &[u8]) {}
}

/// Sends `input` on `transport` and reads the answers; `requests` splits
/// it (see [`super::splitter::split`]). Times count from `start`.
///
/// Pipelined, the first write happens before `requests` is called: the
/// server is already answering while a large input is split.
pub fn run<'r>(
    transport: &mut dyn Transport,
    input: &[u8],
    requests: &dyn Fn() -> &'r [Request],
    opts: &Options,
    start: Instant,
    observer: &mut dyn Observer,
) -> Outcome {
    let early = (!opts.sequential).then(|| (transport.send_nowait(input), start.elapsed()));
    let requests = requests();
    let mut p = Pipeline {
        input,
        requests,
        opts,
        start,
        expected: requests.iter().filter(|r| r.expects_response()).count(),
        next: 0,
        next_request: expecting_from(requests, 0),
        reading: None,
        stopped: false,
        out: Outcome {
            responses: Vec::with_capacity(if opts.keep_records { requests.len() } else { 1 }),
            ..Outcome::default()
        },
        send_at: 0,
        send_limit: 0,
    };
    p.out.expected = p.expected;
    p.send_limit = p.next_send_limit();
    if let Some((result, at)) = early {
        p.sent(result, at);
    }
    if let Err(e) = p.run(transport, observer) {
        p.out.error = Some(e);
    }
    // A response still being read when the exchange ended is kept.
    if let Some((_, r)) = p.reading.take() {
        p.keep(r);
    }
    p.out
}

struct Pipeline<'a> {
    input: &'a [u8],
    requests: &'a [Request],
    opts: &'a Options,
    start: Instant,
    /// How many requests expect a response.
    expected: usize,
    /// How many of those have a response started.
    next: usize,
    /// The index of the request the next of them is (the number of
    /// requests when none is left).
    next_request: usize,
    /// The response being read.
    reading: Option<(ResponseReader, Response)>,
    /// A response could not be read: everything else is remaining bytes.
    stopped: bool,
    out: Outcome,
    /// Bytes of the input sent.
    send_at: usize,
    /// Bytes of the input that may be sent now.
    send_limit: usize,
}

/// The index of the first request from `from` on that expects a response
/// (the number of requests if none does).
fn expecting_from(requests: &[Request], from: usize) -> usize {
    requests
        .get(from..)
        .and_then(|rest| rest.iter().position(Request::expects_response))
        .map_or(requests.len(), |i| from + i)
}

impl Pipeline<'_> {
    fn run(
        &mut self,
        transport: &mut dyn Transport,
        observer: &mut dyn Observer,
    ) -> Result<(), FetchError> {
        let mut buf = vec![0u8; RECV_BUF];
        let mut lingering_since: Option<Instant> = None;
        loop {
            if self.input_gone() {
                return Ok(());
            }
            let want_write = self.send_at < self.send_limit || transport.has_pending();
            let all_read = self.next == self.expected && self.reading.is_none();
            let linger = if (all_read || self.stopped) && !want_write {
                let since = *lingering_since.get_or_insert_with(Instant::now);
                let left = self.opts.linger.saturating_sub(since.elapsed());
                if left.is_zero() {
                    return Ok(());
                }
                Some(left)
            } else {
                lingering_since = None;
                None
            };
            let left = self.time_left(Phase::Receive)?;
            let wait = match (left, linger) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let (answer, writable) = transport
                .wait(want_write, wait)
                .map_err(|e| io_error(e, Phase::Receive))?;
            if !answer && !writable {
                if linger.is_some() {
                    continue;
                }
                return Err(self.timeout(Phase::Receive));
            }
            if writable && want_write {
                self.send(transport);
            }
            if answer {
                let n = match transport.recv(&mut buf, left) {
                    Ok(n) => n,
                    Err(e) if sock::is_timeout(&e) => return Err(self.timeout(Phase::Receive)),
                    Err(e) => return Err(io_error(e, Phase::Receive)),
                };
                if n == 0 {
                    self.out.peer_closed = true;
                    self.eof();
                    return Ok(());
                }
                observer.raw(&buf[..n]).map_err(FetchError::Output)?;
                self.absorb(&buf[..n], observer);
                if self.out.tunnel {
                    return Ok(());
                }
            }
        }
    }

    fn time_left(&self, phase: Phase) -> Result<Option<Duration>, FetchError> {
        match self.opts.deadline {
            None => Ok(None),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(self.timeout(phase)),
            },
        }
    }

    fn timeout(&self, phase: Phase) -> FetchError {
        FetchError::Timeout {
            phase,
            after: self.start.elapsed(),
        }
    }

    /// How much of the input may be sent: all of it, or in sequential
    /// mode up to the end of the request whose answer comes next.
    fn next_send_limit(&self) -> usize {
        if !self.opts.sequential {
            return self.input.len();
        }
        let end = match self.requests.get(self.next_request) {
            Some(r) if self.next < self.expected => r.end,
            _ => self.input.len() as u64,
        };
        usize::try_from(end).unwrap_or(self.input.len())
    }

    /// Sends what it can; a failure stops sending but not reading (the
    /// server may have answered and closed).
    fn send(&mut self, transport: &mut dyn Transport) {
        let chunk = &self.input[self.send_at..self.send_limit];
        let result = if chunk.is_empty() {
            // Only bytes held in the transport (TLS) are left.
            transport.send_nowait(&[])
        } else {
            transport.send_nowait(chunk)
        };
        self.sent(result, self.start.elapsed());
    }

    /// The last send failed because the input's memory is gone (EFAULT:
    /// a mapped file was truncated under us). Nothing more can be sent,
    /// and waiting for answers to what was not would wait for nothing.
    fn input_gone(&self) -> bool {
        self.out.error.as_ref().is_some_and(FetchError::input_gone)
    }

    /// Records what a write took (at `at`): the requests now wholly sent
    /// get their time; a failure stops sending.
    fn sent(&mut self, result: io::Result<usize>, at: Duration) {
        match result {
            Ok(n) => {
                self.send_at += n;
                self.out.sent_bytes = self.send_at as u64;
                // Requests end in order: only those not yet marked are
                // looked at, so a long pipeline costs one pass in all.
                let mut upto = self.out.sent.count();
                while let Some(r) = self.requests.get(upto) {
                    if r.end > self.send_at as u64 {
                        break;
                    }
                    upto += 1;
                }
                self.out.sent.mark(upto, at);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                self.send_limit = self.send_at;
                self.input = &self.input[..self.send_at];
                self.out.error =
                    Some(TlsError::from_io(&e).map_or(FetchError::Send(e), FetchError::Tls));
            }
        }
    }

    /// Hands received bytes to the responses they belong to.
    fn absorb(&mut self, mut data: &[u8], observer: &mut dyn Observer) {
        let at = self.start.elapsed();
        while !data.is_empty() {
            if self.stopped {
                self.keep_remaining(data);
                break;
            }
            // A reader carried over from earlier bytes is copied, in case
            // these make it fail (see `failing_byte`); a new one is not:
            // it can be made again (no copy per pipelined answer).
            let (mut reader, mut response, before) = match self.reading.take() {
                Some((reader, response)) => {
                    let before = reader.clone();
                    (reader, response, Some(before))
                }
                None => {
                    let (reader, response) = self.start_response(at);
                    (reader, response, None)
                }
            };
            let index = self.out.read;
            let more_expected = self.next < self.expected;
            let mut sink = Collect {
                response: &mut response,
                observer,
                index,
                more_expected,
                keep_heads: self.opts.keep_heads,
            };
            match reader.feed(data, &mut sink) {
                Ok(n) => {
                    response.raw_bytes += n as u64;
                    self.out.received_bytes += n as u64;
                    data = &data[n..];
                    if reader.is_complete() {
                        response.complete = true;
                        response.timing.last_byte = Some(at);
                        self.finish(response);
                    } else {
                        self.reading = Some((reader, response));
                    }
                }
                Err(error) => {
                    let before = before.unwrap_or_else(|| self.new_reader(response.request));
                    let i = failing_byte(before, data);
                    let stopped_at = self.out.received_bytes + i as u64;
                    response.raw_bytes += i as u64;
                    self.out.received_bytes += i as u64;
                    response.stopped = Some(Box::new(Stopped {
                        error,
                        at: stopped_at,
                        remaining: Vec::new(),
                        remaining_total: 0,
                    }));
                    self.keep(response);
                    self.stopped = true;
                    data = &data[i..];
                }
            }
        }
    }

    /// A response is complete: the next one may be sent (sequential).
    fn finish(&mut self, response: Response) {
        let tunnel = response.request.is_some_and(|i| self.requests[i].connect())
            && response.status.is_some_and(|s| (200..300).contains(&s));
        self.keep(response);
        self.out.tunnel = tunnel;
        self.send_limit = self
            .next_send_limit()
            .max(self.send_at)
            .min(self.input.len());
    }

    /// A reader for the next response: for the next expected request, or
    /// an answer nobody asked for (read as the answer to a GET).
    fn start_response(&mut self, at: Duration) -> (ResponseReader, Response) {
        let request = (self.next < self.expected).then_some(self.next_request);
        if request.is_some() {
            self.next += 1;
            self.next_request = expecting_from(self.requests, self.next_request + 1);
        }
        let response = Response {
            request,
            offset: self.out.received_bytes,
            timing: ResponseTiming {
                sent: request.and_then(|i| self.out.sent.get(i)),
                first_byte: Some(at),
                last_byte: None,
            },
            ..Response::default()
        };
        (self.new_reader(request), response)
    }

    /// A reader for the answer to request `request` (`None`: an answer
    /// nobody asked for, read as the answer to a GET).
    fn new_reader(&self, request: Option<usize>) -> ResponseReader {
        let no_body = request.is_some_and(|i| {
            let r = &self.requests[i];
            r.head_request() || r.connect()
        });
        ResponseReader::new(no_body, self.opts.limits)
    }

    /// Counts a response read and keeps it (without
    /// [`Options::keep_records`], in place of the one before).
    fn keep(&mut self, response: Response) {
        self.out.read += 1;
        if response.request.is_some() {
            self.out.answered += 1;
        }
        if !self.opts.keep_records {
            self.out.responses.clear();
        }
        self.out.responses.push(response);
    }

    /// The peer closed: a close-delimited body ends here, anything else
    /// unfinished is cut short.
    fn eof(&mut self) {
        let Some((mut reader, mut response)) = self.reading.take() else {
            return;
        };
        let mut sink = NoSink;
        match reader.eof(&mut sink) {
            Ok(()) => {
                response.complete = true;
                response.timing.last_byte = Some(self.start.elapsed());
            }
            Err(error) => {
                response.stopped = Some(Box::new(Stopped {
                    error,
                    at: self.out.received_bytes,
                    remaining: Vec::new(),
                    remaining_total: 0,
                }));
            }
        }
        self.keep(response);
    }

    /// Bytes after the byte a response failed at.
    fn keep_remaining(&mut self, data: &[u8]) {
        self.out.received_bytes += data.len() as u64;
        if let Some(stopped) = self
            .out
            .responses
            .last_mut()
            .and_then(|r| r.stopped.as_mut())
        {
            let room = MAX_REMAINING.saturating_sub(stopped.remaining.len());
            stopped
                .remaining
                .extend_from_slice(&data[..data.len().min(room)]);
            stopped.remaining_total += data.len() as u64;
        }
    }
}

/// The index in `data` of the byte `reader` fails at (the reader as it
/// was before `data`): the parser is split-proof, so feeding one byte at
/// a time finds the first offending byte.
fn failing_byte(mut reader: ResponseReader, data: &[u8]) -> usize {
    let mut sink = NoSink;
    for (i, b) in data.iter().enumerate() {
        match reader.feed(std::slice::from_ref(b), &mut sink) {
            Err(_) => return i,
            Ok(0) => return i,
            Ok(_) => {}
        }
    }
    data.len()
}

fn io_error(e: io::Error, phase: Phase) -> FetchError {
    match TlsError::from_io(&e) {
        Some(t) => FetchError::Tls(t),
        None if phase == Phase::Send => FetchError::Send(e),
        None => FetchError::Recv(e),
    }
}

/// A sink that keeps nothing (for finding a failing byte, and at EOF).
struct NoSink;

impl Sink for NoSink {
    fn head(&mut self, _head: &Head, _framing: Framing) {}
    fn body(&mut self, _data: &[u8]) {}
}

/// Fills one [`Response`] and passes its body on.
struct Collect<'a> {
    response: &'a mut Response,
    observer: &'a mut dyn Observer,
    index: usize,
    /// Another response is expected after this one: bytes after it are
    /// that response, not an oddity.
    more_expected: bool,
    /// [`Options::keep_heads`].
    keep_heads: bool,
}

impl Sink for Collect<'_> {
    fn interim(&mut self, head: &Head) {
        if self.keep_heads {
            self.response.interim.push(head.clone());
        }
    }

    fn head(&mut self, head: &Head, framing: Framing) {
        self.response.status = Some(head.status);
        self.response.head = Some(Box::new(head.clone()));
        self.response.framing = Some(framing);
    }

    fn wants_head(&self) -> bool {
        self.keep_heads
    }

    fn status(&mut self, status: u16, framing: Framing) {
        self.response.status = Some(status);
        self.response.framing = Some(framing);
    }

    fn body(&mut self, data: &[u8]) {
        self.response.body_bytes += data.len() as u64;
        self.observer.body(self.index, data);
    }

    fn trailers(&mut self, trailers: &[(String, String)]) {
        self.response.trailers = trailers.to_vec();
    }

    fn warning(&mut self, warning: Warning) {
        let next_message = matches!(
            warning,
            Warning::ExtraBytesAfterMessage | Warning::BodyOnNoContentResponse
        );
        if !(next_message && self.more_expected) {
            self.response.warnings.push(warning);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_times_are_runs_of_requests_in_order() {
        let ms = Duration::from_millis;
        let mut sent = SentTimes::default();
        // A write that sends no whole request marks nothing.
        sent.mark(0, ms(1));
        assert_eq!((sent.get(0), sent.min(), sent.max()), (None, None, None));
        sent.mark(3, ms(2));
        sent.mark(3, ms(3));
        sent.mark(5, ms(4));
        sent.mark(6, ms(4));
        let times: Vec<Option<Duration>> = (0..8).map(|i| sent.get(i)).collect();
        let two = Some(ms(2));
        let four = Some(ms(4));
        assert_eq!(times, [two, two, two, four, four, four, None, None]);
        assert_eq!((sent.min(), sent.max()), (two, four));
        assert_eq!(sent.count(), 6);
    }

    #[test]
    fn the_next_expected_request_skips_those_that_expect_none() {
        let requests = super::super::splitter::split(
            b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nHo",
        );
        assert_eq!(requests.len(), 3);
        assert_eq!(expecting_from(&requests, 0), 0);
        assert_eq!(expecting_from(&requests, 1), 1);
        assert_eq!(expecting_from(&requests, 2), 3);
        assert_eq!(expecting_from(&requests, 4), 3);
    }
}
