//! Bookkeeping for flights (attempts in flight): a slab of slots addressed by small
//! integer keys (the poller's event key), and timers of deadlines.
//!
//! Connect timeouts adapt to each address and back off on retries (see the
//! `rtt` module), so deadlines are not pushed in the order they fall due:
//! a retry waits longer than a first attempt started after it, and an
//! attempt started before its address's first answer is given the
//! deadline that answer calls for (earlier or later) once it arrives. The timer is therefore a min-heap
//! ([`Deadlines`]), not a FIFO; with a few thousand entries at most, a push
//! or pop is a dozen comparisons.
//!
//! An entry is not removed when its connect finishes early; instead each
//! slot carries a generation, bumped when the slot is freed, and an entry
//! whose generation no longer matches is stale and skipped.
//!
//! The poller's event key is the whole [`Key`], generation included
//! ([`Key::to_event`]), not just the slot index: a readiness event can only
//! ever reach the attempt whose socket was registered under it. An event
//! for a slot that was freed and reused since (a later attempt, perhaps on
//! the same descriptor number) names an old generation and is dropped,
//! never read as news about the new attempt. Stale entries
//! are compacted away once the heap outgrows a bound, so memory stays
//! proportional to the concurrency, not to the scan size.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Names one use of one slot: the index is the poller key, the generation
/// tells a live entry from a stale one. (Ordered only so that deadlines
/// that fall due together have a fixed order in the heap.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) index: usize,
    generation: usize,
}

/// Bits of an event key that hold the slot index; the rest hold the
/// generation (so both fit one `usize`: 32 + 32 bits on 64-bit targets).
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Generations count modulo this (the high half of an event key).
const GENERATION_MASK: usize = usize::MAX >> INDEX_BITS;

impl Key {
    /// The poller event key naming this use of the slot: index and
    /// generation together.
    pub(crate) fn to_event(self) -> usize {
        self.index | (self.generation << INDEX_BITS)
    }

    /// The key an event carries (see [`Key::to_event`]).
    pub(crate) fn from_event(event: usize) -> Key {
        Key {
            index: event & INDEX_MASK,
            generation: event >> INDEX_BITS,
        }
    }
}

#[derive(Debug)]
struct Entry<T> {
    generation: usize,
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
    ///
    /// # Panics
    ///
    /// If more than 2^32 values (2^16 on 32-bit targets) are live at once:
    /// far beyond any descriptor limit.
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
        assert!(self.entries.len() <= INDEX_MASK, "slot index overflow");
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
        entry.generation = entry.generation.wrapping_add(1) & GENERATION_MASK;
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

/// Deadlines, earliest first, whatever order they were pushed in.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, Key)>>,
}

impl Deadlines {
    /// Adds a deadline for `key`. A key may have several: the engine
    /// keeps each flight's current deadline with the flight and ignores
    /// an entry that is not it (a deadline moved later leaves its earlier
    /// entry behind), and entries of a freed slot are stale.
    pub(crate) fn push(&mut self, deadline: Instant, key: Key) {
        self.heap.push(Reverse((deadline, key)));
    }

    /// The earliest deadline (possibly a stale one; waking early is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((d, _))| *d)
    }

    /// Pops the earliest entry if its deadline has passed at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Key> {
        match self.heap.peek() {
            Some(Reverse((d, _))) if *d <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }

    /// Number of entries, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every entry for which `live` says false.
    pub(crate) fn retain_live(&mut self, live: impl Fn(Key) -> bool) {
        self.heap.retain(|Reverse((_, k))| live(*k));
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
    fn event_keys_carry_the_generation() {
        let mut s = Slots::with_capacity(1);
        let a = s.insert("a");
        s.remove(a);
        let b = s.insert("b");
        assert_eq!(a.index, b.index);
        // An event registered for `a` can no longer reach `b`.
        assert_eq!(s.get(Key::from_event(a.to_event())), None);
        assert_eq!(s.get(Key::from_event(b.to_event())), Some(&"b"));
        let far = Key {
            index: 12345,
            generation: GENERATION_MASK,
        };
        assert_eq!(Key::from_event(far.to_event()), far);
    }

    #[test]
    fn generations_wrap_within_the_event_key() {
        let mut s = Slots::with_capacity(1);
        let mut key = s.insert(0);
        s.entries[0].generation = GENERATION_MASK;
        key.generation = GENERATION_MASK;
        s.remove(key);
        let next = s.insert(1);
        assert_eq!(next.generation, 0);
        assert_eq!(Key::from_event(next.to_event()), next);
    }

    #[test]
    fn deadlines_pop_in_order_only_when_due() {
        let t0 = Instant::now();
        let mut s = Slots::with_capacity(2);
        let (a, b) = (s.insert(1), s.insert(2));
        let mut q = Deadlines::default();
        // Pushed out of order: the later one first.
        q.push(t0 + Duration::from_millis(20), b);
        q.push(t0 + Duration::from_millis(10), a);
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
        let mut q = Deadlines::default();
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

    #[test]
    fn a_key_with_two_deadlines_pops_at_the_earlier_first() {
        let t0 = Instant::now();
        let mut s = Slots::with_capacity(2);
        let (a, b) = (s.insert(1), s.insert(2));
        let mut q = Deadlines::default();
        q.push(t0 + Duration::from_millis(1000), a);
        q.push(t0 + Duration::from_millis(500), b);
        q.push(t0 + Duration::from_millis(100), a);
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(100)));
        let now = t0 + Duration::from_millis(2000);
        let order: Vec<Key> = std::iter::from_fn(|| q.pop_expired(now)).collect();
        assert_eq!(order, [a, b, a]);
    }
}
