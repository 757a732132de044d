//! L3 costs in process, on real embeddings of the QQP questions
//! (`../shared/eval/data/gptcache_qqp/pairs.jsonl.gz`, read in place).
//!
//! - `l3_embed/bundled`: one text → vector with the bundled static embedder;
//!   `l3_embed/bundled_tokenizers`: the same through the `tokenizers` crate.
//! - `l3_index/<n>/search_k4`: `VectorIndex::search` (k = 4, as L3 does) in
//!   one scope holding `n` vectors (an HNSW partition), queried with
//!   held-out questions that are not in the index.
//!
//! Build time and RSS of the index are printed, and a per-call latency
//! distribution (p50/p99) follows criterion's numbers. Recall@1 against exact
//! search, and the 1M size, are in `examples/index_recall.rs`.
//!
//! Sizes: `HELIOS_BENCH_L3_SIZES=100000` (the default).
//! Run: `cargo bench --bench l3 -- --warm-up-time 1 --measurement-time 3`.

#[path = "common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;

use helios_cache::cache::l3::index::VectorIndex;
use helios_cache::embed::{Embedder, StaticEmbedder, TokenizerPath};

const QUERIES: usize = 2_000;

fn sizes() -> Vec<usize> {
    std::env::var("HELIOS_BENCH_L3_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let embedder = StaticEmbedder::bundled().unwrap();
    let real = corpus::qqp_texts();
    let mean_len = real.iter().map(|t| t.len()).sum::<usize>() as f64 / real.len() as f64;
    println!(
        "corpus: {} distinct QQP texts, mean {mean_len:.0} bytes",
        real.len()
    );

    let mut i = 0;
    c.bench_function("l3_embed/bundled", |b| {
        b.iter(|| {
            i = (i + 1) % real.len();
            black_box(embedder.embed(&real[i]).ok())
        })
    });

    // The same with the `tokenizers` crate instead of the fast tokenizer
    // path (`benches/embed.rs` has the breakdown).
    let mut i = 0;
    c.bench_function("l3_embed/bundled_tokenizers", |b| {
        b.iter(|| {
            i = (i + 1) % real.len();
            black_box(embedder.embed_with(&real[i], TokenizerPath::Reference).ok())
        })
    });

    // Held-out queries: the last QUERIES real texts, never indexed.
    let (pool, held_out) = real.split_at(real.len() - QUERIES);
    let queries: Vec<Vec<f32>> = held_out
        .iter()
        .filter_map(|t| embedder.embed(t).ok())
        .collect();
    for n in sizes() {
        let texts = corpus::texts(pool, n);
        let t = Instant::now();
        let vectors: Vec<Vec<f32>> = texts
            .iter()
            .filter_map(|t| embedder.embed(t).ok())
            .collect();
        let embed_s = t.elapsed().as_secs_f64();
        let rss0 = corpus::rss_mib();
        let index = VectorIndex::new(embedder.dims());
        let t = Instant::now();
        for (k, v) in vectors.iter().enumerate() {
            index.add(1, k as u64, v).unwrap();
        }
        let build_s = t.elapsed().as_secs_f64();
        println!(
            "l3_index/{n}: embedded {} texts in {embed_s:.1} s ({:.1} µs/text); built in {build_s:.1} s ({:.0} inserts/s); RSS {rss0:.0} → {:.0} MiB",
            vectors.len(),
            embed_s * 1e6 / texts.len() as f64,
            vectors.len() as f64 / build_s,
            corpus::rss_mib()
        );
        let mut group = c.benchmark_group(format!("l3_index/{n}"));
        let mut i = 0;
        group.bench_function("search_k4", |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                black_box(index.search(1, &queries[i], 4).unwrap())
            })
        });
        group.finish();
        let mut ns: Vec<u64> = Vec::new();
        for _ in 0..5 {
            for q in &queries {
                let t = Instant::now();
                black_box(index.search(1, q, 4).unwrap());
                ns.push(t.elapsed().as_nanos() as u64);
            }
        }
        ns.sort_unstable();
        println!(
            "l3_index/{n}/search_k4: per-call p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs ({} calls)",
            corpus::quantile_us(&ns, 0.5),
            corpus::quantile_us(&ns, 0.99),
            corpus::quantile_us(&ns, 0.999),
            ns.len()
        );
    }
    c.final_summary();
}
