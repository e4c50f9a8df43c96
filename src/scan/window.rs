//! The in-flight window of one scan: how many flights may be open at
//! once, across all workers, and how that adapts.
//!
//! It is shared rather than split per worker, so that a worker that drew
//! many slow (filtered) probes can use the room another is not using. It
//! starts at [`super::INITIAL_WINDOW`] (or the ceiling, if lower), grows
//! by one per answer that came on a first attempt and per first attempt
//! that timed out or, with group timing, stayed silent for the floor
//! timeout (silence is not loss), up to the ceiling, and
//! shrinks by an eighth (not below where it started) per answer that came
//! only on a retry, which proves a packet was lost (see the module docs of
//! [`super`], Concurrency that adapts). It never blocks: a taker that
//! finds it full looks again later.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget of connects in flight, across all workers: a window
/// that starts at [`super::INITIAL_WINDOW`] (or the ceiling, if lower),
/// grows by one per answer that came on a first attempt, up to the
/// ceiling, and shrinks by an eighth (not below where it started) per
/// answer that came only on a retry, which proves a packet was lost. See
/// the module docs of [`super`] (Concurrency that adapts).
#[derive(Debug)]
pub(crate) struct Permits {
    /// The ceiling; lowered once by [`Permits::cap`] when the scan knows
    /// its descriptor budget.
    max: AtomicUsize,
    window: AtomicUsize,
    used: AtomicUsize,
    /// Where the window starts and never shrinks below (capped by `max`).
    floor: usize,
}

impl Permits {
    /// A budget of at most `max` connects in flight.
    pub(crate) fn new(max: usize) -> Permits {
        let max = max.max(1);
        Permits {
            max: AtomicUsize::new(max),
            window: AtomicUsize::new(max.min(super::INITIAL_WINDOW)),
            used: AtomicUsize::new(0),
            floor: max.min(super::INITIAL_WINDOW),
        }
    }

    /// A window of `max` from the start that never moves (its floor is
    /// its ceiling): a memory bound for flights whose pace the rate sets.
    pub(crate) fn fixed(max: usize) -> Permits {
        let max = max.max(1);
        Permits {
            max: AtomicUsize::new(max),
            window: AtomicUsize::new(max),
            used: AtomicUsize::new(0),
            floor: max,
        }
    }

    /// The ceiling of the window.
    pub(crate) fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Where the window starts and never shrinks below.
    fn floor(&self) -> usize {
        self.max().min(self.floor)
    }

    /// Lowers the ceiling (and the window) to `max`, if above it.
    pub(crate) fn cap(&self, max: usize) {
        let max = max.max(1);
        self.max.fetch_min(max, Ordering::Relaxed);
        self.window.fetch_min(max, Ordering::Relaxed);
    }

    /// Takes one permit if the window has room.
    pub(crate) fn try_take(&self) -> bool {
        let window = self.window.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < window).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives `n` permits back.
    pub(crate) fn give_back(&self, n: usize) {
        if n > 0 {
            self.used.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// An answer on a first attempt, or a first attempt that timed out
    /// (silence is not loss): widen by one.
    pub(crate) fn grow(&self) {
        let max = self.max();
        if self.window.load(Ordering::Relaxed) < max {
            let _ = self
                .window
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    (w < max).then_some(w + 1)
                });
        }
    }

    /// An answer only on a retry: a packet was lost, narrow by an eighth.
    pub(crate) fn shrink(&self) {
        let floor = self.floor();
        let _ = self
            .window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                Some((w - w / 8).max(floor))
            });
    }

    /// The current window.
    pub(crate) fn window(&self) -> usize {
        self.window.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_grows_to_the_ceiling_and_shrinks_to_where_it_started() {
        let p = Permits::new(1200);
        assert_eq!(p.window(), crate::scan::INITIAL_WINDOW);
        for _ in 0..500 {
            p.grow();
        }
        assert_eq!(p.window(), 1200);
        p.shrink();
        assert_eq!(p.window(), 1200 - 150);
        for _ in 0..100 {
            p.shrink();
        }
        assert_eq!(p.window(), crate::scan::INITIAL_WINDOW);
    }

    #[test]
    fn a_lowered_ceiling_lowers_the_window_and_is_never_raised() {
        let p = Permits::new(1200);
        p.cap(2);
        assert_eq!((p.max(), p.window()), (2, 2));
        p.cap(5);
        assert_eq!((p.max(), p.window()), (2, 2));
    }

    #[test]
    fn a_small_ceiling_is_the_whole_window() {
        let p = Permits::new(3);
        assert_eq!(p.window(), 3);
        assert!(p.try_take() && p.try_take() && p.try_take());
        assert!(!p.try_take());
        p.give_back(1);
        assert!(p.try_take());
    }
}
