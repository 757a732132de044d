//! Bad input (issue 2, item 7): every refusal is a 4xx with the SPEC error
//! body `{"error": {"code", "message"}}`, a failed store leaves nothing
//! behind, and the server keeps serving.

mod common;

use common::{l2, l2_lookup, l2_store, u, with, Server, API};
use serde_json::{json, Value};

fn lookup_path() -> String {
    format!("{API}/lookup")
}

fn store_path() -> String {
    format!("{API}/store")
}

/// Asserts the server still answers and still stores and finds entries.
#[track_caller]
fn still_serving(s: &Server) {
    assert!(s.client().is_serving(), "server stopped serving");
    s.store(&l2_store("canary", json!("alive"))).ok();
    let b = s.lookup(&l2_lookup("canary")).ok().clone();
    assert_eq!(b["cached_response"], json!("alive"));
}

#[test]
fn malformed_and_non_object_bodies() {
    let s = Server::start();
    let malformed: [&[u8]; 5] = [
        b"{not json",
        b"",
        b"{\"input_text\": \"a\",}",
        b"{\"input_text\": \"unterminated",
        b"\xff\xfe{}",
    ];
    let not_objects: [&[u8]; 6] = [b"[1, 2]", b"\"text\"", b"42", b"null", b"true", b"[]"];
    for path in [lookup_path(), store_path(), format!("{API}/invalidate")] {
        for body in malformed {
            let r = s.post_raw(&path, body);
            assert_eq!(
                r.error(400),
                "malformed_json",
                "{path} {:?}",
                String::from_utf8_lossy(body)
            );
        }
        for body in not_objects {
            let r = s.post_raw(&path, body);
            assert_eq!(
                r.error(400),
                "not_an_object",
                "{path} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
    assert_eq!(u(&s.metrics()["total_lookups"]), 0, "nothing was counted");
    still_serving(&s);
}

#[test]
fn missing_or_empty_input_text() {
    let s = Server::start();
    for body in [
        json!({}),
        json!({"task_type": "qa"}),
        json!({"input_text": null}),
    ] {
        s.lookup(&body).error(400);
        s.store(&with(body, json!({"response_data": "r"})))
            .error(400);
    }
    for text in ["", " ", "\n\t  "] {
        assert_eq!(
            s.lookup(&json!({"input_text": text})).error(400),
            "empty_input"
        );
        assert_eq!(
            s.store(&json!({"input_text": text, "response_data": "r"}))
                .error(400),
            "empty_input"
        );
    }
    // response_data is required on store, and must not be null.
    s.store(&json!({"input_text": "no response"})).error(400);
    s.store(&json!({"input_text": "null response", "response_data": null}))
        .error(400);
    assert_eq!(u(&s.metrics()["l2_entries"]), 0);
    assert!(!s.lookup(&l2_lookup("no response")).body["hit"]
        .as_bool()
        .unwrap());
    still_serving(&s);
}

#[test]
fn wrong_types() {
    let s = Server::start();
    let lookups = [
        json!({"input_text": 5}),
        json!({"input_text": ["a"]}),
        json!({"input_text": "a", "task_type": 7}),
        json!({"input_text": "a", "namespace": {"n": 1}}),
        json!({"input_text": "a", "system_prompt": false}),
        json!({"input_text": "a", "use_l2": "yes"}),
        json!({"input_text": "a", "use_l1": 1}),
        json!({"input_text": "a", "similarity_threshold": "high"}),
    ];
    for body in lookups {
        let code = s.lookup(&body).error(400);
        assert_eq!(code, "invalid_request", "{body}");
    }
    let base = json!({"input_text": "typed", "response_data": {"a": 1}});
    let stores = [
        json!({"tokens_used": "many"}),
        json!({"tokens_used": 1.5}),
        json!({"ttl_seconds": "1h"}),
        json!({"store_in_l2": "true"}),
        json!({"model_used": 4}),
        json!({"task_type": ["qa"]}),
    ];
    for extra in stores {
        let code = s.store(&with(base.clone(), extra.clone())).error(400);
        assert_eq!(code, "invalid_request", "{extra}");
    }
    for body in [
        json!({"layer": 2}),
        json!({"all": "yes"}),
        json!({"entry_id": 12}),
    ] {
        s.invalidate(&body).error(400);
    }
    // Names outside the allowed alphabet are refused, not stored.
    for extra in [
        json!({"namespace": "has space"}),
        json!({"namespace": ""}),
        json!({"task_type": "x".repeat(129)}),
    ] {
        assert_eq!(
            s.store(&with(base.clone(), extra.clone())).error(400),
            "invalid_name",
            "{extra}"
        );
    }
    assert_eq!(
        s.invalidate(&json!({"entry_id": "not-hex"})).error(400),
        "invalid_entry_id"
    );
    assert_eq!(u(&s.metrics()["l2_entries"]), 0);
    assert_eq!(u(&s.metrics()["total_stores"]), 0);
    still_serving(&s);
}

#[test]
fn similarity_threshold_outside_0_to_1() {
    let s = Server::start();
    s.store(&l2_store("thr", json!(1))).ok();
    for t in [json!(-0.1), json!(1.01), json!(2), json!(-1), json!(1e300)] {
        let code = s
            .lookup(&json!({"input_text": "thr", "similarity_threshold": t}))
            .error(400);
        assert_eq!(code, "invalid_threshold", "{t}");
    }
    // The bounds themselves are fine.
    for t in [json!(0), json!(0.0), json!(1), json!(0.85)] {
        s.lookup(&json!({"input_text": "thr", "similarity_threshold": t}))
            .ok();
    }
    still_serving(&s);
}

#[test]
fn negative_zero_and_absurd_ttl_store_nothing() {
    let s = Server::start();
    for (i, ttl) in [json!(-1), json!(0), json!(-99999), json!(99_999_999_999u64)]
        .into_iter()
        .enumerate()
    {
        let text = format!("ttl {i}");
        let body = with(l2_store(&text, json!("x")), json!({"ttl_seconds": ttl}));
        assert_eq!(s.store(&body).error(400), "invalid_ttl", "{ttl}");
        assert_eq!(s.lookup(&l2_lookup(&text)).body["hit"], json!(false));
    }
    // Beyond i64: a type error, still a 400.
    let body = with(l2_store("huge", json!("x")), json!({"ttl_seconds": 1e30}));
    s.store(&body).error(400);
    let m = s.metrics();
    assert_eq!(u(&m["l2_entries"]), 0);
    assert_eq!(u(&m["total_stores"]), 0);
    assert_eq!(u(&l2(&m)["stores"]), 0);
    still_serving(&s);
}

#[test]
fn failed_stores_leave_nothing_behind() {
    let s = Server::start();
    // Each is valid but for one field; none may be applied in part.
    let good = json!({
        "input_text": "half written?",
        "response_data": {"answer": "no"},
        "task_type": "qa",
        "model_used": "claude-opus-4",
        "tokens_used": 10,
    });
    for bad in [
        json!({"ttl_seconds": -5}),
        json!({"tokens_used": -1}),
        json!({"namespace": "bad space"}),
        json!({"system_prompt_tokens": -3}),
        json!({"usage": {"input_tokens": -1}}),
        json!({"store_in_l1": false, "store_in_l2": false, "store_in_l3": false}),
    ] {
        s.store(&with(good.clone(), bad.clone())).error(400);
    }
    let m = s.metrics();
    for key in ["l1_entries", "l2_entries", "l3_entries", "total_stores"] {
        assert_eq!(u(&m[key]), 0, "{key} after failed stores: {m}");
    }
    let look = json!({"input_text": "half written?", "task_type": "qa"});
    assert_eq!(s.lookup(&look).body["hit"], json!(false));
    // The same request without the bad field works.
    s.store(&good).ok();
    assert_eq!(s.lookup(&look).body["hit"], json!(true));
    still_serving(&s);
}

#[test]
fn unknown_layer_in_invalidate_and_stats() {
    let s = Server::start();
    s.store(&l2_store("kept", json!(1))).ok();
    for layer in ["L4", "L2_REDIS", "redis", ""] {
        let r = s.invalidate(&json!({"layer": layer}));
        assert_eq!(r.error(400), "unknown_layer", "{layer:?}");
    }
    // Even with a valid filter beside it, nothing is removed.
    let r = s.invalidate(&json!({"layer": "L9", "all": true}));
    assert_eq!(r.error(400), "unknown_layer");
    assert_eq!(s.lookup(&l2_lookup("kept")).body["hit"], json!(true));
    for layer in ["L4", "L0_NOTHING", "metrics"] {
        assert_eq!(s.layer_stats(layer).error(400), "unknown_layer", "{layer}");
    }
    still_serving(&s);
}

/// A JSON body of about `n` bytes.
fn body_of(n: usize) -> Vec<u8> {
    json!({"input_text": "x".repeat(n), "response_data": {"a": 1}})
        .to_string()
        .into_bytes()
}

#[test]
fn oversized_body_is_413() {
    let s = Server::builder().args(["--body-limit", "4096"]).start();
    for path in [lookup_path(), store_path(), format!("{API}/invalidate")] {
        let r = s.post_raw(&path, &body_of(64 * 1024));
        assert_eq!(r.error(413), "payload_too_large", "{path}");
    }
    // Just under the limit is accepted.
    s.post_raw(&store_path(), &body_of(3000)).ok();
    let m = s.metrics();
    assert_eq!(u(&m["l2_entries"]), 1, "only the small store landed: {m}");
    still_serving(&s);
}

#[test]
fn default_body_limit_is_4_mib() {
    let s = Server::start();
    let r = s.post_raw(&store_path(), &body_of(4 * 1024 * 1024 + 100));
    assert_eq!(r.error(413), "payload_too_large");
    assert_eq!(u(&s.metrics()["l2_entries"]), 0);
    // A 3 MiB response is within the default limit.
    let mut body = l2_store("big", json!("y".repeat(3 << 20)));
    body["input_text"] = Value::from("big");
    s.store(&body).ok();
    let b = s.lookup(&l2_lookup("big")).ok().clone();
    assert_eq!(b["cached_response"].as_str().map(str::len), Some(3 << 20));
    still_serving(&s);
}
