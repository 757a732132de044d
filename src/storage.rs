//! The data directory: its lock, the sled database inside it, and the key
//! layout every layer shares.
//!
//! All layers keep their records in one sled tree, `entries`, under a
//! one-byte layer prefix. Keeping them in one tree lets a store that touches
//! several layers be a single atomic `apply_batch`: it lands in every layer or
//! in none. Each layer also keeps an expiry index in the same tree, ordered by
//! expiry time, which the sweeper and capacity eviction walk from the front.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, MutexGuard};

use crate::config::{Durability, Settings};
use crate::error::CacheError;

/// Identifies the on-disk format; a directory with another value is refused.
const FORMAT: &[u8] = b"helios-cache/1";

/// Opening the data directory failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenError(pub String);

/// The opened data directory.
pub struct Storage {
    pub db: sled::Db,
    /// Records and expiry indexes of every layer (see [`keys`]).
    pub entries: sled::Tree,
    /// Counters and bookkeeping.
    pub meta: sled::Tree,
    pub dir: PathBuf,
    durability: Durability,
    /// The last write error sled reported, until a probe write and flush
    /// succeed again (see [`Storage::recover`]).
    failed: Mutex<Option<String>>,
    _lock: File,
    /// Bytes on disk at the last measurement.
    disk_bytes: std::sync::atomic::AtomicU64,
}

/// Free space below which writes are refused before they reach sled: sled
/// 0.34 turns any I/O error while writing its log into a sticky error that
/// refuses every later write until the database is reopened, so a disk
/// filling up must be noticed before sled runs into it.
pub const MIN_FREE_BYTES: u64 = 4 << 20;

/// Takes the directory's lock file, or explains who holds it.
fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    let path = dir.join("helios.lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| OpenError(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(OpenError(format!(
                "data directory {} is in use by another helios-cache process (pid {}); \
                 stop it or choose another --data-dir",
                dir.display(),
                holder.trim()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(OpenError(format!("cannot lock {}: {e}", path.display())))
        }
    }
    file.set_len(0)
        .and_then(|_| write!(file, "{}", std::process::id()))
        .map_err(|e| OpenError(format!("cannot write {}: {e}", path.display())))?;
    Ok(file)
}

impl Storage {
    /// Creates (if needed), locks and opens the data directory.
    pub fn open(settings: &Settings) -> Result<Storage, OpenError> {
        let dir = settings.data_dir.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpenError(format!("cannot create {}: {e}", dir.display())))?;
        let lock = lock_dir(&dir)?;
        let flush_ms = match settings.durability {
            Durability::Interval => Some(settings.flush_interval_ms),
            Durability::Sync => None,
        };
        let config = sled::Config::new()
            .path(dir.join("sled"))
            .cache_capacity(settings.sled_cache_bytes)
            .flush_every_ms(flush_ms);
        let db = open_guarded(&dir, config)?;
        let entries = db.open_tree("entries").map_err(open_err)?;
        let meta = db.open_tree("meta").map_err(open_err)?;
        check_not_silently_empty(&dir, &meta, &entries)?;
        check_format(&meta)?;
        Ok(Storage {
            db,
            entries,
            meta,
            dir,
            durability: settings.durability,
            failed: Mutex::new(None),
            disk_bytes: Default::default(),
            _lock: lock,
        })
    }

    /// Applies `batch` atomically, flushing first in `sync` mode. Refused
    /// (503) while the storage cannot take writes.
    pub fn apply(&self, batch: sled::Batch) -> Result<(), CacheError> {
        self.writable()?;
        self.entries.apply_batch(batch).map_err(|e| self.fail(e))?;
        if self.durability == Durability::Sync {
            self.db.flush().map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Writes everything buffered to disk.
    pub fn flush(&self) -> Result<(), CacheError> {
        self.db.flush().map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Records a sled write error; writes are refused until [`Storage::recover`].
    fn fail(&self, e: sled::Error) -> CacheError {
        let msg = format!(
            "the database could not write to {}: {e}",
            self.dir.display()
        );
        let mut failed = self.failed.lock();
        if failed.is_none() {
            tracing::error!("{msg}; writes are refused until it recovers");
        }
        *failed = Some(msg);
        CacheError::from(e)
    }

    /// Why writes are refused right now: a read-only or (nearly) full
    /// filesystem, or an earlier write error that has not recovered.
    pub fn problem(&self) -> Option<String> {
        if let Some(msg) = self.failed.lock().clone() {
            return Some(msg);
        }
        space_problem(&self.dir)
    }

    /// Ok when writes may go to sled; the 503 to return otherwise.
    pub fn writable(&self) -> Result<(), CacheError> {
        match self.problem() {
            None => Ok(()),
            Some(p) => Err(CacheError::Unavailable(format!(
                "storage cannot take writes: {p}; lookups are still served, retry the store later"
            ))),
        }
    }

    /// Whether an earlier write error is still in force.
    pub fn write_failed(&self) -> bool {
        self.failed.lock().is_some()
    }

    /// After a write error, once the filesystem has room and is writable
    /// again: a probe write and a flush tell whether sled takes writes again.
    /// sled 0.34 keeps the first I/O error of its log writer for the life of
    /// the `Db`, so after such an error this keeps failing until a restart.
    pub fn recover(&self) -> bool {
        if !self.write_failed() {
            return true;
        }
        if space_problem(&self.dir).is_some() {
            return false;
        }
        let probe = self
            .meta
            .insert("write_probe", &crate::clock::now_ms().to_be_bytes()[..])
            .and_then(|_| self.db.flush());
        match probe {
            Ok(_) => {
                tracing::info!("storage takes writes again");
                *self.failed.lock() = None;
                true
            }
            Err(e) => {
                *self.failed.lock() = Some(format!(
                    "the database refuses writes after an I/O error ({e}) and recovers only \
                     when reopened: restart the server (acknowledged stores are kept as the \
                     durability mode promises)"
                ));
                false
            }
        }
    }

    /// Records what the database holds, beside it (see [`StateFile`]).
    pub fn write_state(&self, records: u64) -> std::io::Result<()> {
        let state = StateFile {
            records,
            saved_ms: crate::clock::now_ms(),
        };
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&state)?)?;
        std::fs::rename(tmp, self.dir.join(STATE_FILE))
    }

    /// Bytes the database takes on disk.
    /// (Measured on the flush tick: measuring walks sled's files.)
    pub fn size_on_disk(&self) -> u64 {
        self.disk_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Measures the bytes the database takes on disk.
    pub fn measure_size(&self) {
        let bytes = self.db.size_on_disk().unwrap_or(0);
        self.disk_bytes
            .store(bytes, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A read-only filesystem, or less than [`MIN_FREE_BYTES`] free, under `dir`.
fn space_problem(dir: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a valid C string and `st` a writable statvfs buffer.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Some(format!(
            "the data directory {} is on a read-only filesystem",
            dir.display()
        ));
    }
    // The field types differ between platforms.
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    (free < MIN_FREE_BYTES).then(|| {
        format!(
            "the filesystem of {} is full ({free} bytes free; writes need {MIN_FREE_BYTES})",
            dir.display()
        )
    })
}

const TORN_ADVICE: &str = "if this directory was copied from a running server it is a torn copy: \
restore a backup made with `helios-cache backup`, or move the directory away to start empty";

/// Opens sled without letting a damaged directory panic the process: sled
/// 0.34 was seen to panic on some torn copies.
fn open_guarded(dir: &Path, config: sled::Config) -> Result<sled::Db, OpenError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || config.open()));
    std::panic::set_hook(hook);
    match result {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(OpenError(format!(
            "cannot open the database in {}: {e}; {TORN_ADVICE}",
            dir.display()
        ))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(OpenError(format!(
                "the database in {} is damaged (opening it failed: {why}); {TORN_ADVICE}",
                dir.display()
            )))
        }
    }
}

/// What the directory held at the last flush, kept outside sled so that a
/// database that opens "fine" but empty (seen on torn copies) is noticed.
#[derive(serde::Serialize, serde::Deserialize, Default, Debug)]
pub struct StateFile {
    pub records: u64,
    pub saved_ms: u64,
}

const STATE_FILE: &str = "helios.state";

fn check_not_silently_empty(
    dir: &Path,
    meta: &sled::Tree,
    entries: &sled::Tree,
) -> Result<(), OpenError> {
    let Ok(text) = std::fs::read_to_string(dir.join(STATE_FILE)) else {
        return Ok(());
    };
    let state: StateFile = serde_json::from_str(&text).unwrap_or_default();
    let empty = entries.first().map_err(open_err)?.is_none();
    let formatted = meta.contains_key("format").map_err(open_err)?;
    if state.records > 0 && (empty || !formatted) {
        return Err(OpenError(format!(
            "the database in {} is empty, but at its last flush it held {} records: \
             data is missing; {TORN_ADVICE}. To start anyway with what the database holds, \
             delete {}",
            dir.display(),
            state.records,
            dir.join(STATE_FILE).display()
        )));
    }
    Ok(())
}

fn open_err(e: sled::Error) -> OpenError {
    OpenError(format!("cannot open the database: {e}"))
}

fn check_format(meta: &sled::Tree) -> Result<(), OpenError> {
    match meta.get("format").map_err(open_err)? {
        Some(v) if v.as_ref() == FORMAT => Ok(()),
        Some(v) => Err(OpenError(format!(
            "data directory has format {:?}, this binary reads {:?}",
            String::from_utf8_lossy(&v),
            String::from_utf8_lossy(FORMAT)
        ))),
        None => {
            meta.insert("format", FORMAT).map_err(open_err)?;
            Ok(())
        }
    }
}

/// Key layout inside the `entries` tree.
pub mod keys {
    /// Record of entry `key` in `layer` (`b'1'`, `b'2'`, `b'3'`).
    pub fn record(layer: u8, key: u128) -> [u8; 18] {
        let mut k = [0u8; 18];
        k[0] = layer;
        k[1] = b'e';
        k[2..].copy_from_slice(&key.to_be_bytes());
        k
    }

    /// Prefix of every record of `layer`.
    pub fn record_prefix(layer: u8) -> [u8; 2] {
        [layer, b'e']
    }

    /// Expiry-index key: sorts by expiry time, then entry key.
    pub fn expiry(layer: u8, expires_ms: u64, key: u128) -> [u8; 26] {
        let mut k = [0u8; 26];
        k[0] = layer;
        k[1] = b'x';
        k[2..10].copy_from_slice(&expires_ms.to_be_bytes());
        k[10..].copy_from_slice(&key.to_be_bytes());
        k
    }

    /// Prefix of the expiry index of `layer`.
    pub fn expiry_prefix(layer: u8) -> [u8; 2] {
        [layer, b'x']
    }

    /// Splits an expiry-index key into (expires_ms, key).
    pub fn parse_expiry(k: &[u8]) -> Option<(u64, u128)> {
        if k.len() != 26 {
            return None;
        }
        let exp = u64::from_be_bytes(k[2..10].try_into().ok()?);
        let key = u128::from_be_bytes(k[10..].try_into().ok()?);
        Some((exp, key))
    }

    /// The entry key of a record key.
    pub fn parse_record(k: &[u8]) -> Option<u128> {
        Some(u128::from_be_bytes(k.get(2..18)?.try_into().ok()?))
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

/// Bincode 2 configuration used for every record.
pub fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(v, bincode::config::standard())
        .expect("encoding a record into memory cannot fail")
}

/// Decodes a record; `None` if the bytes are not a valid record.
pub fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Option<T> {
    bincode::serde::decode_from_slice(b, bincode::config::standard())
        .ok()
        .map(|(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::keys::*;

    #[test]
    fn expiry_keys_sort_by_time_and_round_trip() {
        let a = expiry(b'2', 5, u128::MAX);
        let b = expiry(b'2', 6, 0);
        assert!(a < b);
        assert_eq!(parse_expiry(&a), Some((5, u128::MAX)));
        assert_eq!(parse_record(&record(b'2', 77)), Some(77));
    }
}
