//! The vector index of L3, partitioned by scope.
//!
//! A lookup may only ever see vectors of its own scope. Filtering one shared
//! graph by scope walks the whole graph when the filter rejects almost
//! everything (measured: 95 ms at 100k), so each scope gets its own
//! partition instead: a flat array searched exactly while it is small, and a
//! usearch HNSW graph (cosine, f32) once it grows past [`FLAT_MAX`]. A lookup
//! in a small scope therefore costs the same however many vectors other
//! scopes hold.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::embed::dot;

/// Largest partition kept as a flat array (exact search, ~0.1 ms at 256 dims).
pub const FLAT_MAX: usize = 2048;
/// Concurrent operations one HNSW graph has thread slots for.
const THREAD_SLOTS: usize = 64;
/// Search breadth; measured recall@1 against exact search is in BENCHMARKS.md.
const EXPANSION_SEARCH: usize = 256;

/// A counting semaphore bounding concurrent calls into usearch, which fails
/// (with a misleading message) when more threads call it than it reserved.
struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Slots {
    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock();
        while *free == 0 {
            self.cv.wait(&mut free);
        }
        *free -= 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock() += 1;
        self.0.cv.notify_one();
    }
}

enum Kind {
    Flat { keys: Vec<u64>, vectors: Vec<f32> },
    Hnsw(Graph),
}

/// An HNSW partition: the usearch graph and the exact set of keys it holds
/// (usearch cannot list them; they are saved beside the graph so that a
/// restart can tell which vectors changed since the save).
struct Graph {
    index: Index,
    keys: Mutex<HashSet<u64>>,
    /// Adds running under the partition's shared lock.
    pending: AtomicUsize,
    /// A save is running: adds take the exclusive lock (and so wait).
    saving: AtomicBool,
}

impl Graph {
    fn new(index: Index, keys: HashSet<u64>) -> Graph {
        Graph {
            index,
            keys: Mutex::new(keys),
            pending: AtomicUsize::new(0),
            saving: AtomicBool::new(false),
        }
    }

    /// Adds a new key while other adds and searches run (usearch is safe for
    /// concurrent adds into reserved capacity). `false`: the key is present
    /// already, capacity must grow, or a save runs: use the exclusive path.
    fn try_add_shared(&self, key: u64, v: &[f32], slots: &Slots) -> Result<bool, String> {
        let pending = self.pending.fetch_add(1, SeqCst) + 1;
        let fits = self.index.size() + pending + THREAD_SLOTS <= self.index.capacity();
        if self.saving.load(SeqCst) || !fits || !self.keys.lock().insert(key) {
            self.pending.fetch_sub(1, SeqCst);
            return Ok(false);
        }
        let added = {
            let _slot = slots.acquire();
            self.index.add(key, v)
        };
        if added.is_err() {
            self.keys.lock().remove(&key);
        }
        self.pending.fetch_sub(1, SeqCst);
        added.map(|_| true).map_err(|e| format!("index add: {e}"))
    }

    /// Adds or replaces `key`; the caller holds the partition exclusively.
    fn add_exclusive(&self, key: u64, v: &[f32]) -> Result<(), String> {
        if self.index.contains(key) {
            self.index
                .remove(key)
                .map_err(|e| format!("index remove: {e}"))?;
        }
        grow_for_one(&self.index)?;
        self.index
            .add(key, v)
            .map_err(|e| format!("index add: {e}"))?;
        self.keys.lock().insert(key);
        Ok(())
    }
}

/// The vectors of one scope.
pub struct Partition {
    dims: usize,
    kind: RwLock<Kind>,
    /// Bumped by every change: a periodic save skips unchanged partitions.
    version: AtomicU64,
}

fn new_hnsw(dims: usize, capacity: usize) -> Result<Index, String> {
    let opts = IndexOptions {
        dimensions: dims,
        metric: MetricKind::Cos,
        quantization: ScalarKind::F32,
        connectivity: 32,
        expansion_add: 256,
        expansion_search: EXPANSION_SEARCH,
        multi: false,
    };
    let index = Index::new(&opts).map_err(|e| format!("creating an HNSW index: {e}"))?;
    index
        .reserve_capacity_and_threads(capacity.max(64), THREAD_SLOTS)
        .map_err(|e| format!("reserving index capacity: {e}"))?;
    Ok(index)
}

/// Makes room for one more vector: usearch never grows by itself.
fn grow_for_one(index: &Index) -> Result<(), String> {
    if index.size() + THREAD_SLOTS < index.capacity() {
        return Ok(());
    }
    let cap = (index.capacity() * 2).max(1024);
    index
        .reserve_capacity_and_threads(cap, THREAD_SLOTS)
        .map_err(|e| format!("growing the index to {cap}: {e}"))
}

impl Partition {
    fn new(dims: usize) -> Partition {
        Partition {
            dims,
            kind: RwLock::new(Kind::Flat {
                keys: Vec::new(),
                vectors: Vec::new(),
            }),
            version: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        match &*self.kind.read() {
            Kind::Flat { keys, .. } => keys.len(),
            Kind::Hnsw(g) => g.index.size(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&self, key: u64, v: &[f32], slots: &Slots) -> Result<(), String> {
        {
            let kind = self.kind.read();
            if let Kind::Hnsw(g) = &*kind {
                if g.try_add_shared(key, v, slots)? {
                    self.version.fetch_add(1, SeqCst);
                    return Ok(());
                }
            }
        }
        let mut kind = self.kind.write();
        self.version.fetch_add(1, SeqCst);
        match &mut *kind {
            Kind::Flat { keys, vectors } => {
                if let Some(i) = keys.iter().position(|k| *k == key) {
                    vectors[i * self.dims..(i + 1) * self.dims].copy_from_slice(v);
                    return Ok(());
                }
                keys.push(key);
                vectors.extend_from_slice(v);
                if keys.len() > FLAT_MAX {
                    let index = new_hnsw(self.dims, keys.len() * 2)?;
                    for (k, chunk) in keys.iter().zip(vectors.chunks_exact(self.dims)) {
                        index
                            .add(*k, chunk)
                            .map_err(|e| format!("index add: {e}"))?;
                    }
                    let keys = keys.iter().copied().collect();
                    *kind = Kind::Hnsw(Graph::new(index, keys));
                }
                Ok(())
            }
            Kind::Hnsw(g) => g.add_exclusive(key, v),
        }
    }

    fn remove(&self, key: u64) -> Result<(), String> {
        let mut kind = self.kind.write();
        self.version.fetch_add(1, SeqCst);
        match &mut *kind {
            Kind::Flat { keys, vectors } => {
                if let Some(i) = keys.iter().position(|k| *k == key) {
                    keys.swap_remove(i);
                    let last = keys.len();
                    if i != last {
                        let (head, tail) = vectors.split_at_mut(last * self.dims);
                        head[i * self.dims..(i + 1) * self.dims]
                            .copy_from_slice(&tail[..self.dims]);
                    }
                    vectors.truncate(last * self.dims);
                }
                Ok(())
            }
            Kind::Hnsw(g) => {
                g.keys.lock().remove(&key);
                g.index
                    .remove(key)
                    .map(|_| ())
                    .map_err(|e| format!("index remove: {e}"))
            }
        }
    }

    /// The `k` most similar vectors: (key, cosine similarity), best first.
    fn search(&self, q: &[f32], k: usize, slots: &Slots) -> Result<Vec<(u64, f32)>, String> {
        match &*self.kind.read() {
            Kind::Flat { keys, vectors } => {
                let mut scored: Vec<(u64, f32)> = keys
                    .iter()
                    .zip(vectors.chunks_exact(self.dims))
                    .map(|(key, v)| (*key, dot(q, v)))
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1));
                scored.truncate(k);
                Ok(scored)
            }
            Kind::Hnsw(g) => {
                let _slot = slots.acquire();
                let m = g
                    .index
                    .search(q, k)
                    .map_err(|e| format!("index search: {e}"))?;
                Ok(m.keys
                    .into_iter()
                    .zip(m.distances)
                    .map(|(key, d)| (key, 1.0 - d))
                    .collect())
            }
        }
    }

    /// Writes the graph to `stem.usearch` and its key set to `stem.keys`
    /// (each synced), blocking only writers of this partition meanwhile.
    /// Returns (vectors, version saved); `None` for a flat partition.
    fn save(&self, stem: &Path) -> Result<Option<(usize, u64)>, String> {
        let kind = self.kind.read();
        let Kind::Hnsw(g) = &*kind else {
            return Ok(None);
        };
        g.saving.store(true, SeqCst);
        while g.pending.load(SeqCst) != 0 {
            std::thread::yield_now();
        }
        let result = (|| {
            let version = self.version.load(SeqCst);
            let graph = stem.with_extension("usearch");
            g.index
                .save(&graph.to_string_lossy())
                .map_err(|e| format!("saving {}: {e}", graph.display()))?;
            let mut bytes = Vec::new();
            for k in g.keys.lock().iter() {
                bytes.extend_from_slice(&k.to_le_bytes());
            }
            let keys = stem.with_extension("keys");
            std::fs::write(&keys, &bytes).map_err(|e| format!("saving {}: {e}", keys.display()))?;
            for f in [&graph, &keys] {
                std::fs::File::open(f)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| format!("syncing {}: {e}", f.display()))?;
            }
            Ok(Some((g.index.size(), version)))
        })();
        g.saving.store(false, SeqCst);
        result
    }
}

/// All partitions.
pub struct VectorIndex {
    dims: usize,
    partitions: RwLock<HashMap<u64, Arc<Partition>>>,
    slots: Slots,
}

impl VectorIndex {
    pub fn new(dims: usize) -> VectorIndex {
        VectorIndex {
            dims,
            partitions: RwLock::new(HashMap::new()),
            slots: Slots {
                free: Mutex::new(THREAD_SLOTS),
                cv: Condvar::new(),
            },
        }
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    fn partition(&self, scope: u64) -> Option<Arc<Partition>> {
        self.partitions.read().get(&scope).cloned()
    }

    /// Adds (or replaces) `key` in `scope`'s partition. Safe to call from
    /// many threads at once: adds of new keys into a graph run in parallel.
    pub fn add(&self, scope: u64, key: u64, v: &[f32]) -> Result<(), String> {
        if v.len() != self.dims {
            return Err(format!(
                "vector has {} dims, index has {}",
                v.len(),
                self.dims
            ));
        }
        let part = match self.partition(scope) {
            Some(p) => p,
            None => self
                .partitions
                .write()
                .entry(scope)
                .or_insert_with(|| Arc::new(Partition::new(self.dims)))
                .clone(),
        };
        part.add(key, v, &self.slots)
    }

    /// Makes `scope`'s partition ready for `expected` more vectors before a
    /// bulk load: a graph with room for all of them when they will not fit
    /// a flat array, so that parallel adds never wait for growth.
    pub fn prepare(&self, scope: u64, expected: usize) -> Result<(), String> {
        let part = self
            .partitions
            .write()
            .entry(scope)
            .or_insert_with(|| Arc::new(Partition::new(self.dims)))
            .clone();
        let mut kind = part.kind.write();
        match &mut *kind {
            Kind::Flat { keys, vectors } => {
                if keys.len() + expected <= FLAT_MAX {
                    return Ok(());
                }
                let total = keys.len() + expected;
                let index = new_hnsw(self.dims, total + total / 8 + 2 * THREAD_SLOTS)?;
                for (k, chunk) in keys.iter().zip(vectors.chunks_exact(self.dims)) {
                    index
                        .add(*k, chunk)
                        .map_err(|e| format!("index add: {e}"))?;
                }
                let keys = keys.iter().copied().collect();
                *kind = Kind::Hnsw(Graph::new(index, keys));
                Ok(())
            }
            Kind::Hnsw(g) => {
                let want = g.index.size() + expected + 2 * THREAD_SLOTS;
                if want <= g.index.capacity() {
                    return Ok(());
                }
                g.index
                    .reserve_capacity_and_threads(want + want / 8, THREAD_SLOTS)
                    .map_err(|e| format!("reserving index capacity: {e}"))
            }
        }
    }

    /// Removes `key` from `scope`'s partition, dropping the partition when empty.
    pub fn remove(&self, scope: u64, key: u64) -> Result<(), String> {
        let Some(part) = self.partition(scope) else {
            return Ok(());
        };
        part.remove(key)?;
        if part.is_empty() {
            let mut parts = self.partitions.write();
            if parts.get(&scope).is_some_and(|p| p.is_empty()) {
                parts.remove(&scope);
            }
        }
        Ok(())
    }

    /// The `k` nearest vectors of `scope` to `q`, best first.
    pub fn search(&self, scope: u64, q: &[f32], k: usize) -> Result<Vec<(u64, f32)>, String> {
        match self.partition(scope) {
            Some(p) => p.search(q, k, &self.slots),
            None => Ok(Vec::new()),
        }
    }

    /// (partitions, vectors, partitions that are HNSW graphs).
    pub fn stats(&self) -> (usize, usize, usize) {
        let parts = self.partitions.read();
        let mut vectors = 0;
        let mut hnsw = 0;
        for p in parts.values() {
            vectors += p.len();
            if matches!(&*p.kind.read(), Kind::Hnsw(_)) {
                hnsw += 1;
            }
        }
        (parts.len(), vectors, hnsw)
    }

    /// The current version of every HNSW partition.
    pub fn graph_versions(&self) -> Vec<(u64, u64)> {
        self.partitions
            .read()
            .iter()
            .filter(|(_, p)| matches!(&*p.kind.read(), Kind::Hnsw(_)))
            .map(|(scope, p)| (*scope, p.version.load(SeqCst)))
            .collect()
    }

    /// Saves `scope`'s partition as `stem.usearch` + `stem.keys` if it is a
    /// graph; returns (vectors, version saved). Flat partitions are cheap to
    /// rebuild from sled and are not saved.
    pub fn save_graph(&self, scope: u64, stem: &Path) -> Result<Option<(usize, u64)>, String> {
        match self.partition(scope) {
            Some(p) => p.save(stem),
            None => Ok(None),
        }
    }

    /// Installs a graph saved by [`VectorIndex::save_graph`] as `scope`'s
    /// partition; returns the keys it holds.
    pub fn load_graph(&self, scope: u64, stem: &Path) -> Result<HashSet<u64>, String> {
        let graph = stem.with_extension("usearch");
        let keys_path = stem.with_extension("keys");
        let bytes = std::fs::read(&keys_path)
            .map_err(|e| format!("reading {}: {e}", keys_path.display()))?;
        if bytes.len() % 8 != 0 {
            return Err(format!("{} is truncated", keys_path.display()));
        }
        let keys: HashSet<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let index = new_hnsw(self.dims, 64)?;
        index
            .load(&graph.to_string_lossy())
            .map_err(|e| format!("loading {}: {e}", graph.display()))?;
        if index.dimensions() != self.dims {
            return Err(format!("{} has other dimensions", graph.display()));
        }
        if index.size() != keys.len() {
            return Err(format!(
                "{} holds {} vectors, {} names {}",
                graph.display(),
                index.size(),
                keys_path.display(),
                keys.len()
            ));
        }
        // A loaded graph's capacity equals its size: reserve before adding.
        let size = index.size();
        index
            .reserve_capacity_and_threads((size * 2).max(1024), THREAD_SLOTS)
            .map_err(|e| format!("reserving after load: {e}"))?;
        self.partitions.write().insert(
            scope,
            Arc::new(Partition {
                dims: self.dims,
                kind: RwLock::new(Kind::Hnsw(Graph::new(index, keys.clone()))),
                version: AtomicU64::new(0),
            }),
        );
        Ok(keys)
    }

    /// Drops every partition.
    pub fn clear(&self) {
        self.partitions.write().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dims: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut v: Vec<f32> = (0..dims)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        crate::embed::normalize(&mut v);
        v
    }

    #[test]
    fn scopes_never_see_each_other() {
        let idx = VectorIndex::new(8);
        idx.add(1, 10, &unit(8, 1)).unwrap();
        idx.add(2, 20, &unit(8, 1)).unwrap();
        let hits = idx.search(1, &unit(8, 1), 5).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0, 10);
        assert!((hits[0].1 - 1.0).abs() < 1e-5);
        assert!(idx.search(3, &unit(8, 1), 5).unwrap().is_empty());
    }

    #[test]
    fn remove_and_replace_work_in_flat_partitions() {
        let idx = VectorIndex::new(8);
        for k in 0..5 {
            idx.add(1, k, &unit(8, k)).unwrap();
        }
        idx.remove(1, 2).unwrap();
        idx.add(1, 3, &unit(8, 99)).unwrap();
        let hits = idx.search(1, &unit(8, 99), 10).unwrap();
        assert_eq!(hits.len(), 4);
        assert_eq!(hits[0].0, 3);
        assert!(hits.iter().all(|h| h.0 != 2));
        for k in [0, 1, 3, 4] {
            idx.remove(1, k).unwrap();
        }
        assert_eq!(idx.stats().0, 0, "empty partitions are dropped");
    }

    #[test]
    fn large_partitions_become_graphs_that_save_and_load() {
        let idx = VectorIndex::new(16);
        let n = FLAT_MAX as u64 + 100;
        for k in 0..n {
            idx.add(7, k, &unit(16, k)).unwrap();
        }
        assert_eq!(idx.stats(), (1, n as usize, 1));
        let hit = idx.search(7, &unit(16, 1234), 1).unwrap();
        assert_eq!(hit[0].0, 1234);
        idx.remove(7, 1234).unwrap();
        assert_ne!(idx.search(7, &unit(16, 1234), 1).unwrap()[0].0, 1234);

        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("g");
        let (count, _) = idx.save_graph(7, &stem).unwrap().unwrap();
        assert_eq!(count, n as usize - 1);
        assert!(idx.save_graph(99, &stem).unwrap().is_none());
        let loaded = VectorIndex::new(16);
        let keys = loaded.load_graph(7, &stem).unwrap();
        assert_eq!(keys.len(), n as usize - 1);
        assert!(!keys.contains(&1234));
        assert_eq!(loaded.search(7, &unit(16, 55), 1).unwrap()[0].0, 55);
        loaded.add(7, 1234, &unit(16, 1234)).unwrap();
        assert_eq!(loaded.search(7, &unit(16, 1234), 1).unwrap()[0].0, 1234);
    }
}

#[cfg(test)]
mod concurrency_tests {
    use super::*;

    #[test]
    fn parallel_adds_into_a_prepared_graph_keep_every_key() {
        let dims = 16;
        let idx = VectorIndex::new(dims);
        let n = FLAT_MAX as u64 * 2;
        idx.prepare(3, n as usize).unwrap();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let idx = &idx;
                s.spawn(move || {
                    for k in (t..n).step_by(4) {
                        let mut v: Vec<f32> = (0..dims)
                            .map(|i| ((k * 131 + i as u64 * 17) % 97) as f32 - 48.0)
                            .collect();
                        crate::embed::normalize(&mut v);
                        idx.add(3, k, &v).unwrap();
                        // Replacing an existing key takes the exclusive path.
                        if k % 100 == 0 {
                            idx.add(3, k, &v).unwrap();
                        }
                    }
                });
            }
        });
        assert_eq!(idx.stats(), (1, n as usize, 1));
        let dir = tempfile::tempdir().unwrap();
        idx.save_graph(3, &dir.path().join("g")).unwrap().unwrap();
        let keys = VectorIndex::new(dims)
            .load_graph(3, &dir.path().join("g"))
            .unwrap();
        assert_eq!(keys, (0..n).collect::<HashSet<u64>>());
    }
}
