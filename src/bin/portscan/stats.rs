//! `--stats-every TIME`: a progress line on stderr at that interval, as
//! nmap's `--stats-every`, whether or not stderr is a terminal (the bar
//! is drawn only on a terminal; a job's log gets these lines instead).
//!
//! A thread reads the progress bar's counters (the writer counts every
//! result on it, drawn or hidden) and wakes on a channel with a timeout,
//! so it ends as soon as the scan does, without a sleep to wait out.

use std::io::{self, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

/// The running reporter; dropping it (or [`Stats::stop`]) ends it.
pub struct Stats {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Stats {
    /// Starts a reporter of `bar`'s progress every `every`, to stderr.
    pub fn start(bar: ProgressBar, every: Duration) -> io::Result<Stats> {
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let handle = thread::Builder::new()
            .name("stats".into())
            .spawn(move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {
                        let line = line(
                            started.elapsed(),
                            bar.position(),
                            bar.length(),
                            &bar.message(),
                        );
                        let _ = writeln!(io::stderr().lock(), "{line}");
                    }
                    _ => return,
                }
            })?;
        Ok(Stats {
            stop: Some(stop),
            handle: Some(handle),
        })
    }

    /// Ends the reporter and waits for it.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `Stats: 0:00:12 elapsed; 1200 of 4000 probes done (30.00%), about
/// 0:00:28 left; 3 open`.
pub fn line(elapsed: Duration, done: u64, total: Option<u64>, open: &str) -> String {
    let clock = |d: Duration| {
        let s = d.as_secs();
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    };
    let mut text = format!("Stats: {} elapsed; {done}", clock(elapsed));
    match total {
        Some(total) if total > 0 => {
            let share = done as f64 / total as f64;
            text.push_str(&format!(" of {total} probes done ({:.2}%)", share * 100.0));
            if done > 0 && done < total {
                let left = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
                text.push_str(&format!(
                    ", about {} left",
                    clock(Duration::from_secs_f64(left))
                ));
            }
        }
        _ => text.push_str(" probes done"),
    }
    if !open.is_empty() {
        text.push_str("; ");
        text.push_str(open);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line() {
        assert_eq!(
            line(Duration::from_secs(12), 1200, Some(4000), "3 open"),
            "Stats: 0:00:12 elapsed; 1200 of 4000 probes done (30.00%), about 0:00:28 left; 3 open"
        );
        assert_eq!(
            line(Duration::from_secs(3725), 0, Some(10), ""),
            "Stats: 1:02:05 elapsed; 0 of 10 probes done (0.00%)"
        );
    }
}
