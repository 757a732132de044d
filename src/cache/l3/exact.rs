//! The exact f32 copies an i8 HNSW graph keeps beside it, so that a search
//! re-scores the graph's candidates with exact cosines.
//!
//! One row per key in fixed-size chunks of one allocation each, instead of a
//! boxed vector per key: a million keys are 250 allocations, not a million,
//! which is what loading a saved graph costs most (the rows are read straight
//! into place), and a removed key's row is reused by the next insert. Rows
//! never move, so growth never copies what is already held.
//!
//! A graph that is not quantised keeps no copies: `dims` is 0 and only the
//! key set is held (usearch cannot list its keys; the saved key set is how a
//! restart tells which vectors changed since the save).

use std::collections::HashMap;

/// Rows per chunk (1 MiB of f32 at 256 dimensions).
const CHUNK: usize = 1024;

pub struct Exact {
    dims: usize,
    rows: HashMap<u64, u32>,
    chunks: Vec<Box<[f32]>>,
    /// Rows of removed keys, reused first.
    free: Vec<u32>,
    /// Rows handed out so far (the next new row).
    next: u32,
}

impl Exact {
    /// An empty set keeping `dims` floats per key (0: keys only).
    pub fn new(dims: usize) -> Exact {
        Exact {
            dims,
            rows: HashMap::new(),
            chunks: Vec::new(),
            free: Vec::new(),
            next: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Room for `more` keys without rehashing.
    pub fn reserve(&mut self, more: usize) {
        self.rows.reserve(more);
    }

    /// Adds `key` with its vector (the first `dims` floats of `v`);
    /// `false`, nothing changed, if it is present.
    pub fn insert(&mut self, key: u64, v: &[f32]) -> bool {
        if self.rows.contains_key(&key) {
            return false;
        }
        let row = match self.free.pop() {
            Some(row) => row,
            None => {
                let row = self.next;
                self.next += 1;
                if self.dims > 0 && row as usize / CHUNK == self.chunks.len() {
                    self.chunks
                        .push(vec![0.0; CHUNK * self.dims].into_boxed_slice());
                }
                row
            }
        };
        if self.dims > 0 {
            let (c, at) = self.place(row);
            self.chunks[c][at..at + self.dims].copy_from_slice(&v[..self.dims]);
        }
        self.rows.insert(key, row);
        true
    }

    /// Removes `key`; `false` if it was not present.
    pub fn remove(&mut self, key: u64) -> bool {
        match self.rows.remove(&key) {
            Some(row) => {
                self.free.push(row);
                true
            }
            None => false,
        }
    }

    /// The vector of `key` (empty when no copies are kept).
    pub fn get(&self, key: u64) -> Option<&[f32]> {
        let row = *self.rows.get(&key)?;
        Some(self.row(row))
    }

    /// Every key with its vector, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[f32])> + '_ {
        self.rows.iter().map(|(k, row)| (*k, self.row(*row)))
    }

    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.rows.keys().copied()
    }

    fn row(&self, row: u32) -> &[f32] {
        if self.dims == 0 {
            return &[];
        }
        let (c, at) = self.place(row);
        &self.chunks[c][at..at + self.dims]
    }

    fn place(&self, row: u32) -> (usize, usize) {
        let row = row as usize;
        (row / CHUNK, (row % CHUNK) * self.dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(seed: u64, dims: usize) -> Vec<f32> {
        (0..dims).map(|i| (seed * 31 + i as u64) as f32).collect()
    }

    #[test]
    fn keeps_each_vector_across_chunks_and_reuses_removed_rows() {
        let dims = 3;
        let mut e = Exact::new(dims);
        let n = CHUNK as u64 * 2 + 5;
        for k in 0..n {
            assert!(e.insert(k, &v(k, dims)));
        }
        assert!(!e.insert(7, &v(99, dims)), "present: unchanged");
        assert_eq!(e.get(7).unwrap(), v(7, dims).as_slice());
        assert_eq!(e.len(), n as usize);
        assert_eq!(e.chunks.len(), 3);
        assert!(e.remove(CHUNK as u64 + 1));
        assert!(!e.remove(CHUNK as u64 + 1));
        assert!(e.get(CHUNK as u64 + 1).is_none());
        // The freed row is reused: no new chunk, the other rows untouched.
        assert!(e.insert(10_000, &v(10_000, dims)));
        assert_eq!(e.next as u64, n);
        assert_eq!(e.get(10_000).unwrap(), v(10_000, dims).as_slice());
        for k in (0..n).filter(|k| *k != CHUNK as u64 + 1) {
            assert_eq!(e.get(k).unwrap(), v(k, dims).as_slice(), "key {k}");
        }
        let mut all: Vec<u64> = e.iter().map(|(k, _)| k).collect();
        all.sort();
        assert_eq!(all.len(), n as usize);
        assert!(all.contains(&10_000) && !all.contains(&(CHUNK as u64 + 1)));
    }

    #[test]
    fn without_copies_it_is_a_key_set() {
        let mut e = Exact::new(0);
        assert!(e.insert(5, &[1.0, 2.0]));
        assert_eq!(e.get(5).unwrap(), &[] as &[f32]);
        assert!(e.chunks.is_empty());
        assert_eq!(e.keys().collect::<Vec<_>>(), vec![5]);
    }
}
