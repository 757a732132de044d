//! L2 hit lookups in process, at 10k and 1M entries.
//!
//! Two views of the same thing:
//! - `l2_manager/*`: `CacheManager::lookup` with `use_l1`/`use_l3` false (the
//!   full in-process path: validation, scope, L2, metrics, response JSON).
//! - `l2_layer/*`: the raw `L2::lookup` (key hash, moka, collision check).
//!
//! Each is measured over two access patterns: `uniform` picks any stored key
//! at random, `hot10k` picks among the 10k most recently stored keys (a
//! working set that always fits the hot set). Entries carry 1 KiB
//! responses, as in the memory target. L2's byte budget is the default
//! (2 GiB, room for 1M such entries), so the hot set has its default size,
//! a quarter of that: 512 MiB, ~40% of the 1M entries, and `uniform` at 1M
//! reads sled for the rest. `HELIOS_BENCH_L2_HOT_MB` sets the hot set's size
//! to compare.
//!
//! After criterion's own numbers, each case also prints a per-call latency
//! distribution (p50/p90/p99/p99.9 over 200k timed calls; each sample
//! includes ~20-40 ns of `Instant::now` overhead).
//!
//! Sizes: `HELIOS_BENCH_L2_SIZES=10000,1000000` (the default);
//! `HELIOS_BENCH_L2_ONLY=layer|manager` runs one of the two.
//! Run: `cargo bench --bench l2 -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde_json::value::RawValue;

use helios_cache::cache::l2::{L2Write, L2};
use helios_cache::cache::layer::RawJson;
use helios_cache::cache::records::KeyLocks;
use helios_cache::cache::request::{Layers, Lookup, ScopeFields, Store};
use helios_cache::cache::scope::Scope;
use helios_cache::cache::{CacheManager, CacheSettings};
use helios_cache::clock::now_ms;
use helios_cache::config::Options;
use helios_cache::store::{Storage, WriteBatch};

const RESPONSE_BYTES: usize = 1024;
const PICKS: usize = 100_000;
const HOT_SET: usize = 10_000;

fn input(i: usize) -> String {
    format!("benchmark question {i}: how do I rotate the credentials of service {i}?")
}

/// A JSON response of exactly `RESPONSE_BYTES` bytes.
fn response() -> Box<RawValue> {
    let head = r#"{"answer":""#;
    let pad = "x".repeat(RESPONSE_BYTES - head.len() - 2);
    RawValue::from_string(format!("{head}{pad}\"}}")).unwrap()
}

fn settings(dir: &std::path::Path) -> CacheSettings {
    let hot_mb = std::env::var("HELIOS_BENCH_L2_HOT_MB")
        .ok()
        .and_then(|v| v.parse().ok());
    Options {
        data_dir: Some(dir.to_path_buf()),
        l2_max_entries: Some(2_000_000),
        l2_hot_mb: hot_mb,
        ..Options::default()
    }
    .resolve()
    .unwrap()
    .cache
}

fn sizes() -> Vec<usize> {
    std::env::var("HELIOS_BENCH_L2_SIZES")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Deterministic pseudo-random indices in `lo..hi`.
fn picks(lo: usize, hi: usize) -> Vec<usize> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..PICKS)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (s as usize) % (hi - lo)
        })
        .collect()
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Times each call separately and prints the distribution.
fn distribution(label: &str, mut call: impl FnMut(usize)) {
    let n = 200_000;
    let mut ns: Vec<u64> = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        call(i);
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    let q = |p: f64| ns[((n as f64 * p) as usize).min(n - 1)] as f64 / 1e3;
    println!(
        "{label}: per-call p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs ({n} calls)",
        q(0.50),
        q(0.90),
        q(0.99),
        q(0.999)
    );
}

fn fill_manager(mgr: &CacheManager, n: usize) {
    let threads = 2;
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                for i in (t..n).step_by(threads) {
                    let mut req = Store::new(scope(), input(i), Arc::from(response())).unwrap();
                    req.tokens_used = Some(150);
                    req.layers = Layers::from_flags(Some(false), Some(true), Some(false));
                    req.ttl_seconds = Some(24 * 3600);
                    mgr.store(&req).unwrap();
                }
            });
        }
    });
}

fn scope() -> ScopeFields {
    ScopeFields::new(None, None, None).unwrap()
}

fn lookup_req(i: usize) -> Lookup {
    let mut l = Lookup::new(scope(), input(i)).unwrap();
    l.layers = Layers::from_flags(Some(false), Some(true), Some(false));
    l
}

fn bench_manager(c: &mut Criterion, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mgr = CacheManager::open(settings(dir.path())).unwrap();
    let t = Instant::now();
    fill_manager(&mgr, n);
    let fill = t.elapsed();
    println!(
        "manager fill: {n} entries of {RESPONSE_BYTES}-byte responses in {:.1} s ({:.0} stores/s), RSS {:.0} MiB",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64(),
        rss_mib()
    );
    let mut group = c.benchmark_group(format!("l2_manager/{n}"));
    for (pattern, lo) in [("uniform", 0), ("hot10k", n.saturating_sub(HOT_SET))] {
        let reqs: Vec<Lookup> = picks(lo, n).into_iter().map(lookup_req).collect();
        assert!(mgr.lookup(&reqs[0]).unwrap().hit);
        let mut i = 0;
        group.bench_function(pattern, |b| {
            b.iter(|| {
                i = (i + 1) % reqs.len();
                let r = mgr.lookup(&reqs[i]).unwrap();
                debug_assert!(r.hit);
                black_box(r)
            })
        });
        distribution(&format!("l2_manager/{n}/{pattern}"), |i| {
            black_box(mgr.lookup(&reqs[i % reqs.len()]).unwrap());
        });
    }
    group.finish();
    println!("RSS after manager lookups: {:.0} MiB", rss_mib());
}

fn fill_layer(storage: &Storage, l2: &L2, n: usize) {
    let scope = Scope::new("default", "general", None);
    let resp: RawJson = Arc::from(response());
    let mut i = 0;
    while i < n {
        let now = now_ms();
        let mut batch = WriteBatch::default();
        let mut staged = Vec::new();
        let inputs: Vec<String> = (i..(i + 1000).min(n)).map(input).collect();
        for text in &inputs {
            let w = L2Write {
                scope: &scope,
                input: text,
                response: &resp,
                model: "claude-sonnet-4-5",
                tokens: 150,
                cost_nano: 2_250_000,
                ttl_seconds: 24 * 3600,
            };
            staged.push(l2.stage(&w, now, &mut batch).unwrap());
        }
        storage.apply(batch).unwrap();
        staged.into_iter().for_each(|s| l2.commit(s));
        i += inputs.len();
    }
}

fn bench_layer(c: &mut Criterion, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(dir.path());
    let storage = Arc::new(Storage::open(&settings.store).unwrap());
    let l2 = L2::open(
        storage.clone(),
        Arc::new(KeyLocks::default()),
        settings.l2.clone(),
    );
    let t = Instant::now();
    fill_layer(&storage, &l2, n);
    println!(
        "layer fill: {n} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let scope = Scope::new("default", "general", None);
    let mut group = c.benchmark_group(format!("l2_layer/{n}"));
    for (pattern, lo) in [("uniform", 0), ("hot10k", n.saturating_sub(HOT_SET))] {
        let inputs: Vec<String> = picks(lo, n).into_iter().map(input).collect();
        assert!(l2.lookup(&scope, &inputs[0]).is_some());
        let mut i = 0;
        group.bench_function(pattern, |b| {
            b.iter(|| {
                i = (i + 1) % inputs.len();
                black_box(l2.lookup(&scope, &inputs[i]))
            })
        });
        distribution(&format!("l2_layer/{n}/{pattern}"), |i| {
            black_box(l2.lookup(&scope, &inputs[i % inputs.len()]));
        });
    }
    group.finish();
}

/// What the never-trust-disk check costs on a hot-set miss: validating a
/// 1 KiB response read from sled (`RawValue::from_string`), per call.
fn validation_cost() {
    let text = response().get().to_string();
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        black_box(RawValue::from_string(black_box(text.clone())).unwrap());
    }
    let with = t.elapsed();
    let t = Instant::now();
    for _ in 0..n {
        black_box(black_box(text.clone()).into_boxed_str());
    }
    let copy = t.elapsed();
    println!(
        "JSON validation of a {RESPONSE_BYTES}-byte response read from sled: {:.0} ns per call (copy alone {:.0} ns)",
        (with.as_nanos() as f64 - copy.as_nanos() as f64) / n as f64,
        copy.as_nanos() as f64 / n as f64
    );
}

fn main() {
    validation_cost();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let only = std::env::var("HELIOS_BENCH_L2_ONLY").unwrap_or_default();
    for n in sizes() {
        if only != "manager" {
            bench_layer(&mut c, n);
        }
        if only != "layer" {
            bench_manager(&mut c, n);
        }
    }
    c.final_summary();
}
