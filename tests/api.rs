//! The seven endpoints of SPEC §2 against the real binary: request and
//! response shapes, the waterfall's L2 hit and miss, the `X-Helios-Cache`
//! header, scope isolation and invalidation.

mod common;

use common::{f, l2, l2_lookup, l2_store, u, with, Server, API};
use serde_json::{json, Value};

/// The SPEC's store example, unchanged.
fn spec_store() -> Value {
    json!({
        "input_text": "What is the capital of France?",
        "response_data": {"answer": "Paris is the capital of France."},
        "task_type": "qa",
        "model_used": "claude-opus-4",
        "system_prompt": "You are a helpful assistant.",
        "tokens_used": 150,
        "store_in_l1": true,
        "store_in_l2": true,
        "store_in_l3": true
    })
}

/// The SPEC's lookup example, unchanged.
fn spec_lookup() -> Value {
    json!({
        "input_text": "What is the capital of France?",
        "task_type": "qa",
        "system_prompt": "You are a helpful assistant.",
        "use_l1": true,
        "use_l2": true,
        "use_l3": true,
        "similarity_threshold": 0.85
    })
}

fn is_entry_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A layer's `*_result` is either a real result with a boolean `hit`, or says
/// plainly that the layer is not available (and then is not a hit).
fn check_layer_result(r: &Value, name: &str) {
    assert!(r.is_object(), "{name} must be an object here: {r}");
    assert!(r["hit"].is_boolean(), "{name}.hit must be a boolean: {r}");
    if r["available"] == json!(false) {
        assert_eq!(r["hit"], json!(false), "an unavailable layer never hits");
        assert!(r["reason"].is_string(), "{name} must say why: {r}");
    }
}

#[test]
fn spec_store_then_spec_lookup_hits_l2() {
    let s = Server::start();
    let stored = s.store(&spec_store());
    let st = stored.ok();
    assert_eq!(st["success"], json!(true));
    let layers = st["layers_stored"].as_array().expect("layers_stored");
    assert!(
        layers.contains(&json!("L2_REDIS_EXACT")),
        "L2 must store: {st}"
    );
    for l in layers {
        assert!(
            ["L1_CLAUDE_NATIVE", "L2_REDIS_EXACT", "L3_SEMANTIC_RAG"]
                .contains(&l.as_str().unwrap()),
            "layers use wire names: {st}"
        );
    }
    assert!(is_entry_id(&st["entry_id"]), "entry_id: {st}");

    let r = s.lookup(&spec_lookup());
    let b = r.ok();
    assert_eq!(r.header("X-Helios-Cache"), Some("HIT-L2"));
    assert_eq!(r.header("X-Helios-Similarity"), None);
    assert_eq!(b["hit"], json!(true));
    assert_eq!(b["layer"], json!("L2_REDIS_EXACT"));
    assert_eq!(
        b["cached_response"],
        json!({"answer": "Paris is the capital of France."})
    );
    assert_eq!(f(&b["confidence"]), 1.0);
    assert_eq!(b["entry_id"], st["entry_id"]);
    // Waterfall: L1 reported, L2 hit, L3 not searched.
    check_layer_result(&b["l1_result"], "l1_result");
    assert_eq!(b["l2_result"]["hit"], json!(true));
    assert_eq!(b["l2_result"]["entry_id"], st["entry_id"]);
    assert_eq!(
        b["l3_result"],
        Value::Null,
        "L3 is not searched after an L2 hit"
    );
    assert!(f(&b["lookup_time_ms"]) >= 0.0);
    assert_eq!(u(&b["tokens_saved"]), 150);
    // 150 tokens priced as claude-opus-4 output ($75 / MTok).
    let cost = f(&b["cost_saved"]);
    assert!(
        (cost - 150.0 * 75.0 / 1e6).abs() < 1e-9,
        "cost_saved {cost}"
    );

    // The same text in the same scope keeps hitting, and is counted.
    let again = s.lookup(&spec_lookup());
    assert_eq!(again.body["hit"], json!(true));
    assert_eq!(u(&again.body["l2_result"]["access_count"]), 2);
}

#[test]
fn lookup_miss_shape_and_header() {
    let s = Server::start();
    let r = s.lookup(&spec_lookup());
    let b = r.ok();
    assert_eq!(r.header("X-Helios-Cache"), Some("MISS"));
    assert_eq!(b["hit"], json!(false));
    assert_eq!(b["layer"], Value::Null);
    assert_eq!(b["cached_response"], Value::Null);
    assert_eq!(b["entry_id"], Value::Null);
    assert_eq!(f(&b["confidence"]), 0.0);
    assert_eq!(u(&b["tokens_saved"]), 0);
    assert_eq!(f(&b["cost_saved"]), 0.0);
    check_layer_result(&b["l1_result"], "l1_result");
    assert_eq!(b["l2_result"]["hit"], json!(false));
    check_layer_result(&b["l3_result"], "l3_result");
}

#[test]
fn use_flags_skip_layers() {
    let s = Server::start();
    s.store(&l2_store("skip me", json!("x"))).ok();
    let r = s.lookup(&json!({
        "input_text": "skip me", "use_l1": false, "use_l2": false, "use_l3": false
    }));
    let b = r.ok();
    assert_eq!(b["hit"], json!(false), "L2 was not asked: {b}");
    assert_eq!(r.header("X-Helios-Cache"), Some("MISS"));
    assert_eq!(b["l1_result"], Value::Null);
    assert_eq!(b["l2_result"], Value::Null);
    assert_eq!(b["l3_result"], Value::Null);
    // Only L2 asked: a hit.
    assert_eq!(s.lookup(&l2_lookup("skip me")).body["hit"], json!(true));
}

#[test]
fn response_data_is_returned_verbatim() {
    let s = Server::start();
    let cases = [
        json!({"nested": {"list": [1, 2.5, "three", null, true]}, "emoji": "héllo ✓"}),
        json!("just a string"),
        json!(42),
        json!([{"role": "assistant", "content": "hi"}]),
    ];
    for (i, data) in cases.iter().enumerate() {
        let text = format!("verbatim {i}");
        s.store(&l2_store(&text, data.clone())).ok();
        let b = s.lookup(&l2_lookup(&text)).ok().clone();
        assert_eq!(&b["cached_response"], data);
    }
}

#[test]
fn metrics_count_lookups_hits_and_savings() {
    let s = Server::start();
    let m0 = s.metrics();
    for key in [
        "total_lookups",
        "total_hits",
        "overall_hit_rate",
        "l1_hit_rate",
        "l2_hit_rate",
        "l3_hit_rate",
        "total_tokens_saved",
        "total_cost_saved",
        "l1_entries",
        "l2_entries",
        "l3_entries",
    ] {
        assert!(m0[key].is_number(), "/metrics lacks {key}: {m0}");
    }
    assert_eq!(u(&m0["total_lookups"]), 0);
    assert_eq!(u(&m0["l2_entries"]), 0);

    s.store(&spec_store()).ok();
    let hit = s.lookup(&spec_lookup()).ok().clone();
    s.lookup(&l2_lookup("never stored")).ok();

    let m = s.metrics();
    assert_eq!(u(&m["total_lookups"]), 2);
    assert_eq!(u(&m["total_hits"]), 1);
    assert_eq!(f(&m["overall_hit_rate"]), 0.5);
    assert_eq!(f(&m["l2_hit_rate"]), 0.5);
    assert_eq!(u(&m["l2_entries"]), 1);
    assert_eq!(u(&m["total_tokens_saved"]), 150);
    assert!((f(&m["total_cost_saved"]) - f(&hit["cost_saved"])).abs() < 1e-9);
    let l = l2(&m);
    assert_eq!(u(&l["lookups"]), 2);
    assert_eq!(u(&l["hits"]), 1);
    assert_eq!(u(&l["misses"]), 1);
    assert_eq!(u(&l["stores"]), 1);
    assert_eq!(u(&l["entries"]), 1);
    assert!(u(&l["bytes"]) > 0);
    for q in ["mean", "p50", "p99"] {
        assert!(f(&l["latency_ms"][q]) > 0.0, "latency {q}: {l}");
    }
}

#[test]
fn health_reports_every_layer_and_storage() {
    let s = Server::start();
    let h = s.get(&format!("{API}/health")).ok().clone();
    assert_eq!(h["status"], json!("healthy"));
    for name in ["L1_CLAUDE_NATIVE", "L2_REDIS_EXACT", "L3_SEMANTIC_RAG"] {
        let l = &h["layers"][name];
        assert!(l["status"].is_string(), "{name}: {h}");
        assert!(l["available"].is_boolean(), "{name}: {h}");
        if l["available"] == json!(false) {
            assert_eq!(l["status"], json!("unavailable"), "{name} must say so: {h}");
        }
    }
    assert_eq!(h["layers"]["L2_REDIS_EXACT"]["status"], json!("healthy"));
    assert_eq!(h["layers"]["L2_REDIS_EXACT"]["available"], json!(true));
    assert_eq!(h["storage"]["status"], json!("healthy"));
}

#[test]
fn summary_has_metrics_savings_storage_and_health() {
    let s = Server::start();
    s.store(&spec_store()).ok();
    s.lookup(&spec_lookup()).ok();
    let sum = s.get(&format!("{API}/summary")).ok().clone();
    let m = &sum["metrics"];
    assert_eq!(u(&m["total_lookups"]), 1);
    assert_eq!(u(&m["total_hits"]), 1);
    assert_eq!(u(&m["savings"]["total_tokens_saved"]), 150);
    assert!(f(&m["savings"]["total_cost_saved_dollars"]) > 0.0);
    assert_eq!(u(&m["storage"]["L2_entries"]), 1);
    assert!(m["storage"]["L1_entries"].is_u64());
    assert!(m["storage"]["L3_entries"].is_u64());
    assert_eq!(sum["health"]["status"], json!("healthy"));
    assert!(sum["health"]["layers"]["L2_REDIS_EXACT"].is_object());
}

#[test]
fn layer_stats_by_wire_and_short_name() {
    let s = Server::start();
    s.store(&l2_store("stats", json!(1))).ok();
    s.lookup(&l2_lookup("stats")).ok();
    for name in ["L2_REDIS_EXACT", "L2", "l2"] {
        let st = s.layer_stats(name).ok().clone();
        assert_eq!(st["layer"], json!("L2_REDIS_EXACT"), "{name}");
        assert_eq!(st["available"], json!(true));
        assert_eq!(u(&st["entries"]), 1);
        assert_eq!(u(&st["stores"]), 1);
        assert_eq!(u(&st["lookups"]), 1);
        assert_eq!(u(&st["hits"]), 1);
        assert_eq!(f(&st["hit_rate"]), 1.0);
        assert_eq!(u(&st["evictions"]), 0);
        assert_eq!(u(&st["expirations"]), 0);
        assert_eq!(u(&st["details"]["default_ttl_seconds"]), 3600);
    }
    for name in ["L1", "L1_CLAUDE_NATIVE", "L3", "L3_SEMANTIC_RAG"] {
        let st = s.layer_stats(name).ok().clone();
        assert!(
            st["layer"].as_str().unwrap().starts_with(&name[..2]),
            "{st}"
        );
    }
    assert_eq!(s.layer_stats("L4").error(400), "unknown_layer");
    assert_eq!(s.layer_stats("REDIS").error(400), "unknown_layer");
}

#[test]
fn unknown_routes_and_methods_get_json_errors() {
    let s = Server::start();
    assert_eq!(s.get(&format!("{API}/nope")).error(404), "not_found");
    let r = s.get(&format!("{API}/lookup"));
    assert_eq!(r.error(405), "method_not_allowed");
    assert!(s.client().is_serving());
}

#[test]
fn scopes_are_isolated() {
    let s = Server::start();
    let text = "Summarise the quarterly report.";
    let scopes = [
        json!({}),
        json!({"task_type": "summarize"}),
        json!({"namespace": "tenant-b"}),
        json!({"system_prompt": "You are terse."}),
        json!({"system_prompt": "You are verbose."}),
        json!({"namespace": "tenant-b", "task_type": "summarize", "system_prompt": "You are terse."}),
    ];
    // Stored only in the default scope: every other scope misses. The
    // lookups ask every layer: no layer may match across scopes.
    s.store(&with(
        l2_store(text, json!("default answer")),
        scopes[0].clone(),
    ))
    .ok();
    assert_eq!(
        s.lookup(&with(json!({"input_text": text}), scopes[0].clone()))
            .body["hit"],
        json!(true)
    );
    for scope in &scopes[1..] {
        let b = s
            .lookup(&with(json!({"input_text": text}), scope.clone()))
            .ok()
            .clone();
        assert_eq!(b["hit"], json!(false), "leaked into scope {scope}: {b}");
    }
    // Each scope keeps its own answer for the same text.
    for (i, scope) in scopes.iter().enumerate() {
        s.store(&with(
            l2_store(text, json!(format!("answer {i}"))),
            scope.clone(),
        ))
        .ok();
    }
    let mut ids = std::collections::HashSet::new();
    for (i, scope) in scopes.iter().enumerate() {
        let b = s.lookup(&with(l2_lookup(text), scope.clone())).ok().clone();
        assert_eq!(b["hit"], json!(true), "scope {scope}");
        assert_eq!(
            b["cached_response"],
            json!(format!("answer {i}")),
            "{scope}"
        );
        ids.insert(b["entry_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), scopes.len(), "each scope has its own entry");
    assert_eq!(u(&s.metrics()["l2_entries"]), scopes.len() as u64);
    // The text itself is exact: a different character misses.
    assert_eq!(
        s.lookup(&l2_lookup("Summarise the quarterly report!")).body["hit"],
        json!(false)
    );
}

/// Checks an invalidation answer: success, the L2 count, and a total that is
/// the sum of the per-layer counts.
#[track_caller]
fn check_counts(r: &Value, l2_count: u64) {
    assert_eq!(r["success"], json!(true), "{r}");
    assert_eq!(u(&r["invalidated"]["L2_REDIS_EXACT"]), l2_count, "{r}");
    let sum: u64 = r["invalidated"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| u(v))
        .sum();
    assert_eq!(u(&r["total_invalidated"]), sum, "{r}");
}

fn hits(s: &Server, body: Value) -> bool {
    s.lookup(&body).ok()["hit"] == json!(true)
}

#[test]
fn invalidate_by_task_type_namespace_and_entry() {
    let s = Server::start();
    let put = |text: &str, extra: Value| {
        s.store(&with(l2_store(text, json!(text)), extra))
            .ok()
            .clone()
    };
    put("a1", json!({"task_type": "alpha"}));
    put("a2", json!({"task_type": "alpha"}));
    put("b1", json!({"task_type": "beta"}));
    put("n1", json!({"namespace": "other", "task_type": "alpha"}));
    let e = put("e1", json!({}));
    put("e2", json!({}));
    let get = |text: &str, extra: Value| hits(&s, with(l2_lookup(text), extra));

    // task_type alone spans namespaces: a1, a2 and n1.
    let r = s.invalidate(&json!({"task_type": "alpha"})).ok().clone();
    check_counts(&r, 3);
    assert!(!get("a1", json!({"task_type": "alpha"})));
    assert!(!get("a2", json!({"task_type": "alpha"})));
    assert!(!get(
        "n1",
        json!({"namespace": "other", "task_type": "alpha"})
    ));
    assert!(get("b1", json!({"task_type": "beta"})));

    put("n2", json!({"namespace": "other"}));
    put("n3", json!({"namespace": "other", "task_type": "beta"}));
    let r = s.invalidate(&json!({"namespace": "other"})).ok().clone();
    check_counts(&r, 2);
    assert!(!get("n2", json!({"namespace": "other"})));
    assert!(
        get("b1", json!({"task_type": "beta"})),
        "other namespaces stay"
    );

    // namespace and task type together must both match.
    put("n4", json!({"namespace": "other", "task_type": "beta"}));
    let r = s
        .invalidate(&json!({"namespace": "default", "task_type": "beta"}))
        .ok()
        .clone();
    check_counts(&r, 1);
    assert!(!get("b1", json!({"task_type": "beta"})));
    assert!(get(
        "n4",
        json!({"namespace": "other", "task_type": "beta"})
    ));

    let r = s
        .invalidate(&json!({"entry_id": e["entry_id"]}))
        .ok()
        .clone();
    check_counts(&r, 1);
    assert!(!get("e1", json!({})));
    assert!(get("e2", json!({})));
    // A second time there is nothing left to remove.
    let r = s
        .invalidate(&json!({"entry_id": e["entry_id"]}))
        .ok()
        .clone();
    check_counts(&r, 0);

    let m = s.metrics();
    assert_eq!(u(&m["l2_entries"]), 2, "e2 and n4 remain: {m}");
    assert_eq!(u(&l2(&m)["invalidations"]), 7);
}

#[test]
fn invalidate_by_layer_and_all() {
    let s = Server::start();
    for i in 0..4 {
        s.store(&l2_store(&format!("x{i}"), json!(i))).ok();
    }
    // By layer, in both spellings; other layers are not touched.
    let r = s
        .invalidate(&json!({"layer": "L2_REDIS_EXACT"}))
        .ok()
        .clone();
    check_counts(&r, 4);
    assert_eq!(r["invalidated"].as_object().unwrap().len(), 1, "{r}");
    assert!(!hits(&s, l2_lookup("x0")));
    assert_eq!(u(&s.metrics()["l2_entries"]), 0);

    for i in 0..3 {
        s.store(&l2_store(&format!("y{i}"), json!(i))).ok();
    }
    let r = s.invalidate(&json!({"layer": "L2"})).ok().clone();
    check_counts(&r, 3);

    for i in 0..5 {
        s.store(&with(
            l2_store(&format!("z{i}"), json!(i)),
            json!({"namespace": format!("ns{i}")}),
        ))
        .ok();
    }
    let r = s.invalidate(&json!({"all": true})).ok().clone();
    check_counts(&r, 5);
    assert_eq!(u(&s.metrics()["l2_entries"]), 0);
    assert!(!hits(
        &s,
        with(l2_lookup("z3"), json!({"namespace": "ns3"}))
    ));

    // Nothing named: refused, nothing removed.
    s.store(&l2_store("keep", json!(1))).ok();
    assert_eq!(s.invalidate(&json!({})).error(400), "missing_filter");
    assert_eq!(
        s.invalidate(&json!({"all": false})).error(400),
        "missing_filter"
    );
    assert!(hits(&s, l2_lookup("keep")));
}

#[test]
fn restoring_an_entry_replaces_it() {
    let s = Server::start();
    let a = s.store(&l2_store("same", json!("first"))).ok().clone();
    let b = s.store(&l2_store("same", json!("second"))).ok().clone();
    assert_eq!(
        a["entry_id"], b["entry_id"],
        "same scope and text, same entry"
    );
    let r = s.lookup(&l2_lookup("same")).ok().clone();
    assert_eq!(r["cached_response"], json!("second"));
    let m = s.metrics();
    assert_eq!(u(&m["l2_entries"]), 1);
    assert_eq!(u(&l2(&m)["stores"]), 2);
}

/// Sends `HEAD path` and returns the status, the header block and every
/// byte the server sent after it (there must be none).
fn head(s: &Server, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(s.addr()).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "HEAD {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        s.addr()
    )
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[end + 4..].to_vec())
}

/// Issue 15: load balancers health-check with HEAD; it got 405.
#[test]
fn head_is_answered_wherever_get_is() {
    let s = Server::start();
    for path in [
        format!("{API}/health"),
        format!("{API}/metrics"),
        format!("{API}/stats/layer/L2"),
        "/metrics".to_string(),
        "/openapi.json".to_string(),
    ] {
        let (status, head, body) = head(&s, &path);
        assert_eq!(status, 200, "HEAD {path}: {head}");
        assert!(body.is_empty(), "HEAD {path} sent a body: {body:?}");
    }
    // A POST-only route: 405 naming exactly its methods.
    let (status, head, body) = head(&s, &format!("{API}/lookup"));
    assert_eq!(status, 405, "{head}");
    assert!(head.contains("\r\nallow: post"), "{head}");
    assert!(body.is_empty());
    // GET still answers with a body.
    assert_eq!(s.get(&format!("{API}/health")).ok()["status"], "healthy");
}
