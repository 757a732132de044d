//! Backups and damaged data directories: `helios-cache backup` on stopped and
//! running servers, restores, torn copies and silently empty databases.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{command, run_to_exit, u, Server};
use serde_json::{json, Value};

fn store(s: &Server, input: &str) {
    s.store(&json!({"input_text": input, "response_data": {"a": input}, "task_type": "qa", "store_in_l1": false}))
        .ok();
}

fn hit_layer(s: &Server, input: &str) -> Value {
    let r = s.lookup(&json!({"input_text": input, "task_type": "qa", "use_l1": false}));
    r.ok()["layer"].clone()
}

fn backup(data: &Path, to: &Path) -> (bool, String) {
    let mut cmd = command();
    cmd.args([
        "--data-dir",
        data.to_str().unwrap(),
        "backup",
        "--to",
        to.to_str().unwrap(),
    ]);
    let (status, log) = run_to_exit(cmd, Duration::from_secs(120));
    (status.success(), log)
}

/// A server whose data directory is `dir` (copied in before it starts).
fn serve_copy(dir: &Path) -> Server {
    let mut s = Server::start();
    s.stop();
    std::fs::remove_dir_all(s.data_dir()).unwrap();
    let status = Command::new("cp")
        .arg("-r")
        .arg(dir)
        .arg(s.data_dir())
        .status()
        .unwrap();
    assert!(status.success());
    s.restart();
    s
}

#[test]
fn a_stopped_servers_backup_restores_every_entry() {
    let mut s = Server::start();
    store(&s, "How do I reset my password?");
    store(&s, "What is the refund policy?");
    s.stop();
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("copy");
    let (ok, log) = backup(&s.data_dir(), &to);
    assert!(ok, "{log}");
    let restored = serve_copy(&to);
    assert_eq!(
        hit_layer(&restored, "What is the refund policy?"),
        "L2_REDIS_EXACT"
    );
    assert_eq!(
        hit_layer(&restored, "How can I reset my password?"),
        "L3_SEMANTIC_RAG"
    );
    // A second backup into a non-empty directory is refused.
    let (ok, log) = backup(&s.data_dir(), &to);
    assert!(!ok && log.contains("not empty"), "{log}");
}

#[test]
fn a_running_servers_backup_holds_what_it_held_at_backup_time() {
    let s = Server::start();
    for i in 0..50 {
        store(&s, &format!("question {i} about gardening"));
    }
    store(&s, "How do I reset my password?");
    // A running server writes backups under the data directory's parent.
    let to = s.root().join("online");
    let (ok, log) = backup(&s.data_dir(), &to);
    assert!(ok, "{log}");
    assert!(log.is_empty() || !log.contains("ERROR"), "{log}");
    // The source keeps serving and writing.
    store(&s, "stored after the backup");
    assert_eq!(hit_layer(&s, "stored after the backup"), "L2_REDIS_EXACT");

    let restored = serve_copy(&to);
    assert_eq!(u(&restored.metrics()["l2_entries"]), 51);
    assert_eq!(
        hit_layer(&restored, "question 7 about gardening"),
        "L2_REDIS_EXACT"
    );
    assert_eq!(
        hit_layer(&restored, "How can I reset my password?"),
        "L3_SEMANTIC_RAG"
    );
    assert_eq!(hit_layer(&restored, "stored after the backup"), Value::Null);
}

#[test]
fn the_backup_endpoint_refuses_bad_targets() {
    let s = Server::start();
    let path = "/api/v1/helios/cache/admin/backup";
    assert_eq!(
        s.post(path, &json!({"to": "relative/dir"})).error(400),
        "invalid_backup_target"
    );
    let full = tempfile::tempdir().unwrap();
    std::fs::write(full.path().join("x"), "x").unwrap();
    assert_eq!(
        s.post(path, &json!({"to": full.path()})).error(400),
        "invalid_backup_target"
    );
    assert_eq!(s.post(path, &json!({})).error(400), "invalid_request");
    // An API client cannot make the server write anywhere else.
    let outside = tempfile::tempdir().unwrap();
    let r = s.post(path, &json!({"to": outside.path().join("b")}));
    assert_eq!(r.error(400), "invalid_backup_target");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--backup-root"));
    assert!(!outside.path().join("b").exists());
    let sneaky = s.root().join("x/../../escape");
    assert_eq!(
        s.post(path, &json!({"to": sneaky})).error(400),
        "invalid_backup_target"
    );
    // Under the root it works.
    store(&s, "What is the refund policy?");
    let inside = s.root().join("ok");
    let r = s.post(path, &json!({"to": inside})).ok().clone();
    assert!(u(&r["records"]) > 0 && inside.join("sled").exists(), "{r}");
}

#[test]
fn a_plain_copy_of_a_stopped_server_is_a_full_backup() {
    let mut s = Server::start();
    store(&s, "How do I reset my password?");
    s.stop();
    let restored = serve_copy(&s.data_dir());
    assert_eq!(
        hit_layer(&restored, "How do I reset my password?"),
        "L2_REDIS_EXACT"
    );
    assert_eq!(
        hit_layer(&restored, "How can I reset my password?"),
        "L3_SEMANTIC_RAG"
    );
}

/// Starts a server on `dir`; it must either serve or exit with a clear
/// message, never panic.
// Every path kills and reaps the child; clippy cannot see through the loop.
#[allow(clippy::zombie_processes)]
fn start_or_refuse(dir: &Path) -> Result<(), String> {
    let mut cmd = command();
    cmd.args(["--bind", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()]);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut log = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            log.push_str(&line);
            log.push('\n');
            if line.contains("listening on") {
                return (log, true);
            }
        }
        (log, false)
    });
    loop {
        if reader.is_finished() {
            let (log, listening) = reader.join().unwrap();
            if listening {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(());
            }
            let status = child.wait().unwrap();
            assert!(!log.contains("panicked"), "panic on start: {log}");
            assert!(!status.success(), "exited 0 without serving: {log}");
            return Err(log);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("neither served nor exited");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn torn_copies_of_a_writing_server_never_panic_at_start() {
    let s = Server::builder()
        .args(["--flush-interval-ms", "20"])
        .start();
    let c = s.client();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let body = json!({"input_text": format!("writer {w} text {i} {}", "pad ".repeat(50)), "response_data": i, "store_in_l1": false});
                    let _ = c.try_request("POST", "/api/v1/helios/cache/store", Some(body.to_string().as_bytes()));
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let copies = tempfile::tempdir().unwrap();
    let (mut served, mut refused) = (0, 0);
    for n in 0..6 {
        let copy = copies.path().join(format!("copy{n}"));
        // cp may report a file that vanished mid-copy (the state file is
        // replaced on every flush): what it leaves is exactly a torn copy.
        Command::new("cp")
            .arg("-r")
            .arg(s.data_dir())
            .arg(&copy)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(copy.join("sled").is_dir(), "nothing was copied");
        // A copy still holds the source's lock file content; the lock itself is not copied.
        match start_or_refuse(&copy) {
            Ok(()) => served += 1,
            Err(log) => {
                assert!(
                    log.contains("torn copy") || log.contains("damaged") || log.contains("missing"),
                    "{log}"
                );
                refused += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(served + refused, 6);
}

#[test]
fn a_database_that_opens_empty_is_refused_not_served() {
    let mut s = Server::builder()
        .args(["--flush-interval-ms", "50"])
        .start();
    store(&s, "What is the refund policy?");
    s.stop();
    let state = s.data_dir().join("helios.state");
    assert!(std::fs::read_to_string(&state)
        .unwrap()
        .contains("\"records\":"));
    // Lose the database files, keep the rest (what a bad copy can do).
    std::fs::remove_dir_all(s.data_dir().join("sled")).unwrap();
    let err = start_or_refuse(&s.data_dir()).unwrap_err();
    assert!(
        err.contains("is empty, but at its last flush it held"),
        "{err}"
    );
    assert!(err.contains("helios.state"), "{err}");
    // The operator accepts the loss explicitly.
    std::fs::remove_file(&state).unwrap();
    start_or_refuse(&s.data_dir()).unwrap();
}

#[test]
fn a_truncated_database_file_never_panics_at_start() {
    let mut s = Server::start();
    for i in 0..200 {
        store(&s, &format!("entry number {i} {}", "x".repeat(200)));
    }
    s.stop();
    let db = s.data_dir().join("sled/db");
    let len = std::fs::metadata(&db).unwrap().len();
    for keep in [len / 2, len / 5, 100] {
        let f = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        f.set_len(keep).unwrap();
        let _ = start_or_refuse(&s.data_dir());
    }
}

/// Issue 15: a backup inside the live data directory is lost with it (and
/// repeated ones fill the disk the cache needs); both doors refuse it.
/// Paths are normalised before the checks.
#[test]
fn backups_inside_the_data_directory_are_refused() {
    let s = Server::start();
    store(&s, "What is the refund policy?");
    let path = "/api/v1/helios/cache/admin/backup";
    let data = s.data_dir();
    for to in [
        data.join("sled/x"),
        data.join("x"),
        s.root().join("data/./y"),
        s.root().join("data/sled/../z"),
    ] {
        let r = s.post(path, &json!({ "to": to }));
        assert_eq!(r.error(400), "invalid_backup_target", "{to:?}");
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("inside the data directory"),
            "{to:?}: {r:?}"
        );
    }
    assert!(!data.join("sled/x").exists() && !data.join("x").exists());

    // The CLI, through the running server, refuses too.
    let (ok, log) = backup(&data, &data.join("x"));
    assert!(!ok && log.contains("inside the data directory"), "{log}");
    assert!(!data.join("x").exists());

    // Repeated separators and `.` are normalised, not refused.
    let odd = format!("{}/new//bk3/./", s.root().display());
    let r = s.post(path, &json!({ "to": odd })).ok().clone();
    assert!(u(&r["records"]) > 0, "{r}");
    assert!(s.root().join("new/bk3/sled").exists(), "{r}");
}

#[test]
fn the_cli_refuses_a_backup_inside_a_stopped_servers_data_directory() {
    let mut s = Server::start();
    store(&s, "What is the refund policy?");
    s.stop();
    let data = s.data_dir();
    let (ok, log) = backup(&data, &data.join("sled/copy"));
    assert!(!ok && log.contains("inside the data directory"), "{log}");
    assert!(!data.join("sled/copy").exists());
}
