//! Capacity bounds and many concurrent clients (issue 2, items 4 and 5).

mod common;

use std::thread;

use common::{l2, l2_lookup, l2_store, u, with, Server};
use serde_json::json;

#[test]
fn max_entries_evicts_the_entries_closest_to_expiry() {
    let mut s = Server::builder().args(["--l2-max-entries", "3"]).start();
    // Increasing TTLs make the eviction order certain: 0 and 1 go first.
    for i in 0..5 {
        let body = with(
            l2_store(&format!("cap {i}"), json!(i)),
            json!({"ttl_seconds": 1000 + i * 100}),
        );
        s.store(&body).ok();
    }
    let m = s.metrics();
    assert_eq!(u(&m["l2_entries"]), 3, "{m}");
    assert_eq!(u(&l2(&m)["evictions"]), 2, "{m}");
    assert_eq!(u(&l2(&m)["stores"]), 5, "{m}");
    let hit =
        |s: &Server, i: usize| s.lookup(&l2_lookup(&format!("cap {i}"))).ok()["hit"] == json!(true);
    assert!(!hit(&s, 0), "evicted entry 0 still served");
    assert!(!hit(&s, 1), "evicted entry 1 still served");
    for i in 2..5 {
        assert!(hit(&s, i), "entry {i} should remain");
    }
    // Eviction removed them from disk too: after a restart the same three.
    assert_eq!(s.stop().code(), Some(0));
    s.restart();
    assert_eq!(u(&s.metrics()["l2_entries"]), 3);
    assert!(!hit(&s, 0) && !hit(&s, 1));
    assert!(hit(&s, 2) && hit(&s, 3) && hit(&s, 4));
}

#[test]
fn max_bytes_bounds_the_layer() {
    let s = Server::builder().args(["--l2-max-bytes", "20000"]).start();
    for i in 0..10 {
        let body = with(
            l2_store(&format!("bytes {i}"), json!("z".repeat(4000))),
            json!({"ttl_seconds": 1000 + i * 100}),
        );
        s.store(&body).ok();
    }
    let m = s.metrics();
    let st = l2(&m);
    assert!(u(&st["bytes"]) <= 20000, "over the byte budget: {st}");
    let entries = u(&st["entries"]);
    assert!((1..10).contains(&entries), "some evicted, some kept: {st}");
    assert_eq!(u(&st["evictions"]), 10 - entries, "{st}");
    // The newest (furthest expiry) survive; the oldest do not.
    assert_eq!(s.lookup(&l2_lookup("bytes 9")).ok()["hit"], json!(true));
    assert_eq!(s.lookup(&l2_lookup("bytes 0")).ok()["hit"], json!(false));
}

#[test]
fn many_concurrent_clients_add_up() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 50;
    let s = Server::start();
    let client = s.client();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            thread::spawn(move || {
                let mut hits = 0;
                for i in 0..PER_THREAD {
                    let text = format!("thread {t} item {i}");
                    let body = with(
                        l2_store(&text, json!({"t": t, "i": i})),
                        json!({"tokens_used": 10}),
                    );
                    let st = client.store(&body);
                    assert_eq!(st.status, 200, "{st:?}");
                    let r = client.lookup(&l2_lookup(&text));
                    assert_eq!(r.status, 200, "{r:?}");
                    assert_eq!(r.body["cached_response"], json!({"t": t, "i": i}));
                    if r.body["hit"] == json!(true) {
                        hits += 1;
                    }
                    // Every tenth, a miss.
                    if i.is_multiple_of(10) {
                        let m = client.lookup(&l2_lookup(&format!("absent {t} {i}")));
                        assert_eq!(m.body["hit"], json!(false));
                    }
                }
                hits
            })
        })
        .collect();
    let hits: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let n = (THREADS * PER_THREAD) as u64;
    let misses = (THREADS * PER_THREAD / 10) as u64;
    assert_eq!(hits as u64, n);
    let m = s.metrics();
    assert_eq!(u(&m["total_lookups"]), n + misses, "{m}");
    assert_eq!(u(&m["total_hits"]), n, "{m}");
    assert_eq!(u(&m["total_stores"]), n, "{m}");
    assert_eq!(u(&m["l2_entries"]), n, "{m}");
    assert_eq!(u(&m["total_tokens_saved"]), 10 * n, "{m}");
    let st = l2(&m);
    assert_eq!(u(&st["stores"]), n);
    assert_eq!(u(&st["hits"]), n);
    assert_eq!(u(&st["misses"]), misses);
}

#[test]
fn concurrent_stores_of_the_same_key_leave_one_entry() {
    let s = Server::start();
    let client = s.client();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..20 {
                    let r = client.store(&l2_store("contended", json!([t, i])));
                    assert_eq!(r.status, 200, "{r:?}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let m = s.metrics();
    assert_eq!(u(&m["l2_entries"]), 1, "{m}");
    assert_eq!(u(&l2(&m)["stores"]), 160);
    let b = s.lookup(&l2_lookup("contended")).ok().clone();
    assert_eq!(b["hit"], json!(true));
    // Byte accounting matches a single entry: invalidating it brings it to 0.
    s.invalidate(&json!({"all": true})).ok();
    let m = s.metrics();
    assert_eq!(u(&l2(&m)["entries"]), 0);
    assert_eq!(u(&l2(&m)["bytes"]), 0, "{m}");
}
