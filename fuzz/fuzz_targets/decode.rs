//! Request decoding and key encoding: whatever the bytes, decoding and
//! validation return a value or a `CacheError` (never a panic), the JSON
//! depth pre-check agrees with a real parse, and keys round-trip.

#![no_main]

use helios_cache::cache::layer::LayerId;
use helios_cache::cache::request::{self, Invalidate, Limits, Lookup, Store};
use helios_cache::cache::scope::{self, Scope};
use helios_cache::http::api::{InvalidateRequest, LookupRequest, StoreRequest};
use helios_cache::http::extract::{decode, json_depth};
use helios_cache::store::keys;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check_scope(ns: Option<&str>, task: Option<&str>, prompt: Option<&str>, input: &str) {
    let ns = request::name("namespace", ns, scope::DEFAULT_NAMESPACE);
    let task = request::name("task_type", task, scope::DEFAULT_TASK_TYPE);
    if let (Ok(ns), Ok(task)) = (ns, task) {
        let s = Scope::new(&ns, &task, prompt);
        let key = s.entry_key(input);
        assert_eq!(key, Scope::new(&ns, &task, prompt).entry_key(input));
        let id = scope::entry_id(key);
        assert_eq!(scope::parse_entry_id(&id), Some(key));
        let _ = s.id();
    }
}

fuzz_target!(|data: &[u8]| {
    let d = json_depth(data);
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        // Textual depth: never below the parsed one (a duplicate key keeps
        // only its last value in `v`, so it may be above).
        assert!(d >= depth(&v), "json_depth {d} below the parsed depth");
    }

    let limits = Limits {
        max_input_bytes: 1 << 16,
        max_response_bytes: 1 << 16,
    };
    if let Ok(req) = decode::<LookupRequest>(data) {
        let (ns, task, prompt, input) = (
            req.namespace.clone(),
            req.task_type.clone(),
            req.system_prompt.clone(),
            req.input_text.clone(),
        );
        if let Ok(l) = Lookup::try_from(req) {
            let _ = limits.check_input(&l.input);
        }
        check_scope(ns.as_deref(), task.as_deref(), prompt.as_deref(), &input);
    }
    if let Ok(req) = decode::<StoreRequest>(data) {
        let (ns, task, prompt, input) = (
            req.namespace.clone(),
            req.task_type.clone(),
            req.system_prompt.clone(),
            req.input_text.clone(),
        );
        if let Ok(s) = Store::try_from(req) {
            let _ = limits.check_input(&s.input);
            let _ = limits.check_response(&s.response);
            let _ = s.check_layers();
        }
        check_scope(ns.as_deref(), task.as_deref(), prompt.as_deref(), &input);
    }
    if let Ok(req) = decode::<InvalidateRequest>(data) {
        if let Some(id) = &req.entry_id {
            if let Some(k) = scope::parse_entry_id(id) {
                assert_eq!(scope::entry_id(k), id.to_ascii_lowercase());
            }
        }
        if let Some(l) = &req.layer {
            let _ = LayerId::parse(l);
        }
        let _ = Invalidate::try_from(req);
    }

    // Raw bytes as an entry id, and as key material.
    if let Ok(s) = std::str::from_utf8(data) {
        if let Some(k) = scope::parse_entry_id(s) {
            assert_eq!(scope::entry_id(k), s.to_ascii_lowercase());
        }
        let mut parts = s.splitn(4, '\u{0}');
        let (a, b, c, e) = (parts.next(), parts.next(), parts.next(), parts.next());
        check_scope(a, b, c, e.unwrap_or(""));
    }
    if data.len() >= 25 {
        let layer = data[0];
        let key = u128::from_le_bytes(data[1..17].try_into().unwrap());
        let exp = u64::from_le_bytes(data[17..25].try_into().unwrap());
        assert_eq!(keys::parse_record(&keys::record(layer, key)), Some(key));
        assert_eq!(
            keys::parse_expiry(&keys::expiry(layer, exp, key)),
            Some((exp, key))
        );
    }
    let _ = keys::parse_expiry(data);
    let _ = keys::parse_record(data);
});
