//! Wire types of the REST API: what request bodies look like on the wire
//! (their `///` docs become the OpenAPI descriptions), and their conversion
//! into the core's validated requests with `TryFrom`. A body that decodes
//! but holds a bad value fails the conversion with a coded 400.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::cache::request::{
    self, CacheTtl, Feedback, Invalidate, Layers, Lookup, RawBlock, RawContent, RawMessage,
    ScopeFields, Store, Usage as DomainUsage,
};
use crate::error::CacheError;

use super::routing::RoutingHeaders;
/// One chat message (Anthropic Messages / OpenAI chat shape).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents the wire shape; bodies are read as JSON values
pub struct ChatMessage {
    /// `user`, `assistant` or `system`. A system message is the system
    /// prompt (part of the scope) when `system_prompt` is not given.
    #[schema(pattern = "^(user|assistant|system)$")]
    pub role: String,
    /// A non-empty string, or an array of content blocks. Text blocks
    /// (`{"type": "text", "text": "..."}`) are the message's text, in order;
    /// other blocks (images, tool calls) are accepted and ignored.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
}

/// `messages` as JSON, into messages the core checks. Shapes that are not a
/// list of objects say so here; everything else is checked by
/// [`request::Conversation`].
fn raw_messages(v: serde_json::Value) -> Result<Vec<RawMessage>, CacheError> {
    use serde_json::Value;
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let Value::Array(items) = v else {
        return Err(CacheError::invalid(
            "invalid_messages",
            format!("messages must be an array of messages, got {}", kind(&v)),
        ));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut m) = item else {
            return Err(CacheError::invalid(
                "invalid_messages",
                format!("messages[{i}] must be an object with role and content"),
            ));
        };
        let role = match m.remove("role") {
            Some(Value::String(r)) => Some(r),
            _ => None,
        };
        let content = match m.remove("content") {
            Some(Value::String(t)) => RawContent::Text(t),
            Some(Value::Array(blocks)) => RawContent::Blocks(
                blocks
                    .into_iter()
                    .map(|b| match b {
                        Value::Object(mut b) => match (b.remove("type"), b.remove("text")) {
                            (Some(Value::String(t)), Some(Value::String(text))) if t == "text" => {
                                RawBlock::Text(text)
                            }
                            (Some(Value::String(t)), _) if t == "text" => {
                                RawBlock::Invalid("a text block needs a string \"text\"".into())
                            }
                            (Some(Value::String(_)), _) => RawBlock::Other,
                            _ => {
                                RawBlock::Invalid("a content block needs a string \"type\"".into())
                            }
                        },
                        other => RawBlock::Invalid(format!(
                            "a content block must be an object, got {}",
                            kind(&other)
                        )),
                    })
                    .collect(),
            ),
            Some(other) => RawContent::Invalid(kind(&other).into()),
            None => RawContent::Invalid("nothing (content is missing)".into()),
        };
        out.push(RawMessage { role, content });
    }
    Ok(out)
}

/// `POST /lookup`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LookupRequest {
    /// The user input to look up (non-empty). Required unless `messages` is
    /// given; then it may be omitted (it is the final user turn) or must
    /// equal the final user turn.
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: Option<String>,
    /// The conversation up to and including the final user turn, for chat
    /// requests: a hit then means the same request in the same context.
    /// An exact repeat of the whole chat is an L2 hit; L3 compares the final
    /// turn made standalone with its recent context, and vetoes a match
    /// whose context differs in names, numbers or negation. A single user
    /// message is the same request as `input_text`.
    #[schema(value_type = Option<Vec<ChatMessage>>)]
    pub messages: Option<serde_json::Value>,
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
    /// The user input the response answers (non-empty). Required unless
    /// `messages` is given; then it may be omitted or must equal the final
    /// user turn.
    #[schema(min_length = 1, pattern = r"\S")]
    pub input_text: Option<String>,
    /// The conversation the response answers, up to and including the final
    /// user turn (see `lookup`).
    #[schema(value_type = Option<Vec<ChatMessage>>)]
    pub messages: Option<serde_json::Value>,
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

/// Body of `POST /admin/backup`: exactly one of `to` and `name`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BackupRequest {
    /// Absolute path of an absent or empty directory under `--backup-root`,
    /// outside the data directory.
    #[schema(pattern = "^/")]
    pub to: Option<String>,
    /// A directory name (one path component) to write under this server's
    /// `--backup-root`: the same name works on every node of a cluster,
    /// whatever each node's root is (`helios-cache cluster backup`).
    #[schema(pattern = r"^[A-Za-z0-9_.:-]{1,128}$")]
    pub name: Option<String>,
}

impl BackupRequest {
    /// The directory to write: `to`, or `name` under `backup_root`.
    pub fn target(self, backup_root: &std::path::Path) -> Result<std::path::PathBuf, CacheError> {
        match (self.to, self.name) {
            (Some(to), None) => Ok(std::path::PathBuf::from(to)),
            (None, Some(name)) => {
                let ok = |c: char| c.is_ascii_alphanumeric() || "_.:-".contains(c);
                if name.is_empty()
                    || name.len() > 128
                    || !name.chars().all(ok)
                    || name.chars().all(|c| c == '.')
                {
                    return Err(CacheError::invalid(
                        "invalid_backup_target",
                        format!(
                            "name must be one directory name of 1 to 128 characters of \
                             A-Z a-z 0-9 _ . : - (not . or ..), got {name:?}"
                        ),
                    ));
                }
                std::path::absolute(backup_root.join(name))
                    .map_err(|e| CacheError::invalid("invalid_backup_target", e.to_string()))
            }
            // Neither: a missing field, as before `name` existed.
            (None, None) => Err(CacheError::invalid(
                "invalid_request",
                "give \"to\" (an absolute path) or \"name\" (a directory under --backup-root)",
            )),
            (Some(_), Some(_)) => Err(CacheError::invalid(
                "invalid_backup_target",
                "give exactly one of \"to\" (an absolute path) and \"name\" (a directory under --backup-root)",
            )),
        }
    }
}

impl LookupRequest {
    /// The validated lookup, its namespace merged with `X-Helios-Namespace`
    /// and its scope checked against `X-Helios-Scope`.
    pub fn routed(mut self, routing: &RoutingHeaders) -> Result<Lookup, CacheError> {
        self.namespace = routing.namespace(self.namespace.take())?;
        let lookup = Lookup::try_from(self)?;
        routing.check_scope(&lookup.scope)?;
        Ok(lookup)
    }
}

impl StoreRequest {
    /// The validated store, its namespace merged with `X-Helios-Namespace`
    /// and its scope checked against `X-Helios-Scope`.
    pub fn routed(mut self, routing: &RoutingHeaders) -> Result<Store, CacheError> {
        self.namespace = routing.namespace(self.namespace.take())?;
        let store = Store::try_from(self)?;
        routing.check_scope(&store.scope)?;
        Ok(store)
    }
}

impl InvalidateRequest {
    /// The validated invalidation: `X-Helios-Namespace` is its namespace
    /// filter when the body names none (equal to it when both do), and
    /// `X-Helios-Scope` must equal its namespace and task type filters.
    pub fn routed(mut self, routing: &RoutingHeaders) -> Result<Invalidate, CacheError> {
        self.namespace = routing.namespace(self.namespace.take())?;
        let invalidate = Invalidate::try_from(self)?;
        routing.check_filters(
            invalidate.filter.namespace.as_deref(),
            invalidate.filter.task_type.as_deref(),
        )?;
        Ok(invalidate)
    }
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
        let messages = r.messages.map(raw_messages).transpose()?;
        let (input, conversation, system) =
            request::request_text(r.input_text, messages, r.system_prompt)?;
        let scope = ScopeFields::new(r.namespace.as_deref(), r.task_type.as_deref(), system)?;
        let mut lookup = Lookup::new(scope, input)?;
        lookup.conversation = conversation;
        lookup.threshold = request::threshold(r.similarity_threshold)?;
        lookup.model = request::model("model", r.model)?;
        lookup.layers = Layers::from_flags(r.use_l1, r.use_l2, r.use_l3);
        Ok(lookup)
    }
}

impl TryFrom<StoreRequest> for Store {
    type Error = CacheError;

    fn try_from(r: StoreRequest) -> Result<Store, CacheError> {
        let messages = r.messages.map(raw_messages).transpose()?;
        let (input, conversation, system) =
            request::request_text(r.input_text, messages, r.system_prompt)?;
        let scope = ScopeFields::new(r.namespace.as_deref(), r.task_type.as_deref(), system)?;
        let mut store = Store::new(scope, input, Arc::from(r.response_data))?;
        store.conversation = conversation;
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

    fn routing(ns: Option<&str>, scope: Option<&str>) -> RoutingHeaders {
        RoutingHeaders {
            namespace: ns.map(String::from),
            scope: scope.map(|s| crate::http::routing::ScopeKey::parse(s).unwrap()),
        }
    }

    #[test]
    fn the_namespace_header_is_the_namespace_unless_the_body_disagrees() {
        let lookup =
            |b: &str, r: &RoutingHeaders| decode::<LookupRequest>(b.as_bytes()).unwrap().routed(r);
        let hdr = routing(Some("team-a"), None);
        let l = lookup(r#"{"input_text": "hi"}"#, &hdr).unwrap();
        assert_eq!(l.scope.namespace, "team-a");
        let l = lookup(r#"{"input_text": "hi", "namespace": "team-a"}"#, &hdr).unwrap();
        assert_eq!(l.scope.namespace, "team-a");
        let l = lookup(r#"{"input_text": "hi"}"#, &routing(None, None)).unwrap();
        assert_eq!(l.scope.namespace, "default");
        assert_eq!(
            lookup(r#"{"input_text": "hi", "namespace": "team-b"}"#, &hdr)
                .unwrap_err()
                .code(),
            "namespace_mismatch"
        );
        // The scope key is checked with the defaults applied.
        let key = routing(None, Some("team-a|general"));
        assert!(lookup(r#"{"input_text": "hi", "namespace": "team-a"}"#, &key).is_ok());
        assert_eq!(
            lookup(
                r#"{"input_text": "hi", "namespace": "team-a", "task_type": "qa"}"#,
                &key
            )
            .unwrap_err()
            .code(),
            "scope_mismatch"
        );

        let store =
            |b: &str, r: &RoutingHeaders| decode::<StoreRequest>(b.as_bytes()).unwrap().routed(r);
        let s = store(r#"{"input_text": "q", "response_data": 1}"#, &hdr).unwrap();
        assert_eq!(s.scope.namespace, "team-a");
        assert_eq!(
            store(
                r#"{"input_text": "q", "response_data": 1, "namespace": "x"}"#,
                &hdr
            )
            .unwrap_err()
            .code(),
            "namespace_mismatch"
        );

        let inv = |b: &str, r: &RoutingHeaders| {
            decode::<InvalidateRequest>(b.as_bytes()).unwrap().routed(r)
        };
        // The header alone is a namespace filter: no "all" needed.
        let i = inv("{}", &hdr).unwrap();
        assert_eq!(i.filter.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            inv("{}", &routing(None, None)).unwrap_err().code(),
            "missing_filter"
        );
        assert_eq!(
            inv(r#"{"namespace": "b"}"#, &hdr).unwrap_err().code(),
            "namespace_mismatch"
        );
        let key = routing(Some("team-a"), Some("team-a|qa"));
        assert!(inv(r#"{"task_type": "qa"}"#, &key).is_ok());
        assert_eq!(inv("{}", &key).unwrap_err().code(), "scope_mismatch");
    }

    #[test]
    fn backup_targets_are_a_path_or_a_name_under_the_root() {
        let target = |b: &str| {
            decode::<BackupRequest>(b.as_bytes())
                .unwrap()
                .target(std::path::Path::new("/var/backups"))
        };
        assert_eq!(
            target(r#"{"to": "/srv/x"}"#).unwrap(),
            std::path::PathBuf::from("/srv/x")
        );
        assert_eq!(
            target(r#"{"name": "2026-11-30"}"#).unwrap(),
            std::path::PathBuf::from("/var/backups/2026-11-30")
        );
        assert_eq!(target("{}").unwrap_err().code(), "invalid_request");
        for bad in [
            r#"{"to": "/a", "name": "b"}"#,
            r#"{"name": ""}"#,
            r#"{"name": ".."}"#,
            r#"{"name": "a/b"}"#,
        ] {
            assert_eq!(
                target(bad).unwrap_err().code(),
                "invalid_backup_target",
                "{bad}"
            );
        }
    }
}
