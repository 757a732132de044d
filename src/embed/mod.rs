//! Embedders: text → unit vector, behind one trait.
//!
//! Every vector records the embedder that made it ([`Embedder::id`]: name and
//! dimensions); vectors of different embedders are never compared. An
//! embedder that cannot represent an input says so with
//! [`EmbedError::Unrepresentable`], and L3 then serves no hit for it.

mod openai;
mod sentencepiece;
mod static_model;

pub use openai::OpenAiEmbedder;
pub use sentencepiece::FastUnigram;
pub use static_model::{Bundled, StaticEmbedder, TokenIds, TokenizerPath};

/// Why a text has no embedding.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model cannot represent this text (e.g. a script outside its
    /// vocabulary); a vector would be meaningless.
    #[error("the embedder cannot represent this input: {0}")]
    Unrepresentable(String),
    /// The embedder failed (provider error, timeout, bad answer).
    #[error("embedding failed: {0}")]
    Failed(String),
    /// The text has no letter or digit ("!!!", "?!"): there is no meaning
    /// to compare, only characters, which L2 matches exactly. L3 never
    /// embeds such text (and never asks a remote embedder about it).
    #[error("not semantic: the input has no letters or digits (exact matches only, L2)")]
    NotSemantic,
}

/// Turns text into a unit-length vector.
pub trait Embedder: Send + Sync {
    /// Identity of the vector space: `name/dims`. Stored with every vector.
    fn id(&self) -> &str;
    fn dims(&self) -> usize;
    /// A unit-length vector of `dims()` numbers.
    fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
    /// The cosine threshold measured for this embedder when the cosine
    /// alone decides, if any.
    fn default_threshold(&self) -> Option<f64> {
        None
    }
    /// The loose gate measured for this embedder when a pair verifier
    /// decides after it, if any.
    fn default_gate(&self) -> Option<f64> {
        None
    }
}

/// Scales `v` to unit length; `false` if it is all zeros or not finite.
pub fn normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// Dot product; the cosine similarity of two unit vectors. Eight
/// independent sums let the compiler use SIMD (one running sum cannot be
/// reordered under strict floating-point rules).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_refuses_zero_vectors() {
        let mut z = vec![0.0; 3];
        assert!(!normalize(&mut z));
        let mut v = vec![3.0, 4.0];
        assert!(normalize(&mut v));
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        let a: Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..19).map(|i| (i % 3) as f32).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), plain);
    }
}

/// Which embedder L3 uses.
#[derive(Debug, Clone)]
pub struct EmbeddingOptions {
    /// A model2vec directory or Hugging Face id; `None`: the bundled model.
    pub model: Option<String>,
    /// Base URL of an OpenAI-compatible embeddings API.
    pub url: Option<String>,
    pub api_model: String,
    pub timeout_ms: u64,
}

/// The configured embedder could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EmbedInitError(pub String);

impl From<String> for EmbedInitError {
    fn from(s: String) -> EmbedInitError {
        EmbedInitError(s)
    }
}

/// Builds the embedder the configuration names: an OpenAI-compatible URL, a
/// model2vec directory or Hugging Face id, or the bundled model.
pub fn from_options(
    opts: &EmbeddingOptions,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn Embedder>, EmbedInitError> {
    use std::sync::Arc;
    if let Some(url) = &opts.url {
        let key = std::env::var("HELIOS_EMBEDDING_API_KEY").ok();
        let timeout = std::time::Duration::from_millis(opts.timeout_ms);
        return Ok(Arc::new(OpenAiEmbedder::connect(
            url,
            &opts.api_model,
            key,
            timeout,
        )?));
    }
    let Some(model) = &opts.model else {
        return Ok(Arc::new(StaticEmbedder::bundled()?));
    };
    if let Some(which) = model
        .starts_with("bundled:")
        .then(|| Bundled::by_name(model))
        .flatten()
    {
        return Ok(Arc::new(StaticEmbedder::bundled_model(which)?));
    }
    if model.starts_with("bundled:") {
        let names: Vec<&str> = Bundled::ALL.iter().map(|b| b.name()).collect();
        return Err(EmbedInitError(format!(
            "--embedding-model {model:?}: no such bundled model; bundled models are {}",
            names.join(", ")
        )));
    }
    let path = std::path::Path::new(model);
    if path.is_dir() {
        return Ok(Arc::new(StaticEmbedder::from_dir(path)?));
    }
    if model.split('/').count() == 2 && !model.starts_with('.') && !path.exists() {
        let dir = hub::fetch(model, data_dir)?;
        return Ok(Arc::new(StaticEmbedder::from_dir(&dir)?));
    }
    Err(EmbedInitError(format!(
        "--embedding-model {model:?} is neither a model2vec directory nor a Hugging Face model id"
    )))
}

mod hub;
