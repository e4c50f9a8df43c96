//! A shared pacing gate for connect starts, across all workers.
//!
//! It is a GCRA ("virtual scheduling") limiter over one atomic: the
//! theoretical time of the next allowed start, in nanoseconds since the scan
//! began. Each start advances it by `1/rate`; a start is allowed when that
//! time is at most [`TOLERANCE`] ahead of now. Because the tolerance is a
//! couple of milliseconds rather than a second's worth of tokens, 100/s means
//! one connect every 10 ms, not a burst of 100 followed by silence, while a
//! worker waking a millisecond late from its poll can still catch up.
//!
//! # A rate that adapts
//!
//! A packet technique (`-sS`) without `--rate` does not make the user
//! guess a number: its schedule is [`Pacing::adaptive`], whose rate moves
//! like a congestion window. It starts at [`INITIAL_RATE`] and grows by a
//! quarter every [`TICK`] in which the workers used at least half of what
//! it allowed and no evidence of loss arrived ([`Pacing::tick`]). Silence
//! is not loss: on a dead range it grows to what the machine can send.
//! Evidence of loss cuts it, at most once per tick: an answer that came
//! only on a retry ([`Pacing::loss`], by 30%), or a full send path,
//! `ENOBUFS` ([`Pacing::full`], by half). `--max-rate` caps it and
//! `--min-rate` floors it. Its schedule may run a whole tick ahead of
//! real time (not 2 ms): a sender kept off the CPU for a few milliseconds
//! catches up, rather than being held to less than the rate and taken
//! for one that cannot use more. Exactness does not rest on the rate: a lost
//! answer is found by the retry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How far ahead of real time the schedule may run (the largest burst is
/// about `TOLERANCE * rate + 1` starts).
const TOLERANCE: Duration = Duration::from_millis(2);

/// Starts a second at the beginning of an adaptive schedule.
pub const INITIAL_RATE: f64 = 20_000.0;
/// How often an adaptive rate is reconsidered.
pub const TICK: Duration = Duration::from_millis(10);
/// Highest an adaptive rate grows without `--max-rate`.
const RATE_CEILING: f64 = 10_000_000.0;

/// Paces connect starts to at most `rate` per second on average.
#[derive(Debug)]
pub(crate) struct Pacing {
    epoch: Instant,
    /// How far ahead of real time the schedule may run, in nanoseconds.
    tolerance_ns: u64,
    interval_ns: AtomicU64,
    next_ns: AtomicU64,
    /// Starts allowed so far (what an adaptive rate was used for).
    granted: AtomicU64,
    adapt: Option<Mutex<Adapt>>,
}

/// The state of an adaptive rate (see the module docs).
#[derive(Debug)]
struct Adapt {
    rate: f64,
    min: f64,
    max: f64,
    tick_start: Instant,
    granted_at_tick: u64,
    cut_in_tick: bool,
}

fn interval_ns(per_second: f64) -> u64 {
    ((1e9 / per_second.max(1.0)) as u64).max(1)
}

impl Pacing {
    /// A limiter allowing `per_second` starts per second (at least 1).
    pub(crate) fn new(per_second: u32, epoch: Instant) -> Pacing {
        Pacing {
            epoch,
            tolerance_ns: TOLERANCE.as_nanos() as u64,
            interval_ns: AtomicU64::new(interval_ns(f64::from(per_second))),
            next_ns: AtomicU64::new(0),
            granted: AtomicU64::new(0),
            adapt: None,
        }
    }

    /// A limiter whose rate adapts (see the module docs), between `min`
    /// and `max` starts a second (`None`: 1 and a ceiling no NIC needs
    /// more than).
    pub(crate) fn adaptive(min: Option<u32>, max: Option<u32>, epoch: Instant) -> Pacing {
        let max = max.map_or(RATE_CEILING, f64::from).max(1.0);
        let min = min.map_or(1.0, f64::from).clamp(1.0, max);
        let rate = INITIAL_RATE.clamp(min, max);
        Pacing {
            adapt: Some(Mutex::new(Adapt {
                rate,
                min,
                max,
                tick_start: epoch,
                granted_at_tick: 0,
                cut_in_tick: false,
            })),
            // A burst of up to a tick: a sender kept off the CPU for a
            // while catches up, and is not held to a rate it could not
            // use (which would stop the rate from growing).
            tolerance_ns: TICK.as_nanos() as u64,
            ..Pacing::new(rate as u32, epoch)
        }
    }

    fn control(&self) -> Option<std::sync::MutexGuard<'_, Adapt>> {
        self.adapt
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn set_rate(&self, a: &mut Adapt, rate: f64) {
        a.rate = rate.clamp(a.min, a.max);
        self.interval_ns
            .store(interval_ns(a.rate), Ordering::Relaxed);
    }

    /// An adaptive rate reconsiders itself once a [`TICK`] has passed:
    /// it grows when the tick used at least half of what it allowed and
    /// saw no cut. Nothing for a fixed rate.
    pub(crate) fn tick(&self, now: Instant) {
        let Some(mut a) = self.control() else {
            return;
        };
        let dt = now.saturating_duration_since(a.tick_start);
        if dt < TICK {
            return;
        }
        let granted = self.granted.load(Ordering::Relaxed);
        let used = (granted - a.granted_at_tick) as f64;
        if !a.cut_in_tick && used >= 0.5 * a.rate * dt.as_secs_f64() {
            let grown = a.rate * 1.25;
            self.set_rate(&mut a, grown);
        }
        a.tick_start = now;
        a.granted_at_tick = granted;
        a.cut_in_tick = false;
    }

    /// An answer came only on a retry: a packet was lost; cut an
    /// adaptive rate by 30% (once per tick).
    pub(crate) fn loss(&self) {
        self.cut(0.7);
    }

    /// The send path is full (`ENOBUFS`): halve an adaptive rate (once
    /// per tick).
    pub(crate) fn full(&self) {
        self.cut(0.5);
    }

    fn cut(&self, factor: f64) {
        if let Some(mut a) = self.control() {
            if !a.cut_in_tick {
                a.cut_in_tick = true;
                let cut = a.rate * factor;
                self.set_rate(&mut a, cut);
            }
        }
    }

    /// The rate now, starts a second.
    #[cfg(test)]
    fn rate(&self) -> f64 {
        1e9 / self.interval_ns.load(Ordering::Relaxed) as f64
    }

    /// Takes one start slot at `now`, or says how long to wait for one.
    pub(crate) fn try_acquire(&self, now: Instant) -> Result<(), Duration> {
        let now_ns = self.nanos_since_epoch(now);
        let tolerance = self.tolerance_ns;
        let mut next = self.next_ns.load(Ordering::Relaxed);
        loop {
            if next > now_ns + tolerance {
                return Err(Duration::from_nanos(next - now_ns - tolerance));
            }
            let new = next.max(now_ns) + self.interval_ns.load(Ordering::Relaxed);
            match self.next_ns.compare_exchange_weak(
                next,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.granted.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
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

    /// Takes every start allowed at `now` (a sender that keeps up).
    fn drain(r: &Pacing, now: Instant) {
        while r.try_acquire(now).is_ok() {}
    }

    #[test]
    fn an_adaptive_rate_grows_while_used_and_is_cut_on_loss() {
        let t0 = Instant::now();
        let r = Pacing::adaptive(None, Some(100_000), t0);
        assert_eq!(r.rate().round(), INITIAL_RATE);
        let mut now = t0;
        // A sender that polls every 100 us for 40 ticks.
        for _ in 0..4000 {
            now += Duration::from_micros(100);
            drain(&r, now);
            r.tick(now);
        }
        assert!(r.rate() > 99_000.0, "capped at the max: {}", r.rate());
        r.loss();
        r.full();
        assert!(
            (r.rate() - 70_000.0).abs() < 100.0,
            "one cut a tick: {}",
            r.rate()
        );
        now += TICK;
        r.tick(now);
        r.full();
        assert!((r.rate() - 35_000.0).abs() < 100.0, "{}", r.rate());
    }

    #[test]
    fn an_unused_adaptive_rate_does_not_grow_nor_fall_below_its_floor() {
        let t0 = Instant::now();
        let r = Pacing::adaptive(Some(15_000), None, t0);
        let mut now = t0;
        for _ in 0..10 {
            now += TICK;
            r.tick(now);
        }
        assert_eq!(r.rate().round(), INITIAL_RATE);
        for _ in 0..10 {
            now += TICK;
            r.tick(now);
            r.full();
        }
        assert!((r.rate() - 15_000.0).abs() < 10.0, "{}", r.rate());
    }
}
