//! A fast, exact re-implementation of one tokenizer configuration: the
//! XLM-R-style SentencePiece Unigram `tokenizer.json` that the default
//! static embedder and the L3 pair verifier both ship (control characters
//! removed, whitespace to spaces, NFKC, runs of spaces collapsed; Metaspace
//! `▁` with `prepend_scheme: always`; Unigram Viterbi with fused unknowns).
//!
//! Why: the `tokenizers` crate spends most of an embedding's time in
//! allocation (alignment vectors of `NormalizedString`, one `String` per
//! token, its word cache) rather than in the Viterbi search. This module
//! runs the same search over a flat trie of the same pieces with the same
//! f64 scores, the same visiting order and the same strict `>` tie-break,
//! so it gives the ids `Tokenizer::encode(text, false)` gives.
//!
//! It only answers when it can prove that: [`FastUnigram::from_tokenizer`]
//! recognises the exact normaliser / pre-tokenizer / model configuration
//! (anything else: `None`), and [`FastUnigram::encode`] only takes text whose
//! characters that normaliser leaves unchanged or turns into a space (ASCII,
//! Hangul syllables, Latin-1 letters, common quotes and dashes, `\t \n \r
//! \x0c`); anything else (other scripts, fullwidth forms, emoji, combining
//! marks, compatibility jamo) returns `None` and the caller uses the
//! `tokenizers` path. `tests/embed_fast_path.rs` checks both paths agree
//! on every text of the eval sets.

use tokenizers::models::ModelWrapper;
use tokenizers::Tokenizer;

/// The one normaliser this path reproduces (XLM-R's precompiled charsmap,
/// spelled out as a sequence).
const NORMALIZER: &str = r#"{"type": "Sequence", "normalizers": [
 {"type": "Replace", "pattern": {"Regex": "[\\x{1}\\x{2}\\x{3}\\x{4}\\x{5}\\x{6}\\x{7}\\x{8}\\x{b}\\x{e}\\x{f}\\x{10}\\x{11}\\x{12}\\x{13}\\x{14}\\x{15}\\x{16}\\x{17}\\x{18}\\x{19}\\x{1a}\\x{1b}\\x{1c}\\x{1d}\\x{1e}\\x{1f}\\x{7f}\\x{8f}\\x{9f}]"}, "content": ""},
 {"type": "Replace", "pattern": {"Regex": "[\\x{9}\\x{a}\\x{c}\\x{d}\\x{1680}\\x{200b}\\x{200c}\\x{200d}\\x{200e}\\x{200f}\\x{2028}\\x{2029}\\x{2581}\\x{feff}\\x{fffd}]"}, "content": " "},
 {"type": "Replace", "pattern": {"String": "\uff5e"}, "content": "\ufdd0"},
 {"type": "NFKC"},
 {"type": "Replace", "pattern": {"String": "\ufdd0"}, "content": "\uff5e"},
 {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}"#;

const PRE_TOKENIZER: &str =
    r#"{"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true}"#;

/// SentencePiece's word-start marker, `▁` (U+2581), in UTF-8.
const MARK: [u8; 3] = [0xe2, 0x96, 0x81];

/// `tokenizers`' penalty below the lowest piece score for an unknown character.
const UNK_PENALTY: f64 = 10.0;

const NO_PIECE: u32 = u32::MAX;

/// What the normaliser does to one character, as far as this path knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    /// Left unchanged by every step (and by NFKC in any context of other
    /// such characters: all are starters that compose with nothing here).
    Same,
    /// Becomes one space (then `▁`); runs of them collapse to one.
    Space,
    /// Not proven: the caller falls back to `tokenizers`.
    Unknown,
}

/// Non-ASCII, non-Hangul characters the normaliser provably leaves alone
/// (no compatibility decomposition, canonical combining class 0, never the
/// second half of a composition); `tests` check each one against the real
/// normaliser.
const SAME_EXTRA: &[char] = &[
    '\u{00b7}', // · middle dot
    '\u{2013}', // – en dash
    '\u{2014}', // — em dash
    '\u{2018}', // ‘
    '\u{2019}', // ’
    '\u{201c}', // “
    '\u{201d}', // ”
    '\u{2022}', // • bullet
    '\u{3001}', // 、
    '\u{3002}', // 。
    '\u{3008}', // 〈
    '\u{3009}', // 〉
    '\u{300a}', // 《
    '\u{300b}', // 》
    '\u{300c}', // 「
    '\u{300d}', // 」
    '\u{300e}', // 『
    '\u{300f}', // 』
];

fn class(c: char) -> CharClass {
    match c {
        ' ' | '\t' | '\n' | '\r' | '\x0c' => CharClass::Space,
        '!'..='~' => CharClass::Same,
        // Hangul syllables: NFKC-stable precomposed forms.
        '\u{ac00}'..='\u{d7a3}' => CharClass::Same,
        // Latin-1 letters À..ÿ (and × ÷): canonical forms, no compatibility mapping.
        '\u{00c0}'..='\u{00ff}' => CharClass::Same,
        c if SAME_EXTRA.contains(&c) => CharClass::Same,
        _ => CharClass::Unknown,
    }
}

/// A byte trie of the vocabulary in flat arrays: node `n`'s children are
/// `labels/targets[first[n]..first[n + 1]]`, sorted by label.
struct Trie {
    root: Box<[u32; 256]>,
    first: Vec<u32>,
    labels: Vec<u8>,
    targets: Vec<u32>,
    /// Piece id ending at each node, or `NO_PIECE`.
    piece: Vec<u32>,
}

impl Trie {
    /// Builds from the pieces in id order; a piece listed twice maps to its
    /// last id, as `tokenizers`' `token_to_ids` does.
    fn build<'a>(pieces: impl Iterator<Item = &'a str>) -> Trie {
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new()];
        let mut piece = vec![NO_PIECE];
        for (id, p) in pieces.enumerate() {
            let mut node = 0usize;
            for &b in p.as_bytes() {
                node = match children[node].iter().find(|(l, _)| *l == b) {
                    Some(&(_, t)) => t as usize,
                    None => {
                        let t = children.len();
                        children[node].push((b, t as u32));
                        children.push(Vec::new());
                        piece.push(NO_PIECE);
                        t
                    }
                };
            }
            if node != 0 {
                piece[node] = id as u32;
            }
        }
        let mut root = Box::new([0u32; 256]);
        for &(l, t) in &children[0] {
            root[l as usize] = t;
        }
        let mut first = Vec::with_capacity(children.len() + 1);
        let mut labels = Vec::new();
        let mut targets = Vec::new();
        for mut c in children {
            c.sort_unstable_by_key(|(l, _)| *l);
            first.push(labels.len() as u32);
            labels.extend(c.iter().map(|(l, _)| *l));
            targets.extend(c.iter().map(|(_, t)| *t));
        }
        first.push(labels.len() as u32);
        Trie {
            root,
            first,
            labels,
            targets,
            piece,
        }
    }

    /// The child of `node` along byte `b` (0 = none; the root is never a child).
    #[inline]
    fn child(&self, node: u32, b: u8) -> u32 {
        if node == 0 {
            return self.root[b as usize];
        }
        let (a, z) = (
            self.first[node as usize] as usize,
            self.first[node as usize + 1] as usize,
        );
        let labels = &self.labels[a..z];
        let k = if labels.len() <= 8 {
            labels.iter().position(|&l| l == b)
        } else {
            labels.binary_search(&b).ok()
        };
        k.map_or(0, |k| self.targets[a + k])
    }

    /// The id of exactly `bytes`, if it is a piece.
    fn get(&self, bytes: &[u8]) -> Option<u32> {
        let mut node = 0;
        for &b in bytes {
            node = self.child(node, b);
            if node == 0 {
                return None;
            }
        }
        let id = self.piece[node as usize];
        (id != NO_PIECE).then_some(id)
    }
}

/// The exact fast path for one recognised SentencePiece Unigram tokenizer.
pub struct FastUnigram {
    trie: Trie,
    scores: Vec<f64>,
    unk_id: u32,
    unk_score: f64,
}

#[derive(Clone, Copy)]
struct Best {
    score: f64,
    start: u32,
    id: u32,
}

impl FastUnigram {
    /// The fast path for `tok` (loaded from `tokenizer_json`), if its
    /// configuration is exactly the one this module reproduces.
    pub fn from_tokenizer(tokenizer_json: &[u8], tok: &Tokenizer) -> Option<FastUnigram> {
        let v: serde_json::Value = serde_json::from_slice(tokenizer_json).ok()?;
        let want_norm: serde_json::Value = serde_json::from_str(NORMALIZER).ok()?;
        let want_pre: serde_json::Value = serde_json::from_str(PRE_TOKENIZER).ok()?;
        let no_added = v["added_tokens"].as_array().is_none_or(|a| a.is_empty());
        if v["normalizer"] != want_norm
            || v["pre_tokenizer"] != want_pre
            || !no_added
            || !v["post_processor"].is_null()
            || !v["truncation"].is_null()
            || !v["padding"].is_null()
            || v["model"]["type"] != "Unigram"
        {
            return None;
        }
        if !tok.get_added_vocabulary().is_empty() {
            return None;
        }
        let ModelWrapper::Unigram(u) = tok.get_model() else {
            return None;
        };
        if u.byte_fallback() || u.alpha.is_some_and(|a| a != 0.0) {
            return None;
        }
        let unk_id = u32::try_from(v["model"]["unk_id"].as_u64()?).ok()?;
        let scores: Vec<f64> = u.iter().map(|(_, s)| *s).collect();
        if unk_id as usize >= scores.len() {
            return None;
        }
        Some(FastUnigram {
            trie: Trie::build(u.iter().map(|(p, _)| p.as_str())),
            scores,
            unk_id,
            unk_score: u.min_score - UNK_PENALTY,
        })
    }

    /// The unknown token's id.
    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }

    /// The ids `Tokenizer::encode(text, false)` gives, or `None` when `text`
    /// holds a character this path does not cover (then use `tokenizers`).
    pub fn encode(&self, text: &str) -> Option<Vec<u32>> {
        // Normalise + Metaspace: spaces (and what becomes a space) to one
        // `▁` per run, `▁` before the first character if there is none.
        let mut norm: Vec<u8> = Vec::with_capacity(text.len() + 8);
        let mut last_space = false;
        for c in text.chars() {
            match class(c) {
                CharClass::Same => {
                    if norm.is_empty() {
                        norm.extend_from_slice(&MARK);
                    }
                    let mut buf = [0u8; 4];
                    norm.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    last_space = false;
                }
                CharClass::Space => {
                    if !last_space {
                        norm.extend_from_slice(&MARK);
                    }
                    last_space = true;
                }
                CharClass::Unknown => return None,
            }
        }
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        let mut best = Vec::new();
        // Split before every `▁` (MergedWithNext); `norm` starts with one.
        let mut start = 0;
        while start < norm.len() {
            let mut end = start + MARK.len();
            while end < norm.len() && !norm[end..].starts_with(&MARK) {
                end += 1;
            }
            self.viterbi(&norm[start..end], &mut best, &mut ids);
            start = end;
        }
        Some(ids)
    }

    /// `tokenizers`' `Unigram::encode_optimized` + `tokenize` on one
    /// pre-token (valid UTF-8), appending its ids.
    fn viterbi(&self, s: &[u8], best: &mut Vec<Best>, ids: &mut Vec<u32>) {
        let n = s.len();
        best.clear();
        best.resize(
            n + 1,
            Best {
                score: 0.0,
                start: u32::MAX,
                id: 0,
            },
        );
        let mut pos = 0;
        while pos < n {
            let base = best[pos].score;
            let mblen = utf8_len(s[pos]);
            let mut single = false;
            let mut node = 0u32;
            let mut k = pos;
            while k < n {
                node = self.trie.child(node, s[k]);
                if node == 0 {
                    break;
                }
                k += 1;
                let id = self.trie.piece[node as usize];
                if id == NO_PIECE {
                    continue;
                }
                let cand = self.scores[id as usize] + base;
                let t = &mut best[k];
                if t.start == u32::MAX || cand > t.score {
                    *t = Best {
                        score: cand,
                        start: pos as u32,
                        id,
                    };
                }
                if k - pos == mblen {
                    single = true;
                }
            }
            if !single {
                let cand = self.unk_score + base;
                let t = &mut best[pos + mblen];
                if t.start == u32::MAX || cand > t.score {
                    *t = Best {
                        score: cand,
                        start: pos as u32,
                        id: self.unk_id,
                    };
                }
            }
            pos += mblen;
        }
        // Backtrack; adjacent unknowns fuse into one token, which keeps the
        // unknown id unless the fused text happens to be a piece.
        let first = ids.len();
        let mut end = n;
        let mut unk_end = None;
        while end > 0 {
            let b = best[end];
            let start = b.start as usize;
            if b.id == self.unk_id {
                unk_end.get_or_insert(end);
            } else {
                if let Some(ue) = unk_end.take() {
                    ids.push(self.trie.get(&s[end..ue]).unwrap_or(self.unk_id));
                }
                ids.push(b.id);
            }
            end = start;
        }
        if let Some(ue) = unk_end {
            ids.push(self.trie.get(&s[..ue]).unwrap_or(self.unk_id));
        }
        ids[first..].reverse();
    }
}

fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E5: &[u8] =
        include_bytes!("../../assets/embedder/multilingual-e5-small-static/tokenizer.json");

    fn both() -> (Tokenizer, FastUnigram) {
        let tok = Tokenizer::from_bytes(E5).unwrap();
        let fast = FastUnigram::from_tokenizer(E5, &tok).expect("bundled tokenizer recognised");
        (tok, fast)
    }

    fn reference(tok: &Tokenizer, text: &str) -> Vec<u32> {
        tok.encode(text, false).unwrap().get_ids().to_vec()
    }

    #[test]
    fn every_covered_character_is_left_alone_by_the_normaliser() {
        let tok = Tokenizer::from_bytes(E5).unwrap();
        let norm = tok.get_normalizer().unwrap();
        let covered = (0u32..0x11_0000)
            .filter_map(char::from_u32)
            .filter(|&c| class(c) == CharClass::Same);
        let mut n = 0;
        for c in covered {
            let mut s = tokenizers::NormalizedString::from(format!("a{c}가{c}").as_str());
            tokenizers::Normalizer::normalize(norm, &mut s).unwrap();
            assert_eq!(s.get(), format!("a{c}가{c}"), "U+{:04X}", c as u32);
            n += 1;
        }
        assert!(n > 11_172 + 94, "{n} characters covered");
        for c in [' ', '\t', '\n', '\r', '\x0c'] {
            let mut s = tokenizers::NormalizedString::from(format!("a{c}b").as_str());
            tokenizers::Normalizer::normalize(norm, &mut s).unwrap();
            assert_eq!(s.get(), "a b", "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn matches_the_tokenizers_crate_on_edge_cases() {
        let (tok, fast) = both();
        for text in [
            "",
            " ",
            "   ",
            "\n",
            "a",
            " leading",
            "trailing ",
            "two  spaces\t\ttabs\r\nlines \n ",
            "How do I reset my password?",
            "비밀번호를 어떻게 재설정하나요?",
            "Kakao톡으로 말고 café 결제",
            "<unk> <s></s><pad>",
            "ÀÖ×ØÞßàö÷øÿ é",
            "“quoted” ‘single’ – — · • 「인용」《책》、。",
            "zzzzqqqqxxxx 뷁뷁뷁 똠똠",
        ] {
            assert_eq!(fast.encode(text), Some(reference(&tok, text)), "{text:?}");
        }
    }

    #[test]
    fn declines_what_it_cannot_prove() {
        let (_, fast) = both();
        for text in [
            "emoji 😀",
            "fullwidth ＡＢＣ",
            "e\u{301}",
            "ㅋㅋㅋ",
            "ฉันชอบ",
            "a\u{0}b",
            "…",
            "\u{2581}",
        ] {
            assert_eq!(fast.encode(text), None, "{text:?}");
        }
    }

    #[test]
    fn other_configurations_get_no_fast_path() {
        let minilm = include_bytes!("../../assets/embedder/minilm-l6-static/tokenizer.json");
        let tok = Tokenizer::from_bytes(minilm).unwrap();
        assert!(FastUnigram::from_tokenizer(minilm, &tok).is_none());
        // The same vocabulary with another pre-tokenizer setting.
        let mut v: serde_json::Value = serde_json::from_slice(E5).unwrap();
        v["pre_tokenizer"]["prepend_scheme"] = "first".into();
        let bytes = serde_json::to_vec(&v).unwrap();
        let tok = Tokenizer::from_bytes(&bytes).unwrap();
        assert!(FastUnigram::from_tokenizer(&bytes, &tok).is_none());
    }
}
