//! Configuration (issue 2, item 2): flag > env > file > default, observed
//! through the running server's behaviour, and refusals of bad config.

mod common;

use std::time::Duration;

use common::{f, l2_lookup, l2_store, u, with, Server, API};
use serde_json::json;

/// The L2 default TTL the server reports and applies.
#[track_caller]
fn l2_default_ttl(s: &Server) -> u64 {
    let reported = u(&s.layer_stats("L2").ok()["details"]["default_ttl_seconds"]);
    // And it is what an entry without ttl_seconds gets.
    s.store(&l2_store("ttl probe", json!(1))).ok();
    let b = s.lookup(&l2_lookup("ttl probe")).ok().clone();
    let remaining = f(&b["l2_result"]["ttl_remaining_seconds"]);
    assert!(
        remaining <= reported as f64 && remaining > reported as f64 - 10.0,
        "entry TTL {remaining} does not match the reported default {reported}"
    );
    reported
}

#[test]
fn default_applies_without_any_setting() {
    let s = Server::start();
    assert_eq!(l2_default_ttl(&s), 3600);
}

#[test]
fn file_beats_default() {
    let s = Server::builder()
        .config_file("l2_ttl_seconds = 111\n")
        .start();
    assert_eq!(l2_default_ttl(&s), 111);
}

#[test]
fn env_beats_file() {
    let s = Server::builder()
        .config_file("l2_ttl_seconds = 111\n")
        .env("HELIOS_L2_TTL_SECONDS", "222")
        .start();
    assert_eq!(l2_default_ttl(&s), 222);
}

#[test]
fn flag_beats_env_and_file() {
    let s = Server::builder()
        .config_file("l2_ttl_seconds = 111\n")
        .env("HELIOS_L2_TTL_SECONDS", "222")
        .args(["--l2-ttl-seconds", "333"])
        .start();
    assert_eq!(l2_default_ttl(&s), 333);
}

#[test]
fn precedence_is_per_key() {
    // The file sets two keys; env overrides only one of them.
    let s = Server::builder()
        .config_file("l2_ttl_seconds = 111\nl2_max_entries = 2\n")
        .env("HELIOS_L2_TTL_SECONDS", "222")
        .start();
    assert_eq!(l2_default_ttl(&s), 222);
    let details = s.layer_stats("L2").ok()["details"].clone();
    assert_eq!(u(&details["max_entries"]), 2);
    for i in 0..4 {
        s.store(&l2_store(&format!("e{i}"), json!(i))).ok();
    }
    assert_eq!(
        u(&s.metrics()["l2_entries"]),
        2,
        "file's l2_max_entries applies"
    );
}

#[test]
fn config_file_via_env_and_other_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.toml");
    std::fs::write(
        &path,
        "l2_ttl_seconds = 30\nl2_max_ttl_seconds = 60\nbody_limit = 2048\ndurability = \"sync\"\n",
    )
    .unwrap();
    let s = Server::builder()
        .env("HELIOS_CONFIG", path.to_str().unwrap())
        .start();
    let health = s.get(&format!("{API}/health")).ok().clone();
    assert_eq!(health["storage"]["durability"], json!("sync"));
    let details = s.layer_stats("L2").ok()["details"].clone();
    assert_eq!(u(&details["max_ttl_seconds"]), 60);
    assert_eq!(u(&details["default_ttl_seconds"]), 30);
    // body_limit from the file: 3000 bytes is too much.
    let body = with(l2_store("x", json!("y".repeat(3000))), json!({}));
    assert_eq!(s.store(&body).error(413), "payload_too_large");
}

#[test]
fn bad_configuration_exits_non_zero_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = common::command();
        cmd.args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        common::run_to_exit(cmd, Duration::from_secs(30))
    };
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "l2_ttl_secondz = 5\n").unwrap();
    let (status, err) = run(&["--config", unknown.to_str().unwrap()], &[]);
    assert!(!status.success());
    assert!(err.contains("l2_ttl_secondz"), "names the bad key: {err}");

    let missing = dir.path().join("missing.toml");
    let (status, err) = run(&["--config", missing.to_str().unwrap()], &[]);
    assert!(!status.success());
    assert!(err.contains("missing.toml"), "names the file: {err}");

    let (status, err) = run(
        &["--l2-ttl-seconds", "100", "--l2-max-ttl-seconds", "10"],
        &[],
    );
    assert!(!status.success());
    assert!(err.contains("l2_ttl_seconds"), "{err}");

    let (status, _) = run(&[], &[("HELIOS_L2_MAX_ENTRIES", "lots")]);
    assert!(!status.success());
    let (status, _) = run(&["--durability", "sometimes"], &[]);
    assert!(!status.success());
}

#[test]
fn help_lists_every_option() {
    let mut cmd = common::command();
    cmd.arg("--help");
    let out = cmd.output().expect("running --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--bind",
        "--data-dir",
        "--config",
        "--l2-ttl-seconds",
        "--l2-max-ttl-seconds",
        "--l2-max-entries",
        "--l2-max-bytes",
        "--body-limit",
        "--durability",
        "--flush-interval-ms",
        "--sweep-interval-ms",
        "--index-save-interval-seconds",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    for env in [
        "HELIOS_BIND",
        "HELIOS_DATA_DIR",
        "HELIOS_L2_TTL_SECONDS",
        "HELIOS_DURABILITY",
    ] {
        assert!(help.contains(env), "--help lacks {env}:\n{help}");
    }
}
