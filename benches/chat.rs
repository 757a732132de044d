//! What a conversation adds to a lookup (issue 11), in process, with the
//! bundled embedder: 20-turn chats built from the committed conversation set
//! (`tests/data/conversations/pairs.jsonl`, turns of successive chats joined
//! until there are 20).
//!
//! - `chat_lookup/20_turns`: `CacheManager::lookup` with `messages` (an L2
//!   miss, then L3: the standalone text embedded, the search, the context
//!   guard on the candidate; a hit), in a scope of 500 stored chats.
//! - `chat_lookup/final_turn_only`: the same lookups sent as `input_text` =
//!   the final turn (what a chat client did before): the baseline.
//! - `chat_prepare/20_turns`: checking the messages and building the
//!   canonical, compare and standalone texts.
//! - `chat_guard/20_turns`: the context guard on two 20-turn chats that
//!   disagree (every suffix tried: its worst case).
//!
//! The added latency is `20_turns − final_turn_only`; per-call p50/p99 of
//! both are printed after criterion's numbers.
//! Run: `cargo bench --bench chat -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::value::RawValue;

use helios_cache::cache::l3::context;
use helios_cache::cache::l3::Guard;
use helios_cache::cache::request::{
    Conversation, Layers, Lookup, RawContent, RawMessage, ScopeFields, Store,
};
use helios_cache::cache::CacheManager;
use helios_cache::config::Options;

const TURNS: usize = 20;
const STORED: usize = 500;

/// Every user/assistant turn of the committed set, in file order.
fn all_turns() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/conversations/pairs.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for side in ["a", "b"] {
            for m in v[side].as_array().unwrap() {
                let role = m["role"].as_str().unwrap();
                if role != "system" {
                    out.push((role.to_string(), m["content"].as_str().unwrap().to_string()));
                }
            }
        }
    }
    out
}

/// `n` chats of `TURNS` messages: an assistant greeting, then user and
/// assistant turns alternating, the last one the user's.
fn chats(n: usize) -> Vec<Vec<(String, String)>> {
    let turns = all_turns();
    let users: Vec<&String> = turns
        .iter()
        .filter(|t| t.0 == "user")
        .map(|t| &t.1)
        .collect();
    let bots: Vec<&String> = turns
        .iter()
        .filter(|t| t.0 != "user")
        .map(|t| &t.1)
        .collect();
    (0..n)
        .map(|c| {
            (0..TURNS)
                .map(|i| {
                    let k = c * 7 + i;
                    match i % 2 {
                        1 => (
                            "user".to_string(),
                            format!("{} (#{c})", users[k % users.len()]),
                        ),
                        _ => ("assistant".to_string(), bots[k % bots.len()].clone()),
                    }
                })
                .collect()
        })
        .collect()
}

fn conversation(chat: &[(String, String)]) -> Conversation {
    let raw = chat
        .iter()
        .map(|(r, t)| RawMessage {
            role: Some(r.clone()),
            content: RawContent::Text(t.clone()),
        })
        .collect();
    Conversation::new(raw, usize::MAX).unwrap()
}

fn scope() -> ScopeFields {
    ScopeFields::new(Some("bench"), Some("chat"), None).unwrap()
}

fn lookup_of(conv: Option<&Conversation>, input: &str) -> Lookup {
    let mut l = Lookup::new(scope(), input.to_string()).unwrap();
    l.conversation = conv.cloned();
    l.layers = Layers::from_flags(Some(false), None, None);
    l
}

fn p50_p99(mut ns: Vec<u64>) -> (f64, f64) {
    ns.sort_unstable();
    let q = |p: f64| ns[((ns.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    (q(0.5), q(0.99))
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let dir = tempfile::tempdir().unwrap();
    let settings = Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    }
    .resolve()
    .unwrap()
    .cache;
    let mgr = CacheManager::open(settings).unwrap();
    let stored = chats(STORED);
    for (i, chat) in stored.iter().enumerate() {
        let conv = conversation(chat);
        let response = RawValue::from_string(format!("{{\"a\":{i}}}")).unwrap();
        let mut s = Store::new(scope(), conv.final_text().to_string(), response.into()).unwrap();
        s.conversation = Some(conv);
        s.layers = Layers::from_flags(Some(false), None, None);
        mgr.store(&s).unwrap();
    }
    // Queries: each stored chat with its first turn reworded, so that L2
    // misses and L3 finds it.
    let queries: Vec<Conversation> = stored
        .iter()
        .map(|chat| {
            let mut q = chat.clone();
            q[1].1 = format!("hello again, {}", q[1].1);
            conversation(&q)
        })
        .collect();
    let hits = queries
        .iter()
        .filter(|q| mgr.lookup(&lookup_of(Some(q), q.final_text())).unwrap().hit)
        .count();
    println!(
        "chat: {} stored chats of {} turns; {hits}/{} reworded lookups hit",
        STORED,
        queries[0].turns().len(),
        queries.len()
    );

    let mut i = 0;
    c.bench_function("chat_lookup/20_turns", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            let q = &queries[i];
            black_box(mgr.lookup(&lookup_of(Some(q), q.final_text())).unwrap())
        })
    });
    c.bench_function("chat_lookup/final_turn_only", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(
                mgr.lookup(&lookup_of(None, queries[i].final_text()))
                    .unwrap(),
            )
        })
    });
    c.bench_function("chat_prepare/20_turns", |b| {
        b.iter(|| {
            i = (i + 1) % stored.len();
            let conv = conversation(&stored[i]);
            let turns = conv.user_texts();
            black_box((
                conv.canonical(),
                context::compare_text(&turns),
                context::standalone(&turns, 3),
            ))
        })
    });
    let guard = Guard::parse("numbers,negation,antonyms").unwrap();
    let chat_settings = context::ChatSettings::default();
    c.bench_function("chat_guard/20_turns", |b| {
        b.iter(|| {
            i = (i + 1) % stored.len();
            let (a, b2) = (
                conversation(&stored[i]),
                conversation(&stored[(i + 1) % stored.len()]),
            );
            black_box(context::veto(
                &guard,
                &chat_settings,
                &a.user_texts(),
                &b2.user_texts(),
            ))
        })
    });

    let mut with_chat = Vec::new();
    let mut final_only = Vec::new();
    for _ in 0..4 {
        for q in &queries {
            let t = Instant::now();
            black_box(mgr.lookup(&lookup_of(Some(q), q.final_text())).unwrap());
            with_chat.push(t.elapsed().as_nanos() as u64);
            let t = Instant::now();
            black_box(mgr.lookup(&lookup_of(None, q.final_text())).unwrap());
            final_only.push(t.elapsed().as_nanos() as u64);
        }
    }
    let (c50, c99) = p50_p99(with_chat);
    let (f50, f99) = p50_p99(final_only);
    println!(
        "chat_lookup per call: 20 turns p50 {c50:.1} µs p99 {c99:.1} µs; final turn only p50 {f50:.1} µs p99 {f99:.1} µs; added p50 {:.1} µs",
        c50 - f50
    );
    c.final_summary();
}
