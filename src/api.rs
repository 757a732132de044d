//! Request and response types of the REST API, and the validation of every
//! request field.
//!
//! These are plain serde types: the HTTP layer decodes bytes into them and
//! the cache manager consumes them. Validation lives here so that every
//! limit is enforced in one place, before anything is written.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::l2::RawJson;
use crate::layer::LayerId;

/// Longest namespace or task type, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Largest `ttl_seconds` accepted at all (ten years); beyond it is a mistake.
pub const ABSURD_TTL_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// `POST /lookup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LookupRequest {
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: String,
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub task_type: Option<String>,
    pub system_prompt: Option<String>,
    pub model: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub namespace: Option<String>,
    pub use_l1: Option<bool>,
    pub use_l2: Option<bool>,
    pub use_l3: Option<bool>,
    pub similarity_threshold: Option<f64>,
}

/// The provider's usage block of a model response.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub cache_creation_input_tokens: i64,
    #[serde(default)]
    pub cache_read_input_tokens: i64,
}

/// `POST /store`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StoreRequest {
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: String,
    /// Any JSON value except `null`: what a hit returns as `cached_response`.
    #[schema(value_type = Object)]
    pub response_data: Box<RawValue>,
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub task_type: Option<String>,
    pub model_used: Option<String>,
    pub system_prompt: Option<String>,
    pub tokens_used: Option<i64>,
    pub store_in_l1: Option<bool>,
    pub store_in_l2: Option<bool>,
    pub store_in_l3: Option<bool>,
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub namespace: Option<String>,
    pub ttl_seconds: Option<i64>,
    pub cache_ttl: Option<String>,
    pub system_prompt_tokens: Option<i64>,
    pub usage: Option<Usage>,
}

/// `POST /invalidate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InvalidateRequest {
    pub layer: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub task_type: Option<String>,
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub namespace: Option<String>,
    pub entry_id: Option<String>,
    #[serde(default)]
    pub all: bool,
}

/// The answer to a lookup.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupResponse {
    pub hit: bool,
    pub layer: Option<LayerId>,
    #[schema(value_type = Option<Object>)]
    pub cached_response: Option<RawJson>,
    pub confidence: f64,
    pub entry_id: Option<String>,
    pub l1_result: Option<serde_json::Value>,
    pub l2_result: Option<serde_json::Value>,
    pub l3_result: Option<serde_json::Value>,
    pub lookup_time_ms: f64,
    pub tokens_saved: u64,
    pub cost_saved: f64,
}

/// The answer to a store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreResponse {
    pub success: bool,
    pub layers_stored: Vec<LayerId>,
    pub entry_id: String,
    /// Layers asked for but not written, with the reason.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub skipped: serde_json::Map<String, serde_json::Value>,
}

/// Validated scope fields, shared by lookup and store.
pub struct ScopeFields {
    pub namespace: String,
    pub task_type: String,
}

/// Checks a namespace or task type: 1..=128 bytes of `[A-Za-z0-9_.:/-]`.
pub fn check_name(field: &str, value: Option<&str>, default: &str) -> Result<String, CacheError> {
    let v = value.unwrap_or(default);
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_.:/-".contains(c);
    if v.is_empty() || v.len() > MAX_NAME_LEN || !v.chars().all(ok_char) {
        return Err(CacheError::invalid(
            "invalid_name",
            format!(
                "{field} must be 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . : / -, got {v:?}"
            ),
        ));
    }
    Ok(v.to_string())
}

/// Checks `input_text`: present, not blank, within `max_bytes`.
pub fn check_input(text: &str, max_bytes: usize) -> Result<(), CacheError> {
    if text.trim().is_empty() {
        return Err(CacheError::invalid(
            "empty_input",
            "input_text must be a non-empty string",
        ));
    }
    if text.len() > max_bytes {
        return Err(CacheError::invalid(
            "input_too_long",
            format!(
                "input_text is {} bytes; the limit is {max_bytes}",
                text.len()
            ),
        ));
    }
    Ok(())
}

/// Checks a per-request similarity threshold.
pub fn check_threshold(t: Option<f64>) -> Result<Option<f64>, CacheError> {
    match t {
        Some(t) if !(0.0..=1.0).contains(&t) || !t.is_finite() => Err(CacheError::invalid(
            "invalid_threshold",
            format!("similarity_threshold must be between 0 and 1, got {t}"),
        )),
        other => Ok(other),
    }
}

/// Checks a per-entry TTL: positive and not absurd. Capping to the layer
/// maximum happens in the layer.
pub fn check_ttl(ttl: Option<i64>) -> Result<Option<u64>, CacheError> {
    match ttl {
        None => Ok(None),
        Some(t) if t <= 0 => Err(CacheError::invalid(
            "invalid_ttl",
            format!("ttl_seconds must be positive, got {t}"),
        )),
        Some(t) if t > ABSURD_TTL_SECONDS => Err(CacheError::invalid(
            "invalid_ttl",
            format!("ttl_seconds {t} is more than ten years; layers cap TTLs anyway"),
        )),
        Some(t) => Ok(Some(t as u64)),
    }
}

/// Checks a token count given by the caller.
pub fn check_count(field: &str, v: Option<i64>) -> Result<Option<u64>, CacheError> {
    match v {
        Some(n) if !(0..=100_000_000).contains(&n) => Err(CacheError::invalid(
            "invalid_count",
            format!("{field} must be between 0 and 100000000, got {n}"),
        )),
        other => Ok(other.map(|n| n as u64)),
    }
}

/// Checks the usage block: no negative or absurd counts.
pub fn check_usage(u: &Usage) -> Result<(), CacheError> {
    for (name, v) in [
        ("usage.input_tokens", u.input_tokens),
        ("usage.output_tokens", u.output_tokens),
        (
            "usage.cache_creation_input_tokens",
            u.cache_creation_input_tokens,
        ),
        ("usage.cache_read_input_tokens", u.cache_read_input_tokens),
    ] {
        check_count(name, Some(v))?;
    }
    Ok(())
}

/// Checks `response_data`: present and not `null`.
pub fn check_response(r: &RawValue, max_bytes: usize) -> Result<(), CacheError> {
    if r.get().trim() == "null" {
        return Err(CacheError::invalid(
            "invalid_response",
            "response_data must not be null",
        ));
    }
    if r.get().len() > max_bytes {
        return Err(CacheError::invalid(
            "response_too_large",
            format!(
                "response_data is {} bytes; the limit is {max_bytes}",
                r.get().len()
            ),
        ));
    }
    Ok(())
}

/// The deepest nesting of arrays and objects in a JSON text (strings are
/// skipped), found without parsing, so a hostile body is refused cheaply.
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_counts_nesting_outside_strings() {
        assert_eq!(json_depth(br#"{"a": 1}"#), 1);
        assert_eq!(json_depth(br#"{"a": [[{"b": 2}]]}"#), 4);
        assert_eq!(json_depth(br#"{"a": "[[[[\"{{"}"#), 1);
        assert_eq!(json_depth(b"12"), 0);
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("namespace", None, "default").unwrap(), "default");
        assert!(check_name("namespace", Some("team-a/prod:1"), "d").is_ok());
        assert!(check_name("namespace", Some(""), "d").is_err());
        assert!(check_name("namespace", Some("has space"), "d").is_err());
        assert!(check_name("namespace", Some(&"x".repeat(129)), "d").is_err());
    }

    #[test]
    fn ttls_and_thresholds_are_checked() {
        assert!(check_ttl(Some(-1)).is_err());
        assert!(check_ttl(Some(0)).is_err());
        assert!(check_ttl(Some(i64::MAX)).is_err());
        assert_eq!(check_ttl(Some(60)).unwrap(), Some(60));
        assert!(check_threshold(Some(1.5)).is_err());
        assert!(check_threshold(Some(-0.1)).is_err());
        assert_eq!(check_threshold(Some(0.9)).unwrap(), Some(0.9));
    }

    #[test]
    fn blank_input_and_null_response_are_refused() {
        assert!(check_input("  \n", 10).is_err());
        assert!(check_input("hello world", 5).is_err());
        let null = RawValue::from_string("null".into()).unwrap();
        assert!(check_response(&null, 100).is_err());
    }
}
