//! Wire types of the REST API: what request bodies look like on the wire
//! (their `///` docs become the OpenAPI descriptions), and their conversion
//! into the core's validated requests with `TryFrom`. A body that decodes
//! but holds a bad value fails the conversion with a coded 400.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cache::request::{
    self, CacheTtl, Feedback, Invalidate, Layers, Lookup, ScopeFields, Store, Usage as DomainUsage,
};
use crate::error::CacheError;

/// `POST /lookup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LookupRequest {
    /// The user input to look up (required, non-empty).
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: String,
    /// Part of the scope. Default "general".
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub task_type: Option<String>,
    /// Part of the scope (by fingerprint); L1 checks whether its prefix is warm at the provider.
    pub system_prompt: Option<String>,
    /// Model for L1's limits and prices. Default: the configured model.
    pub model: Option<String>,
    /// Tenant; part of the scope. Default "default".
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub namespace: Option<String>,
    /// Consult L1. Default true.
    pub use_l1: Option<bool>,
    /// Consult L2 (exact match). Default true.
    pub use_l2: Option<bool>,
    /// Consult L3 (semantic match). Default true.
    pub use_l3: Option<bool>,
    /// L3 cosine similarity needed for a hit, 0..1. Default: the configured threshold.
    pub similarity_threshold: Option<f64>,
}

/// The provider's usage block of a model response.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
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
    /// The user input the response answers (required, non-empty).
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: String,
    /// Any JSON value except `null`: what a hit returns as `cached_response`.
    #[schema(value_type = Object)]
    pub response_data: Box<RawValue>,
    /// Part of the scope. Default "general".
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub task_type: Option<String>,
    /// Model that produced the response (prices savings, L1 limits).
    pub model_used: Option<String>,
    /// Part of the scope; L1 tracks its prefix when long enough to cache.
    pub system_prompt: Option<String>,
    /// Tokens of the model call, when no usage block is given.
    pub tokens_used: Option<i64>,
    /// Default true.
    pub store_in_l1: Option<bool>,
    /// Default true.
    pub store_in_l2: Option<bool>,
    /// Default true.
    pub store_in_l3: Option<bool>,
    /// Tenant; part of the scope. Default "default".
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub namespace: Option<String>,
    /// Per-entry TTL override, capped by the layer's maximum.
    pub ttl_seconds: Option<i64>,
    /// L1 TTL at the provider: "5m" (default) or "1h".
    pub cache_ttl: Option<String>,
    /// Exact token count of the system prompt, if the caller has one.
    pub system_prompt_tokens: Option<i64>,
    /// The provider's usage block; L1 uses it as ground truth.
    pub usage: Option<Usage>,
}

/// `POST /invalidate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InvalidateRequest {
    /// Only this layer (wire name or L1/L2/L3).
    pub layer: Option<String>,
    /// Only entries of this task type.
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub task_type: Option<String>,
    /// Only entries of this namespace.
    #[schema(pattern = r"^[A-Za-z0-9_.:/-]{1,128}$")]
    pub namespace: Option<String>,
    /// Only this entry.
    pub entry_id: Option<String>,
    /// Must be true to remove everything when no filter is given.
    #[serde(default)]
    pub all: bool,
}

/// `POST /feedback`: a served hit was wrong (or right).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FeedbackRequest {
    /// The `entry_id` of the hit (from the lookup's answer).
    pub entry_id: String,
    /// The lookup's `input_text`: the request the entry answered.
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: String,
    /// `wrong` or `right`.
    #[schema(pattern = "^(wrong|right)$")]
    pub verdict: String,
}

/// Body of `POST /admin/backup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BackupRequest {
    /// Absolute path of an absent or empty directory under `--backup-root`,
    /// outside the data directory.
    #[schema(pattern = "^/")]
    pub to: String,
}

impl TryFrom<Usage> for DomainUsage {
    type Error = CacheError;

    fn try_from(u: Usage) -> Result<DomainUsage, CacheError> {
        DomainUsage::new(
            u.input_tokens,
            u.output_tokens,
            u.cache_creation_input_tokens,
            u.cache_read_input_tokens,
        )
    }
}

impl TryFrom<LookupRequest> for Lookup {
    type Error = CacheError;

    fn try_from(r: LookupRequest) -> Result<Lookup, CacheError> {
        let input = request::text("input_text", r.input_text)?;
        let scope = ScopeFields::new(
            r.namespace.as_deref(),
            r.task_type.as_deref(),
            r.system_prompt,
        )?;
        let mut lookup = Lookup::new(scope, input)?;
        lookup.threshold = request::threshold(r.similarity_threshold)?;
        lookup.model = request::model("model", r.model)?;
        lookup.layers = Layers::from_flags(r.use_l1, r.use_l2, r.use_l3);
        Ok(lookup)
    }
}

impl TryFrom<StoreRequest> for Store {
    type Error = CacheError;

    fn try_from(r: StoreRequest) -> Result<Store, CacheError> {
        let input = request::text("input_text", r.input_text)?;
        let scope = ScopeFields::new(
            r.namespace.as_deref(),
            r.task_type.as_deref(),
            r.system_prompt,
        )?;
        let mut store = Store::new(scope, input, Arc::from(r.response_data))?;
        store.ttl_seconds = request::ttl(r.ttl_seconds)?;
        store.tokens_used = request::count("tokens_used", r.tokens_used)?;
        store.system_prompt_tokens =
            request::count("system_prompt_tokens", r.system_prompt_tokens)?;
        store.usage = r.usage.map(DomainUsage::try_from).transpose()?;
        store.cache_ttl = CacheTtl::parse("cache_ttl", r.cache_ttl.as_deref())?;
        store.model = request::model("model_used", r.model_used)?;
        store.layers = Layers::from_flags(r.store_in_l1, r.store_in_l2, r.store_in_l3);
        Ok(store)
    }
}

impl TryFrom<InvalidateRequest> for Invalidate {
    type Error = CacheError;

    fn try_from(r: InvalidateRequest) -> Result<Invalidate, CacheError> {
        Invalidate::new(
            r.layer.as_deref(),
            r.namespace.as_deref(),
            r.task_type.as_deref(),
            r.entry_id.as_deref(),
            r.all,
        )
    }
}

impl TryFrom<FeedbackRequest> for Feedback {
    type Error = CacheError;

    fn try_from(r: FeedbackRequest) -> Result<Feedback, CacheError> {
        Feedback::new(&r.entry_id, r.input_text, &r.verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::decode;

    #[test]
    fn wire_requests_convert_or_say_what_is_wrong() {
        let lookup = |b: &str| Lookup::try_from(decode::<LookupRequest>(b.as_bytes()).unwrap());
        assert!(lookup(r#"{"input_text": "hi"}"#).is_ok());
        assert_eq!(
            lookup(r#"{"input_text": " "}"#).unwrap_err().code(),
            "empty_input"
        );
        assert_eq!(
            lookup(r#"{"input_text": "hi", "namespace": "a b"}"#)
                .unwrap_err()
                .code(),
            "invalid_name"
        );
        assert_eq!(
            lookup(r#"{"input_text": "hi", "similarity_threshold": 2}"#)
                .unwrap_err()
                .code(),
            "invalid_threshold"
        );
        let store = |b: &str| Store::try_from(decode::<StoreRequest>(b.as_bytes()).unwrap());
        assert!(store(r#"{"input_text": "q", "response_data": {"a": 1}}"#).is_ok());
        assert_eq!(
            store(r#"{"input_text": "q", "response_data": null}"#)
                .unwrap_err()
                .code(),
            "invalid_response"
        );
        assert_eq!(
            store(r#"{"input_text": "q", "response_data": 1, "cache_ttl": "2h"}"#)
                .unwrap_err()
                .code(),
            "invalid_cache_ttl"
        );
        assert_eq!(
            store(r#"{"input_text": "q", "response_data": 1, "usage": {"input_tokens": -1}}"#)
                .unwrap_err()
                .code(),
            "invalid_count"
        );
        assert_eq!(
            store(r#"{"input_text": "q", "response_data": 1, "model_used": ""}"#)
                .unwrap_err()
                .code(),
            "invalid_model"
        );
    }
}
