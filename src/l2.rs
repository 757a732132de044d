//! L2, the exact-match layer: (scope, exact input text) → stored response.
//!
//! Every entry lives durably in sled (record + expiry-index key, written in
//! one atomic batch); recently used entries are also kept decoded in a moka
//! cache with per-entry expiry, so a hot hit never touches sled. The moka
//! cache is only an accelerator: sled is the truth, and every path that
//! removes an entry removes it from both under the entry's key lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock::now_ms;
use crate::config::L2Settings;
use crate::error::CacheError;
use crate::layer::{InvalidateFilter, Layer, LayerHealth, LayerId, LayerSize};
use crate::scope::Scope;
use crate::storage::{decode, encode, keys, KeyLocks, Storage};

const PREFIX: u8 = b'2';

/// A stored response, as JSON text that is sent back verbatim.
pub type RawJson = Arc<RawValue>;

/// The persisted form of an entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct L2Record {
    pub namespace: String,
    pub task_type: String,
    pub prompt_fp: u128,
    pub input: String,
    pub response: String,
    pub model: String,
    pub tokens: u64,
    /// What a hit saves, in nano-dollars.
    pub cost_nano: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub last_access_ms: u64,
    pub access_count: u64,
}

/// An entry as held in memory.
#[derive(Debug)]
pub struct L2Entry {
    pub key: u128,
    pub namespace: String,
    pub task_type: String,
    pub prompt_fp: u128,
    pub input: String,
    pub response: RawJson,
    pub model: String,
    pub tokens: u64,
    pub cost_nano: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
    /// Size of the persisted record, the unit of the byte budget.
    pub size: u64,
    last_access_ms: AtomicU64,
    access_count: AtomicU64,
}

impl L2Entry {
    fn from_record(key: u128, rec: L2Record, size: u64) -> Option<L2Entry> {
        let response: Box<RawValue> = RawValue::from_string(rec.response).ok()?;
        Some(L2Entry {
            key,
            namespace: rec.namespace,
            task_type: rec.task_type,
            prompt_fp: rec.prompt_fp,
            input: rec.input,
            response: Arc::from(response),
            model: rec.model,
            tokens: rec.tokens,
            cost_nano: rec.cost_nano,
            created_ms: rec.created_ms,
            expires_ms: rec.expires_ms,
            size,
            last_access_ms: AtomicU64::new(rec.last_access_ms),
            access_count: AtomicU64::new(rec.access_count),
        })
    }

    fn to_record(&self) -> L2Record {
        L2Record {
            namespace: self.namespace.clone(),
            task_type: self.task_type.clone(),
            prompt_fp: self.prompt_fp,
            input: self.input.clone(),
            response: self.response.get().to_string(),
            model: self.model.clone(),
            tokens: self.tokens,
            cost_nano: self.cost_nano,
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            last_access_ms: self.last_access_ms.load(Relaxed),
            access_count: self.access_count.load(Relaxed),
        }
    }

    /// Guards against a 128-bit hash collision: the entry must really be
    /// this scope and this text.
    fn is_for(&self, scope: &Scope, input: &str) -> bool {
        self.input == input
            && self.prompt_fp == scope.prompt_fp
            && self.task_type == scope.task_type
            && self.namespace == scope.namespace
    }

    pub fn access_count(&self) -> u64 {
        self.access_count.load(Relaxed)
    }

    pub fn last_access_ms(&self) -> u64 {
        self.last_access_ms.load(Relaxed)
    }
}

/// What a caller wants stored.
pub struct L2Write<'a> {
    pub scope: &'a Scope,
    pub input: &'a str,
    pub response: &'a RawJson,
    pub model: &'a str,
    pub tokens: u64,
    pub cost_nano: u64,
    pub ttl_seconds: u64,
}

/// A write added to a batch but not yet applied.
pub struct L2Staged {
    entry: Arc<L2Entry>,
    old_size: Option<u64>,
}

/// Per-entry expiry for the hot cache, from the entry's wall-clock expiry.
struct HotExpiry;

impl moka::Expiry<u128, Arc<L2Entry>> for HotExpiry {
    fn expire_after_create(&self, _: &u128, v: &Arc<L2Entry>, _: Instant) -> Option<Duration> {
        Some(Duration::from_millis(v.expires_ms.saturating_sub(now_ms())))
    }
}

/// The exact-match layer.
pub struct L2 {
    storage: Arc<Storage>,
    locks: Arc<KeyLocks>,
    hot: Cache<u128, Arc<L2Entry>>,
    settings: L2Settings,
    entries: AtomicU64,
    bytes: AtomicU64,
    /// Entries whose access count changed since the last `persist`.
    dirty: Mutex<HashMap<u128, Arc<L2Entry>>>,
    evicting: AtomicBool,
}

impl L2 {
    /// Opens the layer, counting what sled already holds.
    pub fn open(storage: Arc<Storage>, locks: Arc<KeyLocks>, settings: L2Settings) -> L2 {
        let hot = Cache::builder()
            .max_capacity(settings.hot_bytes)
            .weigher(|_, v: &Arc<L2Entry>| v.size.min(u32::MAX as u64) as u32)
            .expire_after(HotExpiry)
            .build();
        let (mut entries, mut bytes) = (0u64, 0u64);
        for (_, v) in storage
            .entries
            .scan_prefix(keys::record_prefix(PREFIX))
            .flatten()
        {
            entries += 1;
            bytes += v.len() as u64;
        }
        L2 {
            storage,
            locks,
            hot,
            settings,
            entries: AtomicU64::new(entries),
            bytes: AtomicU64::new(bytes),
            dirty: Mutex::new(HashMap::new()),
            evicting: AtomicBool::new(false),
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
        let key = scope.entry_key(input);
        let now = now_ms();
        let entry = match self.hot.get(&key) {
            Some(e) => e,
            None => self.load(key, now)?,
        };
        if entry.expires_ms <= now || !entry.is_for(scope, input) {
            return None;
        }
        self.touch(&entry, now);
        Some(entry)
    }

    /// Reads an entry from sled into the hot cache.
    fn load(&self, key: u128, now: u64) -> Option<Arc<L2Entry>> {
        let _guard = self.locks.lock(key);
        if let Some(e) = self.hot.get(&key) {
            return Some(e);
        }
        let bytes = match self.storage.entries.get(keys::record(PREFIX, key)) {
            Ok(b) => b?,
            Err(e) => {
                tracing::warn!("L2 read failed, treating as a miss: {e}");
                return None;
            }
        };
        let rec: L2Record = decode(&bytes)?;
        if rec.expires_ms <= now {
            return None;
        }
        let entry = Arc::new(L2Entry::from_record(key, rec, bytes.len() as u64)?);
        self.hot.insert(key, entry.clone());
        Some(entry)
    }

    fn touch(&self, entry: &Arc<L2Entry>, now: u64) {
        entry.last_access_ms.store(now, Relaxed);
        entry.access_count.fetch_add(1, Relaxed);
        let mut dirty = self.dirty.lock();
        // Bounded: access statistics are best effort, never a memory leak.
        if dirty.len() < 100_000 {
            dirty.insert(entry.key, entry.clone());
        }
    }

    /// Adds the write to `batch`. The caller holds the key's lock until
    /// [`L2::commit`] has run.
    pub fn stage(&self, w: &L2Write, now: u64, batch: &mut sled::Batch) -> L2Staged {
        let key = w.scope.entry_key(w.input);
        let expires_ms = now.saturating_add(w.ttl_seconds.saturating_mul(1000));
        let rec = L2Record {
            namespace: w.scope.namespace.clone(),
            task_type: w.scope.task_type.clone(),
            prompt_fp: w.scope.prompt_fp,
            input: w.input.to_string(),
            response: w.response.get().to_string(),
            model: w.model.to_string(),
            tokens: w.tokens,
            cost_nano: w.cost_nano,
            created_ms: now,
            expires_ms,
            last_access_ms: now,
            access_count: 0,
        };
        let bytes = encode(&rec);
        let old = self.old_record(key);
        if let Some(old) = &old {
            batch.remove(&keys::expiry(PREFIX, old.1, key)[..]);
        }
        batch.insert(&keys::record(PREFIX, key)[..], bytes.as_slice());
        batch.insert(&keys::expiry(PREFIX, expires_ms, key)[..], &[][..]);
        let entry = Arc::new(L2Entry {
            key,
            namespace: rec.namespace,
            task_type: rec.task_type,
            prompt_fp: rec.prompt_fp,
            input: rec.input,
            response: w.response.clone(),
            model: rec.model,
            tokens: rec.tokens,
            cost_nano: rec.cost_nano,
            created_ms: now,
            expires_ms,
            size: bytes.len() as u64,
            last_access_ms: AtomicU64::new(now),
            access_count: AtomicU64::new(0),
        });
        L2Staged {
            entry,
            old_size: old.map(|o| o.0),
        }
    }

    /// (size, expires_ms) of the record currently stored under `key`.
    fn old_record(&self, key: u128) -> Option<(u64, u64)> {
        let bytes = self.storage.entries.get(keys::record(PREFIX, key)).ok()??;
        let rec: L2Record = decode(&bytes)?;
        Some((bytes.len() as u64, rec.expires_ms))
    }

    /// Makes an applied write visible in memory and in the counters.
    pub fn commit(&self, staged: L2Staged) {
        let e = staged.entry;
        match staged.old_size {
            Some(old) => {
                self.bytes
                    .fetch_sub(old.min(self.bytes.load(Relaxed)), Relaxed);
            }
            None => {
                self.entries.fetch_add(1, Relaxed);
            }
        }
        self.bytes.fetch_add(e.size, Relaxed);
        self.hot.insert(e.key, e);
    }

    /// Evicts the entries closest to expiry until the layer is within its
    /// bounds. Call without holding any key lock.
    pub fn enforce_bounds(&self) -> Result<u64, CacheError> {
        if self.within_bounds() || self.evicting.swap(true, Relaxed) {
            return Ok(0);
        }
        let result = self.evict_until_within_bounds();
        self.evicting.store(false, Relaxed);
        result
    }

    fn within_bounds(&self) -> bool {
        self.entries.load(Relaxed) <= self.settings.max_entries
            && self.bytes.load(Relaxed) <= self.settings.max_bytes
    }

    fn evict_until_within_bounds(&self) -> Result<u64, CacheError> {
        let mut evicted = 0;
        while !self.within_bounds() {
            let first = self
                .storage
                .entries
                .scan_prefix(keys::expiry_prefix(PREFIX))
                .next();
            let Some(item) = first else { break };
            let (k, _) = item?;
            let Some((exp, key)) = keys::parse_expiry(&k) else {
                self.storage.entries.remove(k)?;
                continue;
            };
            if self.remove_key(key, Some(exp))? {
                evicted += 1;
            } else {
                // A stale index key whose record moved on: drop it.
                self.storage.entries.remove(k)?;
            }
        }
        Ok(evicted)
    }

    /// Removes entry `key` from sled and memory. With `expect_expires`, only
    /// if its record still has that expiry (it was not re-stored meanwhile).
    fn remove_key(&self, key: u128, expect_expires: Option<u64>) -> Result<bool, CacheError> {
        let _guard = self.locks.lock(key);
        let rk = keys::record(PREFIX, key);
        let Some(bytes) = self.storage.entries.get(rk)? else {
            return Ok(false);
        };
        let exp = decode::<L2Record>(&bytes).map(|r| r.expires_ms);
        if expect_expires.is_some() && exp != expect_expires {
            return Ok(false);
        }
        let mut batch = sled::Batch::default();
        batch.remove(&rk[..]);
        if let Some(exp) = exp {
            batch.remove(&keys::expiry(PREFIX, exp, key)[..]);
        }
        self.storage.apply(batch)?;
        self.hot.invalidate(&key);
        self.entries
            .fetch_sub(1.min(self.entries.load(Relaxed)), Relaxed);
        let size = (bytes.len() as u64).min(self.bytes.load(Relaxed));
        self.bytes.fetch_sub(size, Relaxed);
        Ok(true)
    }

    /// Hot-cache statistics: (entries, bytes).
    pub fn hot_size(&self) -> (u64, u64) {
        self.hot.run_pending_tasks();
        (self.hot.entry_count(), self.hot.weighted_size())
    }
}

impl Layer for L2 {
    fn id(&self) -> LayerId {
        LayerId::L2
    }

    fn invalidate(&self, filter: &InvalidateFilter) -> Result<u64, CacheError> {
        let mut selected = Vec::new();
        if let Some(key) = filter.entry_key {
            selected.push(key);
        } else {
            for item in self
                .storage
                .entries
                .scan_prefix(keys::record_prefix(PREFIX))
            {
                let (k, v) = item?;
                let Some(key) = keys::parse_record(&k) else {
                    continue;
                };
                let Some(rec) = decode::<L2Record>(&v) else {
                    selected.push(key);
                    continue;
                };
                if filter.matches(&rec.namespace, &rec.task_type, key) {
                    selected.push(key);
                }
            }
        }
        let mut removed = 0;
        for key in selected {
            // Same key means same scope, so the filter still holds.
            if self.remove_key(key, None)? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn sweep(&self, now: u64) -> Result<u64, CacheError> {
        let start = keys::expiry(PREFIX, 0, 0);
        let end = keys::expiry(PREFIX, now, 0);
        let due: Vec<(u64, u128)> = self
            .storage
            .entries
            .range(start..end)
            .keys()
            .take(10_000)
            .filter_map(|k| keys::parse_expiry(&k.ok()?))
            .collect();
        let mut removed = 0;
        for (exp, key) in due {
            if self.remove_key(key, Some(exp))? {
                removed += 1;
            } else {
                self.storage
                    .entries
                    .remove(keys::expiry(PREFIX, exp, key))?;
            }
        }
        Ok(removed)
    }

    fn size(&self) -> LayerSize {
        LayerSize {
            entries: self.entries.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }

    fn health(&self) -> LayerHealth {
        LayerHealth {
            status: "healthy",
            available: true,
            detail: "exact match: moka hot set over sled".into(),
        }
    }

    fn details(&self) -> serde_json::Value {
        let (hot_entries, hot_bytes) = self.hot_size();
        serde_json::json!({
            "default_ttl_seconds": self.settings.ttl_seconds,
            "max_ttl_seconds": self.settings.max_ttl_seconds,
            "max_entries": self.settings.max_entries,
            "max_bytes": self.settings.max_bytes,
            "hot_entries": hot_entries,
            "hot_bytes": hot_bytes,
            "hot_max_bytes": self.settings.hot_bytes,
        })
    }

    fn persist(&self) -> Result<(), CacheError> {
        let dirty = std::mem::take(&mut *self.dirty.lock());
        for entry in dirty.into_values() {
            let _guard = self.locks.lock(entry.key);
            let rk = keys::record(PREFIX, entry.key);
            let Some(bytes) = self.storage.entries.get(rk)? else {
                continue;
            };
            match decode::<L2Record>(&bytes) {
                // Only the version this entry came from; a re-store wins.
                Some(rec) if rec.created_ms == entry.created_ms => {
                    let new = encode(&entry.to_record());
                    self.bytes.fetch_add(new.len() as u64, Relaxed);
                    self.bytes
                        .fetch_sub((bytes.len() as u64).min(self.bytes.load(Relaxed)), Relaxed);
                    self.storage.entries.insert(rk, new)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
