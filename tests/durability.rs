//! Durability and time (issue 2, items 4 and 6): TTL expiry and the
//! sweeper, restart persistence, counters after a restart, the
//! second-process refusal, and `--durability sync` across a kill -9.
//!
//! Nothing here asserts on timing: waits are polls with generous deadlines.

mod common;

use std::time::Duration;

use common::{eventually, f, l2, l2_lookup, l2_store, u, with, Server};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn expired_entries_miss_and_the_sweeper_removes_them() {
    let s = Server::builder()
        .args(["--sweep-interval-ms", "100"])
        .start();
    let body = with(
        l2_store("short lived", json!("soon gone")),
        json!({"ttl_seconds": 1}),
    );
    s.store(&body).ok();
    s.store(&l2_store("long lived", json!("stays"))).ok();
    // (No lookup here: on a loaded machine a second can pass before it.)
    std::thread::sleep(Duration::from_millis(1500));
    eventually(DEADLINE, "the expired entry to miss", || {
        (s.lookup(&l2_lookup("short lived")).ok()["hit"] == json!(false)).then_some(())
    });
    let m = eventually(DEADLINE, "the sweeper to remove the entry", || {
        let m = s.metrics();
        (u(&m["l2_entries"]) == 1).then_some(m)
    });
    assert_eq!(u(&l2(&m)["expirations"]), 1, "{m}");
    assert_eq!(s.lookup(&l2_lookup("long lived")).body["hit"], json!(true));
}

#[test]
fn expired_entries_are_never_served_before_the_sweep() {
    // The sweeper practically never runs: expiry must hold on its own.
    let s = Server::builder()
        .args(["--sweep-interval-ms", "3600000"])
        .start();
    let body = with(l2_store("stale", json!("old")), json!({"ttl_seconds": 2}));
    s.store(&body).ok();
    let first = s.lookup(&l2_lookup("stale")).ok().clone();
    assert_eq!(first["hit"], json!(true), "fresh entry hits");
    let remaining = f(&first["l2_result"]["ttl_remaining_seconds"]);
    assert!(remaining <= 2.0, "per-entry ttl applies: {first}");
    std::thread::sleep(Duration::from_millis(2500));
    eventually(DEADLINE, "the expired entry to miss", || {
        (s.lookup(&l2_lookup("stale")).ok()["hit"] == json!(false)).then_some(())
    });
    let m = s.metrics();
    assert_eq!(u(&l2(&m)["expirations"]), 0, "not swept yet: {m}");
    // Storing it again makes it live again.
    s.store(&l2_store("stale", json!("new"))).ok();
    let b = s.lookup(&l2_lookup("stale")).ok().clone();
    assert_eq!(b["cached_response"], json!("new"));
}

#[test]
fn ttl_is_capped_by_config_and_defaults_from_config() {
    let s = Server::builder()
        .args(["--l2-ttl-seconds", "50", "--l2-max-ttl-seconds", "100"])
        .start();
    let capped = with(l2_store("capped", json!(1)), json!({"ttl_seconds": 100000}));
    s.store(&capped).ok();
    s.store(&l2_store("default", json!(2))).ok();
    let ttl = |text: &str| {
        let b = s.lookup(&l2_lookup(text)).ok().clone();
        assert_eq!(b["hit"], json!(true), "{b}");
        f(&b["l2_result"]["ttl_remaining_seconds"])
    };
    let c = ttl("capped");
    assert!(c > 90.0 && c <= 100.0, "capped to 100 s, got {c}");
    let d = ttl("default");
    assert!(d > 40.0 && d <= 50.0, "default 50 s, got {d}");
}

#[test]
fn entries_and_counters_survive_a_restart() {
    let mut s = Server::start();
    for i in 0..5 {
        let body = with(
            l2_store(&format!("persist {i}"), json!({"n": i})),
            json!({"namespace": "tenant", "tokens_used": 100}),
        );
        s.store(&body).ok();
    }
    let look = |s: &Server, i: usize| {
        s.lookup(&with(
            l2_lookup(&format!("persist {i}")),
            json!({"namespace": "tenant"}),
        ))
        .ok()
        .clone()
    };
    assert_eq!(look(&s, 0)["hit"], json!(true));
    assert_eq!(look(&s, 1)["hit"], json!(true));
    s.lookup(&l2_lookup("never stored")).ok();
    let before = s.metrics();
    assert_eq!(u(&before["total_lookups"]), 3);

    let status = s.stop();
    assert!(status.success(), "SIGTERM exit: {status:?}");
    assert_eq!(status.code(), Some(0));

    s.restart();
    // Counters first, before this run counts anything.
    let after = s.metrics();
    for key in [
        "total_lookups",
        "total_hits",
        "total_stores",
        "total_tokens_saved",
        "l2_entries",
    ] {
        assert_eq!(after[key], before[key], "{key} after restart");
    }
    assert!((f(&after["total_cost_saved"]) - f(&before["total_cost_saved"])).abs() < 1e-12);
    for key in ["lookups", "hits", "misses", "stores", "entries", "bytes"] {
        assert_eq!(l2(&after)[key], l2(&before)[key], "L2 {key} after restart");
    }
    for i in 0..5 {
        let b = look(&s, i);
        assert_eq!(b["hit"], json!(true), "entry {i} after restart");
        assert_eq!(b["cached_response"], json!({"n": i}));
        assert_eq!(u(&b["tokens_saved"]), 100);
    }
    // And counting goes on from there.
    assert_eq!(u(&s.metrics()["total_lookups"]), 8);
    assert_eq!(u(&s.metrics()["total_hits"]), 7);
    // Access counts of the first run were persisted too.
    assert_eq!(u(&look(&s, 0)["l2_result"]["access_count"]), 3);

    // A second clean cycle keeps everything again.
    assert_eq!(s.stop().code(), Some(0));
    s.restart();
    assert_eq!(u(&s.metrics()["total_lookups"]), 9);
    assert_eq!(look(&s, 4)["hit"], json!(true));
}

#[test]
fn invalidations_and_expiry_survive_a_restart() {
    let mut s = Server::start();
    s.store(&l2_store("gone", json!(1))).ok();
    s.store(&l2_store("kept", json!(2))).ok();
    s.store(&with(
        l2_store("brief", json!(3)),
        json!({"ttl_seconds": 1}),
    ))
    .ok();
    let id = s.store(&l2_store("gone", json!(1))).ok()["entry_id"].clone();
    s.invalidate(&json!({"entry_id": id})).ok();
    assert_eq!(s.stop().code(), Some(0));
    std::thread::sleep(Duration::from_millis(1500));
    s.restart();
    assert_eq!(s.lookup(&l2_lookup("gone")).ok()["hit"], json!(false));
    assert_eq!(s.lookup(&l2_lookup("kept")).ok()["hit"], json!(true));
    assert_eq!(
        s.lookup(&l2_lookup("brief")).ok()["hit"],
        json!(false),
        "an entry that expired while stopped is not served"
    );
}

#[test]
fn a_second_process_on_the_same_data_dir_is_refused() {
    let s = Server::start();
    s.store(&l2_store("first owner", json!("mine"))).ok();
    let (status, stderr) = s.run_second();
    assert!(!status.success(), "second process must fail: {stderr}");
    assert!(
        stderr.contains("in use"),
        "the message should say the directory is in use: {stderr}"
    );
    assert!(
        !stderr.contains("listening on"),
        "the second process must not serve: {stderr}"
    );
    // The first keeps serving, with its data intact and writable.
    let b = s.lookup(&l2_lookup("first owner")).ok().clone();
    assert_eq!(b["cached_response"], json!("mine"));
    s.store(&l2_store("after refusal", json!(1))).ok();
    assert_eq!(
        s.lookup(&l2_lookup("after refusal")).ok()["hit"],
        json!(true)
    );
}

#[test]
fn the_lock_is_released_by_a_stop_and_by_a_crash() {
    let mut s = Server::start();
    s.store(&l2_store("x", json!(1))).ok();
    assert_eq!(s.stop().code(), Some(0));
    s.restart();
    s.kill9();
    // A crashed process's lock does not block the next start.
    s.restart();
    assert!(s.client().is_serving());
}

#[test]
fn sync_durability_survives_kill_9() {
    // The interval flusher is set far away, so only the sync mode can have
    // put the stores on disk before the kill.
    let mut s = Server::builder()
        .args(["--durability", "sync", "--flush-interval-ms", "3600000"])
        .start();
    let h = s.get(&format!("{}/health", common::API)).ok().clone();
    assert_eq!(h["storage"]["durability"], json!("sync"));
    for i in 0..10 {
        s.store(&l2_store(&format!("durable {i}"), json!(i))).ok();
    }
    s.kill9();
    s.restart();
    for i in 0..10 {
        let b = s.lookup(&l2_lookup(&format!("durable {i}"))).ok().clone();
        assert_eq!(b["hit"], json!(true), "acknowledged store {i} lost");
        assert_eq!(b["cached_response"], json!(i));
    }
    assert_eq!(u(&s.metrics()["l2_entries"]), 10);
}

#[test]
fn interval_durability_survives_kill_9_after_the_interval() {
    let mut s = Server::builder()
        .args(["--durability", "interval", "--flush-interval-ms", "50"])
        .start();
    for i in 0..5 {
        s.store(&l2_store(&format!("flushed {i}"), json!(i))).ok();
    }
    // Well beyond the documented bound (one flush interval).
    std::thread::sleep(Duration::from_millis(1000));
    s.kill9();
    s.restart();
    for i in 0..5 {
        let b = s.lookup(&l2_lookup(&format!("flushed {i}"))).ok().clone();
        assert_eq!(b["hit"], json!(true), "store {i} lost after the interval");
    }
}
