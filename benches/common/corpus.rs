//! The text corpus of the L3 benchmarks: the distinct questions of the QQP
//! pairs in `../shared/eval/data/gptcache_qqp/pairs.jsonl.gz` (read in place,
//! never copied into the repository), optionally extended with composite
//! texts (two real questions joined) when more vectors are wanted than the
//! ~150k real questions give.
//!
//! Shared by `benches/l3.rs` and `examples/index_recall.rs` via `#[path]`.

#![allow(dead_code)]

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;

/// Where the pairs file is: `HELIOS_BENCH_PAIRS`, else `../shared/...`
/// next to the repository.
pub fn pairs_path() -> PathBuf {
    match std::env::var("HELIOS_BENCH_PAIRS") {
        Ok(p) => PathBuf::from(p),
        Err(_) => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/eval/data/gptcache_qqp/pairs.jsonl.gz"),
    }
}

/// Every distinct non-empty text (`a` and `b`) of the pairs, in file order.
pub fn qqp_texts() -> Vec<String> {
    let path = pairs_path();
    let reader = helios_cache::cache::eval::open_lines(&path)
        .unwrap_or_else(|e| panic!("cannot open {e}; set HELIOS_BENCH_PAIRS"));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        for field in ["a", "b"] {
            if let Some(t) = v.get(field).and_then(|t| t.as_str()) {
                let t = t.trim();
                if !t.is_empty() && seen.insert(t.to_string()) {
                    out.push(t.to_string());
                }
            }
        }
    }
    out
}

/// `n` texts: the real ones first, then composites of two real texts.
pub fn texts(real: &[String], n: usize) -> Vec<String> {
    let mut out: Vec<String> = real.iter().take(n).cloned().collect();
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s as usize
    };
    while out.len() < n {
        let a = &real[next() % real.len()];
        let b = &real[next() % real.len()];
        out.push(format!("{a} {b}"));
    }
    out
}

/// Resident set size of this process, MiB.
pub fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Value at quantile `p` of sorted nanoseconds, in µs.
pub fn quantile_us(sorted_ns: &[u64], p: f64) -> f64 {
    let i = ((sorted_ns.len() as f64 * p) as usize).min(sorted_ns.len() - 1);
    sorted_ns[i] as f64 / 1e3
}
