//! How many workers, and how many connects in flight each.
//!
//! The arithmetic is kept apart from the syscalls (in [`crate::fdlimit`]) so
//! it can be tested on its own.

/// Descriptors each worker's poller holds (epoll, eventfd, timerfd).
pub(crate) const FDS_PER_POLLER: u64 = 3;
/// Spare sockets a worker may hold between connects (one per family).
pub(crate) const SPARES_PER_WORKER: u64 = 2;

/// Number of workers: one per rayon thread, but never more than there are
/// connects allowed in flight or probes to make.
pub(crate) fn worker_count(threads: usize, concurrency: usize, probes: u64) -> usize {
    let probes = usize::try_from(probes).unwrap_or(usize::MAX);
    threads.min(concurrency).min(probes).max(1)
}

/// Total connects in flight: what was asked for, capped by the descriptor
/// budget, and at least one (a scan always makes progress; if even one
/// descriptor is missing, the engine backs off on `EMFILE` and retries).
pub(crate) fn total_concurrency(wanted: usize, fd_budget: usize) -> usize {
    wanted.min(fd_budget).max(1)
}

/// How many probe indices a worker takes from the shared cursor at a time:
/// big enough to keep the shared counter cold, small enough that workers
/// finish together.
pub(crate) fn batch_size(per_worker: usize) -> u64 {
    (per_worker / 8).clamp(1, 128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_never_exceed_threads_concurrency_or_probes() {
        assert_eq!(worker_count(2, 1000, 65535), 2);
        assert_eq!(worker_count(8, 1, 65535), 1);
        assert_eq!(worker_count(8, 1000, 3), 3);
        assert_eq!(worker_count(8, 1000, 0), 1);
    }

    #[test]
    fn concurrency_is_capped_by_fds_but_positive() {
        assert_eq!(total_concurrency(5000, 30), 30);
        assert_eq!(total_concurrency(100, 1 << 20), 100);
        assert_eq!(total_concurrency(100, 0), 1);
    }

    #[test]
    fn batches_are_bounded() {
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(80), 10);
        assert_eq!(batch_size(100_000), 128);
    }
}
