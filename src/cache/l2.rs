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

/// An entry as held in memory.
#[derive(Debug)]
pub struct L2Entry {
    pub key: u128,
    pub base: StoredResponse<RawJson>,
    pub expires_ms: u64,
    /// Size of the persisted record, the unit of the byte budget.
    pub size: u64,
    last_access_ms: AtomicU64,
    access_count: AtomicU64,
    /// Queued for `persist` since its last run.
    dirty: AtomicBool,
}

impl L2Entry {
    fn new(
        key: u128,
        expires_ms: u64,
        base: StoredResponse<RawJson>,
        size: u64,
        last_access_ms: u64,
        access_count: u64,
    ) -> L2Entry {
        L2Entry {
            key,
            base,
            expires_ms,
            size,
            last_access_ms: AtomicU64::new(last_access_ms),
            access_count: AtomicU64::new(access_count),
            dirty: AtomicBool::new(false),
        }
    }

    fn from_record(key: u128, expires_ms: u64, rec: L2Record, size: u64) -> Option<L2Entry> {
        let response: Box<RawValue> = RawValue::from_string(rec.base.response.clone()).ok()?;
        let base = rec.base.map_response(|_| Arc::from(response));
        Some(L2Entry::new(
            key,
            expires_ms,
            base,
            size,
            rec.last_access_ms,
            rec.access_count,
        ))
    }

    fn to_record(&self) -> L2Record {
        L2Record {
            base: self.base.clone().map_response(|r| r.get().to_string()),
            last_access_ms: self.last_access_ms.load(Relaxed),
            access_count: self.access_count.load(Relaxed),
        }
    }

    pub fn access_count(&self) -> u64 {
        self.access_count.load(Relaxed)
    }

    pub fn last_access_ms(&self) -> u64 {
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

/// Per-entry expiry for the hot cache, from the entry's wall-clock expiry.
struct HotExpiry;

impl moka::Expiry<u128, Arc<L2Entry>> for HotExpiry {
    fn expire_after_create(&self, _: &u128, v: &Arc<L2Entry>, _: Instant) -> Option<Duration> {
        Some(Duration::from_millis(v.expires_ms.saturating_sub(now_ms())))
    }
}

/// The exact-match layer.
pub struct L2 {
    records: Records,
    hot: Cache<u128, Arc<L2Entry>>,
    settings: L2Settings,
    /// Entries whose access count changed since the last `persist`.
    dirty: Mutex<HashMap<u128, Arc<L2Entry>>>,
}

impl L2 {
    /// Opens the layer, counting what sled already holds.
    pub fn open(storage: Arc<Storage>, locks: Arc<KeyLocks>, settings: L2Settings) -> L2 {
        let hot = Cache::builder()
            .max_capacity(settings.hot_bytes)
            .weigher(|_, v: &Arc<L2Entry>| v.size.min(u32::MAX as u64) as u32)
            .expire_after(HotExpiry)
            .build();
        L2 {
            records: Records::open(storage, locks, PREFIX),
            hot,
            settings,
            dirty: Mutex::new(HashMap::new()),
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
        if entry.expires_ms <= now || !entry.base.is_for(scope, input) {
            return None;
        }
        self.touch(&entry, now);
        Some(entry)
    }

    /// Reads an entry from sled into the hot cache.
    fn load(&self, key: u128, now: u64) -> Option<Arc<L2Entry>> {
        let _guard = self.records.locks().lock(key);
        if let Some(e) = self.hot.get(&key) {
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
        let entry = Arc::new(L2Entry::from_record(
            key,
            expires_ms,
            rec,
            value.len() as u64,
        )?);
        self.hot.insert(key, entry.clone());
        Some(entry)
    }

    fn touch(&self, entry: &Arc<L2Entry>, now: u64) {
        entry.last_access_ms.store(now, Relaxed);
        entry.access_count.fetch_add(1, Relaxed);
        if entry.dirty.swap(true, Relaxed) {
            return; // already queued: no lock on the hot path
        }
        let mut dirty = self.dirty.lock();
        // Bounded: access statistics are best effort, never a memory leak.
        if dirty.len() < 100_000 {
            dirty.insert(entry.key, entry.clone());
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
        let key = w.scope.entry_key(w.input);
        let expires_ms = now.saturating_add(w.ttl_seconds.saturating_mul(1000));
        let rec = L2Record {
            base: StoredResponse::new(w, now),
            last_access_ms: now,
            access_count: 0,
        };
        let payload = encode(&rec);
        let staged = self.records.stage(key, expires_ms, &payload, batch)?;
        let base = rec.base.map_response(|_| w.response.clone());
        let entry = Arc::new(L2Entry::new(
            key,
            expires_ms,
            base,
            payload.len() as u64 + 8,
            now,
            0,
        ));
        Ok(L2Staged { entry, staged })
    }

    /// Makes an applied write visible in memory and in the counters.
    pub fn commit(&self, staged: L2Staged) {
        self.records.commit(staged.staged);
        self.hot.insert(staged.entry.key, staged.entry);
    }

    /// Evicts the entries closest to expiry until the layer is within its
    /// bounds; returns how many. Call without holding any key lock.
    pub fn enforce_bounds(&self) -> Result<u64, CacheError> {
        self.records.evict_over(
            self.settings.max_entries,
            self.settings.max_bytes,
            |key, _| self.hot.invalidate(&key),
        )
    }

    /// The request text entry `key` was stored for, if L2 holds it.
    pub fn entry_input(&self, key: u128) -> Result<Option<String>, CacheError> {
        if let Some(e) = self.hot.get(&key) {
            return Ok(Some(e.base.input.clone()));
        }
        let Some(value) = self.records.get(key)? else {
            return Ok(None);
        };
        Ok(records::split(&value)
            .and_then(|(_, p)| decode::<L2Record>(p))
            .map(|r| r.base.input))
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
        let names = |p: &[u8]| decode::<L2Record>(p).map(|r| (r.base.namespace, r.base.task_type));
        self.records
            .invalidate(filter, names, |key| self.hot.invalidate(&key))
    }

    fn sweep(&self, now: u64) -> Result<u64, CacheError> {
        self.records.sweep(now, |key, _| self.hot.invalidate(&key))
    }

    fn size(&self) -> LayerSize {
        self.records.size()
    }

    fn health(&self) -> LayerHealth {
        LayerHealth {
            status: "healthy",
            available: true,
            detail: "exact match: moka hot set over sled".into(),
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
        let dirty = std::mem::take(&mut *self.dirty.lock());
        for entry in dirty.into_values() {
            entry.dirty.store(false, Relaxed);
            let _guard = self.records.locks().lock(entry.key);
            let Some(value) = self.records.get(entry.key)? else {
                continue;
            };
            let Some((exp, payload)) = records::split(&value) else {
                continue;
            };
            // Only the version this entry came from; a re-store wins.
            if decode::<L2Record>(payload)
                .is_some_and(|r| r.base.created_ms == entry.base.created_ms)
            {
                self.records
                    .rewrite(entry.key, exp, &encode(&entry.to_record()))?;
            }
        }
        Ok(())
    }
}
