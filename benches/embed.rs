//! Embedding one text with the default static model: the exact fast
//! tokenizer path against the `tokenizers` crate, side by side in one run,
//! and how the time splits between tokenizing (with the refusal check) and
//! summing token vectors.
//!
//! Texts: English, the distinct QQP questions (`gptcache_qqp`, mean ~61
//! bytes) of `../shared/eval/data` (or `HELIOS_BENCH_PAIRS`); Korean, the
//! `korean_question_pair` texts next to them. Either falls back to the
//! repository's `tests/data/support_pairs` texts of that language when the
//! eval data is absent. Each iteration embeds the next text of the list.
//!
//! - `embed/<lang>/{fast,tokenizers}`: `StaticEmbedder::embed_with`, whole embedding.
//! - `tokenize/<lang>/{fast,tokenizers}`: `token_ids` only (ids + refusal check).
//!
//! After criterion's wall-clock numbers, one pass over every text per path
//! is timed in this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which
//! time slices lost to other processes on a loaded machine do not inflate.
//!
//! Run: `cargo bench --bench embed -- --warm-up-time 1 --measurement-time 3`.

#[path = "common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;

use helios_cache::embed::{StaticEmbedder, TokenizerPath};

/// `a`/`b` texts of a JSONL pairs file, optionally only one `lang`.
fn jsonl_texts(path: &Path, lang: Option<&str>) -> Vec<String> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if lang.is_some_and(|l| v["lang"] != l) {
            continue;
        }
        for f in ["a", "b"] {
            if let Some(t) = v[f].as_str() {
                if !t.trim().is_empty() && seen.insert(t.to_string()) {
                    out.push(t.to_string());
                }
            }
        }
    }
    out
}

fn texts() -> Vec<(&'static str, Vec<String>)> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let support = repo.join("tests/data/support_pairs/pairs.jsonl");
    let en = if corpus::pairs_path().is_file() {
        corpus::qqp_texts()
    } else {
        println!("no QQP pairs: English texts from {}", support.display());
        jsonl_texts(&support, Some("en"))
    };
    let kqp = corpus::pairs_path()
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("korean_question_pair/pairs.jsonl"))
        .filter(|p| p.is_file());
    let ko = match kqp {
        Some(p) => jsonl_texts(&p, None),
        None => {
            println!(
                "no korean_question_pair: Korean texts from {}",
                support.display()
            );
            jsonl_texts(&support, Some("ko"))
        }
    };
    vec![("en", en), ("ko", ko)]
}

/// This thread's CPU time, ns.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU µs per text of one pass of `f` over `texts` (after one warm-up pass).
fn cpu_us_per_text(texts: &[String], mut f: impl FnMut(&str)) -> f64 {
    texts.iter().for_each(|t| f(t));
    let t0 = thread_cpu_ns();
    texts.iter().for_each(|t| f(t));
    (thread_cpu_ns() - t0) as f64 / 1e3 / texts.len() as f64
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let m = StaticEmbedder::bundled().unwrap();
    for (lang, texts) in texts() {
        let mean = texts.iter().map(String::len).sum::<usize>() as f64 / texts.len() as f64;
        let fast = texts
            .iter()
            .filter(|t| {
                m.token_ids(t, TokenizerPath::Auto)
                    .is_ok_and(|ids| ids.fast)
            })
            .count();
        println!(
            "{lang}: {} distinct texts, mean {mean:.0} bytes, {:.1}% on the fast path",
            texts.len(),
            100.0 * fast as f64 / texts.len() as f64
        );
        for (name, path) in [
            ("fast", TokenizerPath::Auto),
            ("tokenizers", TokenizerPath::Reference),
        ] {
            let mut i = 0;
            c.bench_function(&format!("embed/{lang}/{name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % texts.len();
                    black_box(m.embed_with(&texts[i], path).ok())
                })
            });
        }
        for (name, path) in [
            ("fast", TokenizerPath::Auto),
            ("tokenizers", TokenizerPath::Reference),
        ] {
            let mut i = 0;
            c.bench_function(&format!("tokenize/{lang}/{name}"), |b| {
                b.iter(|| {
                    i = (i + 1) % texts.len();
                    black_box(m.token_ids(&texts[i], path).ok())
                })
            });
        }
        let cpu = |path| cpu_us_per_text(&texts, |t| drop(black_box(m.embed_with(t, path))));
        let (fast, slow) = (cpu(TokenizerPath::Auto), cpu(TokenizerPath::Reference));
        let tok = |path| cpu_us_per_text(&texts, |t| drop(black_box(m.token_ids(t, path))));
        let (tfast, tslow) = (tok(TokenizerPath::Auto), tok(TokenizerPath::Reference));
        println!(
            "cpu time per text, {lang}, one pass over {} texts: embed fast {fast:.2} µs, \
             tokenizers {slow:.2} µs ({:.1}x); tokenize fast {tfast:.2} µs, tokenizers {tslow:.2} µs ({:.1}x)",
            texts.len(),
            slow / fast,
            tslow / tfast
        );
    }
    c.final_summary();
}
