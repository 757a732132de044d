//! L3 pair verifier: reads BOTH the new request and a cached request and returns P(the cached
//! answer fits the new request). It runs after the vector index has found a candidate above a loose
//! cosine gate, because a bi-encoder cosine cannot see one changed word (a negation, another
//! place, a swapped argument order).
//!
//! The model is a token-alignment classifier (decomposable attention, Parikh et al. 2016) with
//! exact-match, local-order and position features, trained by `tools/verifier/` (recipe, data
//! licences and measurements there). It ships its own tokenizer and token-vector table, so it works
//! whatever embedder L3 uses. This file owns inference only; it mirrors
//! `tools/verifier/model_np.py` and is checked against it by the parity test below.
//!
//! Cost: O((n + m) * (3D + H) * H + n * m * (D + H)) for n, m kept tokens (each at most
//! `max_len`); ~0.1 ms per pair on one core for short requests. Memoising verdicts for repeated
//! (query, candidate) pairs is the caller's job.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use tokenizers::Tokenizer;

use crate::embed::FastUnigram;

const N_TOKFEAT: usize = 5;
const N_PAIRFEAT: usize = 6;

/// A loaded pair verifier. Immutable after loading, so it is `Send + Sync` and can be shared.
pub struct Verifier {
    id: String,
    threshold: f32,
    threshold_hangul: f32,
    tok: Tokenizer,
    /// Exact fast tokenizer (same ids as `tok`) for the texts it covers.
    fast: Option<FastUnigram>,
    skip: Vec<u32>,
    lowercase: bool,
    max_len: usize,
    vocab: usize,
    d: usize,
    h: usize,
    emb: Vec<f32>,
    wf: Vec<f32>,
    bf: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    w3: Vec<f32>,
    b3: Vec<f32>,
    w4: Vec<f32>,
    b4: f32,
    exact_bonus: f32,
    sim_scale: f32,
}

/// Whether `text` has a Hangul syllable: such queries get the verifier's
/// `threshold_hangul` (and chats the Hangul standalone threshold).
pub fn has_hangul(text: &str) -> bool {
    text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = if exp == 0 {
        if frac == 0 {
            sign
        } else {
            let mut e: u32 = 113;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
    } else if exp == 0x1f {
        sign | 0x7f80_0000 | (frac << 13)
    } else {
        sign | ((exp + 112) << 23) | (frac << 13)
    };
    f32::from_bits(bits)
}

fn tensor(st: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
    let t = st
        .tensor(name)
        .map_err(|e| format!("verifier: tensor {name}: {e}"))?;
    if t.shape() != shape {
        return Err(format!(
            "verifier: tensor {name} has shape {:?}, expected {:?}",
            t.shape(),
            shape
        ));
    }
    let data = t.data();
    let v: Vec<f32> = match t.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        other => {
            return Err(format!(
                "verifier: tensor {name} has unsupported dtype {other:?}"
            ))
        }
    };
    if v.len() != shape.iter().product::<usize>() || v.iter().any(|x| !x.is_finite()) {
        return Err(format!(
            "verifier: tensor {name} is truncated or not finite"
        ));
    }
    Ok(v)
}

fn cfg_usize(cfg: &serde_json::Value, key: &str) -> Result<usize, String> {
    cfg.get(key)
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
        .ok_or_else(|| format!("verifier: config.json lacks integer '{key}'"))
}

/// out[j] += sum_i x[i] * w[i*h + j]  (w is row-major [x.len(), h], as numpy `x @ w`)
#[inline]
fn matvec_acc(x: &[f32], w: &[f32], h: usize, out: &mut [f32]) {
    for (i, &xi) in x.iter().enumerate() {
        if xi == 0.0 {
            continue;
        }
        let row = &w[i * h..(i + 1) * h];
        for (o, &r) in out.iter_mut().zip(row) {
            *o += xi * r;
        }
    }
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn relu_inplace(v: &mut [f32]) {
    for x in v {
        if *x < 0.0 {
            *x = 0.0;
        }
    }
}

/// Per-side result: mean and max of the comparison vectors, mean max-similarity, exact fraction.
struct Side {
    mean: Vec<f32>,
    max: Vec<f32>,
    maxsim_mean: f32,
    exact_mean: f32,
}

impl Verifier {
    /// Loads from the three files' bytes: model.safetensors, tokenizer.json, config.json.
    pub fn from_bytes(model: &[u8], tokenizer: &[u8], config: &[u8]) -> Result<Self, String> {
        let cfg: serde_json::Value =
            serde_json::from_slice(config).map_err(|e| format!("verifier: config.json: {e}"))?;
        let d = cfg_usize(&cfg, "dims")?;
        let h = cfg_usize(&cfg, "hidden")?;
        let max_len = cfg_usize(&cfg, "max_len")?.max(1);
        let threshold = cfg
            .get("threshold")
            .and_then(|v| v.as_f64())
            .ok_or("verifier: config.json lacks 'threshold'")? as f32;
        let threshold_hangul = cfg
            .get("threshold_hangul")
            .and_then(|v| v.as_f64())
            .map(|v| v as f32)
            .unwrap_or(threshold);
        let id = cfg
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or("verifier")
            .to_string();
        if cfg_usize(&cfg, "n_tokfeat")? != N_TOKFEAT
            || cfg_usize(&cfg, "n_pairfeat")? != N_PAIRFEAT
        {
            return Err("verifier: config.json feature counts do not match this code".into());
        }
        let mut skip: Vec<u32> = cfg
            .get("skip_ids")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default();
        skip.sort_unstable();
        let lowercase = cfg
            .get("lowercase")
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        let tok = Tokenizer::from_bytes(tokenizer)
            .map_err(|e| format!("verifier: tokenizer.json: {e}"))?;
        let fast = FastUnigram::from_tokenizer(tokenizer, &tok);
        let st = SafeTensors::deserialize(model)
            .map_err(|e| format!("verifier: model.safetensors: {e}"))?;
        let et = st
            .tensor("emb")
            .map_err(|e| format!("verifier: tensor emb: {e}"))?;
        if et.shape().len() != 2 || et.shape()[1] != d {
            return Err(format!(
                "verifier: emb shape {:?} does not match dims {d}",
                et.shape()
            ));
        }
        let vocab = et.shape()[0];
        let g = 3 * d + N_TOKFEAT;
        let p = 4 * h + N_PAIRFEAT;
        let b4 = tensor(&st, "b4", &[1])?[0];
        let scal = tensor(&st, "scal", &[2])?;
        Ok(Verifier {
            id,
            threshold,
            threshold_hangul,
            tok,
            fast,
            skip,
            lowercase,
            max_len,
            vocab,
            d,
            h,
            emb: tensor(&st, "emb", &[vocab, d])?,
            wf: tensor(&st, "wf", &[d, h])?,
            bf: tensor(&st, "bf", &[h])?,
            w1: tensor(&st, "w1", &[g, h])?,
            b1: tensor(&st, "b1", &[h])?,
            w2: tensor(&st, "w2", &[h, h])?,
            b2: tensor(&st, "b2", &[h])?,
            w3: tensor(&st, "w3", &[p, h])?,
            b3: tensor(&st, "b3", &[h])?,
            w4: tensor(&st, "w4", &[h])?,
            b4,
            exact_bonus: scal[0],
            sim_scale: scal[1],
        })
    }

    /// The verifier compiled into the binary.
    pub fn bundled() -> Result<Self, String> {
        Self::from_bytes(
            include_bytes!("../../../assets/verifier/ko-en-align-64/model.safetensors"),
            include_bytes!("../../../assets/verifier/ko-en-align-64/tokenizer.json"),
            include_bytes!("../../../assets/verifier/ko-en-align-64/config.json"),
        )
    }

    /// Loads `model.safetensors`, `tokenizer.json` and `config.json` from a directory.
    pub fn load_dir(dir: &Path) -> Result<Self, String> {
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .map_err(|e| format!("verifier: {}: {e}", dir.join(f).display()))
        };
        Self::from_bytes(
            &read("model.safetensors")?,
            &read("tokenizer.json")?,
            &read("config.json")?,
        )
    }

    /// The calibrated default threshold from config.json: serve when `score >= threshold`.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The calibrated threshold for this query: `threshold_hangul` from config.json when the query
    /// contains Hangul (calibrated on the Korean question sets' DEV splits), else `threshold()`.
    pub fn threshold_for(&self, query: &str) -> f32 {
        if has_hangul(query) {
            self.threshold_hangul
        } else {
            self.threshold
        }
    }

    /// Model id and version, e.g. for `l3_result` explanations.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn ids(&self, text: &str) -> Vec<usize> {
        let lowered;
        let text = if self.lowercase {
            lowered = text.to_lowercase();
            lowered.as_str()
        } else {
            text
        };
        let keep = |ids: &[u32]| -> Vec<usize> {
            ids.iter()
                .filter(|i| self.skip.binary_search(i).is_err() && (**i as usize) < self.vocab)
                .take(self.max_len)
                .map(|&i| i as usize)
                .collect()
        };
        if let Some(ids) = self.fast.as_ref().and_then(|f| f.encode(text)) {
            return keep(&ids);
        }
        match self.tok.encode(text, false) {
            Ok(enc) => keep(enc.get_ids()),
            Err(_) => Vec::new(),
        }
    }

    /// P(the answer cached for `cached` fits `query`), in 0..1. Empty text, text with no known
    /// tokens, or a tokenizer error scores 0.0. Symmetric in its two arguments by construction.
    pub fn score(&self, query: &str, cached: &str) -> f32 {
        let ia = self.ids(query);
        let ib = self.ids(cached);
        if ia.is_empty() || ib.is_empty() {
            return 0.0;
        }
        let z = self.logit(&ia, &ib);
        let s = 1.0 / (1.0 + (-z).exp());
        if s.is_finite() {
            s
        } else {
            0.0
        }
    }

    fn project(&self, ids: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let (d, h) = (self.d, self.h);
        let mut x = vec![0.0f32; ids.len() * d];
        let mut f = vec![0.0f32; ids.len() * h];
        for (k, &id) in ids.iter().enumerate() {
            x[k * d..(k + 1) * d].copy_from_slice(&self.emb[id * d..(id + 1) * d]);
            let fk = &mut f[k * h..(k + 1) * h];
            fk.copy_from_slice(&self.bf);
            matvec_acc(&x[k * d..(k + 1) * d], &self.wf, h, fk);
            relu_inplace(fk);
        }
        (x, f)
    }

    /// Compares each token of A with its soft-aligned counterpart in B. `s` is the [n, m] cosine
    /// matrix between A and B tokens (row-major).
    #[allow(clippy::too_many_arguments)]
    fn side(
        &self,
        xa: &[f32],
        fa: &[f32],
        ia: &[usize],
        xb: &[f32],
        fb: &[f32],
        ib: &[usize],
        s: &[f32],
    ) -> Side {
        let (d, h) = (self.d, self.h);
        let (n, m) = (ia.len(), ib.len());
        let mut beta = vec![0.0f32; n * d];
        let mut rho = vec![0.0f32; n];
        let mut maxsim = vec![0.0f32; n];
        let mut exact = vec![0.0f32; n];
        let mut e = vec![0.0f32; m];
        for i in 0..n {
            let fi = &fa[i * h..(i + 1) * h];
            let mut emax = f32::NEG_INFINITY;
            let mut smax = f32::NEG_INFINITY;
            let mut ex = 0.0f32;
            for j in 0..m {
                let sij = s[i * m + j];
                let exij = if ia[i] == ib[j] { 1.0 } else { 0.0 };
                let v = dot(fi, &fb[j * h..(j + 1) * h])
                    + self.exact_bonus * exij
                    + self.sim_scale * sij;
                e[j] = v;
                emax = emax.max(v);
                smax = smax.max(sij);
                ex = ex.max(exij);
            }
            let mut z = 0.0f32;
            for v in e.iter_mut() {
                *v = (*v - emax).exp();
                z += *v;
            }
            let bi = &mut beta[i * d..(i + 1) * d];
            let mut r = 0.0f32;
            for j in 0..m {
                let a = e[j] / z;
                r += a * j as f32;
                for (o, &y) in bi.iter_mut().zip(&xb[j * d..(j + 1) * d]) {
                    *o += a * y;
                }
            }
            rho[i] = r;
            maxsim[i] = smax;
            exact[i] = ex;
        }
        let g_len = 3 * d + N_TOKFEAT;
        let mut g = vec![0.0f32; g_len];
        let mut hid = vec![0.0f32; h];
        let mut v = vec![0.0f32; h];
        let mut mean = vec![0.0f32; h];
        let mut max = vec![0.0f32; h];
        let (nm1, mm1) = ((n.max(2) - 1) as f32, (m.max(2) - 1) as f32);
        for i in 0..n {
            let xi = &xa[i * d..(i + 1) * d];
            let bi = &beta[i * d..(i + 1) * d];
            g[..d].copy_from_slice(xi);
            g[d..2 * d].copy_from_slice(bi);
            for k in 0..d {
                g[2 * d + k] = xi[k] * bi[k];
            }
            let dprev = if i > 0 {
                (rho[i] - rho[i - 1] - 1.0).clamp(-3.0, 3.0)
            } else {
                0.0
            };
            let dnext = if i + 1 < n {
                (rho[i + 1] - rho[i] - 1.0).clamp(-3.0, 3.0)
            } else {
                0.0
            };
            let pos = i as f32 / nm1;
            let posdiff = (pos - rho[i] / mm1).abs();
            g[3 * d..].copy_from_slice(&[maxsim[i], exact[i], dprev, dnext, posdiff]);
            hid.copy_from_slice(&self.b1);
            matvec_acc(&g, &self.w1, h, &mut hid);
            relu_inplace(&mut hid);
            v.copy_from_slice(&self.b2);
            matvec_acc(&hid, &self.w2, h, &mut v);
            relu_inplace(&mut v);
            for k in 0..h {
                mean[k] += v[k];
                max[k] = max[k].max(v[k]);
            }
        }
        for x in mean.iter_mut() {
            *x /= n as f32;
        }
        Side {
            mean,
            max,
            maxsim_mean: maxsim.iter().sum::<f32>() / n as f32,
            exact_mean: exact.iter().sum::<f32>() / n as f32,
        }
    }

    fn logit(&self, ia: &[usize], ib: &[usize]) -> f32 {
        let (d, h) = (self.d, self.h);
        let (n, m) = (ia.len(), ib.len());
        let (xa, fa) = self.project(ia);
        let (xb, fb) = self.project(ib);
        let mut s = vec![0.0f32; n * m];
        let mut st = vec![0.0f32; m * n];
        for i in 0..n {
            for j in 0..m {
                let v = dot(&xa[i * d..(i + 1) * d], &xb[j * d..(j + 1) * d]);
                s[i * m + j] = v;
                st[j * n + i] = v;
            }
        }
        let a = self.side(&xa, &fa, ia, &xb, &fb, ib, &s);
        let b = self.side(&xb, &fb, ib, &xa, &fa, ia, &st);
        let mut ma = vec![0.0f32; d];
        let mut mb = vec![0.0f32; d];
        for i in 0..n {
            for k in 0..d {
                ma[k] += xa[i * d + k];
            }
        }
        for j in 0..m {
            for k in 0..d {
                mb[k] += xb[j * d + k];
            }
        }
        ma.iter_mut().for_each(|x| *x /= n as f32);
        mb.iter_mut().for_each(|x| *x /= m as f32);
        let na = dot(&ma, &ma).sqrt();
        let nb = dot(&mb, &mb).sqrt();
        let cos = dot(&ma, &mb) / (na * nb + 1e-6);
        let mut hin = Vec::with_capacity(4 * h + N_PAIRFEAT);
        hin.extend(a.mean.iter().zip(&b.mean).map(|(x, y)| x + y));
        hin.extend(a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y).abs()));
        hin.extend(a.max.iter().zip(&b.max).map(|(x, y)| x + y));
        hin.extend(a.max.iter().zip(&b.max).map(|(x, y)| (x - y).abs()));
        hin.extend([
            cos,
            a.exact_mean.min(b.exact_mean),
            a.exact_mean.max(b.exact_mean),
            a.maxsim_mean.min(b.maxsim_mean),
            a.maxsim_mean.max(b.maxsim_mean),
            n.min(m) as f32 / n.max(m) as f32,
        ]);
        let mut hid = self.b3.clone();
        matvec_acc(&hin, &self.w3, h, &mut hid);
        relu_inplace(&mut hid);
        dot(&hid, &self.w4) + self.b4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_fast_tokenizer_gives_the_verifier_the_same_ids() {
        let v = Verifier::bundled().unwrap();
        let fast = v
            .fast
            .as_ref()
            .expect("the bundled verifier has the fast path");
        for text in [
            "How do I reset my password?",
            "비밀번호를 어떻게 재설정하나요?",
            "  two  spaces\tand a tab ",
            "Kakao톡 café “quotes” — dash",
            "뷁 똠 햏",
        ] {
            let reference = v.tok.encode(text, false).unwrap().get_ids().to_vec();
            assert_eq!(fast.encode(text), Some(reference), "{text:?}");
        }
        assert_eq!(fast.encode("emoji 😀"), None);
    }

    /// The repository root: $HELIOS_REPO, else the first ancestor of CARGO_MANIFEST_DIR holding
    /// tools/verifier/rust/parity.json.
    fn repo() -> PathBuf {
        if let Ok(p) = std::env::var("HELIOS_REPO") {
            return PathBuf::from(p);
        }
        let mut p = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        loop {
            if p.join("tools/verifier/rust/parity.json").exists() {
                return p;
            }
            assert!(
                p.pop(),
                "tools/verifier/rust/parity.json not found; set HELIOS_REPO"
            );
        }
    }

    fn parity() -> serde_json::Value {
        let raw =
            std::fs::read(repo().join("tools/verifier/rust/parity.json")).expect("parity.json");
        serde_json::from_slice(&raw).expect("parity.json is JSON")
    }

    fn load() -> Verifier {
        let dir = parity()["model_dir"]
            .as_str()
            .expect("model_dir")
            .to_string();
        Verifier::load_dir(&repo().join(dir)).expect("verifier loads")
    }

    #[test]
    fn matches_python_reference() {
        let v = load();
        let p = parity();
        let triples = p["pairs"].as_array().expect("pairs");
        assert!(triples.len() >= 100);
        let mut worst = 0.0f32;
        for t in triples {
            let (a, b) = (t["a"].as_str().unwrap(), t["b"].as_str().unwrap());
            let want = t["score"].as_f64().unwrap() as f32;
            let got = v.score(a, b);
            worst = worst.max((got - want).abs());
            assert!(
                (got - want).abs() < 1e-3,
                "{a:?} / {b:?}: rust {got} python {want}"
            );
        }
        assert!((v.threshold() - p["threshold"].as_f64().unwrap() as f32).abs() < 1e-6);
        assert_eq!(v.threshold_for("How late is the pool open?"), v.threshold());
        assert!(v.threshold_for("수영장 몇 시까지 해요?") <= v.threshold());
        eprintln!("parity: {} pairs, max |diff| {worst:e}", triples.len());
    }

    #[test]
    fn empty_or_unknown_text_scores_zero() {
        let v = load();
        assert_eq!(v.score("", "where is the night bus stop"), 0.0);
        assert_eq!(v.score("where is the night bus stop", ""), 0.0);
        assert_eq!(v.score("   \t\n", "   "), 0.0);
        for s in ["\u{0}", "\u{feff}", "\u{200b}\u{200b}"] {
            let x = v.score(s, s);
            assert!((0.0..=1.0).contains(&x));
        }
        let long = "word ".repeat(10_000);
        let x = v.score(&long, "word");
        assert!(x.is_finite() && (0.0..=1.0).contains(&x));
    }

    #[test]
    fn identical_text_passes_and_score_is_symmetric() {
        let v = load();
        for s in [
            "Which platform does the night bus to the harbour leave from?",
            "주말에 도서관은 몇 시에 닫아요?",
            "What is 7 times 8?",
        ] {
            assert!(v.score(s, s) >= v.threshold(), "{s}: {}", v.score(s, s));
        }
        let (a, b) = (
            "Can I return the jacket after thirty days?",
            "Can I return the jacket within thirty days?",
        );
        assert!((v.score(a, b) - v.score(b, a)).abs() < 1e-5);
    }

    #[test]
    fn one_changed_word_is_seen() {
        let v = load();
        let same = "Does the night bus to the harbour stop at the museum?";
        // negation / argument order: these must score below the identical pair by a wide margin
        for other in [
            "Does the night bus to the harbour not stop at the museum?",
            "Does the night bus to the museum stop at the harbour?",
        ] {
            assert!(
                v.score(same, other) < v.score(same, same) - 0.2,
                "{other}: {}",
                v.score(same, other)
            );
        }
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Verifier>();
    }
}
