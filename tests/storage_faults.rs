//! Storage faults (issue 5, item 5): a read-only or full data directory
//! makes stores fail with a clear 503 JSON error while lookups keep being
//! served; when the fault clears, stores work again; nothing already stored
//! is lost.
//!
//! We run as root, so `chmod` does not stop writes: the data directory is a
//! small tmpfs, remounted read-only or filled with a ballast file. Mounting
//! needs CAP_SYS_ADMIN; where it is not allowed the tests skip, loudly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{eventually, l2_lookup, l2_store, Server};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(20);

/// A tmpfs mounted on a directory; lazily unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n!!! SKIPPED: cannot mount a tmpfs on {} here (needs root with \
                 CAP_SYS_ADMIN); the storage-fault test did not run !!!\n",
                dir.display()
            );
            return None;
        }
        Some(Mount(dir.to_path_buf()))
    }

    /// Makes the directory read-only under the running server. A plain
    /// `remount,ro` is refused (EBUSY) while sled holds files open for
    /// writing, so a read-only bind mount goes on top of it: the path (and
    /// every file opened through it from now on) is read-only, as after an
    /// emergency read-only remount.
    fn read_only(&self) {
        run(Command::new("mount")
            .arg("--bind")
            .arg(&self.0)
            .arg(&self.0));
        run(Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&self.0));
    }

    fn read_write(&self) {
        run(Command::new("umount").arg(&self.0));
    }
}

#[track_caller]
fn run(cmd: &mut Command) {
    let st = cmd.status().expect("running a command");
    assert!(st.success(), "{cmd:?} failed");
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A server (with `args`) whose data directory is a fresh 16 MiB tmpfs.
fn server_on_tmpfs(args: &[&str]) -> Option<(Server, Mount)> {
    let mut s = Server::builder().args(args.iter().copied()).start();
    s.stop();
    let data = s.data_dir();
    std::fs::remove_dir_all(&data).expect("emptying the data directory");
    let m = Mount::tmpfs(&data, "16m")?;
    s.restart();
    Some((s, m))
}

fn store_many(s: &Server, prefix: &str, n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| {
            let text = format!("{prefix} question number {i}");
            let resp = json!({"answer": format!("{prefix} answer {i}")});
            s.store(&l2_store(&text, resp.clone())).ok();
            (text, resp)
        })
        .collect()
}

#[track_caller]
fn assert_all_served(s: &Server, stored: &[(String, Value)], when: &str) {
    for (text, resp) in stored {
        let b = s.lookup(&l2_lookup(text)).ok().clone();
        assert_eq!(b["hit"], json!(true), "{when}: {text:?} lost: {b}");
        assert_eq!(&b["cached_response"], resp, "{when}: {b}");
    }
}

#[track_caller]
fn assert_store_refused(s: &Server, text: &str) {
    let r = s.store(&l2_store(text, json!("refused")));
    let code = r.error(503);
    assert_eq!(code, "storage_unavailable", "{r:?}");
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("storage"),
        "the message says what is wrong: {msg}"
    );
}

fn health(s: &Server) -> Value {
    s.get(&format!("{}/health", common::API)).ok().clone()
}

fn fault_then_recover(args: &[&str], fault: &str) {
    let Some((mut s, mount)) = server_on_tmpfs(args) else {
        return;
    };
    let before = store_many(&s, "before", 40);
    // Let interval mode write everything down before the fault.
    std::thread::sleep(Duration::from_millis(400));
    let ballast = mount.0.join("ballast");
    match fault {
        "read-only" => mount.read_only(),
        _ => {
            // Fill the filesystem to the last byte.
            let _ = Command::new("dd")
                .args(["if=/dev/zero", "bs=64k", "status=none"])
                .arg(format!("of={}", ballast.display()))
                .status();
        }
    }
    assert_store_refused(&s, "during the fault");
    assert_all_served(&s, &before, "during the fault");
    let h = health(&s);
    assert_eq!(h["storage"]["status"], json!("degraded"), "{h}");
    assert_eq!(h["storage"]["writable"], json!(false), "{h}");
    assert_eq!(h["status"], json!("degraded"), "{h}");
    // Several flush ticks pass while the fault lasts.
    std::thread::sleep(Duration::from_millis(600));
    assert_store_refused(&s, "still during the fault");
    assert_all_served(&s, &before, "later during the fault");

    match fault {
        "read-only" => mount.read_write(),
        _ => std::fs::remove_file(&ballast).expect("removing the ballast"),
    }
    eventually(DEADLINE, "stores to work again", || {
        let r = s.store(&l2_store("after the fault", json!("works")));
        (r.status == 200).then_some(())
    });
    let h = health(&s);
    assert_eq!(h["storage"]["status"], json!("healthy"), "{h}");
    let after = store_many(&s, "after", 10);
    assert_all_served(&s, &before, "after the fault");
    assert_all_served(&s, &after, "after the fault");

    // And all of it survives a restart.
    let status = s.stop();
    assert!(status.success(), "clean shutdown: {status:?}");
    s.restart();
    assert_all_served(&s, &before, "after a restart");
    assert_all_served(&s, &after, "after a restart");
    drop(s);
    drop(mount);
}

#[test]
fn read_only_data_dir_refuses_stores_serves_lookups_and_recovers_sync() {
    fault_then_recover(&["--durability", "sync"], "read-only");
}

#[test]
fn read_only_data_dir_refuses_stores_serves_lookups_and_recovers_interval() {
    fault_then_recover(&["--flush-interval-ms", "100"], "read-only");
}

#[test]
fn full_data_dir_refuses_stores_serves_lookups_and_recovers_sync() {
    fault_then_recover(&["--durability", "sync"], "full");
}

#[test]
fn full_data_dir_refuses_stores_serves_lookups_and_recovers_interval() {
    fault_then_recover(&["--flush-interval-ms", "100"], "full");
}
