//! Static (model2vec-format) embedders: one vector per vocabulary token, the
//! embedding of a text is the mean of its tokens' vectors, normalised.
//!
//! Two models are compiled into the binary, so they need no file and no
//! network: the default, distilled from multilingual-e5-small (Korean and
//! English, `tools/distill/RESULTS-e5.md`), and the English-only MiniLM one
//! of the first release. Any model2vec directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`) loads the same way.
//!
//! Tokenizing: when the tokenizer is the XLM-R-style SentencePiece one the
//! default model ships, most texts (ASCII, Hangul, Latin-1) take the exact
//! fast path of [`super::sentencepiece`]; everything else, and every other
//! model, goes through the `tokenizers` crate. Both give the same ids and
//! the same refusals ([`TokenizerPath`], `tests/embed_fast_path.rs`).

use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use tokenizers::Tokenizer;
use xxhash_rust::xxh3::xxh3_64;

use super::sentencepiece::FastUnigram;
use super::{normalize, EmbedError, Embedder};

/// Which tokenizer implementation turns text into ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerPath {
    /// The fast path when it covers the text, else `tokenizers` (what
    /// [`Embedder::embed`] uses).
    Auto,
    /// Always the `tokenizers` crate: the reference the fast path is
    /// checked against (tests, benchmarks).
    Reference,
}

/// A text's token ids and whether the model accepts them.
#[derive(Debug)]
pub struct TokenIds {
    pub ids: Vec<u32>,
    /// Why the model refuses the text (an `Unrepresentable` error), if it does.
    pub refusal: Option<EmbedError>,
    /// Whether the fast path produced `ids`.
    pub fast: bool,
}

/// A model compiled into the binary, with its measured thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundled {
    /// Korean and English, distilled from multilingual-e5-small (the default).
    MultilingualE5,
    /// English only, distilled from all-MiniLM-L6-v2 (the first release's model).
    MiniLm,
}

impl Bundled {
    pub const ALL: [Bundled; 2] = [Bundled::MultilingualE5, Bundled::MiniLm];

    /// The name `--embedding-model bundled:<name>` selects.
    pub fn name(self) -> &'static str {
        match self {
            Bundled::MultilingualE5 => "multilingual-e5-small-static",
            Bundled::MiniLm => "minilm-l6-static",
        }
    }

    fn files(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Bundled::MultilingualE5 => (
                include_bytes!("../../assets/embedder/multilingual-e5-small-static/tokenizer.json"),
                include_bytes!(
                    "../../assets/embedder/multilingual-e5-small-static/model.safetensors"
                ),
            ),
            Bundled::MiniLm => (
                include_bytes!("../../assets/embedder/minilm-l6-static/tokenizer.json"),
                include_bytes!("../../assets/embedder/minilm-l6-static/model.safetensors"),
            ),
        }
    }

    /// Cosine threshold measured for precision when the cosine alone decides
    /// (see README, L3 accuracy).
    pub fn threshold(self) -> f64 {
        match self {
            Bundled::MultilingualE5 => 0.84,
            Bundled::MiniLm => 0.86,
        }
    }

    /// Loose cosine gate before the pair verifier: the largest threshold
    /// that keeps 95% of the dev positives of the labelled sets
    /// (`tools/distill/RESULTS-e5.md`; MiniLM by the same rule).
    pub fn gate(self) -> f64 {
        match self {
            Bundled::MultilingualE5 => 0.66,
            Bundled::MiniLm => 0.70,
        }
    }

    /// Looks a bundled model up by name (with or without `bundled:`).
    pub fn by_name(name: &str) -> Option<Bundled> {
        let n = name.strip_prefix("bundled:").unwrap_or(name);
        Bundled::ALL
            .into_iter()
            .find(|b| b.name() == n || b.name().trim_end_matches("-static") == n)
    }
}

/// A static embedding model.
pub struct StaticEmbedder {
    id: String,
    tokenizer: Tokenizer,
    /// Exact fast tokenizer, when `tokenizer` is the configuration it knows.
    fast: Option<FastUnigram>,
    /// `vocab × dims` row-major.
    table: Table,
    dims: usize,
    unk_id: Option<u32>,
    /// Optional token id → table row (vocabulary-quantised models).
    mapping: Option<Vec<u32>>,
    /// Optional per-token weight.
    weights: Option<Vec<f32>>,
    threshold: Option<f64>,
    gate: Option<f64>,
}

/// The embeddings table. An int8 table stays int8 (a quarter of the memory
/// and of the cache misses per token); its values convert to f32 exactly,
/// so sums are the same as over an f32 copy.
enum Table {
    F32(Vec<f32>),
    I8(Vec<i8>),
}

impl Table {
    fn len(&self) -> usize {
        match self {
            Table::F32(t) => t.len(),
            Table::I8(t) => t.len(),
        }
    }
}

fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let frac = (bits & 0x3ff) as u32;
    let out = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: renormalise.
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (frac << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(out)
}

/// Reads any numeric tensor as f32 values.
fn to_f32(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, String> {
    let chunks = |n: usize| data.chunks_exact(n);
    Ok(match dtype {
        Dtype::F32 => chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => chunks(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::BF16 => chunks(2)
            .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
            .collect(),
        Dtype::I8 => data.iter().map(|b| *b as i8 as f32).collect(),
        Dtype::F64 => chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        other => return Err(format!("unsupported tensor type {other:?}")),
    })
}

fn to_u32(dtype: Dtype, data: &[u8]) -> Result<Vec<u32>, String> {
    let chunks = |n: usize| data.chunks_exact(n);
    Ok(match dtype {
        Dtype::I64 | Dtype::U64 => chunks(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as u32)
            .collect(),
        Dtype::I32 | Dtype::U32 => chunks(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        other => return Err(format!("unsupported mapping type {other:?}")),
    })
}

impl StaticEmbedder {
    /// The default model compiled into the binary.
    pub fn bundled() -> Result<StaticEmbedder, String> {
        StaticEmbedder::bundled_model(Bundled::MultilingualE5)
    }

    /// One of the models compiled into the binary.
    pub fn bundled_model(which: Bundled) -> Result<StaticEmbedder, String> {
        let (tokenizer, model) = which.files();
        let mut e = StaticEmbedder::from_bytes(which.name(), tokenizer, model)?;
        e.threshold = Some(which.threshold());
        e.gate = Some(which.gate());
        Ok(e)
    }

    /// Loads a model2vec directory.
    pub fn from_dir(dir: &Path) -> Result<StaticEmbedder, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| format!("cannot read {}: {e}", dir.join(name).display()))
        };
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        StaticEmbedder::from_bytes(&name, &read("tokenizer.json")?, &read("model.safetensors")?)
    }

    /// Builds a model from a tokenizer.json and a model.safetensors.
    pub fn from_bytes(
        name: &str,
        tokenizer: &[u8],
        model: &[u8],
    ) -> Result<StaticEmbedder, String> {
        let mut tok =
            Tokenizer::from_bytes(tokenizer).map_err(|e| format!("tokenizer.json: {e}"))?;
        tok.with_padding(None);
        tok.with_truncation(None)
            .map_err(|e| format!("tokenizer.json: {e}"))?;
        let unk_id = unk_id(tokenizer, &tok);
        let fast =
            FastUnigram::from_tokenizer(tokenizer, &tok).filter(|f| Some(f.unk_id()) == unk_id);
        let st = SafeTensors::deserialize(model).map_err(|e| format!("model.safetensors: {e}"))?;
        let emb = st
            .tensor("embeddings")
            .map_err(|_| "model.safetensors has no `embeddings` tensor".to_string())?;
        let [rows, dims] = emb.shape() else {
            return Err(format!(
                "embeddings must be 2-D, got shape {:?}",
                emb.shape()
            ));
        };
        let (rows, dims) = (*rows, *dims);
        let table = match emb.dtype() {
            Dtype::I8 => Table::I8(emb.data().iter().map(|&b| b as i8).collect()),
            other => Table::F32(to_f32(other, emb.data())?),
        };
        if dims == 0 || table.len() != rows * dims {
            return Err("embeddings tensor is empty or truncated".into());
        }
        let mapping = match st.tensor("mapping") {
            Ok(t) => Some(to_u32(t.dtype(), t.data())?),
            Err(_) => None,
        };
        if mapping
            .as_ref()
            .is_some_and(|m| m.iter().any(|&r| r as usize >= rows))
        {
            return Err("mapping points past the embeddings table".into());
        }
        let weights = match st.tensor("weights") {
            Ok(t) => Some(to_f32(t.dtype(), t.data())?),
            Err(_) => None,
        };
        let hash = xxh3_64(emb.data());
        Ok(StaticEmbedder {
            id: format!("static:{name}:{hash:016x}/{dims}"),
            tokenizer: tok,
            fast,
            table,
            dims,
            unk_id,
            mapping,
            weights,
            threshold: None,
            gate: None,
        })
    }

    /// Adds `w ×` token `id`'s row to `sum`; `false` if it has no row.
    fn add_row(&self, id: u32, w: f32, sum: &mut [f32]) -> bool {
        let r = match &self.mapping {
            Some(m) => match m.get(id as usize) {
                Some(&r) => r as usize,
                None => return false,
            },
            None => id as usize,
        };
        let span = r * self.dims..(r + 1) * self.dims;
        match &self.table {
            Table::F32(t) => match t.get(span) {
                Some(row) => sum.iter_mut().zip(row).for_each(|(s, x)| *s += w * x),
                None => return false,
            },
            Table::I8(t) => match t.get(span) {
                Some(row) => sum
                    .iter_mut()
                    .zip(row)
                    .for_each(|(s, &x)| *s += w * x as f32),
                None => return false,
            },
        }
        true
    }
}

/// The id of the tokenizer model's unknown token, read from tokenizer.json:
/// `unk_token` (WordPiece, BPE) or `unk_id` (Unigram, SentencePiece).
fn unk_id(tokenizer_json: &[u8], tok: &Tokenizer) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_slice(tokenizer_json).ok()?;
    let model = &v["model"];
    match model["unk_token"].as_str() {
        Some(t) => tok.token_to_id(t),
        None => model["unk_id"].as_u64().map(|id| id as u32),
    }
}

/// Whether the tokens cover the text well enough to mean something: most
/// tokens known, and letters not shattered into several tokens per
/// character (what an English vocabulary does to Hangul: each syllable
/// becomes two or three jamo pieces, all "known", all meaningless). A
/// vocabulary that covers the script keeps each character in one token.
fn representable(
    text: &str,
    enc: &tokenizers::Encoding,
    unk_id: Option<u32>,
) -> Result<(), EmbedError> {
    mostly_known(enc.get_ids(), unk_id)?;
    // Tokens per source character span: a span holding one character but
    // several tokens is a shattered character. A SentencePiece word-start
    // marker alone ("▁") shares its offsets with the next character and is
    // not a piece of it.
    let mut per_span: std::collections::HashMap<(usize, usize), u32> = Default::default();
    for (span, token) in enc.get_offsets().iter().zip(enc.get_tokens()) {
        if token.chars().all(|c| c == '\u{2581}' || c.is_whitespace()) {
            continue;
        }
        *per_span.entry(*span).or_default() += 1;
    }
    let shattered: usize = per_span
        .iter()
        .filter(|(&(a, b), &n)| n > 1 && text.get(a..b).is_some_and(|t| t.chars().count() == 1))
        .count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters >= 4 && shattered * 5 >= letters {
        return Err(EmbedError::Unrepresentable(format!(
            "{shattered} of {letters} letters are split into pieces: the vocabulary does not cover this script"
        )));
    }
    Ok(())
}

/// The first half of [`representable`]: at most a quarter of the tokens
/// unknown. It is all of it on the fast path, whose texts the normaliser
/// leaves character for character, so no two tokens share a source span
/// and no character can be shattered.
fn mostly_known(ids: &[u32], unk_id: Option<u32>) -> Result<(), EmbedError> {
    let unknown = ids.iter().filter(|&&i| Some(i) == unk_id).count();
    if unknown == ids.len() {
        return Err(EmbedError::Unrepresentable(
            "no token of the input is in the model's vocabulary".into(),
        ));
    }
    if unknown * 4 > ids.len() {
        return Err(EmbedError::Unrepresentable(format!(
            "{unknown} of {} tokens are unknown to the model",
            ids.len()
        )));
    }
    Ok(())
}

impl StaticEmbedder {
    /// The text's token ids and the model's verdict on them. `Err` only
    /// when the tokenizer itself fails.
    pub fn token_ids(&self, text: &str, path: TokenizerPath) -> Result<TokenIds, EmbedError> {
        if path == TokenizerPath::Auto {
            if let Some(ids) = self.fast.as_ref().and_then(|f| f.encode(text)) {
                let refusal = mostly_known(&ids, self.unk_id).err();
                return Ok(TokenIds {
                    ids,
                    refusal,
                    fast: true,
                });
            }
        }
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| EmbedError::Failed(format!("tokenizing: {e}")))?;
        let refusal = representable(text, &enc, self.unk_id).err();
        Ok(TokenIds {
            ids: enc.get_ids().to_vec(),
            refusal,
            fast: false,
        })
    }

    /// [`Embedder::embed`] with a chosen tokenizer path; `Auto` is `embed`.
    pub fn embed_with(&self, text: &str, path: TokenizerPath) -> Result<Vec<f32>, EmbedError> {
        let t = self.token_ids(text, path)?;
        if let Some(refusal) = t.refusal {
            return Err(refusal);
        }
        let mut sum = vec![0f32; self.dims];
        let mut n = 0usize;
        for &id in t.ids.iter().filter(|&&i| Some(i) != self.unk_id) {
            let w = self
                .weights
                .as_ref()
                .and_then(|w| w.get(id as usize))
                .copied()
                .unwrap_or(1.0);
            n += self.add_row(id, w, &mut sum) as usize;
        }
        if n == 0 || !normalize(&mut sum) {
            return Err(EmbedError::Unrepresentable(
                "the input has no usable tokens".into(),
            ));
        }
        Ok(sum)
    }

    /// Whether this model has the fast tokenizer path.
    pub fn has_fast_tokenizer(&self) -> bool {
        self.fast.is_some()
    }
}

impl Embedder for StaticEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn default_threshold(&self) -> Option<f64> {
        self.threshold
    }

    fn default_gate(&self) -> Option<f64> {
        self.gate
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        // A shouted text ("HOW DO I REPORT A STOLEN PHONE") means what its
        // lower case means; the cased vocabulary would split it into rare
        // pieces and score it 0.3 against itself in lower case.
        if shouted(text) {
            return self.embed_with(&text.to_lowercase(), TokenizerPath::Auto);
        }
        self.embed_with(text, TokenizerPath::Auto)
    }
}

/// Whether a text is written in capitals: at least eight cased letters,
/// none of them lower case. A short acronym ("API", "NYC") is not.
fn shouted(text: &str) -> bool {
    let mut upper = 0;
    for c in text.chars() {
        if c.is_lowercase() {
            return false;
        }
        if c.is_uppercase() {
            upper += 1;
        }
    }
    upper >= 8
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;

    #[test]
    fn f16_conversion_matches_known_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0000), 0.0);
        assert!((f16_to_f32(0x0001) - 5.960_464_5e-8).abs() < 1e-12);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn a_shouted_text_embeds_as_its_lower_case() {
        let m = StaticEmbedder::bundled().unwrap();
        let loud = m.embed("HOW DO I REPORT A STOLEN PHONE").unwrap();
        let plain = m.embed("how do i report a stolen phone").unwrap();
        assert!(dot(&loud, &plain) > 0.999);
        // An acronym alone, or with lower-case words, is left as typed.
        assert!(!shouted("NYC API"));
        assert!(!shouted("How do I use the API?"));
    }

    #[test]
    fn bundled_models_separate_paraphrase_from_unrelated() {
        for which in Bundled::ALL {
            let m = StaticEmbedder::bundled_model(which).unwrap();
            let a = m.embed("How do I reset my password?").unwrap();
            let b = m.embed("How can I reset my password?").unwrap();
            let c = m.embed("What is the capital of France?").unwrap();
            assert_eq!(a.len(), m.dims());
            assert!(dot(&a, &b) > 0.9, "paraphrase {}", dot(&a, &b));
            assert!(dot(&a, &c) < 0.6, "unrelated {}", dot(&a, &c));
        }
    }

    #[test]
    fn the_english_model_refuses_korean() {
        let m = StaticEmbedder::bundled_model(Bundled::MiniLm).unwrap();
        let err = m.embed("비밀번호를 어떻게 재설정하나요?").unwrap_err();
        assert!(matches!(err, EmbedError::Unrepresentable(_)), "{err}");
    }

    #[test]
    fn the_default_model_takes_short_korean_and_english() {
        let m = StaticEmbedder::bundled().unwrap();
        // Short Korean texts: SentencePiece emits a lone "▁" whose offsets
        // are the next syllable's; that must not count as a shattered letter.
        for text in [
            "걔 너무 싫다",
            "비밀번호 변경",
            "안녕",
            "환불 요청",
            "날씨 알려줘",
            "불 꺼",
        ] {
            let v = m.embed(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(v.len(), m.dims());
        }
        let a = m.embed("비밀번호를 어떻게 재설정하나요?").unwrap();
        let b = m.embed("비밀번호 재설정은 어떻게 하나요?").unwrap();
        let c = m.embed("내일 서울 날씨는 어때?").unwrap();
        assert!(
            dot(&a, &b) > dot(&a, &c) + 0.1,
            "{} {}",
            dot(&a, &b),
            dot(&a, &c)
        );
        let e = m.embed("How do I reset my password?").unwrap();
        let f = m.embed("How can I reset my password?").unwrap();
        assert!(dot(&e, &f) > 0.9);
    }

    #[test]
    fn unknown_pieces_are_recognised_in_both_tokenizer_kinds() {
        for which in Bundled::ALL {
            let m = StaticEmbedder::bundled_model(which).unwrap();
            assert!(m.unk_id.is_some(), "{which:?} has no unknown id");
        }
        // Text made only of pieces the Korean+English vocabulary lacks.
        let m = StaticEmbedder::bundled().unwrap();
        let err = m.embed("ฉันชอบกินข้าวมากที่สุด").unwrap_err();
        assert!(matches!(err, EmbedError::Unrepresentable(_)), "{err}");
    }

    #[test]
    fn an_int8_table_sums_exactly_like_its_f32_copy() {
        let m = StaticEmbedder::bundled().unwrap();
        let Table::I8(t) = &m.table else {
            panic!("the default model is int8")
        };
        let mut f = StaticEmbedder::bundled().unwrap();
        f.table =
            Table::F32(to_f32(Dtype::I8, &t.iter().map(|&x| x as u8).collect::<Vec<_>>()).unwrap());
        for text in [
            "How do I reset my password?",
            "비밀번호를 어떻게 재설정하나요?",
            "emoji 😀 and ＡＢＣ",
        ] {
            assert_eq!(m.embed(text).unwrap(), f.embed(text).unwrap(), "{text}");
        }
    }

    #[test]
    fn ids_name_the_vector_space() {
        let m = StaticEmbedder::bundled().unwrap();
        assert!(m.id().starts_with("static:multilingual-e5-small-static:"));
        assert!(m.id().ends_with("/256"));
        let m = StaticEmbedder::bundled_model(Bundled::MiniLm).unwrap();
        assert!(m.id().starts_with("static:minilm-l6-static:"));
        assert_eq!(Bundled::by_name("bundled:minilm-l6"), Some(Bundled::MiniLm));
    }
}
