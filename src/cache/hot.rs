//! The hot set: a bounded in-memory map from entry key to decoded entry,
//! in front of a layer's sled records.
//!
//! Built for hit latency at a million entries, where a general cache's
//! bookkeeping (read buffers, access-order lists, timer wheels, frequency
//! sketches: all pointer chasing through cold memory) costs more than the
//! hit itself. A lookup is one shard read lock and one hash probe. Every
//! insert is admitted (a fresh store is always hot), and a shard over its
//! byte budget evicts by sampled LRU: of a few random entries, the one
//! expired or least recently used goes (Redis's approximation of LRU; the
//! recency is the `last_access_ms` the layer already keeps per entry).
//! Expiry is checked by the layer on every hit; expired entries leave when
//! the sweeper removes their records, or first when eviction samples them.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

/// What the hot set needs to know about a value.
pub trait HotValue {
    /// Approximate memory the value holds, in bytes.
    fn weight(&self) -> u64;
    /// Wall-clock expiry, in ms since the epoch.
    fn expires_ms(&self) -> u64;
    /// Last use, in ms since the epoch (the eviction order).
    fn last_access_ms(&self) -> u64;
}

const SHARDS: usize = 64;
/// Entries compared per eviction.
const SAMPLES: usize = 5;

struct Shard<V> {
    /// Key → (position in `slots`, value): a hit is one probe.
    index: HashMap<u128, (u32, Arc<V>), RandomState>,
    /// The keys, densely, for sampling.
    slots: Vec<u128>,
    bytes: u64,
    /// xorshift state for sampling.
    rng: u64,
}

impl<V: HotValue> Shard<V> {
    fn remove_at(&mut self, i: usize) {
        let key = self.slots.swap_remove(i);
        if let Some((_, v)) = self.index.remove(&key) {
            self.bytes = self.bytes.saturating_sub(v.weight());
        }
        if let Some(moved) = self.slots.get(i) {
            if let Some(e) = self.index.get_mut(moved) {
                e.0 = i as u32;
            }
        }
    }

    fn next_random(&mut self) -> usize {
        let mut s = self.rng;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.rng = s;
        s as usize
    }

    /// Evicts until the shard is within `budget`, never the entry `keep`.
    fn evict_over(&mut self, budget: u64, keep: u128, now: u64) -> u64 {
        let mut evicted = 0;
        while self.bytes > budget && self.slots.len() > 1 {
            let n = self.slots.len();
            let mut victim = None;
            let mut oldest = u64::MAX;
            for _ in 0..SAMPLES {
                let i = self.next_random() % n;
                let k = self.slots[i];
                let Some((_, v)) = self.index.get(&k).filter(|_| k != keep) else {
                    continue;
                };
                let age = match v.expires_ms() <= now {
                    true => 0,
                    false => v.last_access_ms(),
                };
                if age < oldest {
                    (victim, oldest) = (Some(i), age);
                }
            }
            // Every sample may have hit `keep`: take its neighbour.
            let victim = victim.unwrap_or_else(|| {
                let k = self.index.get(&keep).map_or(0, |e| e.0 as usize);
                (k + 1) % n
            });
            self.remove_at(victim);
            evicted += 1;
        }
        evicted
    }
}

/// A sharded, byte-bounded map of hot entries.
pub struct HotSet<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    shard_budget: u64,
}

impl<V: HotValue> HotSet<V> {
    /// A hot set holding about `budget` bytes of values.
    pub fn new(budget: u64) -> HotSet<V> {
        let seed = std::hash::BuildHasher::hash_one(&RandomState::new(), 0u8) | 1;
        let shards = (0..SHARDS)
            .map(|i| {
                RwLock::new(Shard {
                    index: HashMap::default(),
                    slots: Vec::new(),
                    bytes: 0,
                    rng: seed.wrapping_add((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1,
                })
            })
            .collect();
        HotSet {
            shards,
            shard_budget: budget / SHARDS as u64,
        }
    }

    fn shard(&self, key: u128) -> &RwLock<Shard<V>> {
        // Entry keys are uniform hashes: their top bits pick the shard, the
        // shard's map hashes the whole key again (keyed, against crafted keys).
        &self.shards[(key >> 122) as usize % SHARDS]
    }

    pub fn get(&self, key: u128) -> Option<Arc<V>> {
        let shard = self.shard(key).read();
        shard.index.get(&key).map(|(_, v)| v.clone())
    }

    /// Inserts or replaces `key`; returns how many entries were evicted to
    /// make room. A value larger than a quarter of a shard's budget is not
    /// kept (it would flush the shard); its reads go to sled.
    pub fn insert(&self, key: u128, value: Arc<V>, now: u64) -> u64 {
        let weight = value.weight();
        let mut shard = self.shard(key).write();
        if weight > self.shard_budget / 4 {
            if let Some(i) = shard.index.get(&key).map(|e| e.0) {
                shard.remove_at(i as usize);
            }
            return 0;
        }
        let n = shard.slots.len() as u32;
        let old = match shard.index.entry(key) {
            Entry::Occupied(mut o) => Some(std::mem::replace(&mut o.get_mut().1, value)),
            Entry::Vacant(v) => {
                v.insert((n, value));
                None
            }
        };
        match old {
            Some(old) => shard.bytes = shard.bytes.saturating_sub(old.weight()),
            None => shard.slots.push(key),
        }
        shard.bytes += weight;
        shard.evict_over(self.shard_budget, key, now)
    }

    pub fn remove(&self, key: u128) {
        let mut shard = self.shard(key).write();
        if let Some(i) = shard.index.get(&key).map(|e| e.0) {
            shard.remove_at(i as usize);
        }
    }

    /// (entries, bytes) held.
    pub fn size(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let s = s.read();
            (n + s.slots.len() as u64, b + s.bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    struct V {
        weight: u64,
        expires: u64,
        last: AtomicU64,
    }

    fn v(weight: u64, expires: u64, last: u64) -> Arc<V> {
        Arc::new(V {
            weight,
            expires,
            last: AtomicU64::new(last),
        })
    }

    impl HotValue for V {
        fn weight(&self) -> u64 {
            self.weight
        }
        fn expires_ms(&self) -> u64 {
            self.expires
        }
        fn last_access_ms(&self) -> u64 {
            self.last.load(Relaxed)
        }
    }

    /// Keys that all land in shard 0.
    fn key(i: u128) -> u128 {
        i
    }

    /// Checks the index and the byte count against the slots.
    fn consistent(h: &HotSet<V>) {
        for s in h.shards.iter() {
            let s = s.read();
            assert_eq!(s.index.len(), s.slots.len());
            for (i, k) in s.slots.iter().enumerate() {
                assert_eq!(s.index[k].0 as usize, i);
            }
            assert_eq!(
                s.bytes,
                s.index.values().map(|(_, v)| v.weight).sum::<u64>()
            );
        }
    }

    #[test]
    fn get_insert_replace_remove() {
        let h = HotSet::new(1 << 20);
        assert!(h.get(key(1)).is_none());
        h.insert(key(1), v(10, u64::MAX, 0), 0);
        h.insert(key(2), v(20, u64::MAX, 0), 0);
        assert_eq!(h.get(key(1)).unwrap().weight, 10);
        h.insert(key(1), v(15, u64::MAX, 0), 0);
        assert_eq!(h.get(key(1)).unwrap().weight, 15);
        assert_eq!(h.size(), (2, 35));
        h.remove(key(1));
        assert!(h.get(key(1)).is_none());
        assert_eq!(h.get(key(2)).unwrap().weight, 20);
        assert_eq!(h.size(), (1, 20));
        h.remove(key(9));
        consistent(&h);
    }

    #[test]
    fn stays_within_budget_and_keeps_the_fresh_entry() {
        // 64 shards × 1000 bytes; every key here is in shard 0.
        let h = HotSet::new(64 * 1000);
        for i in 0..500u128 {
            h.insert(key(i), v(100, u64::MAX, i as u64), i as u64);
            assert!(h.get(key(i)).is_some(), "a fresh insert is always admitted");
            let (_, bytes) = h.size();
            assert!(bytes <= 1000, "{bytes} bytes over the budget");
        }
        assert_eq!(h.size(), (10, 1000));
        consistent(&h);
    }

    #[test]
    fn evicts_expired_and_least_recently_used_first() {
        // Eight entries used recently, one long ago, one expired; an 11th
        // pushes one out. Sampling 5 finds one of the two old entries in
        // ~63% of rounds; a uniformly random victim would be one of them in
        // 20%.
        let mut old_evicted = 0;
        for round in 0..200u128 {
            let h = HotSet::new(64 * 1000);
            for i in 0..8u128 {
                h.insert(key(i), v(100, u64::MAX, 1_000), 1_000);
            }
            h.insert(key(100), v(100, u64::MAX, 1), 1_000);
            h.insert(key(101), v(100, 500, 1_000), 1_000);
            assert_eq!(h.size(), (10, 1000));
            assert_eq!(
                h.insert(key(1000 + round), v(100, u64::MAX, 1_000), 1_000),
                1
            );
            assert!(h.get(key(1000 + round)).is_some());
            old_evicted += (h.get(key(100)).is_none() || h.get(key(101)).is_none()) as u32;
            consistent(&h);
        }
        assert!(
            old_evicted > 80,
            "an old entry was the victim in {old_evicted}/200 rounds"
        );
    }

    #[test]
    fn oversized_values_are_not_kept() {
        let h = HotSet::new(64 * 1000);
        h.insert(key(1), v(100, u64::MAX, 0), 0);
        h.insert(key(1), v(251, u64::MAX, 0), 0);
        assert!(
            h.get(key(1)).is_none(),
            "replaced by a value too large to keep"
        );
        assert_eq!(h.size(), (0, 0));
    }

    #[test]
    fn keys_spread_over_shards() {
        let h = HotSet::new(1 << 30);
        for i in 0..64u128 {
            h.insert(i << 122, v(1, u64::MAX, 0), 0);
        }
        assert!(h.shards.iter().all(|s| s.read().slots.len() == 1));
        consistent(&h);
    }
}
