//! L1 (Anthropic prompt-cache tracking) against the real binary: warmth,
//! expiry and refresh with short configured TTLs, the 1-hour TTL, restart,
//! ground truth from `usage`, `/l1/prepare`, and bad input.

mod common;

use std::thread::sleep;
use std::time::Duration;

use common::{Server, API};
use serde_json::{json, Value};

const MODEL: &str = "claude-sonnet-4-5-20250929";

/// A system prompt of exactly `n` estimated tokens (one per one-letter word).
fn prompt(n: usize) -> String {
    "a ".repeat(n)
}

/// A distinct long prompt (a different prefix than `prompt`).
fn long_prompt(tag: &str, n: usize) -> String {
    format!("{tag} {}", "a ".repeat(n))
}

fn store_body(input: &str, system: &str) -> Value {
    json!({
        "input_text": input,
        "response_data": {"answer": format!("answer to {input}")},
        "system_prompt": system,
        "model_used": MODEL,
        // L3 is not what these tests are about: keep its answers out.
        "store_in_l3": false,
    })
}

fn lookup_body(input: &str, system: &str) -> Value {
    json!({"input_text": input, "system_prompt": system, "model": MODEL})
}

fn l1(s: &common::Client, input: &str, system: &str) -> Value {
    let r = s.lookup(&lookup_body(input, system));
    r.ok()["l1_result"].clone()
}

fn short_ttl_server(ttl: u64, ttl_1h: u64) -> Server {
    Server::builder()
        .args([
            "--l1-ttl-seconds".to_string(),
            ttl.to_string(),
            "--l1-ttl-1h-seconds".to_string(),
            ttl_1h.to_string(),
            "--sweep-interval-ms".to_string(),
            "200".to_string(),
        ])
        .start()
}

#[test]
fn store_then_lookup_is_warm_and_a_warm_only_lookup_is_not_a_hit() {
    let server = Server::start();
    let c = server.client();
    let sys = prompt(2000);
    let before = l1(&c, "q0", &sys);
    assert_eq!(before["hit"], false);
    assert_eq!(before["eligible"], true);
    assert_eq!(before["tokens"], 2000);
    assert_eq!(before["predicted_action"], "write");

    let stored = c.store(&store_body("q1", &sys));
    assert_eq!(
        stored.ok()["layers_stored"],
        json!(["L1_CLAUDE_NATIVE", "L2_REDIS_EXACT"])
    );

    // Another question under the same system prompt: no response hit, but
    // the prefix is warm.
    let r = c.lookup(&lookup_body("q2", &sys));
    let body = r.ok();
    assert_eq!(body["hit"], false);
    assert!(body["cached_response"].is_null());
    assert_eq!(r.header("x-helios-cache"), Some("MISS"));
    let l1r = &body["l1_result"];
    assert_eq!(l1r["hit"], true);
    assert_eq!(l1r["warm"], true);
    assert_eq!(l1r["eligible"], true);
    assert_eq!(l1r["tokens"], 2000);
    assert_eq!(l1r["min_cache_tokens"], 1024);
    assert_eq!(l1r["model"], "claude-sonnet-4-5");
    assert_eq!(l1r["cache_ttl"], "5m");
    assert_eq!(l1r["predicted_action"], "read");
    let left = l1r["ttl_remaining_seconds"].as_f64().unwrap();
    assert!(left > 290.0 && left <= 300.0, "{left}");
    // 2000 tokens × ($3.00 − $0.30) per MTok.
    let saving = l1r["predicted_saving"].as_f64().unwrap();
    assert!((saving - 0.0054).abs() < 1e-9, "{saving}");

    // The same question is an L2 hit, and L1 is still reported.
    let r = c.lookup(&lookup_body("q1", &sys));
    assert_eq!(r.ok()["hit"], true);
    assert_eq!(r.ok()["l1_result"]["hit"], true);

    // Another namespace or model family is not warm.
    let other = c.lookup(
        &json!({"input_text": "q2", "system_prompt": sys, "namespace": "t2", "model": MODEL}),
    );
    assert_eq!(other.ok()["l1_result"]["hit"], false);
    let other =
        c.lookup(&json!({"input_text": "q2", "system_prompt": sys, "model": "claude-opus-4-1"}));
    assert_eq!(other.ok()["l1_result"]["hit"], false);

    let m = c.metrics();
    assert_eq!(m["l1_entries"], 1);
    assert_eq!(m["layers"]["L1_CLAUDE_NATIVE"]["hits"], 2);
    let stats = c.layer_stats("L1").ok().clone();
    assert_eq!(stats["available"], true);
    assert_eq!(stats["entries"], 1);
    let health = c.get(&format!("{API}/health"));
    assert_eq!(health.ok()["layers"]["L1_CLAUDE_NATIVE"]["available"], true);
}

#[test]
fn short_prompts_are_not_eligible_and_not_stored_in_l1() {
    let server = Server::start();
    let c = server.client();
    // Sonnet 4.6 needs 2048 tokens.
    let sys = prompt(2047);
    let mut body = store_body("q", &sys);
    body["model_used"] = json!("claude-sonnet-4-6");
    assert_eq!(
        c.store(&body).ok()["layers_stored"],
        json!(["L2_REDIS_EXACT"])
    );
    let r =
        c.lookup(&json!({"input_text": "x", "system_prompt": sys, "model": "claude-sonnet-4-6"}));
    let l1r = &r.ok()["l1_result"];
    assert_eq!(l1r["eligible"], false);
    assert_eq!(l1r["hit"], false);
    assert_eq!(l1r["predicted_action"], "none");
    assert_eq!(l1r["min_cache_tokens"], 2048);
    // No system prompt: nothing to say.
    let r = c.lookup(&json!({"input_text": "x"}));
    assert_eq!(r.ok()["l1_result"]["hit"], false);
    assert_eq!(c.metrics()["l1_entries"], 0);
}

#[test]
fn warmth_expires_after_the_ttl_and_a_store_refreshes_it() {
    let server = short_ttl_server(2, 30);
    let c = server.client();
    let sys = long_prompt("expiry", 1500);
    c.store(&store_body("q1", &sys)).ok();
    assert_eq!(l1(&c, "x", &sys)["hit"], true);
    sleep(Duration::from_millis(2300));
    let cold = l1(&c, "x", &sys);
    assert_eq!(cold["hit"], false);
    assert_eq!(cold["ttl_remaining_seconds"], 0.0);

    // Refresh: stores 1.2 s apart keep it warm past the first store's TTL.
    let sys = long_prompt("refresh", 1500);
    c.store(&store_body("q1", &sys)).ok();
    sleep(Duration::from_millis(1200));
    c.store(&store_body("q2", &sys)).ok();
    sleep(Duration::from_millis(1200));
    assert_eq!(l1(&c, "x", &sys)["hit"], true, "a store refreshes warmth");

    // Lookups do not refresh: only model calls (reported by stores) do.
    let sys = long_prompt("lookups", 1500);
    c.store(&store_body("q1", &sys)).ok();
    for _ in 0..3 {
        sleep(Duration::from_millis(700));
        let _ = l1(&c, "x", &sys);
    }
    sleep(Duration::from_millis(300));
    assert_eq!(l1(&c, "x", &sys)["hit"], false, "lookups must not refresh");

    // The sweeper removes expired prefixes.
    sleep(Duration::from_millis(2500));
    assert_eq!(c.metrics()["l1_entries"], 0);
    assert!(
        c.metrics()["layers"]["L1_CLAUDE_NATIVE"]["expirations"]
            .as_u64()
            .unwrap()
            >= 3
    );
}

#[test]
fn one_hour_ttl_outlives_the_default() {
    let server = short_ttl_server(1, 30);
    let c = server.client();
    let sys = prompt(1500);
    let mut body = store_body("q1", &sys);
    body["cache_ttl"] = json!("1h");
    c.store(&body).ok();
    let r = l1(&c, "x", &sys);
    assert_eq!(r["cache_ttl"], "1h");
    assert!(r["ttl_remaining_seconds"].as_f64().unwrap() > 25.0);
    sleep(Duration::from_millis(1500));
    assert_eq!(l1(&c, "x", &sys)["hit"], true);
}

#[test]
fn restart_keeps_warm_state() {
    let mut server = Server::start();
    let sys = prompt(3000);
    server.client().store(&store_body("q1", &sys)).ok();
    server.stop();
    server.restart();
    let c = server.client();
    let r = l1(&c, "other", &sys);
    assert_eq!(r["hit"], true);
    assert_eq!(r["tokens"], 3000);
    assert_eq!(c.metrics()["l1_entries"], 1);
}

#[test]
fn usage_is_ground_truth_and_accuracy_is_counted() {
    let server = Server::start();
    let c = server.client();
    // Estimated at 1000 tokens: below Sonnet 4.5's 1024.
    let sys = prompt(1000);
    assert_eq!(l1(&c, "x", &sys)["eligible"], false);
    // The provider says it wrote 1100 tokens: the estimate was wrong.
    let mut body = store_body("q1", &sys);
    body["usage"] = json!({"input_tokens": 20, "output_tokens": 50, "cache_creation_input_tokens": 1100, "cache_read_input_tokens": 0});
    assert_eq!(c.store(&body).ok()["layers_stored"][0], "L1_CLAUDE_NATIVE");
    let r = l1(&c, "x", &sys);
    assert_eq!(r["hit"], true);
    assert_eq!(r["tokens"], 1100);
    assert_eq!(r["token_source"], "usage");
    // The next call reads it, as L1 now predicts.
    let mut body = store_body("q2", &sys);
    body["usage"] = json!({"input_tokens": 20, "output_tokens": 50, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1100});
    c.store(&body).ok();
    let m = c.metrics();
    assert_eq!(m["l1_prediction_accuracy"], 0.5);
    assert_eq!(m["l1_tokens_read"], 1100);
    assert_eq!(m["l1_tokens_written"], 1100);
    assert!((m["l1_cost_saved"].as_f64().unwrap() - 0.00297).abs() < 1e-9);
    assert!((m["l1_cache_write_cost"].as_f64().unwrap() - 0.000825).abs() < 1e-9);
    let stats = c.layer_stats("L1_CLAUDE_NATIVE").ok().clone();
    assert_eq!(stats["l1_prediction_accuracy"], 0.5);
    assert_eq!(stats["l1_predictions"], 2);
    let summary = c.get(&format!("{API}/summary")).ok().clone();
    assert!(
        summary["metrics"]["savings"]["l1_cost_saved_dollars"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Nothing read or written: the prefix is cold again.
    let mut body = store_body("q3", &sys);
    body["usage"] = json!({"input_tokens": 1200, "output_tokens": 50});
    assert_eq!(
        c.store(&body).ok()["layers_stored"],
        json!(["L2_REDIS_EXACT"])
    );
    assert_eq!(l1(&c, "x", &sys)["hit"], false);
    let m = c.metrics();
    assert!((m["l1_prediction_accuracy"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
}

#[test]
fn prepare_places_breakpoints_in_anthropic_shape() {
    let server = Server::start();
    let c = server.client();
    let url = format!("{API}/l1/prepare");
    let sys = prompt(1500);
    let r = c.post(
        &url,
        &json!({
            "system_prompt": sys,
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": "second"}
            ],
            "model": MODEL,
            "ttl": "1h",
        }),
    );
    assert_eq!(
        r.ok(),
        &json!({
            "system": [{"type": "text", "text": sys, "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": [{"type": "text", "text": "second", "cache_control": {"type": "ephemeral"}}]}
            ],
        })
    );
    assert_eq!(r.header("x-helios-l1-breakpoints"), Some("system,messages"));
    assert_eq!(r.header("x-helios-l1-min-tokens"), Some("1024"));

    // Below the minimum: no breakpoint at all.
    let r = c.post(
        &url,
        &json!({"system_prompt": "Be brief.", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(
        r.ok(),
        &json!({"system": [{"type": "text", "text": "Be brief."}], "messages": [{"role": "user", "content": "hi"}]})
    );
    assert_eq!(r.header("x-helios-l1-breakpoints"), Some(""));

    // Preparing records nothing.
    assert_eq!(c.metrics()["l1_entries"], 0);
    assert_eq!(l1(&c, "x", &sys)["hit"], false);
    assert_eq!(c.get(&url).error(405), "method_not_allowed");
}

#[test]
fn bad_input_is_refused_and_records_nothing() {
    let server = Server::start();
    let c = server.client();
    let url = format!("{API}/l1/prepare");
    let m = json!([{"role": "user", "content": "q"}]);
    for (body, code) in [
        (
            json!({"system_prompt": "", "messages": m}),
            "invalid_system_prompt",
        ),
        (
            json!({"system_prompt": 42, "messages": m}),
            "invalid_system_prompt",
        ),
        (
            json!({"system_prompt": "s", "messages": [{"role": "user"}]}),
            "invalid_messages",
        ),
        (
            json!({"system_prompt": "s", "messages": "hello"}),
            "invalid_messages",
        ),
        (
            json!({"system_prompt": "s", "messages": m, "ttl": "2h"}),
            "invalid_cache_ttl",
        ),
        (
            json!({"system_prompt": "s", "messages": m, "tools": [{}]}),
            "invalid_tools",
        ),
    ] {
        assert_eq!(c.post(&url, &body).error(400), code, "{body}");
    }

    let sys = prompt(2000);
    let mut body = store_body("q1", &sys);
    body["cache_ttl"] = json!("10m");
    assert_eq!(c.store(&body).error(400), "invalid_cache_ttl");
    let mut body = store_body("q1", &sys);
    body["usage"] = json!({"input_tokens": 5, "cache_read_input_tokens": -1});
    assert_eq!(c.store(&body).error(400), "invalid_count");
    let mut body = store_body("q1", &sys);
    body["system_prompt"] = json!(7);
    assert_eq!(c.store(&body).error(400), "invalid_request");
    let mut body = store_body("q1", &sys);
    body["model_used"] = json!("");
    assert_eq!(c.store(&body).error(400), "invalid_model");
    let r = c.lookup(&json!({"input_text": "q1", "system_prompt": sys, "model": ""}));
    assert_eq!(r.error(400), "invalid_model");

    // Nothing was written to any layer.
    let r = c.lookup(&lookup_body("q1", &sys));
    assert_eq!(r.ok()["hit"], false);
    assert_eq!(r.ok()["l1_result"]["hit"], false);
    let m = c.metrics();
    assert_eq!(m["l1_entries"], 0);
    assert_eq!(m["l2_entries"], 0);
    assert_eq!(m["total_stores"], 0);
}

#[test]
fn invalidating_l1_by_namespace() {
    let server = Server::start();
    let c = server.client();
    let sys = prompt(2000);
    let mut a = store_body("q", &sys);
    a["namespace"] = json!("a");
    let mut b = store_body("q", &sys);
    b["namespace"] = json!("b");
    c.store(&a).ok();
    c.store(&b).ok();
    assert_eq!(c.metrics()["l1_entries"], 2);
    let r = c.invalidate(&json!({"layer": "L1", "namespace": "a"}));
    assert_eq!(r.ok()["invalidated"]["L1_CLAUDE_NATIVE"], 1);
    let warm = |ns: &str| {
        c.lookup(&json!({"input_text": "x", "system_prompt": sys, "namespace": ns, "model": MODEL}))
            .ok()["l1_result"]["hit"]
            .clone()
    };
    assert_eq!(warm("a"), false);
    assert_eq!(warm("b"), true);
}

/// Issue 15: a last user turn ending in an empty text block got the
/// breakpoint on that block, a body Anthropic rejects. Empty and
/// whitespace-only text blocks are refused with the block named.
#[test]
fn prepare_refuses_empty_text_blocks_instead_of_marking_them() {
    let server = Server::start();
    let c = server.client();
    let url = format!("{API}/l1/prepare");
    let sys = prompt(1500);
    for empty in ["", "   "] {
        let r = c.post(
            &url,
            &json!({
                "system_prompt": sys,
                "messages": [
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "reply"},
                    {"role": "user", "content": [
                        {"type": "text", "text": "second"},
                        {"type": "text", "text": empty}
                    ]}
                ],
                "model": MODEL,
            }),
        );
        assert_eq!(r.error(400), "invalid_messages", "{r:?}");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains("messages[2].content[1]") && msg.contains("empty"),
            "{msg}"
        );
    }
    // Without the empty block the breakpoint lands on the visible text.
    let r = c.post(
        &url,
        &json!({
            "system_prompt": sys,
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "reply"},
                {"role": "user", "content": [{"type": "text", "text": "second"}]}
            ],
            "model": MODEL,
        }),
    );
    assert_eq!(
        r.ok()["messages"][2]["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
}
