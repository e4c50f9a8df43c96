//! The output thread: owns the printers and the progress bar.
//!
//! Engine workers call [`Sink::result`]: it counts the result on the bar
//! (lock-free) and sends only the results some printer wants over a
//! bounded channel (back-pressure instead of unbounded memory when the
//! output is slow). A full scan of mostly closed ports thus wakes the
//! writer once per open port, not once per probe, unless a printer needs
//! every result (nmap's formats count closed ports per host).

use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;

use rawnet::scan::{PortResult, Sink, State};

use super::{Event, Options, Printer, ScanEnd, ScanInfo};

/// What travels to the writer thread.
enum Message {
    Result(Event),
    End(Box<ScanEnd>),
}

/// The output thread and the sink the engine reports to.
pub struct Writer {
    sender: SyncSender<Message>,
    handle: JoinHandle<io::Result<()>>,
    bar: ProgressBar,
    options: Options,
    every_result: bool,
    open: AtomicU64,
    /// Set by the writer thread when a write failed: the scan should stop.
    failed: Arc<AtomicBool>,
}

/// Results in flight between the engine and the writer.
const CHANNEL_CAPACITY: usize = 4096;
/// Longest a written result waits in a printer's buffer before the
/// printers are flushed.
pub(super) const FLUSH_EVERY: Duration = Duration::from_millis(250);

impl Writer {
    /// Starts the writer thread, which calls `printer.begin(info)` first.
    /// `suspend_bar` hides the bar around each write (when results and bar
    /// share a terminal). A failed write (the reader went away, the disk
    /// is full) makes [`Sink::result`] say stop, and [`Writer::finish`]
    /// returns the error.
    pub fn spawn<P: Printer + 'static>(
        printer: P,
        info: ScanInfo,
        options: Options,
        bar: ProgressBar,
        suspend_bar: bool,
    ) -> io::Result<Writer> {
        let (sender, receiver) = mpsc::sync_channel::<Message>(CHANNEL_CAPACITY);
        let every_result = printer.needs_every_result();
        let writer_bar = bar.clone();
        let failed = Arc::new(AtomicBool::new(false));
        let writer_failed = Arc::clone(&failed);
        let handle = thread::Builder::new()
            .name("portscan-writer".into())
            .spawn(move || {
                write_all(
                    printer,
                    &info,
                    receiver,
                    &writer_bar,
                    suspend_bar,
                    &writer_failed,
                )
            })?;
        Ok(Writer {
            sender,
            handle,
            bar,
            options,
            every_result,
            open: AtomicU64::new(0),
            failed,
        })
    }

    /// Waits for everything sent to be written; with `end` (the scan ran),
    /// the printers' [`Printer::end`] writes what they held back.
    pub fn finish(self, end: Option<ScanEnd>) -> io::Result<()> {
        if let Some(end) = end {
            let _ = self.sender.send(Message::End(Box::new(end)));
        }
        drop(self.sender);
        self.bar.finish_and_clear();
        self.handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the output thread panicked")))
    }
}

/// The writer thread's loop: begin, every message, end.
fn write_all<P: Printer>(
    mut printer: P,
    info: &ScanInfo,
    receiver: Receiver<Message>,
    bar: &ProgressBar,
    suspend_bar: bool,
    failed_flag: &AtomicBool,
) -> io::Result<()> {
    let mut failed: Option<io::Error> = printer.begin(info).err();
    let mut end = None;
    for batch in Batches::new(&receiver) {
        if failed.is_some() {
            // Keep draining so the engine never blocks on us.
            failed_flag.store(true, AtomicOrdering::Relaxed);
            continue;
        }
        let mut events = Vec::with_capacity(batch.len());
        for message in batch {
            match message {
                Message::Result(event) => events.push(event),
                Message::End(e) => end = Some(e),
            }
        }
        let mut print = || -> io::Result<()> {
            for event in &events {
                printer.result(event)?;
            }
            printer.flush()
        };
        let written = if suspend_bar {
            bar.suspend(print)
        } else {
            print()
        };
        if let Err(e) = written {
            failed_flag.store(true, AtomicOrdering::Relaxed);
            bar.finish_and_clear();
            failed = Some(e);
        }
    }
    bar.finish_and_clear();
    match (failed, end) {
        (Some(e), _) => Err(e),
        (None, Some(end)) => printer.end(&end),
        (None, None) => Ok(()),
    }
}

/// The messages waiting in the channel, a batch at a time: whatever has
/// arrived when the writer looks, but for no longer than [`FLUSH_EVERY`]
/// after the first of them, so results are flushed at least that often.
struct Batches<'a> {
    receiver: &'a Receiver<Message>,
}

impl<'a> Batches<'a> {
    fn new(receiver: &'a Receiver<Message>) -> Batches<'a> {
        Batches { receiver }
    }
}

impl Iterator for Batches<'_> {
    type Item = Vec<Message>;

    fn next(&mut self) -> Option<Vec<Message>> {
        let first = self.receiver.recv().ok()?;
        let started = Instant::now();
        let mut batch = vec![first];
        while started.elapsed() < FLUSH_EVERY && batch.len() < CHANNEL_CAPACITY {
            match self.receiver.try_recv() {
                Ok(m) => batch.push(m),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        Some(batch)
    }
}

impl Writer {
    /// Hands the writer a result found by an earlier run (`--resume`),
    /// with its own time: counted like a new one, and forwarded to every
    /// printer.
    pub fn replay(&self, event: Event) {
        self.bar.inc(1);
        if event.result.state == State::Open {
            self.open.fetch_add(1, AtomicOrdering::Relaxed);
        }
        let _ = self.sender.send(Message::Result(event));
    }
}

impl Sink for Writer {
    /// Takes a result (called from engine workers): counts it, and hands it
    /// to the writer thread if a printer wants it, stamped with the time.
    /// After a write error the writer still drains, so this never blocks
    /// for good, and the scan is told to stop.
    fn result(&self, r: PortResult) -> ControlFlow<()> {
        if self.failed.load(AtomicOrdering::Relaxed) {
            return ControlFlow::Break(());
        }
        self.bar.inc(1);
        if r.state == State::Open {
            let n = self.open.fetch_add(1, AtomicOrdering::Relaxed) + 1;
            self.bar.set_message(format!("{n} open"));
        }
        if self.every_result || self.options.reports(&r) {
            let event = Event {
                result: r,
                at: SystemTime::now(),
            };
            let _ = self.sender.send(Message::Result(event));
        }
        ControlFlow::Continue(())
    }

    /// A SIGINT or SIGTERM arrived, or the output failed: stop.
    fn cancelled(&self) -> bool {
        crate::signals::caught().is_some() || self.failed.load(AtomicOrdering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{end, info, result, SharedBuf};
    use super::super::JsonPrinter;
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    const ALL: Options = Options {
        report_all: true,
        open_only: false,
        banners: false,
        versions: false,
        reasons: false,
        ping: false,
    };

    #[test]
    fn writer_thread_prints_everything_sent() {
        let out = SharedBuf::default();
        let printer = JsonPrinter::new(out.clone(), ALL);
        let writer =
            Writer::spawn(printer, info("1-400", 1), ALL, ProgressBar::hidden(), false).unwrap();
        thread::scope(|s| {
            for t in 0..4u16 {
                let writer = &writer;
                s.spawn(move || {
                    for p in 0..100u16 {
                        let r = result("x", "127.0.0.1", t * 100 + p + 1, State::Closed, None);
                        assert!(writer.result(r).is_continue());
                    }
                });
            }
        });
        writer.finish(Some(end(&[]))).unwrap();
        let mut ports: Vec<u16> = out
            .text()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["port"]
                    .as_u64()
                    .unwrap() as u16
            })
            .collect();
        ports.sort();
        assert_eq!(ports, (1..=400).collect::<Vec<u16>>());
    }

    #[test]
    fn a_failed_write_stops_the_scan() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("no space left on device"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let printer = JsonPrinter::new(Full, ALL);
        let writer = Writer::spawn(
            printer,
            info("1-1000", 1),
            ALL,
            ProgressBar::hidden(),
            false,
        )
        .unwrap();
        let mut said_stop = false;
        for p in 1..=1000u16 {
            if writer
                .result(result("x", "127.0.0.1", p, State::Open, None))
                .is_break()
            {
                said_stop = true;
                break;
            }
            thread::sleep(Duration::from_millis(1));
        }
        assert!(said_stop, "the sink never asked the scan to stop");
        assert!(writer.finish(None).is_err());
    }
}
