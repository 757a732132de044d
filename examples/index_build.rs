//! Build time of the L3 vector index: one thread (as the rebuild at start did
//! before issue 12) against every core (as `L3` now replays from sled:
//! `VectorIndex::prepare`, then concurrent adds), side by side in one run on
//! the same real embeddings, so that machine load affects both alike.
//!
//! Run: `cargo run --release --example index_build -- --size 100000 --threads 2`

#[path = "../benches/common/corpus.rs"]
mod corpus;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use helios_cache::cache::l3::index::VectorIndex;
use helios_cache::embed::{Embedder, StaticEmbedder};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn build(vectors: &[Vec<f32>], threads: usize) -> (f64, VectorIndex) {
    let index = VectorIndex::new(vectors[0].len());
    let t = Instant::now();
    if threads > 1 {
        index.prepare(1, vectors.len()).unwrap();
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Relaxed);
                if k >= vectors.len() {
                    return;
                }
                index.add(1, k as u64, &vectors[k]).unwrap();
            });
        }
    });
    (t.elapsed().as_secs_f64(), index)
}

/// Share of indexed vectors whose own vector finds them first.
fn self_recall(index: &VectorIndex, vectors: &[Vec<f32>]) -> f64 {
    let step = (vectors.len() / 2000).max(1);
    let (mut hit, mut n) = (0, 0);
    for k in (0..vectors.len()).step_by(step) {
        n += 1;
        let top = index.search(1, &vectors[k], 1).unwrap();
        hit += (top.first().map(|t| t.1) >= Some(0.9999)) as usize;
    }
    hit as f64 / n as f64
}

fn main() {
    let size = arg("--size", 100_000);
    let threads = arg(
        "--threads",
        std::thread::available_parallelism().map_or(2, |n| n.get()),
    );
    let embedder = StaticEmbedder::bundled().unwrap();
    let texts = corpus::texts(&corpus::qqp_texts(), size);
    let vectors: Vec<Vec<f32>> = texts.iter().map(|t| embedder.embed(t).unwrap()).collect();
    println!("{} vectors of {} dims", vectors.len(), vectors[0].len());
    let (one, idx1) = build(&vectors, 1);
    let r1 = self_recall(&idx1, &vectors);
    drop(idx1);
    let (many, idxn) = build(&vectors, threads);
    let rn = self_recall(&idxn, &vectors);
    println!(
        "one thread: {one:.1} s ({:.0}/s, self-recall {r1:.4}); {threads} threads: {many:.1} s ({:.0}/s, self-recall {rn:.4}); speed-up {:.2}x",
        size as f64 / one,
        size as f64 / many,
        one / many
    );
}
