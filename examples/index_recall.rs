//! Recall@1 of the L3 vector index (usearch HNSW) against exact search, on
//! real embeddings, plus build time, memory and search latency at one size.
//!
//! Indexes `--size` texts (the distinct QQP questions of
//! `../shared/eval/data/gptcache_qqp/pairs.jsonl.gz`, extended with
//! composites of two questions beyond the ~150k real ones) in one scope of a
//! `VectorIndex`, then queries it with `--queries` held-out questions (never
//! indexed). A query counts as recalled when the index's best neighbour is
//! the exact best neighbour (or ties it in similarity).
//!
//! Run: `cargo run --release --example index_recall -- --size 100000 --queries 2000`

#[path = "../benches/common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::Instant;

use helios_cache::cache::l3::index::VectorIndex;
use helios_cache::embed::{dot, Embedder, StaticEmbedder};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Exact best neighbour of `q` among `vectors`: (index, similarity).
fn exact_top1(vectors: &[Vec<f32>], q: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::MIN);
    for (i, v) in vectors.iter().enumerate() {
        let s = dot(q, v);
        if s > best.1 {
            best = (i, s);
        }
    }
    best
}

fn main() {
    let size = arg("--size", 100_000);
    let n_queries = arg("--queries", 2_000);
    let threads = arg("--threads", 2).max(1);
    let embedder = StaticEmbedder::bundled().unwrap();
    let real = corpus::qqp_texts();
    let (pool, held_out) = real.split_at(real.len() - n_queries);
    let texts = corpus::texts(pool, size);
    let real_used = size.min(pool.len());
    println!(
        "corpus: {} distinct QQP texts; indexing {size} ({real_used} real, {} composites), {} held-out queries",
        real.len(),
        size - real_used,
        held_out.len()
    );

    let t = Instant::now();
    let vectors: Vec<Vec<f32>> = texts
        .iter()
        .filter_map(|t| embedder.embed(t).ok())
        .collect();
    let embed_s = t.elapsed().as_secs_f64();
    println!(
        "embedding: {} texts in {embed_s:.1} s ({:.1} µs/text)",
        vectors.len(),
        embed_s * 1e6 / texts.len() as f64
    );
    let queries: Vec<Vec<f32>> = held_out
        .iter()
        .filter_map(|t| embedder.embed(t).ok())
        .collect();

    let rss0 = corpus::rss_mib();
    let index = VectorIndex::new(embedder.dims());
    let t = Instant::now();
    let mut last = Instant::now();
    for (k, v) in vectors.iter().enumerate() {
        index.add(1, k as u64, v).unwrap();
        if last.elapsed().as_secs() >= 30 {
            println!(
                "  ... {} inserted after {:.0} s",
                k + 1,
                t.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    }
    let build_s = t.elapsed().as_secs_f64();
    let rss1 = corpus::rss_mib();
    println!(
        "build: {} vectors in {build_s:.1} s ({:.0} inserts/s, one thread, as the rebuild at start does)",
        vectors.len(),
        vectors.len() as f64 / build_s
    );
    println!(
        "RSS: {rss0:.0} MiB before the index, {rss1:.0} MiB after (+{:.0} MiB, {:.0} bytes/vector; the raw vectors are held separately)",
        rss1 - rss0,
        (rss1 - rss0) * 1048576.0 / vectors.len() as f64
    );

    // Search latency: k = 4 as L3 does.
    let mut ns = Vec::new();
    let mut found = Vec::new();
    for round in 0..3 {
        for q in &queries {
            let t = Instant::now();
            let r = index.search(1, q, 4).unwrap();
            ns.push(t.elapsed().as_nanos() as u64);
            if round == 0 {
                found.push(r.first().copied());
            }
            black_box(r);
        }
    }
    ns.sort_unstable();
    println!(
        "search k=4: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs ({} calls)",
        corpus::quantile_us(&ns, 0.5),
        corpus::quantile_us(&ns, 0.9),
        corpus::quantile_us(&ns, 0.99),
        corpus::quantile_us(&ns, 0.999),
        *ns.last().unwrap() as f64 / 1e3,
        ns.len()
    );

    // Exact search, split over threads.
    let t = Instant::now();
    let exact: Vec<(usize, f32)> = std::thread::scope(|s| {
        let chunk = queries.len().div_ceil(threads);
        let handles: Vec<_> = queries
            .chunks(chunk)
            .map(|qs| {
                let vectors = &vectors;
                s.spawn(move || {
                    qs.iter()
                        .map(|q| exact_top1(vectors, q))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let exact_s = t.elapsed().as_secs_f64();
    let mut same = 0;
    let mut tied = 0;
    let mut sim_loss = 0f64;
    for (got, (want, want_sim)) in found.iter().zip(&exact) {
        match got {
            Some((k, _)) if *k as usize == *want => same += 1,
            Some((_, s)) if *s >= want_sim - 1e-5 => tied += 1,
            Some((_, s)) => sim_loss += (want_sim - s) as f64,
            None => sim_loss += *want_sim as f64,
        }
    }
    let n = queries.len();
    let missed = n - same - tied;
    if std::env::args().any(|a| a == "--sweep") {
        sweep(&vectors, &queries, &exact, threads);
    }
    println!(
        "recall@1: {:.4} ({same} same key + {tied} equal-similarity ties of {n}; {missed} missed, mean similarity lost on a miss {:.4}); exact search took {:.1} ms/query",
        (same + tied) as f64 / n as f64,
        if missed > 0 { sim_loss / missed as f64 } else { 0.0 },
        exact_s * 1e3 * threads as f64 / n as f64
    );
}

/// Builds a raw usearch graph with the options `VectorIndex` uses (cosine,
/// f32, connectivity 16, expansion_add 128; inserted from `threads` threads)
/// and measures recall@1 and latency for several `expansion_search` values.
fn sweep(vectors: &[Vec<f32>], queries: &[Vec<f32>], exact: &[(usize, f32)], threads: usize) {
    use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
    let opts = IndexOptions {
        dimensions: vectors[0].len(),
        metric: MetricKind::Cos,
        quantization: ScalarKind::F32,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 128,
        multi: false,
    };
    let index = Index::new(&opts).unwrap();
    index
        .reserve_capacity_and_threads(vectors.len(), threads)
        .unwrap();
    println!(
        "sweep: raw usearch index, hardware acceleration: {:?}",
        index.hardware_acceleration()
    );
    let t = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let index = &index;
            s.spawn(move || {
                for k in (t..vectors.len()).step_by(threads) {
                    index.add(k as u64, &vectors[k]).unwrap();
                }
            });
        }
    });
    println!(
        "sweep: built in {:.1} s with {threads} threads; memory_usage {:.0} MiB",
        t.elapsed().as_secs_f64(),
        index.memory_usage() as f64 / 1048576.0
    );
    for ef in [64, 128, 256, 512] {
        index.change_expansion_search(ef);
        let mut ns = Vec::new();
        let mut ok = 0;
        for (q, (want, want_sim)) in queries.iter().zip(exact) {
            let t = Instant::now();
            let m = index.search(q, 4).unwrap();
            ns.push(t.elapsed().as_nanos() as u64);
            match (m.keys.first(), m.distances.first()) {
                (Some(k), _) if *k as usize == *want => ok += 1,
                (Some(_), Some(d)) if 1.0 - d >= want_sim - 1e-5 => ok += 1,
                _ => {}
            }
        }
        ns.sort_unstable();
        println!(
            "sweep: expansion_search {ef:>3}: recall@1 {:.4}, search p50 {:.1} µs, p99 {:.1} µs",
            ok as f64 / queries.len() as f64,
            corpus::quantile_us(&ns, 0.5),
            corpus::quantile_us(&ns, 0.99)
        );
    }
}
