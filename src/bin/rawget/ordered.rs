//! One output shared by all the URLs of a run, in the order they were
//! given, while they are fetched in parallel.
//!
//! The URL whose turn it is writes straight through to the output, so it
//! streams as it arrives. The others write to their spool ([`Spools`]:
//! memory within one budget for all of them, then one unlinked temporary
//! file), which is copied out when their turn comes. Outcomes (error lines on stderr, the exit status) are reported
//! in the same order. Once the output is gone (a closed pipe), there is
//! nothing left to do: the process ends at once with the status so far,
//! rather than wait for downloads whose bytes nobody will read (a transfer
//! blocked in `recv()` cannot be interrupted from here).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::exit::Exit;
use crate::spool::{is_spill_failure, Spools, MEMORY_BUDGET};
use crate::writeout::Written;

/// How one URL went.
pub struct Outcome {
    pub exit: Exit,
    /// The error line, without the `rawget: ` prefix.
    pub message: Option<String>,
    /// The output is gone (broken pipe): stop quietly.
    pub stop: bool,
    /// What `-w` printed for it, written in order after its output.
    pub write_out: Option<Written>,
}

pub struct Ordered {
    state: Mutex<State>,
    cancelled: AtomicBool,
    /// End the process when the output is gone (off in unit tests).
    exit_when_stopped: bool,
    /// `-w` text goes to stdout itself, not to the output (`-o FILE`).
    separate_stdout: bool,
}

struct State {
    out: Box<dyn Write + Send>,
    next: usize,
    spools: Spools,
    done: BTreeMap<usize, Outcome>,
    exit: Exit,
}

/// The writer one URL gets.
pub struct Lane<'a> {
    ordered: &'a Ordered,
    index: usize,
}

impl Ordered {
    pub fn new(out: Box<dyn Write + Send>, exit_when_stopped: bool) -> Ordered {
        Ordered::with_spools(out, exit_when_stopped, Spools::new(MEMORY_BUDGET))
    }

    fn with_spools(out: Box<dyn Write + Send>, exit_when_stopped: bool, spools: Spools) -> Ordered {
        Ordered {
            state: Mutex::new(State {
                out,
                next: 0,
                spools,
                done: BTreeMap::new(),
                exit: Exit::Ok,
            }),
            cancelled: AtomicBool::new(false),
            exit_when_stopped,
            separate_stdout: false,
        }
    }

    /// Sends `-w` text to stdout rather than to the output (which is a
    /// file given with `-o`), as curl does.
    pub fn with_separate_stdout(mut self, separate: bool) -> Ordered {
        self.separate_stdout = separate;
        self
    }

    pub fn lane(&self, index: usize) -> Lane<'_> {
        Lane {
            ordered: self,
            index,
        }
    }

    /// True once the output is gone: URLs not started yet are skipped.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Records how URL `index` went; reports it, and every later one that
    /// was waiting for it, in order.
    pub fn finish(&self, index: usize, outcome: Outcome) {
        let mut st = self.lock();
        st.done.insert(index, outcome);
        loop {
            let next = st.next;
            let Some(outcome) = st.done.remove(&next) else {
                break;
            };
            let copied = st.copy_spool(next);
            st.next += 1;
            match copied {
                Ok(()) => self.report(&mut st, &outcome),
                Err(e) => self.report(&mut st, &output_failed(&e)),
            }
        }
        // The URL whose turn it is now may still be running: show what it
        // has so far, its next writes go straight through.
        let next = st.next;
        if let Err(e) = st.copy_spool(next) {
            self.report(&mut st, &output_failed(&e));
        }
    }

    /// Writes one URL's `-w` text; a failure there is the output's
    /// failure, reported with the next outcome's write.
    fn write_out(&self, st: &mut State, w: &Written) {
        if !w.stderr.is_empty() {
            let _ = io::stderr().lock().write_all(&w.stderr);
        }
        if w.stdout.is_empty() {
            return;
        }
        let _ = if self.separate_stdout {
            io::stdout().lock().write_all(&w.stdout)
        } else {
            st.out.write_all(&w.stdout).and_then(|()| st.out.flush())
        };
    }

    /// The exit status of the run: the first failure in URL order.
    pub fn exit(&self) -> Exit {
        self.lock().exit
    }

    fn report(&self, st: &mut State, outcome: &Outcome) {
        if let Some(w) = &outcome.write_out {
            self.write_out(st, w);
        }
        if let Some(m) = &outcome.message {
            crate::report(m);
        }
        if st.exit == Exit::Ok {
            st.exit = outcome.exit;
        }
        if outcome.stop {
            self.cancelled.store(true, Ordering::Relaxed);
            if self.exit_when_stopped {
                std::process::exit(i32::from(st.exit as u8));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere is a bug already; the output is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn copy_spool(&mut self, index: usize) -> io::Result<()> {
        self.spools.copy_out(index, &mut self.out)?;
        self.out.flush()
    }
}

/// The outcome of a failed write to the output: a closed pipe is a quiet
/// stop, anything else exit 23. A spool that could not spill to TMPDIR
/// fails only its own URL: the others go on.
pub fn output_failed(e: &io::Error) -> Outcome {
    if is_spill_failure(e) {
        return Outcome {
            exit: Exit::WriteError,
            message: Some(e.to_string()),
            stop: false,
            write_out: None,
        };
    }
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Outcome {
            exit: Exit::Ok,
            message: None,
            stop: true,
            write_out: None,
        };
    }
    Outcome {
        exit: Exit::WriteError,
        message: Some(format!("failed writing the output: {e}")),
        stop: true,
        write_out: None,
    }
}

impl Write for Lane<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.ordered.cancelled() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let mut st = self.ordered.lock();
        if st.next == self.index {
            // Its spool may have been dropped before its turn came.
            st.spools.refuse_dropped(self.index)?;
            st.out.write_all(buf)?;
            // Unbuffered: what arrived is on its way, even if we are
            // killed a moment later.
            st.out.flush()?;
        } else {
            st.spools.write(self.index, buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A `Write` whose contents the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn ok() -> Outcome {
        Outcome {
            exit: Exit::Ok,
            message: None,
            stop: false,
            write_out: None,
        }
    }

    #[test]
    fn later_urls_wait_the_head_streams() {
        let sink = Shared::default();
        let ordered = Ordered::new(Box::new(sink.clone()), false);
        ordered.lane(2).write_all(b"C").unwrap();
        ordered.lane(1).write_all(b"B1").unwrap();
        ordered.lane(0).write_all(b"A").unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"A", "only the head is out");
        ordered.finish(2, ok());
        ordered.finish(0, ok());
        // 1 is now the head: its spool so far is out, later writes stream.
        assert_eq!(&*sink.0.lock().unwrap(), b"AB1");
        ordered.lane(1).write_all(b"B2").unwrap();
        assert_eq!(&*sink.0.lock().unwrap(), b"AB1B2");
        ordered.finish(1, ok());
        assert_eq!(&*sink.0.lock().unwrap(), b"AB1B2C");
    }

    #[test]
    fn a_url_whose_spill_failed_writes_nothing_even_once_it_is_next() {
        let sink = Shared::default();
        let spools = Spools::unwritable(8);
        let ordered = Ordered::with_spools(Box::new(sink.clone()), false, spools);
        let e = ordered.lane(1).write_all(b"{\"partial").unwrap_err();
        assert!(is_spill_failure(&e), "{e}");
        ordered.lane(0).write_all(b"A\n").unwrap();
        ordered.finish(0, ok());
        // URL 1 is next now; what its writer still flushes (a BufWriter
        // being dropped) must not reach the output as half a record.
        let e = ordered.lane(1).write_all(b" record\"}\n").unwrap_err();
        assert!(is_spill_failure(&e), "{e}");
        ordered.finish(1, output_failed(&e));
        ordered.lane(2).write_all(b"C\n").unwrap();
        ordered.finish(2, ok());
        assert_eq!(&*sink.0.lock().unwrap(), b"A\nC\n");
        assert_eq!(ordered.exit(), Exit::WriteError);
    }

    #[test]
    fn first_failure_in_order_decides_and_stop_cancels() {
        let ordered = Ordered::new(Box::new(Shared::default()), false);
        let fail = |exit| Outcome {
            exit,
            message: None,
            stop: false,
            write_out: None,
        };
        ordered.finish(1, fail(Exit::CannotConnect));
        ordered.finish(0, fail(Exit::Timeout));
        assert_eq!(ordered.exit(), Exit::Timeout);
        assert!(!ordered.cancelled());
        ordered.finish(2, output_failed(&io::ErrorKind::BrokenPipe.into()));
        assert!(ordered.cancelled());
        assert!(ordered.lane(3).write_all(b"x").is_err());
    }
}
