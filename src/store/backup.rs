//! Backups: a consistent copy of the data directory, taken from a running
//! server (through its admin endpoint, with writes paused for the copy) or
//! from a stopped one.
//!
//! The copy is logical: every sled tree is read and written into a fresh
//! database at the destination, so it never inherits a torn file. Copying the
//! directory of a running server with `cp` is not safe (sled was seen to
//! panic or open empty on such copies).

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::{keys, StateFile, Storage};

/// What a backup wrote.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct BackupReport {
    pub to: String,
    pub records: u64,
    pub trees: usize,
}

/// The absolute, normalised form of a backup target: `.` and repeated
/// separators dropped, the deepest existing ancestor resolved (symlinks and
/// `..` included), the rest appended. A `..` below a directory that does not
/// exist yet is refused rather than guessed at.
pub fn resolve_target(to: &Path) -> Result<PathBuf, String> {
    if !to.is_absolute() {
        return Err(format!(
            "backup target {} must be an absolute path",
            to.display()
        ));
    }
    let parts: Vec<Component> = to.components().collect();
    for split in (1..=parts.len()).rev() {
        let head: PathBuf = parts[..split].iter().collect();
        let Ok(base) = head.canonicalize() else {
            continue;
        };
        let mut out = base;
        for c in &parts[split..] {
            match c {
                Component::Normal(n) => out.push(n),
                _ => {
                    return Err(format!(
                        "backup target {} has a `..` below a directory that does not exist",
                        to.display()
                    ))
                }
            }
        }
        return Ok(out);
    }
    Err(format!("backup target {} cannot be resolved", to.display()))
}

/// Checks that `to` (resolved) can receive a backup: absent or empty, and
/// not inside the live data directory `data_dir` (a copy there is lost with
/// the directory, and repeated copies fill the disk the cache needs).
pub fn check_target(to: &Path, data_dir: &Path) -> Result<(), String> {
    if let Ok(data) = data_dir.canonicalize() {
        if to.starts_with(&data) {
            return Err(format!(
                "backup target {} is inside the data directory {}; choose a directory outside it",
                to.display(),
                data.display()
            ));
        }
    }
    if to.exists() {
        let empty = std::fs::read_dir(to)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(format!(
                "backup target {} exists and is not empty",
                to.display()
            ));
        }
    }
    Ok(())
}

/// Checks that a backup asked for over HTTP lands under `root`: an API
/// client must not be able to create directories anywhere the server can.
/// `to` is already resolved ([`resolve_target`]).
pub fn check_under_root(to: &Path, root: &Path) -> Result<(), String> {
    let refuse = || {
        format!(
            "backups over HTTP must go under {} (set --backup-root to change it); got {}",
            root.display(),
            to.display()
        )
    };
    let root = root.canonicalize().map_err(|_| refuse())?;
    if !to.starts_with(&root) || to == root {
        return Err(refuse());
    }
    Ok(())
}

/// Copies every sled tree of `storage` into a new database under `to/sled`.
/// The caller guarantees no writes happen meanwhile.
pub fn copy_database(storage: &Storage, to: &Path) -> Result<BackupReport, String> {
    check_target(to, &storage.dir)?;
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let dest = sled::Config::new()
        .path(to.join("sled"))
        .open()
        .map_err(|e| format!("creating the backup database: {e}"))?;
    let mut records = 0u64;
    let names = storage.db.tree_names();
    for name in &names {
        let src = storage.db.open_tree(name).map_err(|e| e.to_string())?;
        let dst = dest.open_tree(name).map_err(|e| e.to_string())?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for item in src.iter() {
            let (k, v) = item.map_err(|e| format!("reading the database: {e}"))?;
            if name.as_ref() == b"entries" && !keys::is_counts(&k) {
                records += 1;
            }
            batch.insert(k, v);
            in_batch += 1;
            if in_batch == 10_000 {
                dst.apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| format!("writing the backup: {e}"))?;
                in_batch = 0;
            }
        }
        dst.apply_batch(batch)
            .map_err(|e| format!("writing the backup: {e}"))?;
    }
    dest.flush()
        .map_err(|e| format!("flushing the backup: {e}"))?;
    copy_dir(&storage.dir.join("models"), &to.join("models"))?;
    Ok(BackupReport {
        to: to.display().to_string(),
        records,
        trees: names.len(),
    })
}

/// Copies plain files (downloaded models, a stopped server's saved index)
/// as they are.
pub fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let Ok(dir) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in dir.flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| format!("copying {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Marks a finished backup with its state file (see [`StateFile`]).
pub fn write_state(to: &Path, records: u64) -> Result<(), String> {
    StateFile::write(to, records).map_err(|e| format!("writing the backup's state file: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_normalised_before_the_checks() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path().canonicalize().unwrap();
        let messy = format!("{}/new//bk3/./", r.display());
        let t = resolve_target(Path::new(&messy)).unwrap();
        assert_eq!(t, r.join("new").join("bk3"));
        assert!(check_under_root(&t, &r).is_ok());
        let up = format!("{}/x/../../etc", r.display());
        std::fs::create_dir(r.join("x")).unwrap();
        let t = resolve_target(Path::new(&up)).unwrap();
        assert!(check_under_root(&t, &r).is_err(), "{t:?}");
        assert!(resolve_target(Path::new("relative/dir")).is_err());
        assert!(resolve_target(Path::new(&format!("{}/nope/../y", r.display()))).is_err());
    }

    #[test]
    fn targets_inside_the_data_directory_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join("sled")).unwrap();
        for inside in ["data/sled/x", "data/bk", "data"] {
            let t = resolve_target(&root.path().join(inside)).unwrap();
            let err = check_target(&t, &data).unwrap_err();
            assert!(err.contains("inside the data directory"), "{inside}: {err}");
        }
        let t = resolve_target(&root.path().join("elsewhere")).unwrap();
        assert!(check_target(&t, &data).is_ok());
    }
}
