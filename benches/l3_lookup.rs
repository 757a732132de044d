//! Whole L3 lookups through the cache manager, as a request costs them:
//! embed, search, judge (guard, feedback, pair verifier) — with the default
//! configuration, on real texts.
//!
//! The cache holds `HELIOS_BENCH_L3_ENTRIES` (default 10,000) QQP questions
//! (`../shared/eval/data/gptcache_qqp/pairs.jsonl.gz`, read in place) in one
//! scope. Queries are held-out questions; each is classified once by the
//! decision L3 made (`l3_result.decision`), and two groups are timed:
//!
//! - `l3_lookup/miss`: no candidate above the gate (`below_gate`);
//! - `l3_lookup/verified_hit`: a paraphrase served after the verifier judged
//!   it (`served` with a verifier score), or — without a verifier — served
//!   by the cosine.
//!
//! The first lookup of each query (no memoised verdict) is timed per
//! decision and printed too; the criterion groups repeat queries, so they
//! measure memoised verdicts.
//!
//! Run: `cargo bench --bench l3_lookup -- --warm-up-time 1 --measurement-time 3`.

#[path = "common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::value::RawValue;

use helios_cache::cache::request::{Layers, Lookup, ScopeFields, Store};
use helios_cache::cache::CacheManager;
use helios_cache::config::Options;

fn scope() -> ScopeFields {
    ScopeFields::new(None, Some("bench"), None).unwrap()
}

fn lookup(text: &str) -> Lookup {
    let mut l = Lookup::new(scope(), text.to_string()).unwrap();
    l.layers = Layers::from_flags(Some(false), Some(false), Some(true));
    l
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let n: usize = std::env::var("HELIOS_BENCH_L3_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let settings = Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    }
    .resolve()
    .unwrap()
    .cache;
    let mgr = CacheManager::open(settings).unwrap();
    let real = corpus::qqp_texts();
    let (pool, held_out) = real.split_at(real.len() - 4000);
    let t = Instant::now();
    for (i, text) in pool.iter().take(n).enumerate() {
        let response = RawValue::from_string(format!("{{\"a\":{i}}}")).unwrap();
        let mut s = Store::new(scope(), text.clone(), Arc::from(response)).unwrap();
        s.layers = Layers::from_flags(Some(false), Some(false), Some(true));
        let _ = mgr.store(&s);
    }
    println!(
        "filled {n} L3 entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // First lookups: no memoised verdict yet, so this is the cold cost.
    let (mut misses, mut hits) = (Vec::new(), Vec::new());
    let mut first: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
    for q in held_out {
        let t = Instant::now();
        let r = mgr.lookup(&lookup(q)).unwrap();
        let ns = t.elapsed().as_nanos() as u64;
        let Some(l3) = r.l3_result else { continue };
        let decision = l3.decision.unwrap_or("none");
        first.entry(decision).or_default().push(ns);
        match decision {
            "below_gate" => misses.push(q.clone()),
            "served" => hits.push(q.clone()),
            _ => {}
        }
    }
    for (decision, ns) in &mut first {
        ns.sort_unstable();
        println!(
            "first lookup, decision {decision}: p50 {:.1} µs, p99 {:.1} µs ({} lookups)",
            corpus::quantile_us(ns, 0.5),
            corpus::quantile_us(ns, 0.99),
            ns.len()
        );
    }
    println!(
        "held-out queries: {} misses below the gate, {} served hits",
        misses.len(),
        hits.len()
    );
    for (name, queries) in [("miss", &misses), ("verified_hit", &hits)] {
        if queries.is_empty() {
            continue;
        }
        let mut i = 0;
        c.bench_function(&format!("l3_lookup/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(mgr.lookup(&lookup(&queries[i])).unwrap())
            })
        });
        let mut ns = Vec::new();
        for q in queries.iter().take(2000) {
            let t = Instant::now();
            black_box(mgr.lookup(&lookup(q)).unwrap());
            ns.push(t.elapsed().as_nanos() as u64);
        }
        ns.sort_unstable();
        println!(
            "l3_lookup/{name}: per-call p50 {:.1} µs, p99 {:.1} µs ({} calls)",
            corpus::quantile_us(&ns, 0.5),
            corpus::quantile_us(&ns, 0.99),
            ns.len()
        );
    }
    c.final_summary();
}
