//! Backups: a consistent copy of the data directory, taken from a running
//! server (through its admin endpoint, with writes paused for the copy) or
//! from a stopped one.
//!
//! The copy is logical: every sled tree is read and written into a fresh
//! database at the destination, so it never inherits a torn file. Copying the
//! directory of a running server with `cp` is not safe (sled was seen to
//! panic or open empty on such copies).

use std::path::Path;

use serde::Serialize;

use crate::storage::Storage;

/// What a backup wrote.
#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub to: String,
    pub records: u64,
    pub trees: usize,
}

/// Checks that `to` can receive a backup: absolute, and absent or empty.
pub fn check_target(to: &Path) -> Result<(), String> {
    if !to.is_absolute() {
        return Err(format!(
            "backup target {} must be an absolute path",
            to.display()
        ));
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
pub fn check_under_root(to: &Path, root: &Path) -> Result<(), String> {
    let refuse = || {
        format!(
            "backups over HTTP must go under {} (set --backup-root to change it); got {}",
            root.display(),
            to.display()
        )
    };
    let root = root.canonicalize().map_err(|_| refuse())?;
    let parent = to.parent().ok_or_else(refuse)?;
    let parent = parent.canonicalize().map_err(|_| refuse())?;
    let name_ok = to.file_name().is_some_and(|n| n != ".." && n != ".");
    if !parent.starts_with(&root) || !name_ok {
        return Err(refuse());
    }
    Ok(())
}

/// Copies every sled tree of `storage` into a new database under `to/sled`.
/// The caller guarantees no writes happen meanwhile.
pub fn copy_database(storage: &Storage, to: &Path) -> Result<BackupReport, String> {
    check_target(to)?;
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
            batch.insert(k, v);
            in_batch += 1;
            if in_batch == 10_000 {
                dst.apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| format!("writing the backup: {e}"))?;
                in_batch = 0;
            }
            if name.as_ref() == b"entries" {
                records += 1;
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

/// `helios-cache backup --to DIR`: copies the data directory of a stopped
/// server directly, or asks the running server that holds it to copy itself.
pub fn run(settings: &crate::config::Settings, to: &Path) -> Result<BackupReport, String> {
    let to = std::path::absolute(to).map_err(|e| e.to_string())?;
    check_target(&to)?;
    if !settings.data_dir.join("sled").exists() {
        return Err(format!(
            "{} holds no helios-cache data",
            settings.data_dir.display()
        ));
    }
    match Storage::open(settings) {
        Ok(storage) => {
            let report = copy_database(&storage, &to)?;
            copy_dir(&storage.dir.join("l3-index"), &to.join("l3-index"))?;
            let state = crate::storage::StateFile {
                records: report.records,
                saved_ms: crate::clock::now_ms(),
            };
            std::fs::write(
                to.join("helios.state"),
                serde_json::to_vec(&state).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?;
            Ok(report)
        }
        Err(e) if e.0.contains("in use by another helios-cache process") => online(settings, &to),
        Err(e) => Err(e.0),
    }
}

/// Asks the server named in the lock file to write the backup.
fn online(settings: &crate::config::Settings, to: &Path) -> Result<BackupReport, String> {
    let lock = std::fs::read_to_string(settings.data_dir.join("helios.lock")).unwrap_or_default();
    let addr = lock
        .lines()
        .nth(1)
        .ok_or("a server holds the data directory but has not recorded its address yet; retry")?;
    let url = format!("http://{addr}/api/v1/helios/cache/admin/backup");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(&url).header("Content-Type", "application/json");
    if let Some(key) = &settings.api_key {
        req = req.header("Authorization", &format!("Bearer {key}"));
    }
    let body = serde_json::json!({"to": to}).to_string();
    let mut resp = req
        .send(body)
        .map_err(|e| format!("asking the server at {addr}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| format!("server answered {status}: {text}"))?;
    if status != 200 {
        return Err(format!(
            "server answered {status}: {}",
            v["error"]["message"]
        ));
    }
    Ok(BackupReport {
        to: v["to"].as_str().unwrap_or_default().to_string(),
        records: v["records"].as_u64().unwrap_or(0),
        trees: v["trees"].as_u64().unwrap_or(0) as usize,
    })
}
