//! The default static embedder's fast tokenizer path against the
//! `tokenizers` crate: identical token ids, identical refusals, on every
//! text of the eval sets (`/work/shared/eval/data/*/pairs.jsonl[.gz]`, read
//! in place and skipped with a message when absent), the repository's
//! support pairs and conversations, every Hangul syllable, and edge cases.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use helios_cache::embed::{Bundled, EmbedError, Embedder, StaticEmbedder, TokenizerPath};

fn model() -> StaticEmbedder {
    let m = StaticEmbedder::bundled().unwrap();
    assert!(
        m.has_fast_tokenizer(),
        "the default model lost its fast path"
    );
    m
}

/// Checks one text; returns whether the fast path took it.
fn same(m: &StaticEmbedder, text: &str) -> bool {
    let fast = m.token_ids(text, TokenizerPath::Auto);
    let reference = m.token_ids(text, TokenizerPath::Reference);
    match (fast, reference) {
        (Ok(f), Ok(r)) => {
            assert_eq!(f.ids, r.ids, "ids differ for {text:?}");
            assert_eq!(
                f.refusal.as_ref().map(ToString::to_string),
                r.refusal.as_ref().map(ToString::to_string),
                "refusal differs for {text:?}"
            );
            f.fast
        }
        (Err(f), Err(r)) => {
            assert_eq!(f.to_string(), r.to_string(), "errors differ for {text:?}");
            false
        }
        (f, r) => panic!("one path failed for {text:?}: fast {f:?}, reference {r:?}"),
    }
}

/// Checks every text; returns (texts, fast-path share).
fn check_all<'a>(m: &StaticEmbedder, texts: impl IntoIterator<Item = &'a String>) -> (usize, f64) {
    let (mut n, mut fast) = (0usize, 0usize);
    for t in texts {
        n += 1;
        fast += same(m, t) as usize;
    }
    (n, fast as f64 / n.max(1) as f64)
}

/// Every string under the `a` and `b` fields of a pairs file (plain texts,
/// or message lists whose `content` strings are collected).
fn pair_texts(path: &Path) -> Vec<String> {
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            serde_json::Value::Object(o) => {
                if let Some(c) = o.get("content") {
                    strings(c, out)
                }
            }
            _ => {}
        }
    }
    let reader = helios_cache::cache::eval::open_lines(path).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let mut texts = Vec::new();
        strings(&v["a"], &mut texts);
        strings(&v["b"], &mut texts);
        out.extend(texts.into_iter().filter(|t| seen.insert(t.clone())));
    }
    out
}

fn eval_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var("HELIOS_EVAL_DATA").ok().map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/eval/data")),
        Some(PathBuf::from("/work/shared/eval/data")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_dir())
}

#[test]
fn embed_fast_path_matches_tokenizers_on_the_eval_sets() {
    let Some(dir) = eval_dir() else {
        eprintln!(
            "SKIPPED embed_fast_path_matches_tokenizers_on_the_eval_sets: no eval data \
             (set HELIOS_EVAL_DATA or provide ../shared/eval/data)"
        );
        return;
    };
    let m = model();
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    let mut checked = 0;
    for set in sets {
        let file = ["pairs.jsonl", "pairs.jsonl.gz"]
            .iter()
            .map(|f| set.join(f))
            .find(|p| p.is_file());
        let Some(file) = file else { continue };
        let texts = pair_texts(&file);
        let (n, share) = check_all(&m, &texts);
        eprintln!(
            "{}: {n} texts identical, {:.1}% on the fast path",
            file.display(),
            share * 100.0
        );
        checked += n;
    }
    assert!(checked > 0, "no pairs file under {}", dir.display());
}

#[test]
fn embed_fast_path_matches_tokenizers_on_the_repository_pairs() {
    let m = model();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for (file, min_share) in [
        ("support_pairs/pairs.jsonl", 0.9),
        ("conversations/pairs.jsonl", 0.9),
    ] {
        let texts = pair_texts(&root.join(file));
        assert!(texts.len() > 100, "{file}: {} texts", texts.len());
        let (n, share) = check_all(&m, &texts);
        eprintln!(
            "{file}: {n} texts identical, {:.1}% on the fast path",
            share * 100.0
        );
        // The point of the fast path: ordinary Korean and English text takes it.
        assert!(
            share >= min_share,
            "{file}: only {share:.3} on the fast path"
        );
    }
}

#[test]
fn embed_fast_path_matches_tokenizers_on_every_hangul_syllable_and_ascii_pair() {
    let m = model();
    let syllables: Vec<String> = ('\u{ac00}'..='\u{d7a3}').map(String::from).collect();
    let (_, share) = check_all(&m, &syllables);
    assert_eq!(share, 1.0);
    // Rare syllables are unknown to the vocabulary: the fast path refuses
    // them itself (the check above showed the refusals are the same).
    let refused = syllables
        .iter()
        .filter(|s| {
            let t = m.token_ids(s, TokenizerPath::Auto).unwrap();
            t.fast && t.refusal.is_some()
        })
        .count();
    assert!(
        refused > 0,
        "no Hangul syllable is refused on the fast path"
    );
    eprintln!("{refused} of {} Hangul syllables refused", syllables.len());
    let ascii: Vec<char> = (' '..='~').collect();
    let pairs: Vec<String> = ascii
        .iter()
        .flat_map(|a| ascii.iter().map(move |b| format!("{a}{b}")))
        .collect();
    check_all(&m, &pairs);
    // Runs of syllables with no space, past the tokenizer's word cache size.
    let run: String = syllables.iter().step_by(7).map(String::as_str).collect();
    let runs: Vec<String> = run
        .chars()
        .collect::<Vec<_>>()
        .chunks(400)
        .map(|c| c.iter().collect())
        .collect();
    check_all(&m, &runs);
}

#[test]
fn embed_fast_path_matches_tokenizers_on_edge_cases() {
    let m = model();
    let long_en = "How do I reset my password on the mobile app? ".repeat(400);
    let long_ko = "비밀번호를 어떻게 재설정하나요? 앱에서 로그인이 안 돼요. ".repeat(400);
    let long_word = "a".repeat(5000);
    let cases: Vec<String> = [
        "",
        " ",
        "    ",
        "\t",
        "\n\n",
        "\r\n",
        " \t\n ",
        "x",
        "?",
        "!!!",
        "1234",
        " leading space",
        "trailing space ",
        "double  space",
        "tab\tand\nnewline\r\nand\x0cfeed",
        "How do I reset my password?",
        "비밀번호를 어떻게 재설정하나요?",
        "걔 너무 싫다",
        "안녕",
        "불 꺼",
        "iPhone 15에서 카카오톡 알림이 안 와요",
        "GPT-4o랑 Claude 3.5 Sonnet 비교해줘",
        "café naïve Ærø façade Straße",
        "“smart quotes” and ‘single’ — dashes – and · dots • bullets",
        "「인용」 『책』 《제목》 〈부제〉、。",
        "<unk> <s> </s> <pad>",
        "뷁 똠 햏 쏗 꽯",
        // Everything below falls back to tokenizers.
        "emoji 😀 in text 🎉",
        "👍",
        "fullwidth ＡＢＣ １２３ ～",
        "halfwidth ｶﾀｶﾅ",
        "ideographic\u{3000}space",
        "no\u{a0}break",
        "zero\u{200b}width\u{200d}joiner\u{feff}",
        "e\u{301}cole combining",
        "\u{1100}\u{1161}\u{11a8} conjoining jamo",
        "ㅋㅋㅋ ㅠㅠ compatibility jamo",
        "한국어 English 日本語 中文 Русский العربية",
        "ฉันชอบกินข้าวมากที่สุด",
        "control\u{0}\u{1}\u{7}\u{1b}[0m chars\u{7f}",
        "\u{0}\u{1}",
        "\u{2581}meta\u{2581}space",
        "…ellipsis",
        "㈜ 회사 ㎏ ℃ ①",
        "ﬁ ligature",
        "\u{fffd} replacement",
        "\u{fdd0} noncharacter",
        "a\u{2028}b\u{2029}c",
        &long_en,
        &long_ko,
        &long_word,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut fast = 0;
    for t in &cases {
        fast += same(&m, t) as usize;
        // The whole embedding, not only the ids.
        let a = m.embed_with(t, TokenizerPath::Auto);
        let b = m.embed_with(t, TokenizerPath::Reference);
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "vectors differ for {t:?}"),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{t:?}"),
            (a, b) => panic!("{t:?}: {a:?} vs {b:?}"),
        }
    }
    assert!(fast >= 25, "only {fast} edge cases on the fast path");
}

#[test]
fn embed_fast_path_is_absent_for_the_wordpiece_model() {
    let m = StaticEmbedder::bundled_model(Bundled::MiniLm).unwrap();
    assert!(!m.has_fast_tokenizer());
    let t = m
        .token_ids("How do I reset my password?", TokenizerPath::Auto)
        .unwrap();
    assert!(!t.fast);
    let err = m.embed("비밀번호를 어떻게 재설정하나요?").unwrap_err();
    assert!(matches!(err, EmbedError::Unrepresentable(_)), "{err}");
}
