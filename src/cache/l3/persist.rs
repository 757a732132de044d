//! The saved L3 index: HNSW graphs written beside the database, and the
//! manifest naming them.
//!
//! Each saved graph is a set of files, `<scope>-<generation>.usearch` (the
//! graph), `.keys` (exactly the index keys it holds) and `.entries` (the
//! 128-bit entry keys of the scope when it was saved, which name the sled
//! records), written and synced before `manifest.json` is atomically replaced
//! to name them; files the manifest no longer names are deleted afterwards.
//! A crash at any point therefore leaves a manifest naming complete sets,
//! possibly older than sled. At start each saved graph is loaded with its
//! entry keys and serves at once (a hit is always read back from sled, so an
//! entry removed since the save is never served); then sled is read and the
//! graph brought up to date: keys sled no longer holds are removed, keys sled
//! holds but the graph lacks are replayed (an entry key fixes scope and text,
//! so the same key always carries the same vector). A crash costs the vectors
//! stored since the last save, not a full rebuild.
//!
//! Saves run periodically (only graphs changed since the last save are
//! rewritten) and at shutdown; a save blocks only writers of the partition
//! being written, never lookups.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::index::VectorIndex;

const MANIFEST: &str = "manifest.json";

/// One saved graph in the manifest.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SavedGraph {
    pub scope: u64,
    /// File stem inside the index directory (`.usearch` and `.keys`).
    pub stem: String,
    pub count: usize,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    /// Layout version: manifests of other layouts are ignored (rebuild).
    format: u32,
    embedder: String,
    graphs: Vec<SavedGraph>,
}

/// 3: i8 graphs; `.keys` holds each key followed by its f32 vector (format
/// 2, f32 graphs with bare keys, is ignored: those scopes are rebuilt from
/// sled once). A graph saved with other options is also refused by
/// `VectorIndex::load_graph`, and L3 rebuilds that scope.
const FORMAT: u32 = 3;

/// The saved graphs of `dir` made with `embedder`, by scope.
pub fn read_manifest(dir: &Path, embedder: &str) -> HashMap<u64, SavedGraph> {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST)) else {
        return HashMap::new();
    };
    match serde_json::from_str::<Manifest>(&text) {
        Ok(m) if m.format == FORMAT && m.embedder == embedder => {
            m.graphs.into_iter().map(|g| (g.scope, g)).collect()
        }
        _ => HashMap::new(),
    }
}

/// What sled holds against a loaded graph: keys to remove from it and keys
/// to replay into it.
pub struct Diff {
    pub extra: Vec<u64>,
    pub missing: Vec<u64>,
}

/// Compares a saved graph's keys with the keys sled holds for its scope.
pub fn diff(saved: &HashSet<u64>, sled: &[u64]) -> Diff {
    let sled_set: HashSet<u64> = sled.iter().copied().collect();
    Diff {
        extra: saved.difference(&sled_set).copied().collect(),
        missing: sled
            .iter()
            .filter(|k| !saved.contains(k))
            .copied()
            .collect(),
    }
}

/// Saves graphs into one directory, remembering what it last wrote there so
/// that a periodic save rewrites only the graphs that changed.
pub struct Saver {
    dir: PathBuf,
    embedder: String,
    /// Scope → (partition version saved, manifest entry).
    last: Mutex<HashMap<u64, (u64, SavedGraph)>>,
    /// Last generation used in a file name (strictly increasing).
    generation: Mutex<u64>,
}

impl Saver {
    pub fn new(dir: PathBuf, embedder: &str) -> Saver {
        Saver {
            dir,
            embedder: embedder.to_string(),
            last: Mutex::new(HashMap::new()),
            generation: Mutex::new(0),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records a graph loaded from this directory and left unchanged, so
    /// the next save does not rewrite it.
    pub fn loaded(&self, graph: SavedGraph, version: u64) {
        self.last.lock().insert(graph.scope, (version, graph));
    }

    fn next_generation(&self) -> u64 {
        let mut g = self.generation.lock();
        *g = (*g + 1).max(crate::clock::now_ms());
        *g
    }

    /// Saves every graph of `index` that changed since this saver last
    /// wrote it, with the entry keys `entries` gives for its scope (asked
    /// at most once per save), then the manifest, then deletes unnamed
    /// files. Returns how many graphs were written.
    pub fn save(
        &self,
        index: &VectorIndex,
        entries: &dyn Fn() -> HashMap<u64, Vec<u128>>,
    ) -> Result<usize, String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("creating {}: {e}", self.dir.display()))?;
        let mut last = self.last.lock();
        let mut graphs = Vec::new();
        let mut written = 0;
        let mut now: HashMap<u64, (u64, SavedGraph)> = HashMap::new();
        let mut by_scope: Option<HashMap<u64, Vec<u128>>> = None;
        let mut entries_of = |scope: u64| -> Vec<u128> {
            by_scope
                .get_or_insert_with(entries)
                .remove(&scope)
                .unwrap_or_default()
        };
        for (scope, version) in index.graph_versions() {
            if let Some((v, g)) = last.get(&scope) {
                let file = |ext: &str| self.dir.join(format!("{}.{ext}", g.stem));
                if *v == version && file("keys").exists() {
                    if !file("entries").exists() {
                        // Saved by a version that wrote no entry keys.
                        write_entries(&file("entries"), &entries_of(scope))?;
                    }
                    graphs.push(g.clone());
                    now.insert(scope, (*v, g.clone()));
                    continue;
                }
            }
            let stem = format!("{scope:016x}-{}", self.next_generation());
            if let Some((count, saved_version)) = index.save_graph(scope, &self.dir.join(&stem))? {
                write_entries(
                    &self.dir.join(format!("{stem}.entries")),
                    &entries_of(scope),
                )?;
                let g = SavedGraph { scope, stem, count };
                graphs.push(g.clone());
                now.insert(scope, (saved_version, g));
                written += 1;
            }
        }
        let manifest = Manifest {
            format: FORMAT,
            embedder: self.embedder.clone(),
            graphs,
        };
        write_synced(
            &self.dir.join(MANIFEST),
            serde_json::to_string(&manifest)
                .map_err(|e| e.to_string())?
                .as_bytes(),
        )?;
        *last = now;
        let keep: HashSet<&str> = manifest.graphs.iter().map(|g| g.stem.as_str()).collect();
        if let Ok(files) = std::fs::read_dir(&self.dir) {
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                let stem = name
                    .strip_suffix(".usearch")
                    .or_else(|| name.strip_suffix(".keys"))
                    .or_else(|| name.strip_suffix(".entries"));
                if stem.is_some_and(|s| !keep.contains(s)) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
        Ok(written)
    }
}

/// Writes the entry keys of a saved graph (little-endian, 16 bytes each),
/// synced; the manifest naming them is written after.
fn write_entries(path: &Path, keys: &[u128]) -> Result<(), String> {
    let bytes: Vec<u8> = keys.iter().flat_map(|k| k.to_le_bytes()).collect();
    write_synced(path, &bytes)
}

/// The entry keys saved beside graph `stem` of `dir`, if its file is there
/// and whole (a graph saved by an older version has none: its scope then
/// serves once sled has been read).
pub fn read_entries(dir: &Path, stem: &str) -> Option<Vec<u128>> {
    let bytes = std::fs::read(dir.join(format!("{stem}.entries"))).ok()?;
    if bytes.len() % 16 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(16)
            .map(|c| u128::from_le_bytes(c.try_into().expect("16 bytes")))
            .collect(),
    )
}

/// Writes `path` atomically (temp file, sync, rename, sync the directory).
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let fail = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    std::io::Write::write_all(&mut f, bytes).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dims: usize, seed: u64) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dims)
            .map(|i| ((seed.wrapping_mul(31).wrapping_add(i as u64 * 7919)) % 1000) as f32 - 500.0)
            .collect();
        crate::embed::normalize(&mut v);
        v
    }

    #[test]
    fn saves_only_changed_graphs_and_loads_with_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let idx = VectorIndex::new(8);
        let n = super::super::index::FLAT_MAX as u64 + 10;
        for k in 0..n {
            idx.add(1, k, &unit(8, k)).unwrap();
            idx.add(2, k, &unit(8, k + 1)).unwrap();
        }
        idx.add(3, 5, &unit(8, 5)).unwrap(); // flat: not saved
        let saver = Saver::new(dir.path().to_path_buf(), "e/8");
        // Entry keys: scope 2's are asked for, scope 1's are not named.
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let entries = || {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            HashMap::from([(2u64, vec![u128::MAX - 1, 7u128 << 64 | 3])])
        };
        assert_eq!(saver.save(&idx, &entries).unwrap(), 2);
        assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert_eq!(saver.save(&idx, &entries).unwrap(), 0, "nothing changed");
        assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 1);
        idx.remove(2, 3).unwrap();
        assert_eq!(
            saver.save(&idx, &entries).unwrap(),
            1,
            "only the changed graph"
        );
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(
            files, 7,
            "two sets of three and the manifest, old files deleted"
        );

        let saved = read_manifest(dir.path(), "e/8");
        assert_eq!(saved.len(), 2);
        assert!(read_manifest(dir.path(), "other/8").is_empty());
        assert_eq!(
            read_entries(dir.path(), &saved[&2].stem).unwrap(),
            vec![u128::MAX - 1, 7u128 << 64 | 3]
        );
        assert_eq!(read_entries(dir.path(), &saved[&1].stem).unwrap(), vec![]);
        // A torn file is not read.
        let torn = dir.path().join(format!("{}.entries", saved[&2].stem));
        std::fs::write(&torn, [0u8; 17]).unwrap();
        assert!(read_entries(dir.path(), &saved[&2].stem).is_none());
        // A graph saved without entry keys gets them at the next save.
        std::fs::remove_file(&torn).unwrap();
        assert_eq!(saver.save(&idx, &entries).unwrap(), 0);
        assert!(read_entries(dir.path(), &saved[&2].stem).is_some());
        let loaded = VectorIndex::new(8);
        let keys = loaded
            .load_graph(2, &dir.path().join(&saved[&2].stem))
            .unwrap();
        assert_eq!(keys.len(), n as usize - 1);
        assert!(!keys.contains(&3));
        let sled: Vec<u64> = (4..n + 5).collect();
        let d = diff(&keys, &sled);
        let mut extra = d.extra.clone();
        extra.sort();
        assert_eq!(extra, vec![0, 1, 2]);
        assert_eq!(d.missing, (n..n + 5).collect::<Vec<_>>());
    }
}
