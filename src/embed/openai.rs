//! An embedder that calls an OpenAI-compatible `/embeddings` endpoint
//! (OpenAI, Ollama, vLLM, TEI, ...).
//!
//! Failures (timeouts, HTTP errors, malformed answers) become
//! [`EmbedError::Failed`] with the provider's message; the cache then skips
//! L3 for that request and L2 keeps working.

use std::time::Duration;

use serde_json::json;

use super::{normalize, EmbedError, Embedder};

/// Client of one embeddings endpoint and model.
pub struct OpenAiEmbedder {
    id: String,
    url: String,
    model: String,
    api_key: Option<String>,
    dims: usize,
    agent: ureq::Agent,
}

impl OpenAiEmbedder {
    /// Connects to `base_url` (e.g. `http://localhost:11434/v1`) and embeds a
    /// probe text to learn the dimensions, so a bad URL, model or key fails
    /// at start with the provider's message.
    pub fn connect(
        base_url: &str,
        model: &str,
        api_key: Option<String>,
        timeout: Duration,
    ) -> Result<OpenAiEmbedder, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let mut e = OpenAiEmbedder {
            id: String::new(),
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key,
            dims: 0,
            agent,
        };
        let probe = e
            .request("dimension probe")
            .map_err(|err| format!("embedding endpoint {}: {err}", e.url))?;
        e.dims = probe.len();
        e.id = format!("openai:{}@{}/{}", model, base_url, e.dims);
        Ok(e)
    }

    fn request(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut req = self.agent.post(&self.url);
        if let Some(key) = &self.api_key {
            req = req.header("Authorization", &format!("Bearer {key}"));
        }
        let body = json!({"model": self.model, "input": [text]});
        let mut resp = req
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| EmbedError::Failed(format!("request failed: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| EmbedError::Failed(format!("reading the answer: {e}")))?;
        if status != 200 {
            let snippet: String = text.chars().take(300).collect();
            return Err(EmbedError::Failed(format!("HTTP {status}: {snippet}")));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| EmbedError::Failed(format!("answer is not JSON: {e}")))?;
        let vector = v["data"][0]["embedding"]
            .as_array()
            .ok_or_else(|| EmbedError::Failed("answer has no data[0].embedding".into()))?
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| EmbedError::Failed("embedding holds a non-number".into()))?;
        if vector.is_empty() {
            return Err(EmbedError::Failed("embedding is empty".into()));
        }
        Ok(vector)
    }
}

impl Embedder for OpenAiEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dims(&self) -> usize {
        self.dims
    }

    fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.request(text)?;
        if v.len() != self.dims {
            return Err(EmbedError::Failed(format!(
                "endpoint returned {} dimensions, expected {}",
                v.len(),
                self.dims
            )));
        }
        if !normalize(&mut v) {
            return Err(EmbedError::Failed("endpoint returned a zero vector".into()));
        }
        Ok(v)
    }
}
