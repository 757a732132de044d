//! Recall@1 of the L3 vector index against exact search on real
//! embeddings, plus build time (every core), memory and search latency, for
//! several index configurations side by side in one run (so that machine
//! load affects them alike).
//!
//! Indexes `--size` texts (the distinct QQP questions of
//! `../shared/eval/data/gptcache_qqp/pairs.jsonl.gz`, extended with
//! composites of two questions beyond the ~150k real ones) in one scope,
//! then queries it with `--queries` held-out questions (never indexed). A
//! query counts as recalled when the best hit is the exact best neighbour
//! (or ties it in similarity).
//!
//! `--variants` lists the configurations, comma-separated:
//! - `index`: the shipped `VectorIndex` (prepare + concurrent adds, as L3
//!   replays from sled), searched with k = 4 as L3 asks; `index-i8:16`,
//!   `index-f32` etc.: the same with another scalar kind / re-score count
//!   (`--conn`, `--ef-add`, `--ef-index` override its graph parameters);
//! - `f32`, `f16`, `bf16`, `i8`, `b1`, optionally `:N`: a raw usearch graph
//!   with that scalar kind (`b1`: the signs of the vector, Hamming distance);
//!   with `:N` the graph's top N are re-scored exactly with the f32 vectors
//!   and the best 4 returned.
//!
//! `--ef 128,256` lists the expansion_search values tried on raw graphs;
//! `--conn` and `--ef-add` set their graph parameters. `--cache FILE` keeps
//! the embeddings between runs (the 1M corpus takes minutes to embed).
//! `--save-load DIR` also saves each `index` variant's graph there as L3
//! does, loads it into a fresh index (what a restart costs) and searches
//! the loaded graph again.
//!
//! Run: `cargo run --release --example index_recall -- --size 100000 --queries 2000 --variants index,f32,i8:16`

#[path = "../benches/common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use helios_cache::cache::l3::index::{GraphOptions, VectorIndex};
use helios_cache::embed::{dot, Embedder, StaticEmbedder};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

fn arg_str(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn arg(name: &str, default: usize) -> usize {
    arg_str(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs `f` over `items` on `threads` threads, keeping order.
fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

/// Exact best neighbour of each of `qs` among `vectors`: (index,
/// similarity). Walks the vectors in cache-sized blocks, each block against
/// every query, so that 1M vectors are read from memory once per 64 queries.
fn exact_top1_block(vectors: &[Vec<f32>], qs: &[Vec<f32>]) -> Vec<(usize, f32)> {
    let mut best = vec![(0, f32::MIN); qs.len()];
    for (b, block) in vectors.chunks(2048).enumerate() {
        for (q, best) in qs.iter().zip(best.iter_mut()) {
            for (i, v) in block.iter().enumerate() {
                let s = dot(q, v);
                if s > best.1 {
                    *best = (b * 2048 + i, s);
                }
            }
        }
    }
    best
}

/// Inserts every vector from `threads` threads, logging progress every 30 s.
fn insert_all(vectors: &[Vec<f32>], threads: usize, add: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Relaxed);
                if k >= vectors.len() {
                    return;
                }
                add(k);
                done.fetch_add(1, Relaxed);
            });
        }
        let mut last = 0;
        while done.load(Relaxed) < vectors.len() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            let secs = t.elapsed().as_secs();
            if secs >= last + 30 {
                last = secs;
                println!(
                    "  ... {} inserted after {secs} s, RSS {:.0} MiB [load {}]",
                    done.load(Relaxed),
                    corpus::rss_mib(),
                    load()
                );
            }
        }
    });
}

/// Embeds `texts` (dropping unrepresentable ones), or reads them from `cache`.
fn embed_all(
    embedder: &StaticEmbedder,
    texts: &[String],
    threads: usize,
    cache: Option<&str>,
) -> Vec<Vec<f32>> {
    let dims = embedder.dims();
    if let Some(path) = cache {
        if let Ok(mut f) = std::fs::File::open(path) {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            let floats: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            println!("embeddings read from {path}");
            return floats.chunks_exact(dims).map(|c| c.to_vec()).collect();
        }
    }
    let t = Instant::now();
    let vectors: Vec<Vec<f32>> = par_map(texts, threads, |t| embedder.embed(t).ok())
        .into_iter()
        .flatten()
        .collect();
    let s = t.elapsed().as_secs_f64();
    println!(
        "embedding: {} texts in {s:.1} s on {threads} threads ({:.1} µs/text/thread)",
        vectors.len(),
        s * 1e6 * threads as f64 / texts.len() as f64
    );
    if let Some(path) = cache {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        for v in &vectors {
            for x in v {
                f.write_all(&x.to_le_bytes()).unwrap();
            }
        }
    }
    vectors
}

struct Outcome {
    recall: f64,
    missed: usize,
    ns: Vec<u64>,
}

/// Searches every query three times (latency) and scores the first round.
fn measure(
    queries: &[Vec<f32>],
    exact: &[(usize, f32)],
    mut search: impl FnMut(&[f32]) -> Vec<(u64, f32)>,
) -> Outcome {
    let mut ns = Vec::new();
    let mut ok = 0;
    for round in 0..3 {
        for (q, (want, want_sim)) in queries.iter().zip(exact) {
            let t = Instant::now();
            let r = search(q);
            ns.push(t.elapsed().as_nanos() as u64);
            if round == 0 {
                match r.first() {
                    Some((k, _)) if *k as usize == *want => ok += 1,
                    Some((_, s)) if *s >= want_sim - 1e-5 => ok += 1,
                    _ => {}
                }
            }
            black_box(r);
        }
    }
    ns.sort_unstable();
    Outcome {
        recall: ok as f64 / queries.len() as f64,
        missed: queries.len() - ok,
        ns,
    }
}

fn report(name: &str, o: &Outcome) {
    println!(
        "  {name}: recall@1 {:.4} ({} missed); search p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs ({} calls) [load {}]",
        o.recall,
        o.missed,
        corpus::quantile_us(&o.ns, 0.5),
        corpus::quantile_us(&o.ns, 0.9),
        corpus::quantile_us(&o.ns, 0.99),
        corpus::quantile_us(&o.ns, 0.999),
        o.ns.len(),
        load()
    );
}

/// `i8:16` → (I8, 16); `f32` → (F32, 0).
fn parse_kind(spec: &str) -> (ScalarKind, usize) {
    let (kind, rescore) = match spec.split_once(':') {
        Some((k, n)) => (k, n.parse::<usize>().expect("rescore count")),
        None => (spec, 0),
    };
    let kind = match kind {
        "f32" => ScalarKind::F32,
        "f16" => ScalarKind::F16,
        "bf16" => ScalarKind::BF16,
        "i8" => ScalarKind::I8,
        "b1" => ScalarKind::B1,
        other => panic!("unknown scalar kind {other}"),
    };
    (kind, rescore)
}

fn main() {
    let size = arg("--size", 100_000);
    let n_queries = arg("--queries", 2_000);
    let threads = arg(
        "--threads",
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    )
    .max(1);
    let conn = arg("--conn", 32);
    let ef_add = arg("--ef-add", 256);
    let efs: Vec<usize> = arg_str("--ef")
        .unwrap_or_else(|| "256".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let variants = arg_str("--variants").unwrap_or_else(|| "index".into());
    let embedder = StaticEmbedder::bundled().unwrap();
    let real = corpus::qqp_texts();
    let (pool, held_out) = real.split_at(real.len() - n_queries);
    let texts = corpus::texts(pool, size);
    let real_used = size.min(pool.len());
    println!(
        "corpus: {} distinct QQP texts; indexing {size} ({real_used} real, {} composites), {} held-out queries; load {}",
        real.len(),
        size - real_used,
        held_out.len(),
        load()
    );
    let vectors = embed_all(&embedder, &texts, threads, arg_str("--cache").as_deref());
    drop(texts);
    let queries: Vec<Vec<f32>> = held_out
        .iter()
        .filter_map(|t| embedder.embed(t).ok())
        .collect();

    let t = Instant::now();
    let exact: Vec<(usize, f32)> =
        par_map(&queries.chunks(64).collect::<Vec<_>>(), threads, |qs| {
            exact_top1_block(&vectors, qs)
        })
        .into_iter()
        .flatten()
        .collect();
    println!(
        "exact search: {:.1} ms/query/thread",
        t.elapsed().as_secs_f64() * 1e3 * threads as f64 / queries.len() as f64
    );

    for variant in variants.split(',') {
        let rss0 = corpus::rss_mib();
        if let Some(rest) = variant.strip_prefix("index") {
            let mut opts = GraphOptions::default();
            if let Some(spec) = rest.strip_prefix('-') {
                let (kind, rescore) = parse_kind(spec);
                opts.quantization = kind;
                opts.rescore = rescore;
            }
            opts.connectivity = arg("--conn", opts.connectivity);
            opts.expansion_add = arg("--ef-add", opts.expansion_add);
            opts.expansion_search = arg("--ef-index", opts.expansion_search);
            let index = VectorIndex::with_options(embedder.dims(), opts);
            let t = Instant::now();
            index.prepare(1, vectors.len()).unwrap();
            insert_all(&vectors, threads, |k| {
                index.add(1, k as u64, &vectors[k]).unwrap()
            });
            let build_s = t.elapsed().as_secs_f64();
            let rss1 = corpus::rss_mib();
            println!(
                "{variant} (VectorIndex, {opts:?}): built {} vectors in {build_s:.1} s on {threads} threads ({:.0}/s); RSS +{:.0} MiB ({:.0} B/vector) [load {}]",
                vectors.len(),
                vectors.len() as f64 / build_s,
                rss1 - rss0,
                (rss1 - rss0) * 1048576.0 / vectors.len() as f64,
                load()
            );
            let o = measure(&queries, &exact, |q| index.search(1, q, 4).unwrap());
            report("k=4", &o);
            if let Some(dir) = arg_str("--save-load") {
                // What a restart costs: save the graph as L3 does, drop it,
                // load it into a fresh index, and search again.
                let stem = std::path::Path::new(&dir).join("scope-1");
                std::fs::create_dir_all(&dir).unwrap();
                let t = Instant::now();
                index.save_graph(1, &stem).unwrap();
                let save_s = t.elapsed().as_secs_f64();
                drop(index);
                let t = Instant::now();
                let loaded = VectorIndex::with_options(embedder.dims(), opts);
                let keys = loaded.load_graph(1, &stem).unwrap();
                let load_s = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let first = loaded.search(1, &queries[0], 4).unwrap();
                println!(
                    "{variant}: saved in {save_s:.1} s, loaded {} vectors in {load_s:.2} s, first search {:.2} ms ({} hits) [load {}]",
                    keys.len(),
                    t.elapsed().as_secs_f64() * 1e3,
                    first.len(),
                    load()
                );
                let o = measure(&queries, &exact, |q| loaded.search(1, q, 4).unwrap());
                report("k=4 after load", &o);
            }
            continue;
        }
        let (quantization, rescore) = parse_kind(variant);
        let index = Index::new(&IndexOptions {
            dimensions: embedder.dims(),
            metric: match quantization {
                ScalarKind::B1 => MetricKind::Hamming,
                _ => MetricKind::Cos,
            },
            quantization,
            connectivity: conn,
            expansion_add: ef_add,
            expansion_search: efs[0],
            multi: false,
        })
        .unwrap();
        index
            .reserve_capacity_and_threads(vectors.len(), threads)
            .unwrap();
        let t = Instant::now();
        let bits = |v: &[f32]| -> Vec<usearch::b1x8> {
            v.chunks(8)
                .map(|c| {
                    usearch::b1x8(
                        c.iter()
                            .enumerate()
                            .fold(0u8, |acc, (i, x)| acc | (((*x > 0.0) as u8) << (7 - i))),
                    )
                })
                .collect()
        };
        let binary = quantization == ScalarKind::B1;
        insert_all(&vectors, threads, |k| match binary {
            true => index.add(k as u64, &bits(&vectors[k])).unwrap(),
            false => index.add(k as u64, &vectors[k]).unwrap(),
        });
        let build_s = t.elapsed().as_secs_f64();
        let rss1 = corpus::rss_mib();
        println!(
            "{variant} (raw usearch, conn {conn}, ef_add {ef_add}, {}): built in {build_s:.1} s on {threads} threads ({:.0}/s); memory_usage {:.0} MiB, RSS +{:.0} MiB [load {}]",
            index.hardware_acceleration(),
            vectors.len() as f64 / build_s,
            index.memory_usage() as f64 / 1048576.0,
            rss1 - rss0,
            load()
        );
        for &ef in &efs {
            index.change_expansion_search(ef);
            let o = measure(&queries, &exact, |q| {
                let m = match binary {
                    true => index.search(&bits(q), rescore.max(4)).unwrap(),
                    false => index.search(q, rescore.max(4)).unwrap(),
                };
                let mut hits: Vec<(u64, f32)> = if rescore > 0 {
                    m.keys
                        .iter()
                        .map(|k| (*k, dot(q, &vectors[*k as usize])))
                        .collect()
                } else {
                    m.keys
                        .iter()
                        .zip(&m.distances)
                        .map(|(k, d)| (*k, 1.0 - d))
                        .collect()
                };
                hits.sort_by(|a, b| b.1.total_cmp(&a.1));
                hits.truncate(4);
                hits
            });
            report(&format!("ef_search {ef}"), &o);
        }
    }
}
