//! L2, the exact-match layer: (scope, exact input text) → stored response.
//!
//! Every entry lives durably in sled (record + expiry-index key, written in
//! one atomic batch); recently used entries are also kept decoded in a
//! [`HotSet`], so a hot hit never touches sled. The hot set is only an
//! accelerator: sled is the truth, and every path that removes an entry
//! removes it from both under the entry's key lock.
//!
//! A hot entry holds only what a hit answers with (response, model, counts,
//! times) plus two hashes of its scope and text: the 128-bit entry key and a
//! second, independent 64-bit hash. A hit compares both (192 bits) instead
//! of the stored strings, which at a million entries were three more cache
//! misses per hit. The strings stay in sled; an entry read from sled is
//! checked against them, in full, before it becomes hot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::hot::{HotSet, HotValue};
use super::layer::{
    EntryWrite, InvalidateFilter, Layer, LayerHealth, LayerId, LayerSize, RawJson, StoredResponse,
};
use super::records::{self, KeyLocks, Records};
use super::report::{L2Details, LayerDetails};
use super::scope::Scope;
use crate::clock::now_ms;
use crate::error::CacheError;
use crate::store::{decode, encode, Storage, WriteBatch};

const PREFIX: u8 = b'2';

/// L2 limits.
#[derive(Debug, Clone)]
pub struct L2Settings {
    pub ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    /// Memory for hot entries kept decoded.
    pub hot_bytes: u64,
}

/// The persisted form of an entry (its expiry is the record's prefix).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L2Record {
    pub base: StoredResponse,
    pub last_access_ms: u64,
    pub access_count: u64,
}

/// Memory of a hot entry besides its response and model: the entry, its
/// `Arc`, the hot set's slot and index, allocator headers (approximate).
const ENTRY_OVERHEAD: u64 = 200;

/// An entry as held in memory: what a hit answers with.
#[derive(Debug)]
pub struct L2Entry {
    pub key: u128,
    /// Second hash of scope and text ([`Scope::entry_hashes`]).
    check: u64,
    pub response: RawJson,
    pub model: Arc<str>,
    pub tokens: u64,
    /// What a hit saves, in nano-dollars.
    pub cost_nano: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
    last_access_ms: AtomicU64,
    access_count: AtomicU64,
    /// Queued for `persist` since its last run.
    dirty: AtomicBool,
}

impl L2Entry {
    fn new(
        (key, check): (u128, u64),
        expires_ms: u64,
        base: StoredResponse<RawJson>,
        last_access_ms: u64,
        access_count: u64,
    ) -> L2Entry {
        L2Entry {
            key,
            check,
            response: base.response,
            model: Arc::from(base.model),
            tokens: base.tokens,
            cost_nano: base.cost_nano,
            created_ms: base.created_ms,
            expires_ms,
            last_access_ms: AtomicU64::new(last_access_ms),
            access_count: AtomicU64::new(access_count),
            dirty: AtomicBool::new(false),
        }
    }

    /// The entry of a record read from sled. Data from disk is not trusted:
    /// the response must still be valid JSON (the cost of this check is
    /// measured in BENCHMARKS.md, Issue 12 item 4).
    fn from_record(hashes: (u128, u64), expires_ms: u64, rec: L2Record) -> Option<L2Entry> {
        let L2Record {
            mut base,
            last_access_ms,
            access_count,
        } = rec;
        // Moved, not copied, into the validated value.
        let text = std::mem::take(&mut base.response);
        let response: Box<RawValue> = match RawValue::from_string(text) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "L2 record {:032x} holds invalid JSON ({e}); a miss",
                    hashes.0
                );
                return None;
            }
        };
        let base = base.map_response(|_| Arc::from(response));
        Some(L2Entry::new(
            hashes,
            expires_ms,
            base,
            last_access_ms,
            access_count,
        ))
    }

    pub fn access_count(&self) -> u64 {
        self.access_count.load(Relaxed)
    }

    pub fn last_access_ms(&self) -> u64 {
        self.last_access_ms.load(Relaxed)
    }
}

impl HotValue for L2Entry {
    fn weight(&self) -> u64 {
        self.response.get().len() as u64 + self.model.len() as u64 + ENTRY_OVERHEAD
    }

    fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    fn last_access_ms(&self) -> u64 {
        self.last_access_ms.load(Relaxed)
    }
}

/// What a caller wants stored in L2.
pub type L2Write<'a> = EntryWrite<'a>;

/// A write added to a batch but not yet applied.
pub struct L2Staged {
    entry: Arc<L2Entry>,
    staged: records::Staged,
}

/// Shards of the queue of entries whose access statistics changed.
const DIRTY_SHARDS: usize = 16;
/// Most entries queued for `persist` at once (statistics are best effort,
/// never a memory leak).
const DIRTY_MAX: usize = 100_000;

/// The exact-match layer.
pub struct L2 {
    records: Records,
    hot: HotSet<L2Entry>,
    settings: L2Settings,
    /// Entries whose access count changed since the last `persist`, sharded
    /// by key so that hits on many cores do not queue on one lock.
    dirty: Box<[Mutex<Vec<Arc<L2Entry>>>]>,
}

impl L2 {
    /// Opens the layer, counting what sled already holds.
    pub fn open(storage: Arc<Storage>, locks: Arc<KeyLocks>, settings: L2Settings) -> L2 {
        L2 {
            records: Records::open(storage, locks, PREFIX),
            hot: HotSet::new(settings.hot_bytes),
            settings,
            dirty: (0..DIRTY_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// The TTL an entry gets: the request's, capped, or the default.
    pub fn effective_ttl(&self, requested: Option<u64>) -> u64 {
        requested
            .unwrap_or(self.settings.ttl_seconds)
            .min(self.settings.max_ttl_seconds)
    }

    /// Finds the live entry for exactly this scope and text.
    pub fn lookup(&self, scope: &Scope, input: &str) -> Option<Arc<L2Entry>> {
        let hashes = scope.entry_hashes(input);
        let now = now_ms();
        let entry = match self.hot.get(hashes.0) {
            Some(e) => e,
            None => self.load(hashes, scope, input, now)?,
        };
        if entry.expires_ms <= now || entry.check != hashes.1 {
            return None;
        }
        self.touch(&entry, now);
        Some(entry)
    }

    /// Reads an entry from sled into the hot set, if it is for exactly this
    /// scope and text.
    fn load(
        &self,
        hashes: (u128, u64),
        scope: &Scope,
        input: &str,
        now: u64,
    ) -> Option<Arc<L2Entry>> {
        let key = hashes.0;
        let _guard = self.records.locks().lock(key);
        if let Some(e) = self.hot.get(key) {
            return Some(e);
        }
        let value = match self.records.get(key) {
            Ok(v) => v?,
            Err(e) => {
                tracing::warn!("L2 read failed, treating as a miss: {e}");
                return None;
            }
        };
        let (expires_ms, payload) = records::split(&value)?;
        if expires_ms <= now {
            return None;
        }
        let rec: L2Record = decode(payload)?;
        // A 128-bit key collision: that entry is not this request's.
        if !rec.base.is_for(scope, input) {
            return None;
        }
        let entry = Arc::new(L2Entry::from_record(hashes, expires_ms, rec)?);
        self.hot.insert(key, entry.clone(), now);
        Some(entry)
    }

    fn touch(&self, entry: &Arc<L2Entry>, now: u64) {
        entry.last_access_ms.store(now, Relaxed);
        entry.access_count.fetch_add(1, Relaxed);
        if entry.dirty.swap(true, Relaxed) {
            return; // already queued: no lock on the hot path
        }
        let mut dirty = self.dirty[(entry.key >> 64) as usize % DIRTY_SHARDS].lock();
        if dirty.len() < DIRTY_MAX / DIRTY_SHARDS {
            dirty.push(entry.clone());
        } else {
            entry.dirty.store(false, Relaxed);
        }
    }

    /// Adds the write to `batch`. The caller holds the key's lock until
    /// [`L2::commit`] has run.
    pub fn stage(
        &self,
        w: &L2Write,
        now: u64,
        batch: &mut WriteBatch,
    ) -> Result<L2Staged, CacheError> {
        let hashes = w.scope.entry_hashes(w.input);
        let expires_ms = now.saturating_add(w.ttl_seconds.saturating_mul(1000));
        let rec = L2Record {
            base: StoredResponse::new(w, now),
            last_access_ms: now,
            access_count: 0,
        };
        let payload = encode(&rec);
        let staged = self.records.stage(hashes.0, expires_ms, &payload, batch)?;
        // The response in memory is the request's, validated when it was
        // parsed: no second parse of the same bytes.
        let base = rec.base.map_response(|_| w.response.clone());
        let entry = Arc::new(L2Entry::new(hashes, expires_ms, base, now, 0));
        Ok(L2Staged { entry, staged })
    }

    /// Makes an applied write visible in memory and in the counters. A
    /// fresh entry is always admitted to the hot set.
    pub fn commit(&self, staged: L2Staged) {
        self.records.commit(staged.staged);
        let now = staged.entry.created_ms;
        self.hot.insert(staged.entry.key, staged.entry, now);
    }

    /// Evicts the entries closest to expiry until the layer is within its
    /// bounds; returns how many. Call without holding any key lock.
    pub fn enforce_bounds(&self) -> Result<u64, CacheError> {
        self.records.evict_over(
            self.settings.max_entries,
            self.settings.max_bytes,
            |key, _| self.hot.remove(key),
        )
    }

    /// The request text entry `key` was stored for, if L2 holds it.
    pub fn entry_input(&self, key: u128) -> Result<Option<String>, CacheError> {
        let Some(value) = self.records.get(key)? else {
            return Ok(None);
        };
        Ok(records::split(&value)
            .and_then(|(_, p)| decode::<L2Record>(p))
            .map(|r| r.base.input))
    }

    /// Hot-set statistics: (entries, bytes).
    pub fn hot_size(&self) -> (u64, u64) {
        self.hot.size()
    }
}

impl Layer for L2 {
    fn id(&self) -> LayerId {
        LayerId::L2
    }

    fn invalidate(&self, filter: &InvalidateFilter) -> Result<u64, CacheError> {
        let names = |p: &[u8]| decode::<L2Record>(p).map(|r| (r.base.namespace, r.base.task_type));
        self.records
            .invalidate(filter, names, |key| self.hot.remove(key))
    }

    fn sweep(&self, now: u64) -> Result<u64, CacheError> {
        self.records.sweep(now, |key, _| self.hot.remove(key))
    }

    fn size(&self) -> LayerSize {
        self.records.size()
    }

    fn health(&self) -> LayerHealth {
        LayerHealth {
            status: "healthy",
            available: true,
            detail: "exact match: hot set over sled".into(),
        }
    }

    fn details(&self) -> LayerDetails {
        let (hot_entries, hot_bytes) = self.hot_size();
        LayerDetails::L2(L2Details {
            default_ttl_seconds: self.settings.ttl_seconds,
            max_ttl_seconds: self.settings.max_ttl_seconds,
            max_entries: self.settings.max_entries,
            max_bytes: self.settings.max_bytes,
            hot_entries,
            hot_bytes,
            hot_max_bytes: self.settings.hot_bytes,
        })
    }

    fn persist(&self) -> Result<(), CacheError> {
        let dirty: Vec<Arc<L2Entry>> = self
            .dirty
            .iter()
            .flat_map(|shard| std::mem::take(&mut *shard.lock()))
            .collect();
        for entry in dirty {
            entry.dirty.store(false, Relaxed);
            let _guard = self.records.locks().lock(entry.key);
            let Some(value) = self.records.get(entry.key)? else {
                continue;
            };
            let Some((exp, payload)) = records::split(&value) else {
                continue;
            };
            // Only the version this entry came from; a re-store wins.
            let Some(mut rec) = decode::<L2Record>(payload) else {
                continue;
            };
            if rec.base.created_ms != entry.created_ms {
                continue;
            }
            rec.last_access_ms = entry.last_access_ms();
            rec.access_count = entry.access_count();
            self.records.rewrite(entry.key, exp, &encode(&rec))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &std::path::Path) -> Arc<Storage> {
        crate::store::open_for_tests(dir)
    }

    fn settings(hot_bytes: u64, max_entries: u64) -> L2Settings {
        L2Settings {
            ttl_seconds: 3600,
            max_ttl_seconds: 7 * 86_400,
            max_entries,
            max_bytes: 1 << 30,
            hot_bytes,
        }
    }

    fn open(storage: &Arc<Storage>, s: L2Settings) -> L2 {
        L2::open(storage.clone(), Arc::default(), s)
    }

    fn json(text: &str) -> RawJson {
        Arc::from(RawValue::from_string(format!("{{\"answer\":{text:?}}}")).unwrap())
    }

    fn put(l2: &L2, scope: &Scope, input: &str, answer: &str, ttl_seconds: u64) {
        let response = json(answer);
        let w = L2Write {
            scope,
            input,
            response: &response,
            model: "m",
            tokens: 7,
            cost_nano: 11,
            ttl_seconds,
        };
        let key = scope.entry_key(input);
        let _g = l2.records.locks().lock(key);
        let mut batch = WriteBatch::default();
        let staged = l2.stage(&w, now_ms(), &mut batch).unwrap();
        l2.records.storage().apply(batch).unwrap();
        l2.commit(staged);
    }

    fn answer(l2: &L2, scope: &Scope, input: &str) -> Option<String> {
        l2.lookup(scope, input)
            .map(|e| e.response.get().to_string())
    }

    /// Writes a raw record under `key`, bypassing the layer.
    fn put_record(l2: &L2, key: u128, rec: &L2Record) {
        let mut batch = WriteBatch::default();
        let staged = l2
            .records
            .stage(key, now_ms() + 60_000, &encode(rec), &mut batch)
            .unwrap();
        l2.records.storage().apply(batch).unwrap();
        l2.records.commit(staged);
    }

    /// A record of `input` in `scope` holding `response` as stored text.
    fn record(scope: &Scope, input: &str, response: &str) -> L2Record {
        let placeholder = json("x");
        let w = L2Write {
            scope,
            input,
            response: &placeholder,
            model: "m",
            tokens: 1,
            cost_nano: 1,
            ttl_seconds: 60,
        };
        let mut rec = L2Record {
            base: StoredResponse::new(&w, now_ms()),
            last_access_ms: 0,
            access_count: 0,
        };
        rec.base.response = response.to_string();
        rec
    }

    #[test]
    fn hits_only_the_same_scope_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let l2 = open(&storage(dir.path()), settings(1 << 20, 1000));
        let s = Scope::new("ns", "qa", Some("sys"));
        put(&l2, &s, "hello", "world", 60);
        assert_eq!(answer(&l2, &s, "hello").unwrap(), r#"{"answer":"world"}"#);
        assert!(answer(&l2, &s, "hello ").is_none());
        assert!(answer(&l2, &Scope::new("ns", "qa", None), "hello").is_none());
        assert!(answer(&l2, &Scope::new("ns2", "qa", Some("sys")), "hello").is_none());
        let e = l2.lookup(&s, "hello").unwrap();
        assert_eq!((&*e.model, e.tokens, e.cost_nano), ("m", 7, 11));
        assert_eq!(e.access_count(), 2);
        // A re-store replaces the hot entry.
        put(&l2, &s, "hello", "again", 60);
        assert_eq!(answer(&l2, &s, "hello").unwrap(), r#"{"answer":"again"}"#);
        assert_eq!(l2.size().entries, 1);
    }

    #[test]
    fn expired_entries_miss() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let l2 = open(&storage, settings(1 << 20, 1000));
        let s = Scope::new("ns", "qa", None);
        put(&l2, &s, "gone", "a", 0);
        assert!(
            answer(&l2, &s, "gone").is_none(),
            "hot entry past its expiry"
        );
        drop(l2);
        let l2 = open(&storage, settings(1 << 20, 1000));
        assert!(
            answer(&l2, &s, "gone").is_none(),
            "sled record past its expiry"
        );
        assert_eq!(l2.sweep(now_ms()).unwrap(), 1);
        assert_eq!(l2.size().entries, 0);
    }

    #[test]
    fn survives_a_reopen_with_access_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let storage = storage(dir.path());
        let s = Scope::new("ns", "qa", None);
        {
            let l2 = open(&storage, settings(1 << 20, 1000));
            put(&l2, &s, "q", "a", 60);
            assert!(l2.lookup(&s, "q").is_some());
            assert!(l2.lookup(&s, "q").is_some());
            l2.persist().unwrap();
        }
        let l2 = open(&storage, settings(1 << 20, 1000));
        assert_eq!(l2.hot_size().0, 0);
        let e = l2.lookup(&s, "q").expect("read from sled");
        assert_eq!(e.response.get(), r#"{"answer":"a"}"#);
        assert_eq!(e.access_count(), 3);
        assert_eq!(l2.hot_size().0, 1, "a read from sled makes the entry hot");
        assert_eq!(l2.entry_input(e.key).unwrap().as_deref(), Some("q"));
    }

    #[test]
    fn a_record_for_another_text_under_the_key_is_a_miss() {
        // What a 128-bit key collision would look like on disk.
        let dir = tempfile::tempdir().unwrap();
        let l2 = open(&storage(dir.path()), settings(1 << 20, 1000));
        let s = Scope::new("ns", "qa", None);
        let key = s.entry_key("asked");
        put_record(&l2, key, &record(&s, "stored", r#"{"a":1}"#));
        assert!(answer(&l2, &s, "asked").is_none());
        put_record(
            &l2,
            key,
            &record(&Scope::new("other", "qa", None), "asked", "1"),
        );
        assert!(answer(&l2, &s, "asked").is_none());
        assert_eq!(l2.hot_size().0, 0);
        // The same record for the right text is served.
        put_record(&l2, key, &record(&s, "asked", r#"{"a":1}"#));
        assert_eq!(answer(&l2, &s, "asked").unwrap(), r#"{"a":1}"#);
    }

    #[test]
    fn invalid_json_on_disk_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let l2 = open(&storage(dir.path()), settings(1 << 20, 1000));
        let s = Scope::new("ns", "qa", None);
        put_record(&l2, s.entry_key("q"), &record(&s, "q", r#"{"a":"#));
        assert!(answer(&l2, &s, "q").is_none());
        assert_eq!(l2.hot_size().0, 0);
    }

    #[test]
    fn invalidation_removes_hot_entries() {
        let dir = tempfile::tempdir().unwrap();
        let l2 = open(&storage(dir.path()), settings(1 << 20, 1000));
        let (a, b) = (Scope::new("a", "qa", None), Scope::new("b", "qa", None));
        put(&l2, &a, "q", "1", 60);
        put(&l2, &b, "q", "2", 60);
        let filter = InvalidateFilter {
            namespace: Some("a".into()),
            ..InvalidateFilter::default()
        };
        assert_eq!(l2.invalidate(&filter).unwrap(), 1);
        assert!(answer(&l2, &a, "q").is_none());
        assert!(answer(&l2, &b, "q").is_some());
        assert_eq!(l2.hot_size().0, 1);
    }

    #[test]
    fn hot_set_and_layer_stay_within_their_budgets() {
        let dir = tempfile::tempdir().unwrap();
        // A 64 KiB hot set (64 shards of 1 KiB: a few entries each).
        let l2 = open(&storage(dir.path()), settings(64 << 10, 300));
        let s = Scope::new("ns", "qa", None);
        let long = "x".repeat(100);
        for i in 0..400 {
            put(&l2, &s, &format!("q{i}"), &long, 3600 + i);
            assert!(l2.hot_size().1 <= 64 << 10);
            l2.enforce_bounds().unwrap();
        }
        assert_eq!(l2.size().entries, 300);
        // The 100 closest to expiry were evicted from sled and memory.
        for i in 0..100 {
            assert!(answer(&l2, &s, &format!("q{i}")).is_none(), "q{i}");
        }
        // Everything else still hits, most of it from sled.
        for i in 100..400 {
            assert!(answer(&l2, &s, &format!("q{i}")).is_some(), "q{i}");
        }
        assert!(l2.hot_size().1 <= 64 << 10);
        // The fresh entry is always hot.
        put(&l2, &s, "fresh", "1", 60);
        let key = s.entry_key("fresh");
        assert!(l2.hot.get(key).is_some());
    }
}
