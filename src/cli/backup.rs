//! `helios-cache backup --to DIR`: copies the data directory of a stopped
//! server directly, or asks the running server that holds it (found through
//! the lock file) to write the copy itself, with writes paused meanwhile.

use std::path::Path;

use crate::config::Settings;
use crate::store::backup::{self, BackupReport};
use crate::store::{OpenError, Storage};

/// Writes the backup; the report says where and how much.
pub fn run(settings: &Settings, to: &Path) -> Result<BackupReport, String> {
    let store = &settings.cache.store;
    let to = backup::resolve_target(&std::path::absolute(to).map_err(|e| e.to_string())?)?;
    backup::check_target(&to, &store.data_dir)?;
    if !store.data_dir.join("sled").exists() {
        return Err(format!(
            "{} holds no helios-cache data",
            store.data_dir.display()
        ));
    }
    match Storage::open(store) {
        Ok(storage) => {
            let report = backup::copy_database(&storage, &to)?;
            backup::copy_dir(&storage.dir().join("l3-index"), &to.join("l3-index"))?;
            backup::write_state(&to, report.records)?;
            Ok(report)
        }
        Err(OpenError::InUse { addr, .. }) => online(settings, addr, &to),
        Err(e) => Err(e.to_string()),
    }
}

/// Asks the server that holds the directory to write the backup.
fn online(settings: &Settings, addr: Option<String>, to: &Path) -> Result<BackupReport, String> {
    let addr = addr
        .ok_or("a server holds the data directory but has not recorded its address yet; retry")?;
    let url = format!("http://{addr}/api/v1/helios/cache/admin/backup");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(&url).header("Content-Type", "application/json");
    if let Some(key) = &settings.server.api_key {
        req = req.header("Authorization", &format!("Bearer {key}"));
    }
    #[derive(serde::Serialize)]
    struct Body<'a> {
        to: &'a Path,
    }
    let body = serde_json::to_string(&Body { to }).map_err(|e| e.to_string())?;
    let mut resp = req
        .send(body)
        .map_err(|e| format!("asking the server at {addr}: {e}"))?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    if status != 200 {
        #[derive(serde::Deserialize)]
        struct Detail {
            message: String,
        }
        #[derive(serde::Deserialize)]
        struct Error {
            error: Detail,
        }
        let message = serde_json::from_str::<Error>(&text)
            .map(|e| e.error.message)
            .unwrap_or(text);
        return Err(format!("server answered {status}: {message}"));
    }
    serde_json::from_str(&text).map_err(|_| format!("server answered {status}: {text}"))
}
