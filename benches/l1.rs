//! L1 lookup cost in process for a 10k-token system prompt.
//!
//! `warm`: the prefix is warm (the common case while a conversation runs):
//! fingerprint the prompt, read the sled record, take the memoised count.
//! `cold_known`: not warm, count memoised. `estimate_only`: the token
//! estimator on the same prompt (paid once per prompt, then memoised).
//! Run with `cargo bench --bench l1`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use helios_cache::cache::l1::tokens::estimate_tokens;
use helios_cache::cache::l1::L1;
use helios_cache::cache::request::CacheTtl;
use helios_cache::clock::now_ms;
use helios_cache::config::Options;
use helios_cache::store::Storage;
use helios_cache::store::WriteBatch;

/// About 10k estimated tokens of English-like text.
fn ten_k_prompt() -> String {
    let para = "You are a careful assistant for a logistics company. Answer questions about \
                shipments, invoices and customs paperwork using only the reference material \
                below; cite the section you used, and say so when the material is silent.\n";
    let mut s = String::new();
    let mut i = 0;
    while estimate_tokens(&s) < 10_000 {
        s.push_str(&format!("Section {i}. "));
        s.push_str(para);
        i += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    }
    .resolve()
    .unwrap();
    let storage = Arc::new(Storage::open(&settings.cache.store).unwrap());
    let l1 = L1::open(
        storage.clone(),
        settings.cache.l1.clone(),
        settings.cache.prices.clone(),
    );
    let prompt = ten_k_prompt();
    let model = "claude-sonnet-4-5-20250929";
    eprintln!(
        "prompt: {} bytes, {} estimated tokens",
        prompt.len(),
        estimate_tokens(&prompt)
    );
    let plan = l1
        .plan(
            true,
            "bench",
            model,
            Some(&prompt),
            CacheTtl::FiveMinutes,
            None,
            None,
        )
        .unwrap();
    {
        let _g = l1.lock(&plan);
        let mut batch = WriteBatch::default();
        let staged = l1.stage(&plan, now_ms(), &mut batch).unwrap();
        storage.apply(batch).unwrap();
        assert!(l1.commit(staged, &helios_cache::cache::metrics::Metrics::default()));
    }

    let mut g = c.benchmark_group("l1_lookup_10k_tokens");
    g.bench_function("warm", |b| {
        b.iter(|| {
            let r = l1
                .lookup("bench", model, Some(black_box(&prompt)), now_ms())
                .unwrap();
            assert!(r.warm);
            r
        })
    });
    g.bench_function("cold_known", |b| {
        b.iter(|| {
            let r = l1
                .lookup("other", model, Some(black_box(&prompt)), now_ms())
                .unwrap();
            assert!(!r.warm);
            r
        })
    });
    g.bench_function("estimate_only", |b| {
        b.iter(|| estimate_tokens(black_box(&prompt)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
