//! The vector index of L3, partitioned by scope.
//!
//! A lookup may only ever see vectors of its own scope. Filtering one shared
//! graph by scope walks the whole graph when the filter rejects almost
//! everything (measured: 95 ms at 100k), so each scope gets its own
//! partition instead: a flat array searched exactly while it is small, and a
//! usearch HNSW graph (cosine, f32) once it grows past [`FLAT_MAX`]. A lookup
//! in a small scope therefore costs the same however many vectors other
//! scopes hold.

use std::collections::HashMap;
use std::path::Path;
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
    Hnsw(Index),
}

/// The vectors of one scope.
pub struct Partition {
    dims: usize,
    kind: RwLock<Kind>,
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
    if index.size() < index.capacity() {
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
        }
    }

    pub fn len(&self) -> usize {
        match &*self.kind.read() {
            Kind::Flat { keys, .. } => keys.len(),
            Kind::Hnsw(i) => i.size(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&self, key: u64, v: &[f32]) -> Result<(), String> {
        let mut kind = self.kind.write();
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
                    *kind = Kind::Hnsw(index);
                }
                Ok(())
            }
            Kind::Hnsw(index) => {
                if index.contains(key) {
                    index
                        .remove(key)
                        .map_err(|e| format!("index remove: {e}"))?;
                }
                grow_for_one(index)?;
                index.add(key, v).map_err(|e| format!("index add: {e}"))
            }
        }
    }

    fn remove(&self, key: u64) -> Result<(), String> {
        match &mut *self.kind.write() {
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
            Kind::Hnsw(index) => index
                .remove(key)
                .map(|_| ())
                .map_err(|e| format!("index remove: {e}")),
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
            Kind::Hnsw(index) => {
                let _slot = slots.acquire();
                let m = index
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

    /// Adds (or replaces) `key` in `scope`'s partition.
    pub fn add(&self, scope: u64, key: u64, v: &[f32]) -> Result<(), String> {
        if v.len() != self.dims {
            return Err(format!(
                "vector has {} dims, index has {}",
                v.len(),
                self.dims
            ));
        }
        let part = self
            .partitions
            .write()
            .entry(scope)
            .or_insert_with(|| Arc::new(Partition::new(self.dims)))
            .clone();
        part.add(key, v)
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

    /// Saves every HNSW partition as `dir/<scope>.usearch`; returns
    /// (scope, file name, vector count) of each. Flat partitions are cheap to
    /// rebuild from sled and are not saved.
    pub fn save_graphs(&self, dir: &Path) -> Result<Vec<(u64, String, usize)>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut saved = Vec::new();
        for (scope, part) in self.partitions.read().iter() {
            if let Kind::Hnsw(index) = &*part.kind.read() {
                let name = format!("{scope:016x}.usearch");
                let path = dir.join(&name);
                index
                    .save(&path.to_string_lossy())
                    .map_err(|e| format!("saving {}: {e}", path.display()))?;
                saved.push((*scope, name, index.size()));
            }
        }
        Ok(saved)
    }

    /// Installs a saved HNSW graph as `scope`'s partition.
    pub fn load_graph(&self, scope: u64, path: &Path) -> Result<usize, String> {
        let index = new_hnsw(self.dims, 64)?;
        index
            .load(&path.to_string_lossy())
            .map_err(|e| format!("loading {}: {e}", path.display()))?;
        if index.dimensions() != self.dims {
            return Err(format!("{} has other dimensions", path.display()));
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
                kind: RwLock::new(Kind::Hnsw(index)),
            }),
        );
        Ok(size)
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
        let saved = idx.save_graphs(dir.path()).unwrap();
        assert_eq!(saved.len(), 1);
        let loaded = VectorIndex::new(16);
        assert_eq!(
            loaded.load_graph(7, &dir.path().join(&saved[0].1)).unwrap(),
            n as usize - 1
        );
        assert_eq!(loaded.search(7, &unit(16, 55), 1).unwrap()[0].0, 55);
        loaded.add(7, 1234, &unit(16, 1234)).unwrap();
        assert_eq!(loaded.search(7, &unit(16, 1234), 1).unwrap()[0].0, 1234);
    }
}
