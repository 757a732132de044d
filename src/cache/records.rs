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
    /// (entries, bytes) of each lock stripe, as persisted under
    /// [`keys::counts`]; changed only under the stripe's lock.
    stripes: Vec<(AtomicU64, AtomicU64)>,
    evicting: AtomicBool,
}

/// A staged write or removal: sizes before and after, for the counters.
pub struct Staged {
    /// `None` when the record is being removed.
    size: Option<u64>,
    old_size: Option<u64>,
    /// The stripe's (entries, bytes) once the batch is applied.
    stripe: u8,
    counts: (u64, u64),
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

/// The lock stripe of `key` (also the stripe its count is persisted in).
pub fn stripe(key: u128) -> u8 {
    key as u8
}

const STRIPES: usize = 256;

fn encode_counts(entries: u64, bytes: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&entries.to_be_bytes());
    v.extend_from_slice(&bytes.to_be_bytes());
    v
}

/// The persisted counts of every stripe, if all of them are present.
fn load_counts(storage: &Storage, prefix: u8) -> Option<Vec<(u64, u64)>> {
    let mut stripes = vec![None; STRIPES];
    for (k, v) in storage.scan_prefix(&keys::counts_prefix(prefix)) {
        let (Some(&i), Some(e), Some(b)) = (k.get(2), v.get(..8), v.get(8..16)) else {
            return None;
        };
        stripes[i as usize] = Some((
            u64::from_be_bytes(e.try_into().ok()?),
            u64::from_be_bytes(b.try_into().ok()?),
        ));
    }
    stripes.into_iter().collect()
}

/// Counts every record of `prefix` by stripe and persists the counts (in
/// one batch, so they are all present or none are).
fn count_and_save(storage: &Storage, prefix: u8) -> Vec<(u64, u64)> {
    let mut stripes = vec![(0u64, 0u64); STRIPES];
    let mut total = 0u64;
    for (k, v) in storage.scan_prefix(&keys::record_prefix(prefix)) {
        if let Some(key) = keys::parse_record(&k) {
            let s = &mut stripes[stripe(key) as usize];
            s.0 += 1;
            s.1 += v.len() as u64;
            total += 1;
        }
    }
    let mut batch = WriteBatch::default();
    for (i, (e, b)) in stripes.iter().enumerate() {
        batch.insert(&keys::counts(prefix, i as u8), encode_counts(*e, *b));
    }
    match storage.apply(batch) {
        Ok(()) => tracing::info!(
            "layer {}: counted {total} records once; counts are persisted from now on",
            prefix as char
        ),
        Err(e) => tracing::warn!(
            "layer {}: could not persist record counts ({e}); the next start counts again",
            prefix as char
        ),
    }
    stripes
}

fn sub(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(n)));
}

impl Records {
    /// Opens the records of `prefix`. Their count and bytes come from the
    /// persisted per-stripe counts, which every write updates in its own
    /// atomic batch, so they agree with what sled holds even after a crash
    /// and start-up reads 256 small keys instead of every record. A data
    /// directory without them (written by an older version) is counted once
    /// and the counts are written.
    pub fn open(storage: Arc<Storage>, locks: Arc<KeyLocks>, prefix: u8) -> Records {
        let stripes = match load_counts(&storage, prefix) {
            Some(stripes) => stripes,
            None => count_and_save(&storage, prefix),
        };
        let entries = stripes.iter().map(|s| s.0).sum();
        let bytes = stripes.iter().map(|s| s.1).sum();
        Records {
            storage,
            locks,
            prefix,
            entries: AtomicU64::new(entries),
            bytes: AtomicU64::new(bytes),
            stripes: stripes
                .into_iter()
                .map(|(e, b)| (AtomicU64::new(e), AtomicU64::new(b)))
                .collect(),
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
        Ok(self.staged(key, size, old_size, batch))
    }

    /// Adds the stripe's new counts to `batch`: they land with the write.
    fn staged(
        &self,
        key: u128,
        size: Option<u64>,
        old_size: Option<u64>,
        batch: &mut WriteBatch,
    ) -> Staged {
        let stripe = stripe(key);
        let s = &self.stripes[stripe as usize];
        let (mut entries, mut bytes) = (s.0.load(Relaxed), s.1.load(Relaxed));
        entries = (entries + size.is_some() as u64).saturating_sub(old_size.is_some() as u64);
        bytes = (bytes + size.unwrap_or(0)).saturating_sub(old_size.unwrap_or(0));
        batch.insert(
            &keys::counts(self.prefix, stripe),
            encode_counts(entries, bytes),
        );
        Staged {
            size,
            old_size,
            stripe,
            counts: (entries, bytes),
        }
    }

    /// Adds the removal of `key` (if present) to `batch`, under the same
    /// contract as [`Records::stage`].
    pub fn stage_remove(&self, key: u128, batch: &mut WriteBatch) -> Result<Staged, CacheError> {
        let old = self.get(key)?;
        if let Some((old_exp, _)) = old.as_deref().and_then(split) {
            batch.remove(&keys::expiry(self.prefix, old_exp, key));
        }
        let Some(old) = old else {
            return Ok(Staged {
                size: None,
                old_size: None,
                stripe: stripe(key),
                counts: (0, 0),
            });
        };
        batch.remove(&keys::record(self.prefix, key));
        Ok(self.staged(key, None, Some(old.len() as u64), batch))
    }

    /// Accounts for an applied write or removal.
    pub fn commit(&self, staged: Staged) {
        if staged.size.is_none() && staged.old_size.is_none() {
            return;
        }
        let s = &self.stripes[staged.stripe as usize];
        s.0.store(staged.counts.0, Relaxed);
        s.1.store(staged.counts.1, Relaxed);
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
        let Some(old) = self.get(key)? else {
            return Ok(());
        };
        let mut value = Vec::with_capacity(8 + payload.len());
        value.extend_from_slice(&expires_ms.to_be_bytes());
        value.extend_from_slice(payload);
        let mut batch = WriteBatch::default();
        let size = Some(value.len() as u64);
        batch.insert(&keys::record(self.prefix, key), value);
        let staged = self.staged(key, size, Some(old.len() as u64), &mut batch);
        self.storage.apply(batch)?;
        self.commit(staged);
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
        let staged = self.staged(key, None, Some(value.len() as u64), &mut batch);
        self.storage.apply(batch)?;
        on_removed(parsed.map(|p| p.1).unwrap_or(&[]));
        self.commit(staged);
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
        self.stripes[stripe(key) as usize].lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_storage(dir: &std::path::Path) -> Arc<Storage> {
        crate::store::open_for_tests(dir)
    }

    fn put(r: &Records, key: u128, payload: &[u8]) {
        let _g = r.locks().lock(key);
        let mut batch = WriteBatch::default();
        let staged = r.stage(key, u64::MAX / 2, payload, &mut batch).unwrap();
        r.storage().apply(batch).unwrap();
        r.commit(staged);
    }

    /// What sled really holds: (records, bytes).
    fn recount(storage: &Storage) -> (u64, u64) {
        scan(storage, b'2').fold((0, 0), |(n, b), (_, _, v)| (n + 1, b + v.len() as u64))
    }

    #[test]
    fn counts_are_persisted_with_each_write_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let r = Records::open(storage.clone(), Arc::default(), b'2');
        for k in 0..600u128 {
            put(&r, k * 7919, &vec![1u8; (k % 50) as usize]);
        }
        put(&r, 7919, b"replaced with another size");
        for k in 0..100u128 {
            assert!(r.remove(k * 7919 * 3, None, |_| {}).unwrap());
        }
        r.rewrite(7919 * 2, u64::MAX / 2, b"rewritten").unwrap();
        let size = r.size();
        assert_eq!((size.entries, size.bytes), recount(&storage));
        drop(r);
        // A "crash": a write applied to sled whose in-memory commit never ran.
        let r = Records::open(storage.clone(), Arc::default(), b'2');
        let mut batch = WriteBatch::default();
        let _lost = r.stage(1, u64::MAX / 2, b"applied", &mut batch).unwrap();
        storage.apply(batch).unwrap();
        drop(r);
        let r = Records::open(storage.clone(), Arc::default(), b'2');
        let size = r.size();
        assert_eq!((size.entries, size.bytes), recount(&storage));
        assert_eq!(size.entries, 501);
    }

    #[test]
    fn a_directory_without_counts_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let storage = open_storage(dir.path());
        let r = Records::open(storage.clone(), Arc::default(), b'2');
        for k in 0..300u128 {
            put(&r, k, b"payload");
        }
        drop(r);
        // As written by a version without persisted counts.
        let counts: Vec<Bytes> = storage
            .scan_prefix(&keys::counts_prefix(b'2'))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(counts.len(), STRIPES);
        for k in counts {
            storage.delete(&k).unwrap();
        }
        let r = Records::open(storage.clone(), Arc::default(), b'2');
        assert_eq!(r.size().entries, 300);
        assert_eq!(load_counts(&storage, b'2').unwrap().len(), STRIPES);
        assert_eq!((r.size().entries, r.size().bytes), recount(&storage));
    }
}
