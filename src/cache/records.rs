//! Durable, expiring records of one layer in sled: the part every layer
//! shares (write, remove, sweep expired, evict over capacity, count).
//!
//! A record is stored as `expires_ms (8 bytes, big endian) ++ payload`, so
//! this module can maintain the expiry index without knowing the layer's
//! record type. Each record has an expiry-index key next to it; both are
//! written and removed in one atomic batch under the entry's key lock. The
//! `on_removed` callbacks let a layer drop its in-memory state (hot cache,
//! vector index) while that lock is still held.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use super::layer::{InvalidateFilter, LayerSize};
use crate::error::CacheError;
use crate::store::{keys, Bytes, Storage, WriteBatch};

/// The records of one layer.
pub struct Records {
    storage: Arc<Storage>,
    locks: Arc<KeyLocks>,
    prefix: u8,
    entries: AtomicU64,
    bytes: AtomicU64,
    evicting: AtomicBool,
}

/// A staged write or removal: sizes before and after, for the counters.
pub struct Staged {
    /// `None` when the record is being removed.
    size: Option<u64>,
    old_size: Option<u64>,
}

/// Every record of layer `prefix`: (key, expires_ms, value).
pub fn scan(storage: &Storage, prefix: u8) -> impl Iterator<Item = (u128, u64, Bytes)> + '_ {
    storage
        .scan_prefix(&keys::record_prefix(prefix))
        .filter_map(|(k, v)| {
            let key = keys::parse_record(&k)?;
            let (exp, _) = split(&v)?;
            Some((key, exp, v))
        })
}

/// Splits a stored value into (expires_ms, payload).
pub fn split(value: &[u8]) -> Option<(u64, &[u8])> {
    let exp = u64::from_be_bytes(value.get(..8)?.try_into().ok()?);
    Some((exp, &value[8..]))
}

fn sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
}

impl Records {
    /// Opens the records of `prefix`, calling `visit(key, expires_ms,
    /// payload)` for each one (to rebuild in-memory state) and counting them.
    pub fn open(
        storage: Arc<Storage>,
        locks: Arc<KeyLocks>,
        prefix: u8,
        mut visit: impl FnMut(u128, u64, &[u8]),
    ) -> Records {
        let (mut entries, mut bytes) = (0u64, 0u64);
        for (k, v) in storage.scan_prefix(&keys::record_prefix(prefix)) {
            entries += 1;
            bytes += v.len() as u64;
            if let (Some(key), Some((exp, payload))) = (keys::parse_record(&k), split(&v)) {
                visit(key, exp, payload);
            }
        }
        Records {
            storage,
            locks,
            prefix,
            entries: AtomicU64::new(entries),
            bytes: AtomicU64::new(bytes),
            evicting: AtomicBool::new(false),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn locks(&self) -> &KeyLocks {
        &self.locks
    }

    /// The stored value of `key`: (expires_ms, payload).
    pub fn get(&self, key: u128) -> Result<Option<Bytes>, CacheError> {
        Ok(self.storage.get(&keys::record(self.prefix, key))?)
    }

    /// Adds the write of `payload` under `key` to `batch`, replacing any
    /// previous record and its expiry-index key. The caller holds the key's
    /// lock until [`Records::commit`].
    pub fn stage(
        &self,
        key: u128,
        expires_ms: u64,
        payload: &[u8],
        batch: &mut WriteBatch,
    ) -> Result<Staged, CacheError> {
        let old = self.get(key)?;
        let old_size = old.as_ref().map(|v| v.len() as u64);
        if let Some((old_exp, _)) = old.as_deref().and_then(split) {
            batch.remove(&keys::expiry(self.prefix, old_exp, key));
        }
        let mut value = Vec::with_capacity(8 + payload.len());
        value.extend_from_slice(&expires_ms.to_be_bytes());
        value.extend_from_slice(payload);
        let size = Some(value.len() as u64);
        batch.insert(&keys::record(self.prefix, key), value);
        batch.insert(&keys::expiry(self.prefix, expires_ms, key), Vec::new());
        Ok(Staged { size, old_size })
    }

    /// Adds the removal of `key` (if present) to `batch`, under the same
    /// contract as [`Records::stage`].
    pub fn stage_remove(&self, key: u128, batch: &mut WriteBatch) -> Result<Staged, CacheError> {
        let old = self.get(key)?;
        if let Some((old_exp, _)) = old.as_deref().and_then(split) {
            batch.remove(&keys::expiry(self.prefix, old_exp, key));
        }
        if old.is_some() {
            batch.remove(&keys::record(self.prefix, key));
        }
        Ok(Staged {
            size: None,
            old_size: old.map(|v| v.len() as u64),
        })
    }

    /// Accounts for an applied write or removal.
    pub fn commit(&self, staged: Staged) {
        match (staged.old_size, staged.size) {
            (Some(old), new) => {
                sub(&self.bytes, old);
                if new.is_none() {
                    sub(&self.entries, 1);
                }
            }
            (None, Some(_)) => {
                self.entries.fetch_add(1, Relaxed);
            }
            (None, None) => {}
        }
        self.bytes.fetch_add(staged.size.unwrap_or(0), Relaxed);
    }

    /// Overwrites the payload of an existing record in place (same expiry),
    /// e.g. to persist access statistics. The caller holds the key's lock.
    pub fn rewrite(&self, key: u128, expires_ms: u64, payload: &[u8]) -> Result<(), CacheError> {
        let mut value = Vec::with_capacity(8 + payload.len());
        value.extend_from_slice(&expires_ms.to_be_bytes());
        value.extend_from_slice(payload);
        let new = value.len() as u64;
        if let Some(old) = self.storage.put(&keys::record(self.prefix, key), value)? {
            sub(&self.bytes, old.len() as u64);
        }
        self.bytes.fetch_add(new, Relaxed);
        Ok(())
    }

    /// Removes `key` (record and expiry key) if present and, with
    /// `expect_expires`, only if it still has that expiry. `on_removed` runs
    /// with the payload while the key's lock is held.
    pub fn remove(
        &self,
        key: u128,
        expect_expires: Option<u64>,
        on_removed: impl FnOnce(&[u8]),
    ) -> Result<bool, CacheError> {
        let _guard = self.locks.lock(key);
        let rk = keys::record(self.prefix, key);
        let Some(value) = self.storage.get(&rk)? else {
            return Ok(false);
        };
        let parsed = split(&value);
        if expect_expires.is_some() && parsed.map(|p| p.0) != expect_expires {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.remove(&rk);
        if let Some((exp, _)) = parsed {
            batch.remove(&keys::expiry(self.prefix, exp, key));
        }
        self.storage.apply(batch)?;
        on_removed(parsed.map(|p| p.1).unwrap_or(&[]));
        sub(&self.entries, 1);
        sub(&self.bytes, value.len() as u64);
        Ok(true)
    }

    /// Removes up to 10,000 records that expired at or before `now`.
    pub fn sweep(&self, now: u64, on_removed: impl Fn(u128, &[u8])) -> Result<u64, CacheError> {
        let start = keys::expiry(self.prefix, 0, 0);
        let end = keys::expiry(self.prefix, now.saturating_add(1), 0);
        let due: Vec<(u64, u128)> = self
            .storage
            .keys_between(&start, &end)
            .take(10_000)
            .filter_map(|k| keys::parse_expiry(&k))
            .collect();
        let mut removed = 0;
        for (exp, key) in due {
            if self.remove(key, Some(exp), |p| on_removed(key, p))? {
                removed += 1;
            } else {
                self.drop_stale_index_key(exp, key)?;
            }
        }
        Ok(removed)
    }

    /// An expiry key whose record moved on (re-stored or removed) is dropped,
    /// unless the record now has exactly that expiry.
    fn drop_stale_index_key(&self, exp: u64, key: u128) -> Result<(), CacheError> {
        let _guard = self.locks.lock(key);
        let current = self.get(key)?;
        if current.as_deref().and_then(split).map(|p| p.0) != Some(exp) {
            self.storage.delete(&keys::expiry(self.prefix, exp, key))?;
        }
        Ok(())
    }

    /// Evicts the records closest to expiry until at most `max_entries` and
    /// `max_bytes` remain. Call without holding any key lock.
    pub fn evict_over(
        &self,
        max_entries: u64,
        max_bytes: u64,
        on_removed: impl Fn(u128, &[u8]),
    ) -> Result<u64, CacheError> {
        let over =
            || self.entries.load(Relaxed) > max_entries || self.bytes.load(Relaxed) > max_bytes;
        if !over() || self.evicting.swap(true, Relaxed) {
            return Ok(0);
        }
        let mut evicted = 0;
        let result = (|| {
            while over() {
                let Some((k, _)) = self
                    .storage
                    .first_with_prefix(&keys::expiry_prefix(self.prefix))?
                else {
                    break;
                };
                let Some((exp, key)) = keys::parse_expiry(&k) else {
                    self.storage.delete(&k)?;
                    continue;
                };
                if self.remove(key, Some(exp), |p| on_removed(key, p))? {
                    evicted += 1;
                } else {
                    self.drop_stale_index_key(exp, key)?;
                }
            }
            Ok(())
        })();
        self.evicting.store(false, Relaxed);
        result.map(|_| evicted)
    }

    /// Removes the records `filter` selects; `names` reads (namespace,
    /// task type) from a payload (`None`: unreadable, removed too).
    pub fn invalidate(
        &self,
        filter: &InvalidateFilter,
        names: impl Fn(&[u8]) -> Option<(String, String)>,
        on_removed: impl Fn(u128),
    ) -> Result<u64, CacheError> {
        let selected: Vec<u128> = match filter.entry_key {
            Some(key) => vec![key],
            None => self
                .scan()
                .filter(|(key, _, v)| match names(&v[8..]) {
                    Some((ns, task)) => filter.matches(&ns, &task, *key),
                    None => true,
                })
                .map(|(key, _, _)| key)
                .collect(),
        };
        let mut removed = 0;
        for key in selected {
            // Same key means same scope, so the filter still holds.
            if self.remove(key, None, |_| on_removed(key))? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every record: (key, expires_ms, value). Used by invalidation.
    pub fn scan(&self) -> impl Iterator<Item = (u128, u64, Bytes)> + '_ {
        scan(&self.storage, self.prefix)
    }

    pub fn size(&self) -> LayerSize {
        LayerSize {
            entries: self.entries.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
        }
    }
}

/// Striped locks serialising writers of the same entry key, so that a
/// read-modify-write of a record and its index entries is never interleaved
/// with another writer of that key.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..256).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl KeyLocks {
    pub fn lock(&self, key: u128) -> MutexGuard<'_, ()> {
        self.stripes[(key as usize) & 255].lock()
    }
}
