//! Typed results and reports: what the core answers with.
//!
//! Every answer of the core is a `Serialize` struct here; the HTTP edge
//! serialises them as they are (the field names are the wire names), and the
//! Prometheus exporter reads their fields. Nothing is looked up by a JSON key,
//! so a renamed field is a compile error, not a metric silently exported as 0.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::layer::{LayerHealth, LayerId, RawJson};

/// The answer to a lookup.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = LookupResponse)]
pub struct LookupReport {
    /// Whether a stored response was found (L2 or L3). L1 never holds responses.
    pub hit: bool,
    /// The layer that answered, on a hit.
    pub layer: Option<LayerId>,
    /// The stored `response_data`, on a hit.
    #[schema(value_type = Option<Object>)]
    pub cached_response: Option<RawJson>,
    /// 1.0 for L2; the cosine similarity for L3.
    pub confidence: f64,
    /// The entry that answered, on a hit.
    #[schema(value_type = Option<String>)]
    pub entry_id: Option<Arc<str>>,
    /// L1: whether the system prompt's prefix is warm, its tokens, the predicted saving.
    #[schema(value_type = Option<Object>)]
    pub l1_result: Option<L1Result>,
    /// L2's answer; null when not searched.
    #[schema(value_type = Option<Object>)]
    pub l2_result: Option<L2Result>,
    /// L3's answer and why it served or refused its best candidate; null when not searched.
    #[schema(value_type = Option<Object>)]
    pub l3_result: Option<L3Result>,
    pub lookup_time_ms: f64,
    /// Tokens the hit saves.
    pub tokens_saved: u64,
    /// Dollars the hit saves.
    pub cost_saved: f64,
}

impl LookupReport {
    pub fn miss() -> LookupReport {
        LookupReport {
            hit: false,
            layer: None,
            cached_response: None,
            confidence: 0.0,
            entry_id: None,
            l1_result: None,
            l2_result: None,
            l3_result: None,
            lookup_time_ms: 0.0,
            tokens_saved: 0,
            cost_saved: 0.0,
        }
    }
}

/// `l1_result`: the warmth of the request's system prompt.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum L1Result {
    /// The request has a system prompt: its state and what the next call saves.
    Prompt(L1PromptResult),
    /// Nothing to track.
    NoPrompt {
        hit: bool,
        warm: bool,
        eligible: bool,
        reason: &'static str,
        lookup_time_ms: f64,
    },
}

/// `l1_result` of a request with a system prompt.
#[derive(Debug, Clone, Serialize)]
pub struct L1PromptResult {
    pub hit: bool,
    pub warm: bool,
    pub eligible: bool,
    pub model: String,
    pub tokens: u64,
    pub token_source: &'static str,
    pub min_cache_tokens: u64,
    pub cache_ttl: Option<&'static str>,
    pub ttl_remaining_seconds: f64,
    pub predicted_action: &'static str,
    pub predicted_saving: f64,
    pub saving_per_read: f64,
    pub write_premium_5m: f64,
    pub write_premium_1h: f64,
    pub lookup_time_ms: f64,
}

/// `l2_result`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum L2Result {
    Hit {
        hit: bool,
        entry_id: Arc<str>,
        lookup_time_ms: f64,
        age_seconds: f64,
        ttl_remaining_seconds: f64,
        access_count: u64,
        model_used: Arc<str>,
    },
    Miss {
        hit: bool,
        lookup_time_ms: f64,
    },
}

/// `l3_result`: what the semantic layer found and why it did or did not
/// serve it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct L3Result {
    pub hit: bool,
    /// Why L3 was not consulted at all (no vector for this text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// Similarity of the served entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    /// The similarity a candidate needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_time_ms: Option<f64>,
    /// Best similarity seen (on a miss).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_similarity: Option<Option<f64>>,
    /// The guard rule that vetoed the candidate (on a miss).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard_veto: Option<Option<&'static str>>,
    /// Why the candidate was served or refused: `served` (judged and
    /// passed), `same_request` (proven the same request retyped or reframed
    /// by rule: no verdict needed), `reworded` (refused by the verifier but
    /// a rewording, not a small edit, above the reworded threshold), `exact`,
    /// `no_candidate`, `below_gate`, `guard`, `feedback` or `verifier`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<&'static str>,
    /// Candidates above the gate that were judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_judged: Option<u32>,
    /// The entry the decision is about (served, or the last refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidate_entry_id: Option<String>,
    /// The pair verifier's score of that candidate, and the score needed.
    /// Absent when no verdict was needed: no verifier, the same text, or the
    /// same request retyped (the same words once case, punctuation, word
    /// breaks, courtesies and one typing slip are set aside; for chats, the
    /// final requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verifier_threshold: Option<f64>,
    /// The feedback rule that refused a candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_veto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_remaining_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_used: Option<String>,
}

/// The answer to a store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = StoreResponse)]
pub struct StoreReport {
    pub success: bool,
    /// The layers written.
    pub layers_stored: Vec<LayerId>,
    pub entry_id: String,
    /// Layers asked for but not written, with the reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub skipped: BTreeMap<&'static str, String>,
}

/// The answer to an invalidation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InvalidateReport {
    pub success: bool,
    /// Entries removed per layer (wire name).
    #[schema(value_type = Object)]
    pub invalidated: BTreeMap<&'static str, u64>,
    pub total_invalidated: u64,
}

/// Mean and quantiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyReport {
    pub mean: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Layer-specific statistics (`details` of `/stats/layer/{layer}`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum LayerDetails {
    L1(L1Details),
    L2(L2Details),
    L3(L3Details),
}

/// What prompt caching saved and cost (L1), in `/metrics` and `/summary`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct L1Savings {
    pub l1_cache_reads: u64,
    pub l1_cache_writes: u64,
    pub l1_tokens_read: u64,
    pub l1_tokens_written: u64,
    pub l1_cost_saved: f64,
    pub l1_cache_write_cost: f64,
    pub l1_net_saved: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct L1Details {
    pub ttl_seconds: u64,
    pub ttl_1h_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub known_token_counts: u64,
    pub predictions_from_usage: u64,
    pub usage_corrections: u64,
    pub lookups_refresh_warmth: bool,
    pub token_estimator: &'static str,
    #[serde(flatten)]
    pub savings: L1Savings,
}

#[derive(Debug, Clone, Serialize)]
pub struct L2Details {
    pub default_ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub hot_entries: u64,
    pub hot_bytes: u64,
    pub hot_max_bytes: u64,
}

/// Which guard checks run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GuardReport {
    pub numbers: bool,
    pub negation: bool,
    pub antonyms: bool,
    pub entities: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct L3Details {
    pub embedder: String,
    pub dimensions: usize,
    pub default_threshold: f64,
    pub guard: GuardReport,
    pub default_ttl_seconds: u64,
    pub max_ttl_seconds: u64,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub indexed_vectors: usize,
    pub index_scopes: usize,
    pub index_graphs: usize,
    pub foreign_embedder_entries: u64,
    pub index_rebuilding: bool,
    pub guard_vetoes: u64,
    pub unrepresentable_inputs: u64,
    pub embedding_errors: u64,
    /// The pair verifier judging candidates (`None`: the cosine decides).
    pub verifier: Option<String>,
    pub verifier_threshold: Option<f64>,
    pub verifier_calls: u64,
    pub verifier_vetoes: u64,
    pub feedback_vetoes: u64,
    /// Served hits reported wrong / right through `/feedback`.
    pub reported_wrong: u64,
    pub reported_right: u64,
    pub entries_with_feedback: u64,
}

/// One layer's counters and state (`/stats/layer/{layer}` and `layers` of
/// `/metrics`).
#[derive(Debug, Clone, Serialize)]
pub struct LayerReport {
    pub layer: LayerId,
    pub available: bool,
    pub lookups: u64,
    pub hits: u64,
    pub misses: u64,
    pub hit_rate: f64,
    pub stores: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub invalidations: u64,
    pub average_hit_similarity: f64,
    pub entries: u64,
    pub bytes: u64,
    pub latency_ms: LatencyReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<LayerDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1_prediction_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1_predictions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l1_predictions_correct: Option<u64>,
}

/// `GET /metrics` (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    pub total_lookups: u64,
    pub total_hits: u64,
    pub total_stores: u64,
    pub overall_hit_rate: f64,
    pub l1_hit_rate: f64,
    pub l2_hit_rate: f64,
    pub l3_hit_rate: f64,
    pub total_tokens_saved: u64,
    pub total_cost_saved: f64,
    pub l1_entries: u64,
    pub l2_entries: u64,
    pub l3_entries: u64,
    pub lookup_latency_ms: LatencyReport,
    /// Per layer, by wire name.
    pub layers: BTreeMap<&'static str, LayerReport>,
    pub l1_prediction_accuracy: f64,
    pub l1_predictions: u64,
    pub l1_predictions_correct: u64,
    #[serde(flatten)]
    pub l1_savings: L1Savings,
    #[serde(flatten)]
    pub l3_trust: L3Trust,
    /// The drop-in provider gateway.
    pub gateway: GatewayReport,
}

/// The gateway's counters (`gateway` of `/metrics`), since the process started.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayReport {
    pub requests: u64,
    pub hits_l2: u64,
    pub hits_l3: u64,
    pub misses: u64,
    pub passthrough: u64,
    pub stores: u64,
    pub upstream_errors: u64,
    pub client_disconnects: u64,
    /// Upstream time to the response head, in milliseconds.
    pub upstream_latency_ms: LatencyReport,
    pub upstream_calls: u64,
    pub tokens_saved: u64,
    pub cost_saved_dollars: f64,
    pub prompt_cache_read_tokens: u64,
    pub prompt_cache_write_tokens: u64,
    pub breakpoints_placed: u64,
}

/// How L3 guarded its answers: vetoes by kind, and served hits reported
/// wrong or right through `/feedback`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct L3Trust {
    pub l3_guard_vetoes: u64,
    pub l3_verifier_vetoes: u64,
    pub l3_feedback_vetoes: u64,
    pub l3_reported_wrong: u64,
    pub l3_reported_right: u64,
}

impl MetricsReport {
    /// The report of one layer.
    pub fn layer(&self, id: LayerId) -> Option<&LayerReport> {
        self.layers.get(id.wire_name())
    }
}

/// The storage part of `/health`.
#[derive(Debug, Clone, Serialize)]
pub struct StorageHealth {
    pub status: &'static str,
    pub writable: bool,
    pub detail: Option<String>,
    pub engine: &'static str,
    pub data_dir: String,
    pub size_on_disk_bytes: u64,
    pub durability: &'static str,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    pub status: &'static str,
    pub uptime_seconds: f64,
    pub version: &'static str,
    pub layers: BTreeMap<&'static str, LayerHealth>,
    pub storage: StorageHealth,
}

/// `savings` of `/summary`.
#[derive(Debug, Clone, Serialize)]
pub struct SavingsSummary {
    pub total_tokens_saved: u64,
    pub total_cost_saved_dollars: f64,
    pub l1_cost_saved_dollars: f64,
    pub l1_cache_write_cost_dollars: f64,
    pub l1_net_saved_dollars: f64,
}

/// `storage` of `/summary`: entries per layer.
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case)]
pub struct EntriesSummary {
    pub L1_entries: u64,
    pub L2_entries: u64,
    pub L3_entries: u64,
}

/// `metrics` of `/summary`: the metrics with the savings and entries grouped.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryMetrics {
    #[serde(flatten)]
    pub metrics: MetricsReport,
    pub savings: SavingsSummary,
    pub storage: EntriesSummary,
}

/// `GET /summary`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryReport {
    pub metrics: SummaryMetrics,
    pub health: HealthReport,
}

/// The answer to a feedback verdict.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackReport {
    pub success: bool,
    pub entry_id: String,
    /// `wrong` or `right`.
    pub verdict: &'static str,
    /// What changed: `entry_threshold_raised` (the text is blocked for this
    /// entry and its own threshold raised), `entry_removed` (the answer was
    /// wrong for its own text) or `recorded`.
    pub action: &'static str,
    /// The entry's own similarity bar after the verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_threshold: Option<f64>,
}
