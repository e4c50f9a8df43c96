//! Bookkeeping for flights (attempts in flight): a slab of slots addressed by small
//! integer keys (the poller's event key), and timers of deadlines.
//!
//! Connect timeouts adapt to each address and back off on retries (see the
//! `rtt` module), so deadlines are not pushed in the order they fall due:
//! a retry waits longer than a first attempt started after it, and an
//! attempt started before its address's first answer is given the
//! deadline that answer calls for (earlier or later) once it arrives.
//! The timer ([`Deadlines`]) is therefore a min-heap, beside FIFO lanes
//! for the deadlines that do come in order: most do (every attempt of a SYN scan under group timing waits
//! as long as the one before it, and a retry longer), and a packet scan
//! keeps a hundred thousand of them, where a heap's sift through cold
//! memory took a twentieth of the scan's CPU. Each push goes to the first
//! lane whose last deadline is no later (a few lanes: a timeout that
//! shrinks starts a new one), else to the heap; the earliest front pops
//! first.
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
use std::collections::{BinaryHeap, VecDeque};
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
    /// Deadlines pushed in order, each lane no earlier than its last (at
    /// most [`LANES`]: a timeout that shrinks once, as group timing's does
    /// at the first answer, starts a second lane rather than the heap).
    lanes: Vec<VecDeque<(Instant, Key)>>,
    /// The others.
    heap: BinaryHeap<Reverse<(Instant, Key)>>,
}

/// Most FIFO lanes of [`Deadlines`].
const LANES: usize = 4;

impl Deadlines {
    /// Adds a deadline for `key`. A key may have several: the engine
    /// keeps each flight's current deadline with the flight and ignores
    /// an entry that is not it (a deadline moved later leaves its earlier
    /// entry behind), and entries of a freed slot are stale.
    pub(crate) fn push(&mut self, deadline: Instant, key: Key) {
        let fits = |lane: &VecDeque<(Instant, Key)>| lane.back().is_none_or(|b| b.0 <= deadline);
        if let Some(lane) = self.lanes.iter_mut().find(|l| fits(l)) {
            lane.push_back((deadline, key));
        } else if self.lanes.len() < LANES {
            self.lanes.push(VecDeque::from([(deadline, key)]));
        } else {
            self.heap.push(Reverse((deadline, key)));
        }
    }

    /// Where the earliest entry is: `None` for the heap, else its lane.
    fn earliest(&self) -> Option<(Instant, Option<usize>)> {
        let heap = self.heap.peek().map(|Reverse((d, _))| (*d, None));
        let lanes = self
            .lanes
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.front().map(|(d, _)| (*d, Some(i))));
        heap.into_iter().chain(lanes).min_by_key(|(d, _)| *d)
    }

    /// The earliest deadline (possibly a stale one; waking early is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.earliest().map(|(d, _)| d)
    }

    /// Pops the earliest entry if its deadline has passed at `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<Key> {
        match self.earliest()? {
            (d, _) if d > now => None,
            (_, None) => self.heap.pop().map(|Reverse((_, k))| k),
            (_, Some(i)) => self.lanes[i].pop_front().map(|(_, k)| k),
        }
    }

    /// Number of entries, stale ones included.
    pub(crate) fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(VecDeque::len).sum::<usize>()
    }

    /// Drops every entry for which `live` says false.
    pub(crate) fn retain_live(&mut self, live: impl Fn(Key) -> bool) {
        self.heap.retain(|Reverse((_, k))| live(*k));
        for lane in &mut self.lanes {
            lane.retain(|(_, k)| live(*k));
        }
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
    fn deadlines_pushed_in_any_order_pop_earliest_first() {
        let t0 = Instant::now();
        let mut s = Slots::with_capacity(512);
        let mut q = Deadlines::default();
        let mut want = Vec::new();
        // Mostly in order (the lane), with earlier ones mixed in (the heap).
        let mut x: u64 = 7;
        for i in 0..500u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let ms = if x >> 61 == 0 { (x >> 40) % (i + 1) } else { i };
            let at = t0 + Duration::from_millis(ms);
            let key = s.insert(i);
            q.push(at, key);
            want.push((at, key));
        }
        assert_eq!(q.len(), 500);
        want.sort();
        assert_eq!(q.next(), Some(want[0].0));
        let far = t0 + Duration::from_secs(10);
        let mut got = Vec::new();
        while let Some(k) = q.pop_expired(far) {
            got.push(k);
        }
        let times: Vec<Instant> = got
            .iter()
            .map(|k| want.iter().find(|w| w.1 == *k).unwrap().0)
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(got.len(), 500);
        assert_eq!(q.next(), None);
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
