//! The data directory: its lock, the sled database inside it, the state file
//! beside it, and backups of it. This is the only module that names sled: the
//! layers stage their writes into a [`WriteBatch`] and read through
//! [`Storage`]'s accessors, so one door decides durability and write refusal.
//!
//! All layers keep their records in one sled tree, `entries`, under a
//! one-byte layer prefix. Keeping them in one tree lets a store that touches
//! several layers be a single atomic `apply_batch`: it lands in every layer or
//! in none. Each layer also keeps an expiry index in the same tree, ordered by
//! expiry time, which the sweeper and capacity eviction walk from the front.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

pub mod backup;
pub mod keys;

/// Identifies the on-disk format; a directory with another value is refused.
const FORMAT: &[u8] = b"helios-cache/1";

/// Bytes as sled hands them out (cheap to clone, reference counted).
pub type Bytes = sled::IVec;

/// How hard a store is pushed to disk before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Flush on a short interval; a crash can lose the last interval's stores.
    Interval,
    /// Flush before every store is acknowledged.
    Sync,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Interval => "interval",
            Durability::Sync => "sync",
        }
    }
}

/// Where and how the data directory is kept.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub data_dir: PathBuf,
    pub durability: Durability,
    /// Flush period of `interval` durability, in milliseconds.
    pub flush_interval_ms: u64,
    /// Memory sled may use for its page cache.
    pub sled_cache_bytes: u64,
}

/// Opening the data directory failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process holds the directory's lock.
    #[error(
        "data directory {dir} is in use by another helios-cache process (pid {pid}); \
         stop it or choose another --data-dir"
    )]
    InUse {
        dir: String,
        pid: String,
        /// The address that process serves on, once it has recorded it.
        addr: Option<String>,
    },
    /// The directory or database cannot be used; the message says what to do.
    #[error("{0}")]
    Unusable(String),
}

/// A write or read the database refused.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage cannot take writes right now (full or read-only disk, an
    /// earlier I/O error); lookups still work.
    #[error("{0}")]
    Unwritable(String),
    /// An I/O error inside the database.
    #[error("storage error: {0}")]
    Io(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        StoreError::Io(e.to_string())
    }
}

/// Writes staged by the layers and applied atomically by [`Storage::apply`]:
/// a store that touches several layers lands in all of them or in none.
#[derive(Default)]
pub struct WriteBatch {
    inner: sled::Batch,
}

impl WriteBatch {
    pub fn insert(&mut self, key: &[u8], value: impl Into<Bytes>) {
        self.inner.insert(key, value.into());
    }

    pub fn remove(&mut self, key: &[u8]) {
        self.inner.remove(key);
    }
}

/// The opened data directory.
pub struct Storage {
    db: sled::Db,
    /// Records and expiry indexes of every layer (see [`keys`]).
    entries: sled::Tree,
    /// Counters and bookkeeping.
    meta: sled::Tree,
    dir: PathBuf,
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
    let path = dir.join(LOCK_FILE);
    let unusable = |what: &str, e: std::io::Error| {
        OpenError::Unusable(format!("cannot {what} {}: {e}", path.display()))
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| unusable("open", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let mut lines = holder.lines().map(str::trim);
            return Err(OpenError::InUse {
                dir: dir.display().to_string(),
                pid: lines.next().unwrap_or_default().to_string(),
                addr: lines.next().filter(|a| !a.is_empty()).map(String::from),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(unusable("lock", e)),
    }
    file.set_len(0)
        .and_then(|_| write!(file, "{}", std::process::id()))
        .map_err(|e| unusable("write", e))?;
    Ok(file)
}

/// The lock file: held while a process serves the directory; it names the
/// process and, once serving, its address.
pub const LOCK_FILE: &str = "helios.lock";

/// A durable (`sync`) store in `dir` with a small cache: what the core's
/// unit tests open.
#[cfg(test)]
pub fn open_for_tests(dir: &Path) -> std::sync::Arc<Storage> {
    std::sync::Arc::new(
        Storage::open(&StoreSettings {
            data_dir: dir.to_path_buf(),
            durability: Durability::Sync,
            flush_interval_ms: 100,
            sled_cache_bytes: 8 << 20,
        })
        .unwrap(),
    )
}

impl Storage {
    /// Creates (if needed), locks and opens the data directory.
    pub fn open(settings: &StoreSettings) -> Result<Storage, OpenError> {
        let dir = settings.data_dir.clone();
        std::fs::create_dir_all(&dir)
            .map_err(|e| OpenError::Unusable(format!("cannot create {}: {e}", dir.display())))?;
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

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Records the serving address in the lock file, so that `helios-cache
    /// backup` can find a running server.
    pub fn announce(&self, addr: &str) -> std::io::Result<()> {
        let text = format!("{}\n{addr}\n", std::process::id());
        std::fs::write(self.dir.join(LOCK_FILE), text)
    }

    /// Applies `batch` atomically, flushing first in `sync` mode. Refused
    /// while the storage cannot take writes.
    pub fn apply(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.writable()?;
        self.entries
            .apply_batch(batch.inner)
            .map_err(|e| self.fail(e))?;
        if self.durability == Durability::Sync {
            self.db.flush().map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// The value stored under `key` in the entries tree.
    pub fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StoreError> {
        Ok(self.entries.get(key)?)
    }

    /// Writes one key directly (no batch): for in-place rewrites of derived
    /// data such as access statistics. Returns the previous value.
    pub fn put(&self, key: &[u8], value: Vec<u8>) -> Result<Option<Bytes>, StoreError> {
        self.writable()?;
        self.entries.insert(key, value).map_err(|e| self.fail(e))
    }

    /// Removes one key directly (stale index keys).
    pub fn delete(&self, key: &[u8]) -> Result<(), StoreError> {
        self.writable()?;
        self.entries.remove(key).map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Every (key, value) whose key starts with `prefix`, in key order;
    /// unreadable items are skipped.
    pub fn scan_prefix(&self, prefix: &[u8]) -> impl Iterator<Item = (Bytes, Bytes)> + '_ {
        self.entries.scan_prefix(prefix).flatten()
    }

    /// The keys in `[start, end)`, in order.
    pub fn keys_between(&self, start: &[u8], end: &[u8]) -> impl Iterator<Item = Bytes> + '_ {
        self.entries.range(start..end).keys().flatten()
    }

    /// The first (key, value) whose key starts with `prefix`.
    pub fn first_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Bytes, Bytes)>, StoreError> {
        Ok(self.entries.scan_prefix(prefix).next().transpose()?)
    }

    /// A bookkeeping value (counters, format) by name.
    pub fn meta_get(&self, name: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(self.meta.get(name)?)
    }

    /// Stores a bookkeeping value.
    pub fn meta_put(&self, name: &str, value: Vec<u8>) -> Result<(), StoreError> {
        self.meta.insert(name, value).map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Whether the bookkeeping tree can be read at all.
    pub fn readable(&self) -> bool {
        self.meta.get("format").is_ok()
    }

    /// Writes everything buffered to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Records a sled write error; writes are refused until [`Storage::recover`].
    fn fail(&self, e: sled::Error) -> StoreError {
        let msg = format!(
            "the database could not write to {}: {e}",
            self.dir.display()
        );
        let mut failed = self.failed.lock();
        if failed.is_none() {
            tracing::error!("{msg}; writes are refused until it recovers");
        }
        *failed = Some(msg);
        StoreError::from(e)
    }

    /// Why writes are refused right now: a read-only or (nearly) full
    /// filesystem, or an earlier write error that has not recovered.
    pub fn problem(&self) -> Option<String> {
        if let Some(msg) = self.failed.lock().clone() {
            return Some(msg);
        }
        space_problem(&self.dir)
    }

    /// Ok when writes may go to sled; why not otherwise.
    pub fn writable(&self) -> Result<(), StoreError> {
        match self.problem() {
            None => Ok(()),
            Some(p) => Err(StoreError::Unwritable(format!(
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
        StateFile::write(&self.dir, records)
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
        Ok(Err(e)) => Err(OpenError::Unusable(format!(
            "cannot open the database in {}: {e}; {TORN_ADVICE}",
            dir.display()
        ))),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(OpenError::Unusable(format!(
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

impl StateFile {
    /// Writes the state file of a data directory (atomically, by rename).
    pub fn write(dir: &Path, records: u64) -> std::io::Result<()> {
        let state = StateFile {
            records,
            saved_ms: crate::clock::now_ms(),
        };
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, serde_json::to_vec(&state)?)?;
        std::fs::rename(tmp, dir.join(STATE_FILE))
    }
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
    // Persisted counts alone (a torn copy) do not make a database non-empty.
    let mut empty = true;
    for layer in [b'1', b'2', b'3'] {
        let prefix = keys::record_prefix(layer);
        if entries
            .scan_prefix(prefix)
            .next()
            .transpose()
            .map_err(open_err)?
            .is_some()
        {
            empty = false;
            break;
        }
    }
    let formatted = meta.contains_key("format").map_err(open_err)?;
    if state.records > 0 && (empty || !formatted) {
        return Err(OpenError::Unusable(format!(
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
    OpenError::Unusable(format!("cannot open the database: {e}"))
}

fn check_format(meta: &sled::Tree) -> Result<(), OpenError> {
    match meta.get("format").map_err(open_err)? {
        Some(v) if v.as_ref() == FORMAT => Ok(()),
        Some(v) => Err(OpenError::Unusable(format!(
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
