//! What every cache layer is, seen from the cache manager.
//!
//! Lookups and stores differ per layer (L1 answers "is this prefix warm", L2
//! and L3 answer with a stored response), so those are typed methods on each
//! layer. What they share (invalidation, sweeping, sizing, health, detailed
//! statistics) is the [`Layer`] trait, which the manager drives uniformly.

use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::scope::Scope;
use crate::error::CacheError;

/// A stored response, as JSON text that is sent back verbatim.
pub type RawJson = Arc<RawValue>;

/// The three layers, by their wire names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LayerId {
    L1,
    L2,
    L3,
}

impl LayerId {
    pub const ALL: [LayerId; 3] = [LayerId::L1, LayerId::L2, LayerId::L3];

    /// The name used on the wire (kept from the system this replaces).
    pub fn wire_name(self) -> &'static str {
        match self {
            LayerId::L1 => "L1_CLAUDE_NATIVE",
            LayerId::L2 => "L2_REDIS_EXACT",
            LayerId::L3 => "L3_SEMANTIC_RAG",
        }
    }

    /// The short name (`L1`, `L2`, `L3`).
    pub fn short_name(self) -> &'static str {
        match self {
            LayerId::L1 => "L1",
            LayerId::L2 => "L2",
            LayerId::L3 => "L3",
        }
    }

    /// Accepts the wire name or the short form, in any letter case.
    pub fn parse(s: &str) -> Result<LayerId, CacheError> {
        LayerId::ALL
            .into_iter()
            .find(|l| s.eq_ignore_ascii_case(l.wire_name()) || s.eq_ignore_ascii_case(l.short_name()))
            .ok_or_else(|| {
                CacheError::invalid(
                    "unknown_layer",
                    format!(
                        "unknown layer {s:?}; expected one of L1_CLAUDE_NATIVE, L2_REDIS_EXACT, L3_SEMANTIC_RAG (or L1, L2, L3)"
                    ),
                )
            })
    }
}

impl Serialize for LayerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.wire_name())
    }
}

impl utoipa::PartialSchema for LayerId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A cache layer by its wire name. Requests also accept L1, L2, L3 in any case.",
            ))
            .enum_values(Some(LayerId::ALL.map(LayerId::wire_name)))
            .into()
    }
}

impl utoipa::ToSchema for LayerId {}

/// A response to store in a response layer (L2, L3), already validated.
pub struct EntryWrite<'a> {
    pub scope: &'a Scope,
    pub input: &'a str,
    pub response: &'a RawJson,
    pub model: &'a str,
    pub tokens: u64,
    pub cost_nano: u64,
    /// Already capped by the layer.
    pub ttl_seconds: u64,
}

/// What both response layers keep about an entry. `R` is the response:
/// JSON text when persisted, a shared raw JSON value in memory.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredResponse<R = String> {
    pub namespace: String,
    pub task_type: String,
    pub prompt_fp: u128,
    pub input: String,
    pub response: R,
    pub model: String,
    pub tokens: u64,
    /// What a hit saves, in nano-dollars.
    pub cost_nano: u64,
    pub created_ms: u64,
}

impl StoredResponse {
    /// The persisted form of `w`, stored at `now`.
    pub fn new(w: &EntryWrite, now: u64) -> StoredResponse {
        StoredResponse {
            namespace: w.scope.namespace.clone(),
            task_type: w.scope.task_type.clone(),
            prompt_fp: w.scope.prompt_fp,
            input: w.input.to_string(),
            response: w.response.get().to_string(),
            model: w.model.to_string(),
            tokens: w.tokens,
            cost_nano: w.cost_nano,
            created_ms: now,
        }
    }
}

impl<R> StoredResponse<R> {
    /// The same entry with its response converted by `f`.
    pub fn map_response<S>(self, f: impl FnOnce(R) -> S) -> StoredResponse<S> {
        StoredResponse {
            namespace: self.namespace,
            task_type: self.task_type,
            prompt_fp: self.prompt_fp,
            input: self.input,
            response: f(self.response),
            model: self.model,
            tokens: self.tokens,
            cost_nano: self.cost_nano,
            created_ms: self.created_ms,
        }
    }

    pub fn scope(&self) -> Scope {
        Scope {
            namespace: self.namespace.clone(),
            task_type: self.task_type.clone(),
            prompt_fp: self.prompt_fp,
        }
    }

    /// Guards against a 128-bit hash collision: the entry must really be
    /// this scope and this text.
    pub fn is_for(&self, scope: &Scope, input: &str) -> bool {
        self.input == input
            && self.prompt_fp == scope.prompt_fp
            && self.task_type == scope.task_type
            && self.namespace == scope.namespace
    }
}

/// Which entries an invalidation removes. Every `Some` must match; all `None`
/// removes everything.
#[derive(Debug, Clone, Default)]
pub struct InvalidateFilter {
    pub namespace: Option<String>,
    pub task_type: Option<String>,
    pub entry_key: Option<u128>,
}

impl InvalidateFilter {
    /// Whether an entry with these attributes is selected.
    pub fn matches(&self, namespace: &str, task_type: &str, key: u128) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == namespace)
            && self.task_type.as_deref().is_none_or(|t| t == task_type)
            && self.entry_key.is_none_or(|k| k == key)
    }
}

/// How many entries a layer holds and how many bytes they take as stored.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LayerSize {
    pub entries: u64,
    pub bytes: u64,
}

/// A layer's health, as reported by `/health`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LayerHealth {
    /// `healthy`, `degraded` or `unavailable`.
    pub status: &'static str,
    /// Whether the layer is part of this build and configuration.
    pub available: bool,
    pub detail: String,
}

/// The administrative side of a layer.
pub trait Layer: Send + Sync {
    fn id(&self) -> LayerId;
    /// Removes the selected entries everywhere they live; returns how many.
    fn invalidate(&self, filter: &InvalidateFilter) -> Result<u64, CacheError>;
    /// Removes entries that expired before `now_ms`; returns how many.
    fn sweep(&self, now_ms: u64) -> Result<u64, CacheError>;
    fn size(&self) -> LayerSize;
    fn health(&self) -> LayerHealth;
    /// Layer-specific statistics for `/stats/layer/{layer}`.
    fn details(&self) -> super::report::LayerDetails;
    /// Pushes in-memory state that is persisted lazily (access counts, indexes).
    fn persist(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wire_and_short_names() {
        assert_eq!(LayerId::parse("L2_REDIS_EXACT").unwrap(), LayerId::L2);
        assert_eq!(LayerId::parse("l3").unwrap(), LayerId::L3);
        assert_eq!(LayerId::parse("L1").unwrap(), LayerId::L1);
        assert_eq!(LayerId::parse("L4").unwrap_err().code(), "unknown_layer");
    }

    #[test]
    fn filter_requires_every_given_field() {
        let f = InvalidateFilter {
            namespace: Some("a".into()),
            task_type: Some("t".into()),
            entry_key: None,
        };
        assert!(f.matches("a", "t", 1));
        assert!(!f.matches("a", "u", 1));
        assert!(!f.matches("b", "t", 1));
        assert!(InvalidateFilter::default().matches("x", "y", 2));
    }
}
