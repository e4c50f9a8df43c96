//! Bookkeeping for connects in flight: a slab of slots addressed by small
//! integer keys (the poller's event key), and FIFO queues of deadlines.
//!
//! Every attempt of a worker uses the same timeout, so deadlines are pushed
//! in increasing order and a plain FIFO is a correct timer: the front is
//! always the earliest. An entry is not removed when its connect finishes
//! early; instead each slot carries a generation, bumped when the slot is
//! freed, and an entry whose generation no longer matches is stale and
//! skipped. Stale entries are compacted away once the queue outgrows a bound,
//! so memory stays proportional to the concurrency, not to the scan size.

use std::collections::VecDeque;
use std::time::Instant;

/// Names one use of one slot: the index is the poller key, the generation
/// tells a live entry from a stale one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) index: usize,
    generation: u32,
}

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    value: Option<T>,
}

/// A slab: values live in reusable slots named by [`Key`]s.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    entries: Vec<Entry<T>>,
    free: Vec<usize>,
    live: usize,
}

impl<T> Slots<T> {
    /// An empty slab with room for `capacity` values before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> Slots<T> {
        Slots {
            entries: Vec::with_capacity(capacity),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Number of live values.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// True when no value is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Stores `value` and returns its key.
    pub(crate) fn insert(&mut self, value: T) -> Key {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let entry = &mut self.entries[index];
            entry.value = Some(value);
            return Key {
                index,
                generation: entry.generation,
            };
        }
        self.entries.push(Entry {
            generation: 0,
            value: Some(value),
        });
        Key {
            index: self.entries.len() - 1,
            generation: 0,
        }
    }

    /// The key of the live value at `index`, if any.
    pub(crate) fn key_at(&self, index: usize) -> Option<Key> {
        let entry = self.entries.get(index)?;
        entry.value.as_ref().map(|_| Key {
            index,
            generation: entry.generation,
        })
    }

    /// The value `key` names, unless it was removed since.
    pub(crate) fn get(&self, key: Key) -> Option<&T> {
        let entry = self.entries.get(key.index)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.value.as_ref()
    }

    /// The value `key` names, mutably, unless it was removed since.
    pub(crate) fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.index)?;
        if entry.generation != key.generation {
            return None;
        }
        entry.value.as_mut()
    }

    /// True when `key` still names a live value.
    pub(crate) fn contains(&self, key: Key) -> bool {
        self.get(key).is_some()
    }

    /// Removes and returns the value `key` names; its slot's generation
    /// moves on so that outstanding copies of `key` go stale.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        let entry = self.entries.get_mut(key.index)?;
        if entry.generation != key.generation {
            return None;
        }
        let value = entry.value.take()?;
        entry.generation = entry.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live -= 1;
        Some(value)
    }

    /// Keys of all live values.
    pub(crate) fn keys(&self) -> Vec<Key> {
        (0..self.entries.len())
            .filter_map(|i| self.key_at(i))
            .collect()
    }
}

/// Deadlines in the order they were pushed (which, for equal timeouts, is
/// the order they expire in).
#[derive(Debug, Default)]
pub(crate) struct DeadlineQueue {
    queue: VecDeque<(Instant, Key)>,
}

impl DeadlineQueue {
    /// Appends a deadline; must not be earlier than the last one pushed.
    pub(crate) fn push(&mut self, deadline: Instant, key: Key) {
        debug_assert!(self.queue.back().map_or(true, |(d, _)| *d <= deadline));
        self.queue.push_back((deadline, key));
    }

    /// The earliest deadline (possibly a stale one; waking early is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.queue.front().map(|(d, _)| *d)
    }

    /// Pops the front entry if its deadline has passed at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Key> {
        match self.queue.front() {
            Some((d, _)) if *d <= now => self.queue.pop_front().map(|(_, k)| k),
            _ => None,
        }
    }

    /// Number of entries, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Drops every entry for which `live` says false.
    pub(crate) fn retain_live(&mut self, live: impl Fn(Key) -> bool) {
        self.queue.retain(|(_, k)| live(*k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn removed_keys_go_stale_and_slots_are_reused() {
        let mut s = Slots::with_capacity(2);
        let a = s.insert("a");
        let b = s.insert("b");
        assert_eq!(s.len(), 2);
        assert_eq!(s.remove(a), Some("a"));
        assert!(!s.contains(a));
        assert_eq!(s.remove(a), None);
        let c = s.insert("c");
        assert_eq!(c.index, a.index);
        assert_ne!(c, a);
        assert_eq!(s.get(a), None);
        assert_eq!(s.get(c), Some(&"c"));
        assert_eq!(s.key_at(b.index), Some(b));
        assert_eq!(s.keys().len(), 2);
        *s.get_mut(b).unwrap() = "B";
        assert_eq!(s.get(b), Some(&"B"));
        assert!(!s.is_empty());
    }

    #[test]
    fn deadlines_pop_in_order_only_when_due() {
        let t0 = Instant::now();
        let mut s = Slots::with_capacity(2);
        let (a, b) = (s.insert(1), s.insert(2));
        let mut q = DeadlineQueue::default();
        q.push(t0 + Duration::from_millis(10), a);
        q.push(t0 + Duration::from_millis(20), b);
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(q.pop_expired(t0), None);
        assert_eq!(q.pop_expired(t0 + Duration::from_millis(15)), Some(a));
        assert_eq!(q.pop_expired(t0 + Duration::from_millis(15)), None);
        assert_eq!(q.pop_expired(t0 + Duration::from_millis(25)), Some(b));
        assert_eq!(q.next(), None);
    }

    #[test]
    fn retain_live_drops_stale_entries() {
        let t0 = Instant::now();
        let mut s = Slots::with_capacity(4);
        let mut q = DeadlineQueue::default();
        let keys: Vec<Key> = (0..4).map(|i| s.insert(i)).collect();
        for k in &keys {
            q.push(t0, *k);
        }
        s.remove(keys[1]);
        s.remove(keys[3]);
        q.retain_live(|k| s.contains(k));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_expired(t0), Some(keys[0]));
        assert_eq!(q.pop_expired(t0), Some(keys[2]));
    }
}
