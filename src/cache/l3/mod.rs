//! L3, the semantic layer: a paraphrase of a cached request, in the same
//! scope, is answered from the cache.
//!
//! Entries and their vectors live in sled (the truth); the vector index is
//! derived from them. The HNSW partitions are saved periodically and at
//! shutdown with the exact key set each holds ([`persist`]); at start a saved
//! graph is loaded and brought up to date from sled (only the vectors stored
//! or removed since the save), and partitions without one are rebuilt from
//! sled on all cores.

pub mod context;
mod exact;
pub mod feedback;
pub mod guard;
pub mod index;
pub mod persist;
pub mod surface;
pub mod verify;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use xxhash_rust::xxh3::xxh3_64;

use super::layer::{
    EntryWrite, InvalidateFilter, Layer, LayerHealth, LayerId, LayerSize, RawJson, StoredResponse,
};
use super::records::{self, KeyLocks, Records};
use super::report::{GuardReport, L3Details, L3Trust, LayerDetails};
use super::scope::Scope;
use crate::clock::now_ms;
use crate::embed::{EmbedError, Embedder};
use crate::error::CacheError;
use crate::store::{decode, encode, keys, Storage, WriteBatch};

pub use context::ChatSettings;
use feedback::EntryFeedback;
pub use guard::Guard;
use index::VectorIndex;
pub use verify::Verifier;

const PREFIX: u8 = b'3';
/// Prefix of the feedback records kept beside L3 entries.
const FEEDBACK_PREFIX: u8 = b'4';
/// Key of L3's own counters in the `meta` tree.
const COUNTERS_KEY: &str = "l3_counters";
/// Neighbours fetched per lookup: the best live one (not expired) is the candidate.
const TOP_K: usize = 4;

/// The lowest cosine at which a candidate under the default gate is still
/// checked for being the same request retyped or reframed ([`surface`]):
/// the rule is strict, the floor only keeps it to candidates on the same
/// subject. A request that names its own threshold gets that threshold.
pub const SURFACE_FLOOR: f64 = 0.5;

/// L3 configuration.
#[derive(Debug, Clone)]
pub struct L3Settings {
    pub ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    /// The cosine gate; `None`: the embedder's measured default (its loose
    /// gate when a verifier decides, its precise threshold otherwise).
    pub threshold: Option<f64>,
    pub guard: Guard,
    /// How conversations are represented and compared.
    pub chat: ChatSettings,
    /// The verifier's threshold; `None`: the verifier's calibrated default.
    pub verifier_threshold: Option<f64>,
    /// Which pair verifier judges candidates.
    pub verifier: VerifierChoice,
    /// Two-tier judging: a candidate whose cosine reaches the embedder's
    /// precise threshold needs only this verifier score (a veto of clear
    /// traps); one between the gate and that threshold needs the full
    /// verifier threshold. `None`: every candidate needs the full threshold.
    pub verifier_veto: Option<f64>,
    /// Cosine at which an English candidate the verifier refused is served
    /// anyway when it is a rewording ([`surface::reworded`]), not a small
    /// edit. `None`: the verifier decides alone.
    pub reworded_threshold: Option<f64>,
    /// Entries read from sled before the server answers; a larger layer is
    /// read in the background (L1 and L2 serve meanwhile, L3 misses).
    pub load_now_max: u64,
}

/// The default [`L3Settings::load_now_max`]: reading 20k entries at start
/// takes about 0.1 s here (100k: 0.6 s), so the server answers within its
/// first second whatever the size of L3.
pub const LOAD_NOW_MAX: u64 = 20_000;

/// The default [`L3Settings::reworded_threshold`]: on the bundled
/// embedder's scale, where the precise threshold is 0.84 (DEV splits:
/// gptcache_mock 37 more of 103 paraphrases served, none wrong; QQP 26 more
/// duplicates and 8 more non-duplicates; support-style English unchanged).
pub const REWORDED_THRESHOLD: f64 = 0.90;

/// Which pair verifier L3 uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifierChoice {
    /// None: the cosine threshold alone decides (after the guard).
    Off,
    /// The verifier compiled into the binary (`assets/verifier/`).
    Bundled,
    /// A verifier directory (model.safetensors, tokenizer.json, config.json).
    Dir(PathBuf),
}

impl VerifierChoice {
    /// Parses `off`, `bundled` or a directory.
    pub fn parse(s: &str) -> Result<VerifierChoice, String> {
        match s.trim() {
            "off" | "none" => Ok(VerifierChoice::Off),
            "bundled" => Ok(VerifierChoice::Bundled),
            "" => Err("l3_verifier must be off, bundled or a verifier directory".into()),
            dir => Ok(VerifierChoice::Dir(PathBuf::from(dir))),
        }
    }

    /// Loads the chosen verifier.
    pub fn load(&self) -> Result<Option<Arc<Verifier>>, String> {
        match self {
            VerifierChoice::Off => Ok(None),
            VerifierChoice::Bundled => Verifier::bundled().map(|v| Some(Arc::new(v))),
            VerifierChoice::Dir(dir) => Verifier::load_dir(dir).map(|v| Some(Arc::new(v))),
        }
    }
}

/// The persisted form of an entry (its expiry is the record's prefix).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L3Record {
    pub base: StoredResponse,
    /// Which embedder made `vector` (`name/dims`).
    pub embedder: String,
    pub vector: Vec<f32>,
}

impl L3Record {
    fn scope(&self) -> Scope {
        self.base.scope()
    }
}

/// A semantic hit.
pub struct L3Hit {
    pub key: u128,
    pub response: RawJson,
    pub similarity: f64,
    pub tokens: u64,
    pub cost_nano: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub model: String,
}

/// Why a lookup served its candidate or did not: the numbers behind the
/// decision, for `l3_result`.
#[derive(Debug, Clone, Default)]
pub struct Decision {
    /// Best similarity in the index (the exact text counts as 1.0).
    pub best: Option<f64>,
    /// The cosine gate candidates had to reach.
    pub gate: f64,
    /// Candidates above the gate that were judged.
    pub judged: u32,
    /// The last guard rule that vetoed a candidate.
    pub guard_veto: Option<&'static str>,
    /// The last feedback rule that vetoed a candidate.
    pub feedback_veto: Option<&'static str>,
    /// The verifier's score of the served candidate, or of the best vetoed one.
    pub verifier_score: Option<f64>,
    pub verifier_threshold: Option<f64>,
    /// Entry id of the candidate the verdict is about.
    pub candidate: Option<u128>,
    /// One word: served, same_request, reworded, exact, no_candidate,
    /// below_gate, guard, feedback, verifier.
    pub outcome: &'static str,
}

/// What a lookup found.
pub enum L3Outcome {
    Hit(L3Hit, Decision),
    Miss(Decision),
}

/// A write added to a batch but not yet applied.
pub struct L3Staged {
    key: u128,
    scope_id: u64,
    vector: Vec<f32>,
    staged: records::Staged,
}

/// Whether `text` has anything to compare by meaning: a letter or a digit
/// in any script.
pub fn is_semantic(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// The index key of an entry: the low 64 bits of its 128-bit key.
fn vkey(key: u128) -> u64 {
    key as u64
}

/// Index key → (entry key, scope id) of every entry of this embedder.
type KeyMap = HashMap<u64, (u128, u64)>;

/// Vectors a saved graph may lack and still be brought up to date during
/// start-up; larger gaps are replayed in the background.
const REPLAY_NOW_MAX: usize = 10_000;

/// Adds vectors from sled to the index.
#[derive(Clone)]
struct Rebuild {
    storage: Arc<Storage>,
    index: Arc<VectorIndex>,
    keymap: Arc<RwLock<KeyMap>>,
    embedder: String,
    stop: Arc<AtomicBool>,
}

impl Rebuild {
    /// Adds the vectors of `work` (entry key, scope) from sled on every core
    /// (usearch takes concurrent adds into reserved capacity); returns how
    /// many were added.
    fn replay(&self, mut work: Vec<(u128, u64)>) -> u64 {
        if work.is_empty() {
            return 0;
        }
        // Key order is sled's order: reads stay sequential-ish.
        work.sort_unstable_by_key(|w| w.0);
        let mut per_scope: HashMap<u64, usize> = HashMap::new();
        for (_, scope) in &work {
            *per_scope.entry(*scope).or_default() += 1;
        }
        for (scope, n) in per_scope {
            if let Err(e) = self.index.prepare(scope, n) {
                tracing::warn!("L3 index: {e}");
            }
        }
        const CHUNK: usize = 256;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(work.len().div_ceil(CHUNK));
        let next = AtomicUsize::new(0);
        let done = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| loop {
                    let start = next.fetch_add(CHUNK, Relaxed);
                    if start >= work.len() || self.stop.load(Relaxed) {
                        return;
                    }
                    for &(key, scope) in &work[start..(start + CHUNK).min(work.len())] {
                        if self.add_one(key, scope) {
                            let d = done.fetch_add(1, Relaxed) + 1;
                            if d.is_multiple_of(50_000) {
                                tracing::info!("L3 index: added {d} vectors from sled");
                            }
                        }
                    }
                });
            }
        });
        done.into_inner()
    }

    fn add_one(&self, key: u128, scope: u64) -> bool {
        let live = || {
            self.keymap
                .read()
                .get(&vkey(key))
                .is_some_and(|&(k, s)| k == key && s == scope)
        };
        // Removed meanwhile: never put it back.
        if !live() {
            return false;
        }
        let Ok(Some(value)) = self.storage.get(&keys::record(PREFIX, key)) else {
            return false;
        };
        let Some(rec) = value.get(8..).and_then(decode::<L3Record>) else {
            return false;
        };
        if rec.embedder != self.embedder {
            return false;
        }
        if let Err(e) = self.index.add(scope, vkey(key), &rec.vector) {
            tracing::warn!("L3 index: {e}");
            return false;
        }
        // Removed while it was being added: take it out again.
        if !live() {
            let _ = self.index.remove(scope, vkey(key));
        }
        true
    }
}

/// What writers did while the layer was being read in the background:
/// the reader's scan is older than they are, so it must not undo them.
#[derive(Default)]
struct Loading {
    /// Entries stored meanwhile (entry key, scope): added to the index once
    /// the saved graphs are in (loading a graph replaces its partition).
    added: Vec<(u128, u64)>,
    /// Entries removed meanwhile: never put back from the scan. With the
    /// scope of those the reader had already put in the key map (a saved
    /// graph loaded after may still hold them).
    removed: HashMap<u128, Option<u64>>,
    /// Entries served from the saved graphs meanwhile.
    serving: u64,
}

/// Graphs loaded from the saved index before sled was read, and the entry
/// keys saved beside them that were put in the key map.
#[derive(Default)]
struct Preloaded {
    /// Scope → (manifest entry, index keys of the loaded graph).
    graphs: HashMap<u64, (persist::SavedGraph, HashSet<u64>)>,
    /// (entry key, scope) put in the key map from the saved files.
    keys: Vec<(u128, u64)>,
}

/// Reads the layer's entries from sled and loads or rebuilds the index:
/// at once for a small layer, on a background thread for a large one.
struct Loader {
    /// Storage, index, key map and stop flag, shared with the layer.
    job: Rebuild,
    embedder: Arc<dyn Embedder>,
    saver: Arc<persist::Saver>,
    foreign: Arc<AtomicU64>,
    rebuilding: Arc<AtomicBool>,
    loading: Arc<Mutex<Option<Loading>>>,
}

impl Loader {
    /// Reads every entry: fills the key map (keys removed meanwhile left
    /// out, keys stored meanwhile kept as they are) and returns the entry
    /// keys per scope.
    fn read(&self) -> HashMap<u64, Vec<u128>> {
        let mut found: Vec<(u128, u64)> = Vec::new();
        let mut foreign = 0u64;
        for (key, _exp, value) in records::scan(&self.job.storage, PREFIX) {
            if self.job.stop.load(Relaxed) {
                break;
            }
            let Some(rec) = value.get(8..).and_then(decode::<L3Record>) else {
                continue;
            };
            if rec.embedder != self.embedder.id() || rec.vector.len() != self.embedder.dims() {
                foreign += 1;
                continue;
            }
            found.push((key, rec.scope().id()));
        }
        self.foreign.store(foreign, Relaxed);
        let mut admitted = Vec::with_capacity(found.len());
        self.admit(found, &mut admitted);
        let mut scopes: HashMap<u64, Vec<u128>> = HashMap::new();
        for (key, scope) in admitted {
            scopes.entry(scope).or_default().push(key);
        }
        scopes
    }

    /// Puts `keys` (entry key, scope) in the key map and appends them to
    /// `admitted`, except keys removed meanwhile; a key already there
    /// (stored meanwhile) is kept as it is.
    fn admit(&self, keys: impl IntoIterator<Item = (u128, u64)>, admitted: &mut Vec<(u128, u64)>) {
        // Lock order everywhere: `loading`, then `keymap`.
        let loading = self.loading.lock();
        let removed = loading.as_ref().map(|l| &l.removed);
        let mut keymap = self.job.keymap.write();
        for (key, scope) in keys {
            if removed.is_some_and(|r| r.contains_key(&key)) {
                continue;
            }
            keymap.entry(vkey(key)).or_insert((key, scope));
            admitted.push((key, scope));
        }
    }

    /// Puts the entry keys saved beside each graph in the key map, then
    /// loads the graph, so that L3 serves while sled is read: a request
    /// stored verbatim at once, a semantic match once its graph is in (a
    /// hit is read back from sled, so an entry removed since the save is
    /// never served). Keys removed meanwhile are left out, keys stored
    /// meanwhile kept as they are.
    fn preload(&self) -> Preloaded {
        let mut pre = Preloaded::default();
        let dir = self.saver.dir();
        let saved = persist::read_manifest(dir, self.embedder.id());
        let mut with_keys = Vec::new();
        for (scope, g) in saved {
            let Some(entries) = persist::read_entries(dir, &g.stem) else {
                continue;
            };
            // In slices, so that lookups and writers wait for the key map
            // a few milliseconds at a time, not for a million inserts.
            self.job.keymap.write().reserve(entries.len());
            for slice in entries.chunks(65_536) {
                self.admit(slice.iter().map(|&key| (key, scope)), &mut pre.keys);
                if let Some(l) = self.loading.lock().as_mut() {
                    l.serving = pre.keys.len() as u64;
                }
            }
            with_keys.push((scope, g));
        }
        for (scope, g) in with_keys {
            if self.job.stop.load(Relaxed) {
                break;
            }
            match self.job.index.load_graph(scope, &dir.join(&g.stem)) {
                Ok(graph_keys) => {
                    pre.graphs.insert(scope, (g, graph_keys));
                }
                Err(e) => tracing::warn!("L3 index: {e}; rebuilding that scope from sled"),
            }
        }
        if !pre.graphs.is_empty() {
            tracing::info!(
                "L3: serving {} entries of {} saved graphs while the rest is read from disk",
                pre.keys.len(),
                pre.graphs.len()
            );
        }
        pre
    }

    /// The background path: loads the saved graphs (L3 serves from them),
    /// reads sled, brings the index up to date, then applies what writers
    /// did meanwhile.
    fn load(self) {
        let t0 = std::time::Instant::now();
        // Both at once: the saved graphs serve as soon as they are loaded,
        // while sled is read.
        let (pre, scopes) = std::thread::scope(|s| {
            let reader = std::thread::Builder::new()
                .name("helios-l3-scan".into())
                .spawn_scoped(s, || self.read());
            let pre = self.preload();
            let scopes = match reader {
                Ok(r) => r.join().unwrap_or_else(|_| self.read()),
                Err(_) => self.read(),
            };
            (pre, scopes)
        });
        if self.job.stop.load(Relaxed) {
            // Shutting down: the scan was cut short. Nothing more is
            // installed, and `rebuilding` stays set so that no partial graph
            // is saved; the next start reads again.
            return;
        }
        let done = self.finish(scopes, pre);
        tracing::info!(
            "L3: all entries read in {:.1} s ({done} stored meanwhile added)",
            t0.elapsed().as_secs_f64()
        );
    }

    /// Installs the index from what [`Loader::read`] found, drops the
    /// preloaded keys sled no longer holds, applies the writes made
    /// meanwhile and ends the loading state; returns how many entries
    /// stored meanwhile were added.
    fn finish(&self, scopes: HashMap<u64, Vec<u128>>, pre: Preloaded) -> u64 {
        let stale: Vec<(u128, u64)> = match pre.keys.is_empty() {
            true => Vec::new(),
            false => {
                let sled: HashSet<u128> = scopes.values().flatten().copied().collect();
                pre.keys
                    .into_iter()
                    .filter(|(k, _)| !sled.contains(k))
                    .collect()
            }
        };
        self.install(scopes, pre.graphs);
        // Writers still queue while `loading` is held.
        let mut loading = self.loading.lock();
        if let Some(l) = loading.as_ref() {
            // Saved entry keys sled no longer holds (removed after the save,
            // before the last stop), unless stored again meanwhile. `install`
            // took them out of the graph.
            let added: HashSet<u128> = l.added.iter().map(|a| a.0).collect();
            let mut keymap = self.job.keymap.write();
            for (key, _) in stale {
                if !added.contains(&key) && keymap.get(&vkey(key)).is_some_and(|e| e.0 == key) {
                    keymap.remove(&vkey(key));
                }
            }
            drop(keymap);
            // A key removed after the reader put it in the key map may be in
            // a saved graph loaded since: take it out unless stored again.
            let keymap = self.job.keymap.read();
            for (key, scope) in &l.removed {
                if let (Some(scope), false) = (scope, keymap.contains_key(&vkey(*key))) {
                    let _ = self.job.index.remove(*scope, vkey(*key));
                }
            }
        }
        let added = loading.take().map(|l| l.added).unwrap_or_default();
        drop(loading);
        let done = self.job.replay(added);
        self.rebuilding.store(false, Relaxed);
        done
    }

    /// Loads each saved graph and brings it up to date with sled; rebuilds
    /// scopes without one. Small work is done now, large work in the
    /// background, so the server starts serving (L1, L2 and the ready part
    /// of L3) without waiting for graphs.
    ///
    /// `preloaded` are the graphs [`Loader::preload`] put in the index
    /// already (by scope: manifest entry, keys): they are brought up to
    /// date, not loaded again.
    fn install(
        &self,
        mut scopes: HashMap<u64, Vec<u128>>,
        mut preloaded: HashMap<u64, (persist::SavedGraph, HashSet<u64>)>,
    ) {
        let saved = persist::read_manifest(self.saver.dir(), self.embedder.id());
        let (mut now, mut later) = (Vec::new(), Vec::new());
        let (mut loaded, mut removed) = (0usize, 0usize);
        // A preloaded scope sled no longer holds anything of is emptied.
        for scope in preloaded.keys() {
            scopes.entry(*scope).or_default();
        }
        for (scope, keys) in scopes {
            let graph = preloaded.remove(&scope).or_else(|| {
                let g = saved.get(&scope)?.clone();
                match self
                    .job
                    .index
                    .load_graph(scope, &self.saver.dir().join(&g.stem))
                {
                    Ok(graph_keys) => Some((g, graph_keys)),
                    Err(e) => {
                        tracing::warn!("L3 index: {e}; rebuilding that scope from sled");
                        None
                    }
                }
            });
            let Some((g, graph_keys)) = graph else {
                let work = keys.into_iter().map(|k| (k, scope));
                match work.len() <= index::FLAT_MAX {
                    true => now.extend(work),
                    false => later.extend(work),
                }
                continue;
            };
            loaded += 1;
            let vkeys: Vec<u64> = keys.iter().map(|k| vkey(*k)).collect();
            let diff = persist::diff(&graph_keys, &vkeys);
            for vk in &diff.extra {
                if let Err(e) = self.job.index.remove(scope, *vk) {
                    tracing::warn!("L3 index: {e}");
                }
            }
            removed += diff.extra.len();
            if diff.extra.is_empty() && diff.missing.is_empty() {
                self.saver.loaded(g, 0);
            }
            let missing: HashSet<u64> = diff.missing.into_iter().collect();
            let work = keys
                .into_iter()
                .filter(|k| missing.contains(&vkey(*k)))
                .map(|k| (k, scope));
            match missing.len() <= REPLAY_NOW_MAX {
                true => now.extend(work),
                false => later.extend(work),
            }
        }
        let added = self.job.replay(now);
        let (parts, vectors, graphs) = self.job.index.stats();
        tracing::info!(
            "L3 index ready: {vectors} vectors in {parts} scopes ({graphs} HNSW graphs); \
             {loaded} saved graphs loaded, {removed} vectors removed since, {added} added from sled"
        );
        if later.is_empty() {
            return;
        }
        if self.rebuilding.load(Relaxed) {
            // Already on the background reader's thread (which clears the
            // flag when it is done).
            let done = self.job.replay(later);
            tracing::info!("L3 index: added {done} vectors from sled");
            return;
        }
        tracing::info!(
            "L3 index: adding {} vectors from sled in the background",
            later.len()
        );
        self.rebuilding.store(true, Relaxed);
        let flag = self.rebuilding.clone();
        let job = self.job.clone();
        let spawned = std::thread::Builder::new()
            .name("helios-l3-rebuild".into())
            .spawn(move || {
                let done = job.replay(later);
                flag.store(false, Relaxed);
                tracing::info!("L3 index: added {done} vectors; the index is complete");
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the L3 rebuild: {e}");
        }
    }
}

/// The semantic layer.
pub struct L3 {
    records: Records,
    storage: Arc<Storage>,
    embedder: Arc<dyn Embedder>,
    index: Arc<VectorIndex>,
    keymap: Arc<RwLock<KeyMap>>,
    /// A background rebuild of large scopes is running.
    rebuilding: Arc<AtomicBool>,
    /// Asks a running rebuild to stop (shutdown).
    stop: Arc<AtomicBool>,
    settings: L3Settings,
    /// The threshold a lookup uses when it names none.
    threshold: f64,
    /// Writes the index beside the database.
    saver: Arc<persist::Saver>,
    /// Entries whose vectors another embedder made: kept, never compared.
    foreign: Arc<AtomicU64>,
    /// Set while the entries are read in the background (see [`Loading`]).
    loading: Arc<Mutex<Option<Loading>>>,
    /// The pair verifier that judges candidates, if one is configured.
    verifier: Option<Arc<Verifier>>,
    /// Overrides the verifier's calibrated thresholds when set.
    verifier_threshold: Option<f64>,
    /// The embedder's precise cosine threshold (two-tier judging).
    precise: f64,
    /// Memoised verifier verdicts: (query text hash, entry key) → score.
    verdicts: moka::sync::Cache<(u64, u128), f32>,
    /// Feedback per entry key (also in sled under [`FEEDBACK_PREFIX`]).
    feedback: RwLock<HashMap<u128, EntryFeedback>>,
    pub guard_vetoes: AtomicU64,
    pub unrepresentable: AtomicU64,
    pub embed_errors: AtomicU64,
    pub counters: Counters,
}

/// L3's persisted counters (kept in `meta`, apart from the shared ones).
#[derive(Default)]
pub struct Counters {
    pub verifier_calls: AtomicU64,
    pub verifier_vetoes: AtomicU64,
    pub feedback_vetoes: AtomicU64,
    pub reported_wrong: AtomicU64,
    pub reported_right: AtomicU64,
}

#[derive(Serialize, Deserialize, Default)]
struct CountersSnapshot {
    verifier_calls: u64,
    verifier_vetoes: u64,
    feedback_vetoes: u64,
    reported_wrong: u64,
    reported_right: u64,
}

impl Counters {
    fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            verifier_calls: self.verifier_calls.load(Relaxed),
            verifier_vetoes: self.verifier_vetoes.load(Relaxed),
            feedback_vetoes: self.feedback_vetoes.load(Relaxed),
            reported_wrong: self.reported_wrong.load(Relaxed),
            reported_right: self.reported_right.load(Relaxed),
        }
    }

    fn restore(s: CountersSnapshot) -> Counters {
        Counters {
            verifier_calls: AtomicU64::new(s.verifier_calls),
            verifier_vetoes: AtomicU64::new(s.verifier_vetoes),
            feedback_vetoes: AtomicU64::new(s.feedback_vetoes),
            reported_wrong: AtomicU64::new(s.reported_wrong),
            reported_right: AtomicU64::new(s.reported_right),
        }
    }
}

/// What a feedback verdict did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedbackAction {
    /// The text is blocked for this entry and its threshold raised.
    Tightened { min_similarity: f64 },
    /// The cached answer was wrong for its own text: the entry is removed.
    Removed,
    /// A right verdict, counted.
    Recorded,
}

impl L3 {
    /// Opens the layer: reads every entry from sled and loads or rebuilds the
    /// index (a large layer in the background, serving from its saved graphs
    /// meanwhile: [`Loader::load`]).
    pub fn open(
        storage: Arc<Storage>,
        locks: Arc<KeyLocks>,
        settings: L3Settings,
        embedder: Arc<dyn Embedder>,
        verifier: Option<Arc<Verifier>>,
    ) -> L3 {
        let (l3, loader) = L3::open_parts(storage, locks, settings, embedder, verifier);
        let Some(loader) = loader else {
            return l3;
        };
        tracing::info!(
            "L3: reading {} entries in the background; until then L3 serves what a saved \
             index holds, if there is one, and misses the rest",
            l3.records.size().entries
        );
        let spawned = std::thread::Builder::new()
            .name("helios-l3-load".into())
            .spawn(move || loader.load());
        if let Err(e) = spawned {
            // Thread creation failed: L3 stays empty and misses (and says so
            // in /health), L1 and L2 are unaffected.
            tracing::error!("cannot start reading L3: {e}");
        }
        l3
    }

    /// The layer, read at once when small; otherwise also the [`Loader`]
    /// that must read it (until it has, L3 serves what a saved index holds
    /// and misses the rest).
    fn open_parts(
        storage: Arc<Storage>,
        locks: Arc<KeyLocks>,
        settings: L3Settings,
        embedder: Arc<dyn Embedder>,
        verifier: Option<Arc<Verifier>>,
    ) -> (L3, Option<Loader>) {
        let saver = persist::Saver::new(storage.dir().join("l3-index"), embedder.id());
        let threshold = settings
            .threshold
            .or(match verifier {
                Some(_) => embedder.default_gate(),
                None => embedder.default_threshold(),
            })
            .unwrap_or(0.90);
        let verifier_threshold = settings.verifier_threshold;
        let precise = embedder.default_threshold().unwrap_or(0.90);
        let mut feedback = HashMap::new();
        for (k, v) in storage.scan_prefix(&keys::record_prefix(FEEDBACK_PREFIX)) {
            if let (Some(key), Some(f)) = (keys::parse_record(&k), decode::<EntryFeedback>(&v)) {
                feedback.insert(key, f);
            }
        }
        let counters = match storage.meta_get(COUNTERS_KEY) {
            Ok(Some(b)) => decode::<CountersSnapshot>(&b)
                .map(Counters::restore)
                .unwrap_or_default(),
            _ => Counters::default(),
        };
        let records = Records::open(storage.clone(), locks, PREFIX);
        // A large layer is read in the background: until it is, L1 and L2
        // serve and L3 misses (`details.index_rebuilding`, and L3's /health
        // detail, say so).
        let background = records.size().entries > settings.load_now_max;
        let loader = Loader {
            job: Rebuild {
                storage: storage.clone(),
                index: Arc::new(VectorIndex::new(embedder.dims())),
                keymap: Arc::new(RwLock::new(HashMap::new())),
                embedder: embedder.id().to_string(),
                stop: Arc::new(AtomicBool::new(false)),
            },
            embedder: embedder.clone(),
            saver: Arc::new(saver),
            foreign: Arc::new(AtomicU64::new(0)),
            rebuilding: Arc::new(AtomicBool::new(background)),
            loading: Arc::new(Mutex::new(background.then(Loading::default))),
        };
        let l3 = L3 {
            records,
            storage,
            index: loader.job.index.clone(),
            embedder,
            keymap: loader.job.keymap.clone(),
            settings,
            threshold,
            saver: loader.saver.clone(),
            foreign: loader.foreign.clone(),
            rebuilding: loader.rebuilding.clone(),
            stop: loader.job.stop.clone(),
            loading: loader.loading.clone(),
            verifier,
            verifier_threshold,
            precise,
            verdicts: moka::sync::Cache::new(100_000),
            feedback: RwLock::new(feedback),
            guard_vetoes: AtomicU64::new(0),
            unrepresentable: AtomicU64::new(0),
            embed_errors: AtomicU64::new(0),
            counters,
        };
        // The word tables of the guard and the surface rules (WordNet words,
        // synonyms, antonyms: ≈ 25 ms) are built beside the start, not by
        // the first lookup; a lookup that comes first waits for them.
        let warm = std::thread::Builder::new()
            .name("helios-l3-warm".into())
            .spawn(|| {
                surface::warm();
                guard::warm();
            });
        if let Err(e) = warm {
            tracing::warn!("cannot build the L3 word tables in the background: {e}");
        }
        if !background {
            let scopes = loader.read();
            loader.install(scopes, HashMap::new());
            return (l3, None);
        }
        (l3, Some(loader))
    }

    /// Vetoes by kind and feedback counts.
    pub fn trust(&self) -> L3Trust {
        L3Trust {
            l3_guard_vetoes: self.guard_vetoes.load(Relaxed),
            l3_verifier_vetoes: self.counters.verifier_vetoes.load(Relaxed),
            l3_feedback_vetoes: self.counters.feedback_vetoes.load(Relaxed),
            l3_reported_wrong: self.counters.reported_wrong.load(Relaxed),
            l3_reported_right: self.counters.reported_right.load(Relaxed),
        }
    }

    /// The embedder's identity (`name/dims`).
    pub fn embedder_id(&self) -> &str {
        self.embedder.id()
    }

    /// The threshold a lookup uses when it names none.
    pub fn default_threshold(&self) -> f64 {
        self.threshold
    }

    /// The TTL an entry gets: the request's, capped, or the default.
    pub fn effective_ttl(&self, requested: Option<u64>) -> u64 {
        requested
            .unwrap_or(self.settings.ttl_seconds)
            .min(self.settings.max_ttl_seconds)
    }

    /// Embeds `text`, counting refusals and failures. Text without a letter
    /// or digit is refused before the embedder sees it: punctuation has no
    /// meaning to match ("!!!" and "!!" embed alike), only characters, which
    /// L2 matches exactly.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        if !is_semantic(text) {
            return Err(EmbedError::NotSemantic);
        }
        let r = self.embedder.embed(text);
        match &r {
            Err(EmbedError::Unrepresentable(_)) => self.unrepresentable.fetch_add(1, Relaxed),
            Err(EmbedError::Failed(_)) => self.embed_errors.fetch_add(1, Relaxed),
            Err(EmbedError::NotSemantic) | Ok(_) => 0,
        };
        r
    }

    /// How conversations are represented and compared.
    pub fn chat_settings(&self) -> &ChatSettings {
        &self.settings.chat
    }

    /// The verifier's score of (query, cached), memoised per (query text,
    /// entry).
    fn verify(&self, verifier: &Verifier, input: &str, key: u128, cached: &str) -> f64 {
        let memo = (xxh3_64(input.as_bytes()), key);
        if let Some(s) = self.verdicts.get(&memo) {
            return s as f64;
        }
        self.counters.verifier_calls.fetch_add(1, Relaxed);
        let s = verifier.score(input, cached);
        self.verdicts.insert(memo, s);
        s as f64
    }

    /// The score the verifier must give a candidate for `input`: the
    /// configured one, or the verifier's calibration for this language.
    fn verifier_threshold_for(&self, v: &Verifier, input: &str) -> f64 {
        self.verifier_threshold
            .unwrap_or_else(|| v.threshold_for(input) as f64)
    }

    /// The live entry of index key `vk` in `scope`, if any: (key, expiry, record).
    fn candidate(
        &self,
        scope: &Scope,
        vk: u64,
        now: u64,
    ) -> Result<Option<(u128, u64, L3Record)>, CacheError> {
        let Some((key, _)) = self.keymap.read().get(&vk).copied() else {
            return Ok(None);
        };
        let Some(value) = self.records.get(key)? else {
            return Ok(None);
        };
        let Some((expires_ms, payload)) = records::split(&value) else {
            return Ok(None);
        };
        if expires_ms <= now {
            return Ok(None);
        }
        let Some(rec) = decode::<L3Record>(payload) else {
            return Ok(None);
        };
        if rec.scope() != *scope || rec.embedder != self.embedder.id() {
            return Ok(None);
        }
        Ok(Some((key, expires_ms, rec)))
    }

    /// The best live neighbour in `scope` that reaches the `gate` and passes
    /// feedback, the guard and the verifier (when one is configured).
    ///
    /// Without a verifier only the best live neighbour is judged: a weaker
    /// one that happens to pass the guard is more often wrong than right.
    /// With one, each candidate above the gate is judged in order, since the
    /// verifier reads both texts and a weaker neighbour may be the paraphrase.
    ///
    /// Under the `gate`, down to `floor`, only a single request proven the
    /// same as the candidate ([`surface`]) is served.
    ///
    /// `exact` is the request's exact-match text (its entry key), `compare`
    /// what the context guard compares ([`context::compare_text`]: the text
    /// itself, or a chat's user turns), `query` the embedding of its
    /// standalone text.
    pub fn lookup(
        &self,
        scope: &Scope,
        exact: &str,
        compare: &str,
        query: &[f32],
        gate: f64,
        floor: f64,
    ) -> Result<L3Outcome, CacheError> {
        // What feedback reads: the standalone text (for a plain request,
        // the request itself). The verifier reads the final requests.
        let q_turns = context::turns(compare);
        let window = self.settings.chat.window;
        let standalone = context::standalone(&q_turns, window);
        // The final request: what the verifier reads.
        let q_final = q_turns.last().copied().unwrap_or("");
        let input = standalone.as_str();
        // The exact text stored in this scope is its own best neighbour,
        // whatever the approximate graph search would return: it is judged
        // first, and the index is searched only if it is not served (an
        // exact repeat then costs no graph walk, milliseconds at 1M).
        let exact = scope.entry_key(exact);
        let exact_known = self
            .keymap
            .read()
            .get(&vkey(exact))
            .is_some_and(|(k, _)| *k == exact);
        let search = || -> Result<Vec<(u64, f32)>, CacheError> {
            let mut found = self
                .index
                .search(scope.id(), query, TOP_K)
                .map_err(CacheError::Unavailable)?;
            found.retain(|c| c.0 != vkey(exact));
            Ok(found)
        };
        let mut candidates = match exact_known {
            true => vec![(vkey(exact), 1.0)],
            false => search()?,
        };
        let mut searched = !exact_known;
        let mut d = Decision {
            best: candidates.first().map(|c| (c.1 as f64).min(1.0)),
            gate,
            verifier_threshold: self
                .verifier
                .as_ref()
                .map(|v| self.verifier_threshold_for(v, q_final)),
            outcome: if candidates.is_empty() {
                "no_candidate"
            } else {
                "below_gate"
            },
            ..Decision::default()
        };
        let now = now_ms();
        // The query's final request read once for the surface rule.
        let q_request = surface::Request::new(q_final);
        // The query's final turn embedded, when a chat candidate needs it.
        let mut query_final: Option<Vec<f32>> = None;
        loop {
            for (vk, sim) in candidates {
                let sim = (sim as f64).min(1.0);
                let below_gate = sim < gate;
                if below_gate && (sim < floor || q_turns.len() > 1) {
                    break;
                }
                let Some((key, expires_ms, rec)) = self.candidate(scope, vk, now)? else {
                    continue;
                };
                let same_text = rec.base.input == compare;
                let c_turns = context::turns(&rec.base.input);
                let c_final = c_turns.last().copied().unwrap_or("");
                // Under the gate only the same request retyped or reframed (one
                // turn each) is judged: the embedder scores a greeting or a
                // request frame around it low, the rule proves it.
                let c_request = (!same_text).then(|| surface::Request::new(c_final));
                let retyped = c_request.as_ref().is_some_and(|c| q_request.same_as(c));
                let single = q_turns.len() == 1 && c_turns.len() == 1;
                // Refused by the verifier but served as a rewording.
                let mut reworded = false;
                if below_gate && !(single && retyped) {
                    continue;
                }
                d.judged += 1;
                d.candidate = Some(key);
                let fb = self
                    .feedback
                    .read()
                    .get(&key)
                    .and_then(|f| f.veto(input, sim));
                if let Some(why) = fb {
                    self.counters.feedback_vetoes.fetch_add(1, Relaxed);
                    d.feedback_veto = Some(why);
                    d.outcome = "feedback";
                    if self.verifier.is_none() {
                        break;
                    }
                    continue;
                }
                if !same_text {
                    // A single request proven the same words (`surface`) may
                    // have a clause moved, so its numbers are compared as a set
                    // ("In 2 hours, how far at 60 mph" / "How far at 60 mph in
                    // 2 hours"); the guard still runs (a sign or a name the
                    // words leave out).
                    let mut why = match single && retyped {
                        true => self.settings.guard.veto_moved(q_final, c_final),
                        false => context::veto(
                            &self.settings.guard,
                            &self.settings.chat,
                            &q_turns,
                            &c_turns,
                        ),
                    };
                    if why.is_none() && !retyped && (q_turns.len() > 1 || c_turns.len() > 1) {
                        why =
                            self.final_veto(&mut query_final, q_final, c_final, query, &rec.vector);
                    }
                    if let Some(why) = why {
                        self.guard_vetoes.fetch_add(1, Relaxed);
                        d.guard_veto = Some(why);
                        d.outcome = "guard";
                        if self.verifier.is_none() {
                            break;
                        }
                        continue;
                    }
                    // The verifier reads the two final requests: what it was
                    // trained on (single requests); the context guard and the
                    // standalone cosine have judged the contexts. The same
                    // request retyped needs no verdict (see `surface`).
                    if let Some(v) = self.verifier.as_ref().filter(|_| !retyped) {
                        let score = self.verify(v, q_final, key, c_final);
                        let needed = match self.settings.verifier_veto {
                            Some(veto) if sim >= self.precise => veto,
                            _ => self.verifier_threshold_for(v, q_final),
                        };
                        d.verifier_score = Some(score);
                        d.verifier_threshold = Some(needed);
                        if score < needed {
                            reworded = single
                                && self.settings.reworded_threshold.is_some_and(|t| sim >= t)
                                && c_request.as_ref().is_some_and(|c| q_request.reworded_as(c));
                            if !reworded {
                                self.counters.verifier_vetoes.fetch_add(1, Relaxed);
                                d.outcome = "verifier";
                                continue;
                            }
                        }
                    }
                }
                let Ok(raw) = RawValue::from_string(rec.base.response) else {
                    continue;
                };
                d.outcome = match (same_text, single && retyped, reworded) {
                    (true, _, _) => "exact",
                    (false, true, _) => "same_request",
                    (false, false, true) => "reworded",
                    (false, false, false) => "served",
                };
                return Ok(L3Outcome::Hit(
                    L3Hit {
                        key,
                        response: Arc::from(raw),
                        similarity: sim,
                        tokens: rec.base.tokens,
                        cost_nano: rec.base.cost_nano,
                        created_ms: rec.base.created_ms,
                        expires_ms,
                        model: rec.base.model,
                    },
                    d,
                ));
            }
            // Without a verifier only the best live neighbour is judged: the
            // exact entry, if it was live.
            if searched || (self.verifier.is_none() && d.judged > 0) {
                break;
            }
            // The exact entry was not served (expired meanwhile, or refused by
            // feedback): its neighbours may be.
            searched = true;
            candidates = search()?;
        }
        Ok(L3Outcome::Miss(d))
    }

    /// Applies a verdict on entry `key` for the request `input` (embedded as
    /// `query`). `None` when L3 holds no such entry.
    pub fn feedback(
        &self,
        key: u128,
        input: &str,
        query: Option<&[f32]>,
        wrong: bool,
    ) -> Result<Option<FeedbackAction>, CacheError> {
        let Some(value) = self.records.get(key)? else {
            return Ok(None);
        };
        let Some(rec) = records::split(&value).and_then(|(_, p)| decode::<L3Record>(p)) else {
            return Ok(None);
        };
        if wrong && rec.base.input == input {
            // The answer is wrong for the very text it was stored for.
            self.records.remove(key, None, |_| self.forget(key))?;
            return Ok(Some(FeedbackAction::Removed));
        }
        let _guard = self.records.locks().lock(key);
        let mut all = self.feedback.write();
        let entry = all.entry(key).or_default();
        let action = if wrong {
            let sim = match query {
                Some(q) if q.len() == rec.vector.len() => crate::embed::dot(q, &rec.vector) as f64,
                // Without a comparable vector only the text is blocked.
                _ => 0.0,
            };
            entry.wrong(input, sim);
            self.counters.reported_wrong.fetch_add(1, Relaxed);
            FeedbackAction::Tightened {
                min_similarity: entry.min_similarity,
            }
        } else {
            entry.right(input);
            self.counters.reported_right.fetch_add(1, Relaxed);
            FeedbackAction::Recorded
        };
        // Memoised verdicts stay valid: a verifier score depends only on the
        // two texts; feedback vetoes are checked before the verifier.
        self.storage
            .put(&keys::record(FEEDBACK_PREFIX, key), encode(&*entry))?;
        Ok(Some(action))
    }

    /// Vetoes a chat candidate whose final request means something else
    /// ([`context::final_similarity`] below the chat final threshold). An
    /// embedder failure on a final turn vetoes too: unverified, not served.
    fn final_veto(
        &self,
        query_final: &mut Option<Vec<f32>>,
        q_final: &str,
        c_final: &str,
        query: &[f32],
        cached: &[f32],
    ) -> Option<&'static str> {
        if query_final.is_none() {
            match self.embedder.embed(q_final) {
                Ok(v) => *query_final = Some(v),
                Err(_) => return Some("final request differs"),
            }
        }
        let (Some(qf), Ok(cf)) = (query_final.as_deref(), self.embedder.embed(c_final)) else {
            return Some("final request differs");
        };
        let sim = context::final_similarity(qf, &cf, query, cached);
        (sim < self.settings.chat.final_threshold).then_some("final request differs")
    }

    /// Adds the write to `batch`, keyed by `w.input` (the exact-match text)
    /// and keeping `compare` for the guard. The caller holds the key's lock
    /// until [`L3::commit`] has run.
    pub fn stage(
        &self,
        w: &EntryWrite,
        compare: &str,
        vector: Vec<f32>,
        now: u64,
        batch: &mut WriteBatch,
    ) -> Result<L3Staged, CacheError> {
        let key = w.scope.entry_key(w.input);
        if let Some((other, _)) = self.keymap.read().get(&vkey(key)) {
            if *other != key {
                return Err(CacheError::Unavailable(
                    "index key collision; entry not stored in L3".into(),
                ));
            }
        }
        let expires_ms = now.saturating_add(w.ttl_seconds.saturating_mul(1000));
        let mut base = StoredResponse::new(w, now);
        base.input = compare.to_string();
        let rec = L3Record {
            base,
            embedder: self.embedder.id().to_string(),
            vector,
        };
        let staged = self.records.stage(key, expires_ms, &encode(&rec), batch)?;
        Ok(L3Staged {
            key,
            scope_id: w.scope.id(),
            vector: rec.vector,
            staged,
        })
    }

    /// Makes an applied write searchable and counts it.
    pub fn commit(&self, s: L3Staged) {
        self.records.commit(s.staged);
        {
            let mut loading = self.loading.lock();
            self.keymap.write().insert(vkey(s.key), (s.key, s.scope_id));
            if let Some(l) = loading.as_mut() {
                // Added to the index by the reader once its graphs are in.
                l.added.push((s.key, s.scope_id));
                return;
            }
        }
        if let Err(e) = self.index.add(s.scope_id, vkey(s.key), &s.vector) {
            // sled holds the entry; the next start's key-set check rebuilds it.
            tracing::error!("L3 index add failed: {e}");
        }
    }

    /// Drops an entry's vector and feedback (called under the entry's lock
    /// on removal).
    fn forget(&self, key: u128) {
        if self.feedback.write().remove(&key).is_some() {
            if let Err(e) = self.storage.delete(&keys::record(FEEDBACK_PREFIX, key)) {
                tracing::warn!("L3 feedback removal failed: {e}");
            }
        }
        let removed = {
            let mut loading = self.loading.lock();
            let removed = self.keymap.write().remove(&vkey(key));
            if let Some(l) = loading.as_mut() {
                l.removed.insert(key, removed.map(|(_, scope)| scope));
            }
            removed
        };
        if let Some((_, scope)) = removed {
            if let Err(e) = self.index.remove(scope, vkey(key)) {
                tracing::warn!("L3 index remove failed: {e}");
            }
        }
    }

    /// Evicts the entries closest to expiry until within bounds.
    pub fn enforce_bounds(&self) -> Result<u64, CacheError> {
        self.records.evict_over(
            self.settings.max_entries,
            self.settings.max_bytes,
            |key, _| self.forget(key),
        )
    }

    /// Saves the HNSW graphs and the manifest naming their key sets
    /// (shutdown: a running rebuild is stopped).
    pub fn save_index(&self) -> Result<(), String> {
        self.stop.store(true, Relaxed);
        self.save_index_to(self.saver.dir())
    }

    /// Saves the graphs changed since the last save (the periodic saver).
    /// Skipped while a rebuild runs: the last saved graphs stay valid.
    pub fn checkpoint_index(&self) -> Result<(), String> {
        if self.rebuilding.load(Relaxed) {
            return Ok(());
        }
        let written = self.saver.save(&self.index, &|| self.entries_by_scope())?;
        if written > 0 {
            tracing::debug!("L3 index: saved {written} changed graph(s)");
        }
        Ok(())
    }

    /// Saves the graphs and manifest into `dir` (a backup's index).
    pub fn save_index_to(&self, dir: &Path) -> Result<(), String> {
        if self.rebuilding.load(Relaxed) {
            // Half-built graphs are never saved; the graphs saved last (if
            // any) stay valid and are brought up to date at the next start.
            return Err(
                "the index is still being rebuilt; the next start completes it from sled".into(),
            );
        }
        if dir == self.saver.dir() {
            return self
                .saver
                .save(&self.index, &|| self.entries_by_scope())
                .map(|_| ());
        }
        persist::Saver::new(dir.to_path_buf(), self.embedder.id())
            .save(&self.index, &|| self.entries_by_scope())
            .map(|_| ())
    }

    /// The entry keys of the key map by scope (saved beside the graphs).
    fn entries_by_scope(&self) -> HashMap<u64, Vec<u128>> {
        let mut out: HashMap<u64, Vec<u128>> = HashMap::new();
        for (key, scope) in self.keymap.read().values() {
            out.entry(*scope).or_default().push(*key);
        }
        out
    }
}

impl Layer for L3 {
    fn id(&self) -> LayerId {
        LayerId::L3
    }

    fn invalidate(&self, filter: &InvalidateFilter) -> Result<u64, CacheError> {
        let names = |p: &[u8]| decode::<L3Record>(p).map(|r| (r.base.namespace, r.base.task_type));
        self.records
            .invalidate(filter, names, |key| self.forget(key))
    }

    fn sweep(&self, now: u64) -> Result<u64, CacheError> {
        self.records.sweep(now, |key, _| self.forget(key))
    }

    fn size(&self) -> LayerSize {
        self.records.size()
    }

    fn health(&self) -> LayerHealth {
        // Still reading its entries (a large layer after a start): L3
        // serves what the saved graphs hold and misses the rest meanwhile,
        // which is not a fault; L1 and L2 serve.
        let serving = self.loading.lock().as_ref().map(|l| l.serving);
        let id = self.embedder.id();
        LayerHealth {
            status: "healthy",
            available: true,
            detail: match serving {
                Some(0) => format!(
                    "semantic match with {id}; reading its entries from disk, misses until done"
                ),
                Some(n) => format!(
                    "semantic match with {id}; serving {n} entries from the saved index \
                     while reading the rest from disk"
                ),
                None => format!("semantic match with {id}"),
            },
        }
    }

    fn details(&self) -> LayerDetails {
        let (scopes, vectors, graphs) = self.index.stats();
        let g = &self.settings.guard;
        LayerDetails::L3(L3Details {
            embedder: self.embedder.id().to_string(),
            dimensions: self.embedder.dims(),
            default_threshold: self.threshold,
            guard: GuardReport {
                numbers: g.numbers,
                negation: g.negation,
                antonyms: g.antonyms,
                entities: g.entities,
            },
            default_ttl_seconds: self.settings.ttl_seconds,
            max_ttl_seconds: self.settings.max_ttl_seconds,
            max_entries: self.settings.max_entries,
            max_bytes: self.settings.max_bytes,
            indexed_vectors: vectors,
            index_scopes: scopes,
            index_graphs: graphs,
            foreign_embedder_entries: self.foreign.load(Relaxed),
            index_rebuilding: self.rebuilding.load(Relaxed),
            guard_vetoes: self.guard_vetoes.load(Relaxed),
            unrepresentable_inputs: self.unrepresentable.load(Relaxed),
            embedding_errors: self.embed_errors.load(Relaxed),
            verifier: self.verifier.as_ref().map(|v| v.id().to_string()),
            verifier_threshold: self
                .verifier
                .as_ref()
                .map(|v| self.verifier_threshold.unwrap_or(v.threshold() as f64)),
            verifier_calls: self.counters.verifier_calls.load(Relaxed),
            verifier_vetoes: self.counters.verifier_vetoes.load(Relaxed),
            feedback_vetoes: self.counters.feedback_vetoes.load(Relaxed),
            reported_wrong: self.counters.reported_wrong.load(Relaxed),
            reported_right: self.counters.reported_right.load(Relaxed),
            entries_with_feedback: self.feedback.read().len() as u64,
        })
    }

    fn persist(&self) -> Result<(), CacheError> {
        self.storage
            .meta_put(COUNTERS_KEY, encode(&self.counters.snapshot()))?;
        Ok(())
    }
}

#[cfg(test)]
mod loading_tests {
    use super::*;
    use crate::config::Options;

    fn parts(dir: &Path, load_now_max: u64) -> (L3, Option<Loader>) {
        let settings = Options {
            data_dir: Some(dir.to_path_buf()),
            ..Options::default()
        }
        .resolve()
        .unwrap()
        .cache;
        let storage = crate::store::open_for_tests(dir);
        let embedder = crate::embed::from_options(&settings.embedding, dir).unwrap();
        let l3 = L3Settings {
            load_now_max,
            ..settings.l3
        };
        L3::open_parts(storage, Arc::default(), l3, embedder, None)
    }

    /// Stores `text` as the whole write path does: staged, applied, committed.
    fn store(l3: &L3, scope: &Scope, text: &str) -> (u128, Vec<f32>) {
        let response = RawJson::from(RawValue::from_string("1".into()).unwrap());
        let w = EntryWrite {
            scope,
            input: text,
            response: &response,
            model: "m",
            tokens: 1,
            cost_nano: 0,
            ttl_seconds: 3600,
        };
        let vector = l3.embedder.embed(text).unwrap();
        let mut batch = WriteBatch::default();
        let staged = l3
            .stage(&w, text, vector.clone(), now_ms(), &mut batch)
            .unwrap();
        let key = staged.key;
        l3.storage.apply(batch).unwrap();
        l3.commit(staged);
        (key, vector)
    }

    fn remove(l3: &L3, key: u128) {
        assert!(l3.records.remove(key, None, |_| l3.forget(key)).unwrap());
    }

    fn indexed(l3: &L3, scope: &Scope, key: u128, vector: &[f32]) -> bool {
        let hits = l3.index.search(scope.id(), vector, 4).unwrap();
        hits.iter().any(|(vk, _)| *vk == vkey(key))
    }

    #[test]
    fn writes_made_while_the_layer_is_read_in_the_background_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let scope = Scope::new("ns", "qa", None);
        let texts = [
            "how do I reset my password",
            "where is my parcel",
            "can I pay by bank transfer",
        ];
        let stored: Vec<(u128, Vec<f32>)> = {
            let (l3, loader) = parts(dir.path(), u64::MAX);
            assert!(loader.is_none(), "a small layer is read at once");
            let stored = texts.iter().map(|t| store(&l3, &scope, t)).collect();
            l3.save_index().unwrap();
            stored
        };
        let (l3, loader) = parts(dir.path(), 0);
        let loader = loader.expect("read in the background");
        assert!(l3.rebuilding.load(Relaxed), "L3 says it is not ready");
        assert!(l3.health().detail.contains("reading its entries"));
        // Before the reader's scan: one entry removed.
        remove(&l3, stored[0].0);
        let scopes = loader.read();
        // After its scan, before the saved graph is loaded: another removed
        // (the scan still holds it, the saved graph too) and one stored (the
        // graph's load would replace the partition it went into).
        remove(&l3, stored[1].0);
        let (new_key, new_vector) = store(&l3, &scope, "how do I cancel my subscription");
        assert!(
            !indexed(&l3, &scope, new_key, &new_vector),
            "queued until the graphs are in"
        );
        assert_eq!(loader.finish(scopes, Preloaded::default()), 1);
        assert!(!l3.rebuilding.load(Relaxed));
        assert!(!l3.health().detail.contains("reading"));
        let keymap = l3.keymap.read();
        for (i, (key, vector)) in stored.iter().enumerate() {
            let live = i == 2;
            assert_eq!(keymap.contains_key(&vkey(*key)), live, "entry {i}");
            assert_eq!(indexed(&l3, &scope, *key, vector), live, "entry {i}");
        }
        assert!(keymap.contains_key(&vkey(new_key)));
        drop(keymap);
        assert!(indexed(&l3, &scope, new_key, &new_vector));
        assert_eq!(
            l3.index.stats().1,
            2,
            "the index holds exactly what sled holds"
        );
        // Writes after the load go straight to the index.
        let (later, v) = store(&l3, &scope, "is there a student discount");
        assert!(indexed(&l3, &scope, later, &v));
    }

    #[test]
    fn a_saved_graph_serves_before_sled_is_read_and_is_then_brought_up_to_date() {
        let dir = tempfile::tempdir().unwrap();
        let scope = Scope::new("ns", "qa", None);
        let n = index::FLAT_MAX + 40; // one HNSW graph: saved with its entry keys
        let text = |i: usize| {
            format!(
                "question {i}: how do I move plan {} to region {}",
                i * 7,
                i % 13
            )
        };
        let (stale, unsaved, kept) = {
            let (l3, loader) = parts(dir.path(), u64::MAX);
            assert!(loader.is_none());
            let stored: Vec<(u128, Vec<f32>)> =
                (0..n).map(|i| store(&l3, &scope, &text(i))).collect();
            l3.save_index().unwrap();
            // After the last save, before the stop (as after a crash): one
            // entry removed, one stored. The saved files know neither.
            remove(&l3, stored[0].0);
            let unsaved = store(&l3, &scope, "is there a student discount");
            (stored[0].0, unsaved, stored[1..].to_vec())
        };
        let (l3, loader) = parts(dir.path(), 0);
        let loader = loader.expect("read in the background");
        let pre = loader.preload();
        assert_eq!(pre.graphs.len(), 1);
        assert!(l3.rebuilding.load(Relaxed));
        assert!(
            l3.health()
                .detail
                .contains(&format!("serving {n} entries from the saved index")),
            "{}",
            l3.health().detail
        );
        // Served before sled is read: a saved entry is found and read back.
        let (key, vector) = &kept[5];
        assert!(indexed(&l3, &scope, *key, vector));
        let now = now_ms();
        assert!(l3.candidate(&scope, vkey(*key), now).unwrap().is_some());
        // The entry removed after the save is in the saved graph, but sled
        // no longer has it: never a candidate.
        assert!(l3.candidate(&scope, vkey(stale), now).unwrap().is_none());
        // Meanwhile: a preloaded entry removed, another stored.
        remove(&l3, kept[0].0);
        assert!(!indexed(&l3, &scope, kept[0].0, &kept[0].1));
        let (new_key, new_vector) = store(&l3, &scope, "can I pay by bank transfer");
        let scopes = loader.read();
        assert_eq!(loader.finish(scopes, pre), 1);
        assert!(!l3.rebuilding.load(Relaxed));
        let keymap = l3.keymap.read();
        assert!(!keymap.contains_key(&vkey(stale)), "dropped: sled lacks it");
        assert!(!keymap.contains_key(&vkey(kept[0].0)), "removed meanwhile");
        assert!(keymap.contains_key(&vkey(unsaved.0)), "replayed from sled");
        assert!(keymap.contains_key(&vkey(new_key)), "stored meanwhile");
        assert_eq!(keymap.len(), n, "the key map holds exactly what sled holds");
        drop(keymap);
        assert!(indexed(&l3, &scope, unsaved.0, &unsaved.1));
        assert!(indexed(&l3, &scope, new_key, &new_vector));
        assert_eq!(
            l3.index.stats().1,
            n,
            "the index holds exactly what sled holds"
        );
        assert_eq!(l3.records.size().entries, n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::is_semantic;

    #[test]
    fn text_without_letters_or_digits_is_not_semantic() {
        for t in [
            "!!!", "!!", "!?!?", "...", "  \n\t", "", "¿¡", "😀😀", "-- // **",
        ] {
            assert!(!is_semantic(t), "{t:?}");
        }
        for t in ["a!", "42", "?!3", "안녕", "é", "Ω"] {
            assert!(is_semantic(t), "{t:?}");
        }
    }
}
