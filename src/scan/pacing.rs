//! A shared pacing gate for connect starts, across all workers.
//!
//! It is a GCRA ("virtual scheduling") limiter over one atomic: the
//! theoretical time of the next allowed start, in nanoseconds since the scan
//! began. Each start advances it by `1/rate`; a start is allowed when that
//! time is at most [`TOLERANCE`] ahead of now. Because the tolerance is a
//! couple of milliseconds rather than a second's worth of tokens, 100/s means
//! one connect every 10 ms, not a burst of 100 followed by silence, while a
//! worker waking a millisecond late from its poll can still catch up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How far ahead of real time the schedule may run (the largest burst is
/// about `TOLERANCE * rate + 1` starts).
const TOLERANCE: Duration = Duration::from_millis(2);

/// Paces connect starts to at most `rate` per second on average.
#[derive(Debug)]
pub(crate) struct Pacing {
    epoch: Instant,
    interval_ns: u64,
    next_ns: AtomicU64,
}

impl Pacing {
    /// A limiter allowing `per_second` starts per second (at least 1).
    pub(crate) fn new(per_second: u32, epoch: Instant) -> Pacing {
        Pacing {
            epoch,
            interval_ns: (1_000_000_000 / u64::from(per_second.max(1))).max(1),
            next_ns: AtomicU64::new(0),
        }
    }

    /// Takes one start slot at `now`, or says how long to wait for one.
    pub(crate) fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        let now_ns = self.nanos_since_epoch(now);
        let tolerance = TOLERANCE.as_nanos() as u64;
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            if next > now_ns + tolerance {
                return Err(Duration::from_nanos(next - now_ns - tolerance));
            }
            let new = next.max(now_ns) + self.interval_ns;
            match self.next_ns.compare_exchange_weak(
                next,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => next = seen,
            }
        }
    }

    fn nanos_since_epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_rate_allows_one_then_waits_an_interval() {
        let t0 = Instant::now();
        let r = Pacing::new(100, t0);
        assert!(r.try_acquire(t0).is_ok());
        let wait = r.try_acquire(t0).unwrap_err();
        assert!(wait > Duration::from_millis(7) && wait <= Duration::from_millis(10));
        assert!(r.try_acquire(t0 + Duration::from_millis(10)).is_ok());
    }

    #[test]
    fn long_run_never_exceeds_rate() {
        let t0 = Instant::now();
        let r = Pacing::new(1000, t0);
        let mut allowed = 0;
        // Poll every 100 us for one simulated second.
        for step in 0..10_000u64 {
            let now = t0 + Duration::from_micros(step * 100);
            while r.try_acquire(now).is_ok() {
                allowed += 1;
            }
        }
        assert!((995..=1003).contains(&allowed), "{allowed}");
    }

    #[test]
    fn idle_time_does_not_bank_a_burst() {
        let t0 = Instant::now();
        let r = Pacing::new(100, t0);
        let later = t0 + Duration::from_secs(10);
        assert!(r.try_acquire(later).is_ok());
        assert!(r.try_acquire(later).is_err());
    }

    #[test]
    fn huge_rate_still_paces() {
        let t0 = Instant::now();
        let r = Pacing::new(u32::MAX, t0);
        let mut n = 0;
        while r.try_acquire(t0).is_ok() && n < 10_000_000 {
            n += 1;
        }
        assert!(n < 10_000_000);
    }
}
