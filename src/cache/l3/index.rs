//! The vector index of L3, partitioned by scope.
//!
//! A lookup may only ever see vectors of its own scope. Filtering one shared
//! graph by scope walks the whole graph when the filter rejects almost
//! everything (measured: 95 ms at 100k), so each scope gets its own
//! partition instead: a flat array searched exactly while it is small, and a
//! usearch HNSW graph (cosine) once it grows past [`FLAT_MAX`]. A lookup
//! in a small scope therefore costs the same however many vectors other
//! scopes hold.
//!
//! Graphs store their vectors quantised to i8 by default
//! ([`GraphOptions::quantization`]: a quarter of the bytes per distance) and
//! also keep each key's f32 vector: a search fetches the best
//! [`GraphOptions::rescore`] candidates from the graph and re-scores them
//! exactly, so the order and the similarities it returns are exact f32
//! cosines whatever the graph stores. Measured at 100k real embeddings
//! against f32 graphs (BENCHMARKS.md, "L3 index options"): same recall,
//! faster search, about the same memory. usearch's SIMD feature stays off
//! (compile cost).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::exact::Exact;
use crate::embed::dot;

/// Largest partition kept as a flat array (exact search, ~0.1 ms at 256 dims).
pub const FLAT_MAX: usize = 2048;
/// Concurrent operations one HNSW graph has thread slots for.
const THREAD_SLOTS: usize = 64;

/// How a partition's HNSW graph stores and searches vectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphOptions {
    /// Scalar kind the graph stores (usearch quantisation of the f32 input).
    pub quantization: ScalarKind,
    /// Links per node (usearch `connectivity`, "M").
    pub connectivity: usize,
    /// Candidate list breadth while inserting.
    pub expansion_add: usize,
    /// Candidate list breadth while searching.
    pub expansion_search: usize,
    /// For a quantised graph: how many graph candidates are re-scored with
    /// the exact f32 vectors (at least `k`). Ignored for f32 graphs.
    pub rescore: usize,
}

impl Default for GraphOptions {
    /// The shipped configuration; recall@1 and latency against the
    /// alternatives are measured in BENCHMARKS.md.
    fn default() -> GraphOptions {
        GraphOptions {
            quantization: ScalarKind::I8,
            connectivity: 32,
            expansion_add: 256,
            expansion_search: 256,
            rescore: 16,
        }
    }
}

impl GraphOptions {
    /// Whether the graph's own distances are approximate (re-scoring needed).
    fn quantised(&self) -> bool {
        self.quantization != ScalarKind::F32
    }
}

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
/// restart can tell which vectors changed since the save), each with its
/// f32 vector when the graph is quantised (empty otherwise).
struct Graph {
    index: Index,
    keys: RwLock<Exact>,
    /// The graph stores quantised vectors: searches re-score with `keys`.
    quantised: bool,
    /// Adds running under the partition's shared lock.
    pending: AtomicUsize,
    /// A save is running: adds take the exclusive lock (and so wait).
    saving: AtomicBool,
}

impl Graph {
    fn new(index: Index, keys: Exact, quantised: bool) -> Graph {
        Graph {
            index,
            keys: RwLock::new(keys),
            quantised,
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
        if self.saving.load(SeqCst) || !fits || !self.insert_key(key, v) {
            self.pending.fetch_sub(1, SeqCst);
            return Ok(false);
        }
        let added = {
            let _slot = slots.acquire();
            self.index.add(key, v)
        };
        if added.is_err() {
            self.keys.write().remove(key);
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
        self.keys.write().remove(key);
        self.insert_key(key, v);
        Ok(())
    }

    /// Records `key` (with its f32 vector if quantised); `false` if present.
    fn insert_key(&self, key: u64, v: &[f32]) -> bool {
        self.keys.write().insert(key, v)
    }

    /// The `k` best keys for `q`: from the graph, re-scored exactly with
    /// the f32 vectors when the graph is quantised.
    fn search(&self, q: &[f32], k: usize, opts: &GraphOptions) -> Result<Vec<(u64, f32)>, String> {
        let fetch = if self.quantised {
            opts.rescore.max(k)
        } else {
            k
        };
        let m = self
            .index
            .search(q, fetch)
            .map_err(|e| format!("index search: {e}"))?;
        if !self.quantised {
            return Ok(m
                .keys
                .into_iter()
                .zip(m.distances)
                .map(|(key, d)| (key, 1.0 - d))
                .collect());
        }
        let keys = self.keys.read();
        let mut scored: Vec<(u64, f32)> = m
            .keys
            .into_iter()
            .filter_map(|key| keys.get(key).map(|v| (key, dot(q, v))))
            .collect();
        drop(keys);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.truncate(k);
        Ok(scored)
    }
}

/// The vectors of one scope.
pub struct Partition {
    dims: usize,
    opts: GraphOptions,
    kind: RwLock<Kind>,
    /// Bumped by every change: a periodic save skips unchanged partitions.
    version: AtomicU64,
}

fn new_hnsw(dims: usize, capacity: usize, o: &GraphOptions) -> Result<Index, String> {
    let opts = IndexOptions {
        dimensions: dims,
        metric: MetricKind::Cos,
        quantization: o.quantization,
        connectivity: o.connectivity,
        expansion_add: o.expansion_add,
        expansion_search: o.expansion_search,
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
    fn new(dims: usize, opts: GraphOptions) -> Partition {
        Partition {
            dims,
            opts,
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
                    *kind = Kind::Hnsw(graph_of(
                        self.dims,
                        keys,
                        vectors,
                        keys.len() * 2,
                        &self.opts,
                    )?);
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
                g.keys.write().remove(key);
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
                g.search(q, k, &self.opts)
            }
        }
    }

    /// Writes the graph to `stem.usearch` and its key set to `stem.keys`
    /// (each key followed by its f32 vector when the graph is quantised;
    /// each file synced), blocking only writers of this partition meanwhile.
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
            let keys = stem.with_extension("keys");
            write_keys(&keys, &g.keys.read())
                .map_err(|e| format!("saving {}: {e}", keys.display()))?;
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

/// Writes `keys` as little-endian records: the key, then the f32 vector
/// kept for it (none for an f32 graph).
fn write_keys(path: &Path, keys: &Exact) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (k, v) in keys.iter() {
        out.write_all(&k.to_le_bytes())?;
        for x in v.iter() {
            out.write_all(&x.to_le_bytes())?;
        }
    }
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Reads what [`write_keys`] wrote, each record holding `floats` floats.
/// Streamed in blocks: a 1M-vector file is 1 GB, and reading it whole
/// first doubled the memory touched (and the time: 2.8 s here).
fn read_keys(path: &Path, floats: usize) -> Result<Exact, String> {
    use std::io::Read;
    let fail = |e: std::io::Error| format!("reading {}: {e}", path.display());
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let len = file.metadata().map_err(fail)?.len() as usize;
    let record = 8 + 4 * floats;
    if !len.is_multiple_of(record) {
        return Err(format!(
            "{} is truncated or of another layout ({len} bytes, records of {record})",
            path.display(),
        ));
    }
    let mut keys = Exact::new(floats);
    keys.reserve(len / record);
    let mut v = vec![0f32; floats];
    let per_block = (1 << 20) / record + 1;
    let mut block = vec![0u8; per_block * record];
    let mut left = len / record;
    while left > 0 {
        let n = left.min(per_block);
        let bytes = &mut block[..n * record];
        file.read_exact(bytes).map_err(fail)?;
        for r in bytes.chunks_exact(record) {
            let key = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
            for (x, c) in v.iter_mut().zip(r[8..].chunks_exact(4)) {
                *x = f32::from_le_bytes(c.try_into().expect("4 bytes"));
            }
            keys.insert(key, &v);
        }
        left -= n;
    }
    Ok(keys)
}

/// A graph of the flat partition's vectors, with room for `capacity`.
fn graph_of(
    dims: usize,
    keys: &[u64],
    vectors: &[f32],
    capacity: usize,
    opts: &GraphOptions,
) -> Result<Graph, String> {
    let index = new_hnsw(dims, capacity, opts)?;
    let mut held = Exact::new(if opts.quantised() { dims } else { 0 });
    held.reserve(keys.len());
    for (k, chunk) in keys.iter().zip(vectors.chunks_exact(dims)) {
        index
            .add(*k, chunk)
            .map_err(|e| format!("index add: {e}"))?;
        held.insert(*k, chunk);
    }
    Ok(Graph::new(index, held, opts.quantised()))
}

/// All partitions.
pub struct VectorIndex {
    dims: usize,
    opts: GraphOptions,
    partitions: RwLock<HashMap<u64, Arc<Partition>>>,
    slots: Slots,
}

impl VectorIndex {
    /// An empty index whose graphs use [`GraphOptions::default`].
    pub fn new(dims: usize) -> VectorIndex {
        VectorIndex::with_options(dims, GraphOptions::default())
    }

    /// An empty index whose graphs use `opts` (benchmarks compare them).
    pub fn with_options(dims: usize, opts: GraphOptions) -> VectorIndex {
        VectorIndex {
            dims,
            opts,
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
                .or_insert_with(|| Arc::new(Partition::new(self.dims, self.opts)))
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
            .or_insert_with(|| Arc::new(Partition::new(self.dims, self.opts)))
            .clone();
        let mut kind = part.kind.write();
        match &mut *kind {
            Kind::Flat { keys, vectors } => {
                if keys.len() + expected <= FLAT_MAX {
                    return Ok(());
                }
                let total = keys.len() + expected;
                let capacity = total + total / 8 + 2 * THREAD_SLOTS;
                *kind = Kind::Hnsw(graph_of(self.dims, keys, vectors, capacity, &self.opts)?);
                Ok(())
            }
            Kind::Hnsw(g) => {
                let want = g.index.size() + expected + 2 * THREAD_SLOTS;
                if want <= g.index.capacity() {
                    return Ok(());
                }
                g.keys.write().reserve(expected);
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
    /// A graph saved with other options (scalar kind, dimensions) is
    /// refused, and the caller rebuilds that scope.
    pub fn load_graph(&self, scope: u64, stem: &Path) -> Result<HashSet<u64>, String> {
        let graph = stem.with_extension("usearch");
        let keys_path = stem.with_extension("keys");
        let quantised = self.opts.quantised();
        let keys = read_keys(&keys_path, if quantised { self.dims } else { 0 })?;
        let index = new_hnsw(self.dims, 64, &self.opts)?;
        index
            .load(&graph.to_string_lossy())
            .map_err(|e| format!("loading {}: {e}", graph.display()))?;
        if index.dimensions() != self.dims {
            return Err(format!("{} has other dimensions", graph.display()));
        }
        if index.scalar_kind() != self.opts.quantization {
            return Err(format!(
                "{} stores {:?} vectors, this index {:?}",
                graph.display(),
                index.scalar_kind(),
                self.opts.quantization
            ));
        }
        // The file fixes the graph's structure; the search breadth is ours.
        index.change_expansion_search(self.opts.expansion_search);
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
        let key_set = keys.keys().collect();
        self.partitions.write().insert(
            scope,
            Arc::new(Partition {
                dims: self.dims,
                opts: self.opts,
                kind: RwLock::new(Kind::Hnsw(Graph::new(index, keys, quantised))),
                version: AtomicU64::new(0),
            }),
        );
        Ok(key_set)
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

#[cfg(test)]
mod quantised_tests {
    use super::*;
    use crate::embed::{Embedder, StaticEmbedder};
    use std::io::BufRead;

    fn unit(dims: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dims)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        crate::embed::normalize(&mut v);
        v
    }

    fn options(quantization: ScalarKind) -> GraphOptions {
        GraphOptions {
            quantization,
            ..GraphOptions::default()
        }
    }

    #[test]
    fn quantised_graphs_return_exact_similarities() {
        let dims = 32;
        let idx = VectorIndex::with_options(dims, options(ScalarKind::I8));
        let n = FLAT_MAX as u64 + 500;
        let vectors: Vec<Vec<f32>> = (0..n).map(|k| unit(dims, k)).collect();
        for (k, v) in vectors.iter().enumerate() {
            idx.add(5, k as u64, v).unwrap();
        }
        assert_eq!(idx.stats().2, 1, "the partition is a graph");
        for k in (0..n).step_by(97) {
            let q = unit(dims, k + 1_000_000);
            let hits = idx.search(5, &q, 4).unwrap();
            assert_eq!(hits.len(), 4);
            for (key, sim) in &hits {
                // Re-scored with the f32 vector: exactly the f32 cosine.
                assert_eq!(*sim, dot(&q, &vectors[*key as usize]));
            }
            assert!(hits.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
        }
    }

    #[test]
    fn quantised_graphs_save_and_load_with_their_vectors() {
        let dims = 32;
        let idx = VectorIndex::with_options(dims, options(ScalarKind::I8));
        let n = FLAT_MAX as u64 + 300;
        for k in 0..n {
            idx.add(9, k, &unit(dims, k)).unwrap();
        }
        idx.remove(9, 17).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("g");
        assert_eq!(idx.save_graph(9, &stem).unwrap().unwrap().0, n as usize - 1);
        // Key + 32 f32 per record.
        let len = std::fs::metadata(stem.with_extension("keys"))
            .unwrap()
            .len();
        assert_eq!(len, (n - 1) * (8 + 4 * dims as u64));

        let loaded = VectorIndex::with_options(dims, options(ScalarKind::I8));
        let keys = loaded.load_graph(9, &stem).unwrap();
        assert_eq!(keys.len(), n as usize - 1);
        assert!(!keys.contains(&17));
        let q = unit(dims, 1234);
        let hit = loaded.search(9, &q, 1).unwrap()[0];
        assert_eq!(hit, (1234, dot(&q, &q)));
        // Replay after load: the re-added key is found with its exact score.
        loaded.add(9, 17, &unit(dims, 17)).unwrap();
        assert_eq!(loaded.search(9, &unit(dims, 17), 1).unwrap()[0].0, 17);
        assert_eq!(loaded.stats(), (1, n as usize, 1));
    }

    #[test]
    fn a_graph_saved_with_other_options_is_refused_not_misread() {
        let dims = 32;
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("old");
        // The layout before quantisation: an f32 graph, a keys file of keys.
        let old = VectorIndex::with_options(dims, options(ScalarKind::F32));
        for k in 0..FLAT_MAX as u64 + 10 {
            old.add(1, k, &unit(dims, k)).unwrap();
        }
        old.save_graph(1, &stem).unwrap().unwrap();
        let err = VectorIndex::with_options(dims, options(ScalarKind::I8))
            .load_graph(1, &stem)
            .unwrap_err();
        assert!(err.contains("old.keys") || err.contains("F32"), "{err}");

        // And the other way round: an i8 graph is not read as f32.
        let stem = dir.path().join("new");
        let new = VectorIndex::with_options(dims, options(ScalarKind::I8));
        for k in 0..FLAT_MAX as u64 + 10 {
            new.add(1, k, &unit(dims, k)).unwrap();
        }
        new.save_graph(1, &stem).unwrap().unwrap();
        assert!(VectorIndex::with_options(dims, options(ScalarKind::F32))
            .load_graph(1, &stem)
            .is_err());
        // A truncated keys file is an error, not a short key set.
        let keys = stem.with_extension("keys");
        let bytes = std::fs::read(&keys).unwrap();
        std::fs::write(&keys, &bytes[..bytes.len() - 3]).unwrap();
        assert!(VectorIndex::with_options(dims, options(ScalarKind::I8))
            .load_graph(1, &stem)
            .is_err());
    }

    /// The QQP pairs of the shared eval data (`HELIOS_BENCH_PAIRS`, else
    /// `../shared/...` beside the repository), if present.
    fn qqp_pairs(n: usize) -> Option<Vec<(String, String)>> {
        let path = match std::env::var("HELIOS_BENCH_PAIRS") {
            Ok(p) => std::path::PathBuf::from(p),
            Err(_) => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/eval/data/gptcache_qqp/pairs.jsonl.gz"),
        };
        let reader = crate::cache::eval::open_lines(&path).ok()?;
        let mut out = Vec::new();
        for line in reader.lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).ok()?;
            if let (Some(a), Some(b)) = (v["a"].as_str(), v["b"].as_str()) {
                out.push((a.to_string(), b.to_string()));
            }
            if out.len() == n {
                break;
            }
        }
        Some(out)
    }

    /// Real lookups: the first questions of QQP pairs (plus the support
    /// pairs in the repository) are stored, their paired questions looked up.
    /// The quantised graph's best hit must be the exact search's best hit.
    #[test]
    fn quantised_search_finds_the_exact_best_hit_on_eval_lookups() {
        let Some(pairs) = qqp_pairs(2500) else {
            eprintln!(
                "!!! SKIPPED quantised_search_finds_the_exact_best_hit_on_eval_lookups: \
                 ../shared/eval/data/gptcache_qqp/pairs.jsonl.gz is absent \
                 (set HELIOS_BENCH_PAIRS)"
            );
            return;
        };
        let support = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/support_pairs/pairs.jsonl"),
        )
        .unwrap();
        let mut pairs: Vec<(String, String)> = pairs;
        for line in support.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            pairs.push((
                v["a"].as_str().unwrap().to_string(),
                v["b"].as_str().unwrap().to_string(),
            ));
        }
        let e = StaticEmbedder::bundled().unwrap();
        let idx = VectorIndex::with_options(e.dims(), options(ScalarKind::I8));
        let mut stored: Vec<Vec<f32>> = Vec::new();
        let mut lookups: Vec<Vec<f32>> = Vec::new();
        for (a, b) in &pairs {
            if let (Ok(va), Ok(vb)) = (e.embed(a), e.embed(b)) {
                idx.add(1, stored.len() as u64, &va).unwrap();
                stored.push(va);
                lookups.push(vb);
            }
        }
        assert_eq!(idx.stats().2, 1, "one graph");
        let mut differ = Vec::new();
        for (i, q) in lookups.iter().enumerate() {
            let got = idx.search(1, q, 4).unwrap()[0];
            let (want, want_sim) = stored
                .iter()
                .enumerate()
                .map(|(k, v)| (k as u64, dot(q, v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert_eq!(got.1, dot(q, &stored[got.0 as usize]), "exact score");
            if got.0 != want && got.1 < want_sim {
                differ.push((i, got, (want, want_sim)));
            }
        }
        eprintln!(
            "{} of {} eval lookups: quantised best hit differs from exact: {differ:?}",
            differ.len(),
            lookups.len()
        );
        // HNSW is approximate: at most 1 in 500 may differ.
        assert!(differ.len() * 500 <= lookups.len(), "{differ:?}");
        // A stored text looked up again always finds itself (or a text
        // with the same vector: QQP repeats some questions across pairs).
        for k in (0..stored.len()).step_by(7) {
            let got = idx.search(1, &stored[k], 1).unwrap()[0];
            let own = dot(&stored[k], &stored[k]);
            assert!(got.0 == k as u64 || got.1 >= own - 1e-5, "{k}: {got:?}");
        }
    }
}
