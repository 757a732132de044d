//! L3, the semantic layer: a paraphrase of a cached request, in the same
//! scope, is answered from the cache.
//!
//! Entries and their vectors live in sled (the truth); the vector index is
//! derived from them. At shutdown the HNSW partitions are saved with a
//! manifest naming the exact key set each holds; at start a partition is
//! loaded only if sled still holds exactly that key set, and rebuilt from
//! sled otherwise (after a crash, for example).

pub mod context;
pub mod guard;
pub mod index;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use xxhash_rust::xxh3::xxh3_64;

use super::layer::{
    EntryWrite, InvalidateFilter, Layer, LayerHealth, LayerId, LayerSize, RawJson, StoredResponse,
};
use super::records::{self, KeyLocks, Records};
use super::report::{GuardReport, L3Details, LayerDetails};
use super::scope::Scope;
use crate::clock::now_ms;
use crate::embed::{EmbedError, Embedder};
use crate::error::CacheError;
use crate::store::{decode, encode, Storage, WriteBatch};

pub use context::ChatSettings;
pub use guard::Guard;
use index::VectorIndex;

const PREFIX: u8 = b'3';
/// Neighbours fetched per lookup: the best live one (not expired) is the candidate.
const TOP_K: usize = 4;

/// L3 configuration.
#[derive(Debug, Clone)]
pub struct L3Settings {
    pub ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    /// `None`: the embedder's measured default.
    pub threshold: Option<f64>,
    pub guard: Guard,
    /// How conversations are represented and compared.
    pub chat: ChatSettings,
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

/// What a lookup found.
pub enum L3Outcome {
    Hit(L3Hit),
    /// No neighbour passed; the best similarity seen and the last guard veto.
    Miss {
        best: Option<f64>,
        vetoed: Option<&'static str>,
    },
}

/// A write added to a batch but not yet applied.
pub struct L3Staged {
    key: u128,
    scope_id: u64,
    vector: Vec<f32>,
    staged: records::Staged,
}

/// One saved graph in the manifest.
#[derive(Serialize, Deserialize)]
struct SavedGraph {
    scope: u64,
    file: String,
    count: usize,
    keyset: u64,
}

#[derive(Serialize, Deserialize)]
struct Manifest {
    embedder: String,
    graphs: Vec<SavedGraph>,
}

/// Order-independent fingerprint of a set of keys.
fn keyset_add(acc: u64, vkey: u64) -> u64 {
    acc.wrapping_add(xxh3_64(&vkey.to_le_bytes()))
}

/// The index key of an entry: the low 64 bits of its 128-bit key.
fn vkey(key: u128) -> u64 {
    key as u64
}

/// Index key → (entry key, scope id) of every entry of this embedder.
type KeyMap = HashMap<u64, (u128, u64)>;

/// Adds the vectors of some scopes from sled to the index.
struct Rebuild {
    storage: Arc<Storage>,
    index: Arc<VectorIndex>,
    keymap: Arc<RwLock<KeyMap>>,
    embedder: String,
    stop: Arc<AtomicBool>,
}

impl Rebuild {
    /// Returns how many vectors were added.
    fn run(&self, scopes: &HashSet<u64>) -> u64 {
        if scopes.is_empty() {
            return 0;
        }
        let mut done = 0u64;
        for (key, _, value) in records::scan(&self.storage, PREFIX) {
            if self.stop.load(Relaxed) {
                break;
            }
            // Removed meanwhile: never put it back.
            let current = self.keymap.read().get(&vkey(key)).copied();
            let Some((_, scope)) = current.filter(|(k, _)| *k == key) else {
                continue;
            };
            if !scopes.contains(&scope) {
                continue;
            }
            let Some(rec) = decode::<L3Record>(&value[8..]) else {
                continue;
            };
            if rec.embedder != self.embedder {
                continue;
            }
            if let Err(e) = self.index.add(scope, vkey(key), &rec.vector) {
                tracing::warn!("L3 index: {e}");
            }
            done += 1;
            if done.is_multiple_of(50_000) {
                tracing::info!("L3 index: rebuilt {done} vectors");
            }
        }
        done
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
    index_dir: PathBuf,
    /// Entries whose vectors another embedder made: kept, never compared.
    foreign: AtomicU64,
    pub guard_vetoes: AtomicU64,
    pub unrepresentable: AtomicU64,
    pub embed_errors: AtomicU64,
}

impl L3 {
    /// Opens the layer: reads every entry from sled and loads or rebuilds the index.
    pub fn open(
        storage: Arc<Storage>,
        locks: Arc<KeyLocks>,
        settings: L3Settings,
        embedder: Arc<dyn Embedder>,
    ) -> L3 {
        let index_dir = storage.dir().join("l3-index");
        let threshold = settings
            .threshold
            .or(embedder.default_threshold())
            .unwrap_or(0.90);
        let mut keymap = HashMap::new();
        // Per scope: (entries, key-set fingerprint).
        let mut scopes: HashMap<u64, (usize, u64)> = HashMap::new();
        let mut foreign = 0u64;
        let records = Records::open(storage.clone(), locks, PREFIX, |key, _exp, payload| {
            let Some(rec) = decode::<L3Record>(payload) else {
                return;
            };
            if rec.embedder != embedder.id() || rec.vector.len() != embedder.dims() {
                foreign += 1;
                return;
            }
            let scope = rec.scope().id();
            keymap.insert(vkey(key), (key, scope));
            let ks = scopes.entry(scope).or_insert((0, 0));
            *ks = (ks.0 + 1, keyset_add(ks.1, vkey(key)));
        });
        let l3 = L3 {
            records,
            storage,
            index: Arc::new(VectorIndex::new(embedder.dims())),
            embedder,
            keymap: Arc::new(RwLock::new(keymap)),
            settings,
            threshold,
            index_dir,
            foreign: AtomicU64::new(foreign),
            rebuilding: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            guard_vetoes: AtomicU64::new(0),
            unrepresentable: AtomicU64::new(0),
            embed_errors: AtomicU64::new(0),
        };
        l3.install(&scopes);
        l3
    }

    /// Loads each saved graph whose key set sled still holds; rebuilds small
    /// scopes now and large ones in the background, so the server starts
    /// serving (L2 and the ready part of L3) without waiting for graphs.
    fn install(&self, scopes: &HashMap<u64, (usize, u64)>) {
        let saved: HashMap<u64, SavedGraph> = read_manifest(&self.index_dir, self.embedder.id())
            .map(|m| m.graphs.into_iter().map(|g| (g.scope, g)).collect())
            .unwrap_or_default();
        let (mut now, mut later) = (HashSet::new(), HashSet::new());
        for (scope, &(count, keyset)) in scopes {
            let loaded = saved.get(scope).is_some_and(|g| {
                g.count == count
                    && g.keyset == keyset
                    && self
                        .index
                        .load_graph(*scope, &self.index_dir.join(&g.file))
                        .is_ok()
            });
            match (loaded, count <= index::FLAT_MAX) {
                (true, _) => {}
                (false, true) => {
                    now.insert(*scope);
                }
                (false, false) => {
                    later.insert(*scope);
                }
            }
        }
        let job = Rebuild {
            storage: self.storage.clone(),
            index: self.index.clone(),
            keymap: self.keymap.clone(),
            embedder: self.embedder.id().to_string(),
            stop: self.stop.clone(),
        };
        job.run(&now);
        let (parts, vectors, graphs) = self.index.stats();
        tracing::info!(
            "L3 index ready: {vectors} vectors in {parts} scopes ({graphs} HNSW graphs)"
        );
        if later.is_empty() {
            return;
        }
        tracing::info!(
            "L3 index: rebuilding {} large scope(s) from sled in the background",
            later.len()
        );
        self.rebuilding.store(true, Relaxed);
        let flag = self.rebuilding.clone();
        let spawned = std::thread::Builder::new()
            .name("helios-l3-rebuild".into())
            .spawn(move || {
                let done = job.run(&later);
                flag.store(false, Relaxed);
                tracing::info!("L3 index: rebuilt {done} vectors; the index is complete");
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start the L3 rebuild: {e}");
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

    /// Embeds `text`, counting refusals and failures.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let r = self.embedder.embed(text);
        match &r {
            Err(EmbedError::Unrepresentable(_)) => self.unrepresentable.fetch_add(1, Relaxed),
            Err(EmbedError::Failed(_)) => self.embed_errors.fetch_add(1, Relaxed),
            Ok(_) => 0,
        };
        r
    }

    /// How conversations are represented and compared.
    pub fn chat_settings(&self) -> &ChatSettings {
        &self.settings.chat
    }

    /// The best live neighbour in `scope`, if it reaches `threshold` and the
    /// guard lets it through. `exact` is the request's exact-match text (its
    /// entry key), `compare` what the guard compares
    /// ([`context::compare_text`]), `query` the embedding of its standalone
    /// text.
    pub fn lookup(
        &self,
        scope: &Scope,
        exact: &str,
        compare: &str,
        query: &[f32],
        threshold: f64,
    ) -> Result<L3Outcome, CacheError> {
        let mut candidates = self
            .index
            .search(scope.id(), query, TOP_K)
            .map_err(CacheError::Unavailable)?;
        // The exact text stored in this scope is its own best neighbour,
        // whatever the approximate graph search returned.
        let exact = scope.entry_key(exact);
        if self
            .keymap
            .read()
            .get(&vkey(exact))
            .is_some_and(|(k, _)| *k == exact)
        {
            candidates.retain(|c| c.0 != vkey(exact));
            candidates.insert(0, (vkey(exact), 1.0));
        }
        let best = candidates.first().map(|c| c.1 as f64);
        let now = now_ms();
        // The query's final turn embedded, when a chat candidate needs it.
        let mut query_final: Option<Vec<f32>> = None;
        for (vk, sim) in candidates {
            let sim = (sim as f64).min(1.0);
            if sim < threshold {
                break;
            }
            let Some((key, _)) = self.keymap.read().get(&vk).copied() else {
                continue;
            };
            let Some(value) = self.records.get(key)? else {
                continue;
            };
            let Some((expires_ms, payload)) = records::split(&value) else {
                continue;
            };
            if expires_ms <= now {
                continue;
            }
            let Some(rec) = decode::<L3Record>(payload) else {
                continue;
            };
            if rec.scope() != *scope || rec.embedder != self.embedder.id() {
                continue;
            }
            let (q_turns, c_turns) = (context::turns(compare), context::turns(&rec.base.input));
            let mut why = context::veto(
                &self.settings.guard,
                &self.settings.chat,
                &q_turns,
                &c_turns,
            );
            if why.is_none() && (q_turns.len() > 1 || c_turns.len() > 1) {
                why = self.final_veto(&mut query_final, &q_turns, &c_turns, query, &rec.vector);
            }
            if let Some(why) = why {
                // The best live neighbour is the candidate; a weaker one that
                // happens to pass the guard is more often wrong than right.
                self.guard_vetoes.fetch_add(1, Relaxed);
                return Ok(L3Outcome::Miss {
                    best,
                    vetoed: Some(why),
                });
            }
            let Ok(raw) = RawValue::from_string(rec.base.response) else {
                continue;
            };
            return Ok(L3Outcome::Hit(L3Hit {
                key,
                response: Arc::from(raw),
                similarity: sim,
                tokens: rec.base.tokens,
                cost_nano: rec.base.cost_nano,
                created_ms: rec.base.created_ms,
                expires_ms,
                model: rec.base.model,
            }));
        }
        Ok(L3Outcome::Miss { best, vetoed: None })
    }

    /// Vetoes a chat candidate whose final request means something else
    /// ([`context::final_similarity`] below the chat final threshold). An
    /// embedder failure on a final turn vetoes too: unverified, not served.
    fn final_veto(
        &self,
        query_final: &mut Option<Vec<f32>>,
        q_turns: &[&str],
        c_turns: &[&str],
        query: &[f32],
        cached: &[f32],
    ) -> Option<&'static str> {
        fn last<'a>(t: &[&'a str]) -> &'a str {
            t.last().copied().unwrap_or("")
        }
        if query_final.is_none() {
            match self.embedder.embed(last(q_turns)) {
                Ok(v) => *query_final = Some(v),
                Err(_) => return Some("final request differs"),
            }
        }
        let (Some(qf), Ok(cf)) = (query_final.as_deref(), self.embedder.embed(last(c_turns)))
        else {
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
        self.keymap.write().insert(vkey(s.key), (s.key, s.scope_id));
        if let Err(e) = self.index.add(s.scope_id, vkey(s.key), &s.vector) {
            // sled holds the entry; the next start's key-set check rebuilds it.
            tracing::error!("L3 index add failed: {e}");
        }
    }

    /// Drops an entry's vector (called under the entry's lock on removal).
    fn forget(&self, key: u128) {
        if let Some((_, scope)) = self.keymap.write().remove(&vkey(key)) {
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

    /// Saves the HNSW graphs and the manifest naming their key sets.
    pub fn save_index(&self) -> Result<(), String> {
        self.stop.store(true, Relaxed);
        self.save_index_to(&self.index_dir)
    }

    /// Saves the graphs and manifest into `dir` (a backup's index).
    pub fn save_index_to(&self, dir: &Path) -> Result<(), String> {
        if self.rebuilding.load(Relaxed) {
            // Half-built graphs must never pass for complete ones.
            let _ = std::fs::remove_file(dir.join("manifest.json"));
            return Err(
                "the index is still being rebuilt; it will be rebuilt at the next start".into(),
            );
        }
        let saved = self.index.save_graphs(dir)?;
        let keymap = self.keymap.read();
        let mut keysets: HashMap<u64, u64> = HashMap::new();
        for (vk, (_, scope)) in keymap.iter() {
            let ks = keysets.entry(*scope).or_insert(0);
            *ks = keyset_add(*ks, *vk);
        }
        let graphs: Vec<SavedGraph> = saved
            .into_iter()
            .map(|(scope, file, count)| SavedGraph {
                scope,
                file,
                count,
                keyset: keysets.get(&scope).copied().unwrap_or(0),
            })
            .collect();
        let keep: std::collections::HashSet<&str> =
            graphs.iter().map(|g| g.file.as_str()).collect();
        if let Ok(files) = std::fs::read_dir(dir) {
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if name.ends_with(".usearch") && !keep.contains(name.as_str()) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
        let manifest = Manifest {
            embedder: self.embedder.id().to_string(),
            graphs,
        };
        let tmp = dir.join("manifest.json.tmp");
        let text = serde_json::to_string(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, dir.join("manifest.json")))
            .map_err(|e| format!("writing the index manifest: {e}"))
    }
}

fn read_manifest(dir: &Path, embedder: &str) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let m: Manifest = serde_json::from_str(&text).ok()?;
    (m.embedder == embedder).then_some(m)
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
        LayerHealth {
            status: "healthy",
            available: true,
            detail: format!("semantic match with {}", self.embedder.id()),
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
        })
    }
}
